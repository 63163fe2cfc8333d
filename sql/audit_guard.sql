-- Append-only guards, ENABLE ALWAYS so that session_replication_role = replica cannot skip them.
CREATE TRIGGER ge_security_append_only
  BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_guard();
CREATE TRIGGER ge_security_append_only
  BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit_block
  FOR EACH STATEMENT EXECUTE FUNCTION audit_guard();
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER ge_security_append_only;
ALTER TABLE audit_block ENABLE ALWAYS TRIGGER ge_security_append_only;
