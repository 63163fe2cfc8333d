-- ge_security bootstrap: roles, tables and the one SQL rule the functions rely on.
-- Roles are cluster-wide: a second database installing the extension reuses them.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'ge_security_auditor') THEN
    CREATE ROLE ge_security_auditor NOLOGIN;
    COMMENT ON ROLE ge_security_auditor IS
      'ge_security: may run assess(), checks(), posture(), role_audit() and read evidence';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'ge_security_decryptor') THEN
    CREATE ROLE ge_security_decryptor NOLOGIN;
    COMMENT ON ROLE ge_security_decryptor IS 'ge_security: may call decrypt() and decrypt_bytea()';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'ge_security_redactor') THEN
    CREATE ROLE ge_security_redactor NOLOGIN;
    COMMENT ON ROLE ge_security_redactor IS
      'ge_security: may call audit_redact(), audit_redact_subject() and audit_redact_column()';
  END IF;
END
$$;

-- Accepted risks: one row per (check, object), reason required, expiry enforced by waive().
CREATE TABLE waiver (
  check_id    text        NOT NULL,
  object_name text        NOT NULL,
  reason      text        NOT NULL CHECK (pg_catalog.btrim(reason) <> ''),
  expires_at  timestamptz NOT NULL,
  granted_by  text        NOT NULL DEFAULT session_user,
  granted_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (check_id, object_name)
);
COMMENT ON TABLE waiver IS 'ge_security: accepted risks, written by ge_security.waive()';
SELECT pg_catalog.pg_extension_config_dump('waiver', '');
REVOKE ALL ON waiver FROM PUBLIC;
GRANT SELECT ON waiver TO ge_security_auditor;

-- The one definition of "a schema of PostgreSQL itself" (docs/architecture.md, "User schemas"):
-- pg_catalog, information_schema, pg_toast and the temporary schemas pg_temp_N and
-- pg_toast_temp_N. Checks, drift and tenant coverage look only at the other schemas (each then
-- leaves out what it must besides, such as schemas of extensions).
CREATE FUNCTION system_schema(nspname name) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN nspname IN ('pg_catalog', 'information_schema', 'pg_toast')
       OR nspname ~ '^pg_(toast_)?temp_';
