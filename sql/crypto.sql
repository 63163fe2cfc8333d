-- Registered encrypted columns (protect_column()): evidence, assess() and rotation read it.
CREATE TABLE protected_column (
  table_name    regclass    NOT NULL,
  column_name   name        NOT NULL,
  context       text        NOT NULL CHECK (context <> ''),
  aad_column    name,
  registered_by text        NOT NULL DEFAULT session_user,
  registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (table_name, column_name)
);
COMMENT ON TABLE protected_column IS 'ge_security: encrypted columns registered by protect_column()';
SELECT pg_catalog.pg_extension_config_dump('protected_column', '');
REVOKE ALL ON protected_column FROM PUBLIC;
GRANT SELECT ON protected_column TO ge_security_auditor;
