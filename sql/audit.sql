-- ge_security audit trail tables (docs/architecture.md, "The audit record"). Written only by the
-- native trigger and the sealer; the guard trigger refuses every other write, superusers
-- included.
CREATE SEQUENCE audit_log_id_seq AS bigint CACHE 1;

CREATE TABLE audit_log (
  id                bigint      PRIMARY KEY,
  at                timestamptz NOT NULL,
  txid              xid8        NOT NULL,
  actor             text,
  session_user_name text        NOT NULL,
  current_user_name text        NOT NULL,
  client_addr       inet,
  application_name  text,
  op                text        NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'DDL')),
  table_name        text,
  row_key           jsonb,
  old_row           jsonb,
  new_row           jsonb,
  changed_columns   text[],
  statement         text,
  row_hash          bytea       NOT NULL,
  hash_version      smallint    NOT NULL,
  redacted          jsonb
);
ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id;
COMMENT ON TABLE audit_log IS 'ge_security: append-only, hash-per-row audit trail; verify with ge_security.audit_verify()';
COMMENT ON COLUMN audit_log.actor IS 'ge_security: value of the setting named by ge_security.actor_setting; NULL when unset, empty, or a setting hidden from ordinary roles (superuser-only, such as ge_security.keyring_path), whose value is never copied into the trail';
COMMENT ON COLUMN audit_log.hash_version IS 'ge_security: canonical encoding row_hash was computed under (1: 0.1.0, images hashed whole; 2: each image value through its own SHA-256, redactable)';
COMMENT ON COLUMN audit_log.redacted IS 'ge_security: set by audit_redact*(): the ids of the redaction records and the SHA-256 digests of the values (and statement) removed';

CREATE TABLE audit_block (
  block_no   bigint      PRIMARY KEY,
  first_id   bigint      NOT NULL,
  last_id    bigint      NOT NULL,
  row_count  bigint      NOT NULL,
  rows_root  bytea       NOT NULL,
  prev_hash  bytea       NOT NULL,
  block_hash bytea       NOT NULL,
  sealed_at  timestamptz NOT NULL
);
COMMENT ON TABLE audit_block IS 'ge_security: Merkle-sealed blocks of audit_log, chained by block_hash';

SELECT pg_catalog.pg_extension_config_dump('audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('audit_block', '');

REVOKE ALL ON audit_log, audit_block, audit_log_id_seq FROM PUBLIC;
GRANT SELECT ON audit_log, audit_block TO ge_security_auditor;
