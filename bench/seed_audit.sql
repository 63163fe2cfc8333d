-- The PL/pgSQL baseline of the audit benchmarks (bench/audit.sh, bench/audit_bulk.sh): the
-- seed standard's audit table and trigger function (seed 004, "Add Audit Logging"), unchained,
-- verbatim but for the key column's name (aid for id).
CREATE TABLE seed_audit_log (
  id bigserial PRIMARY KEY, table_name text NOT NULL, record_id bigint NOT NULL, action text NOT NULL,
  old_values jsonb, new_values jsonb, changed_by text NOT NULL, changed_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION seed_audit() RETURNS trigger AS $$
BEGIN
  INSERT INTO seed_audit_log (table_name, record_id, action, old_values, new_values, changed_by)
  VALUES (
    TG_TABLE_NAME,
    COALESCE(NEW.aid, OLD.aid),
    TG_OP,
    CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END,
    CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END,
    current_setting('app.current_user', true)
  );
  RETURN COALESCE(NEW, OLD);
END;
$$ LANGUAGE plpgsql;
