-- Metrics for monitoring (postgres_exporter custom queries): one row per metric, with labels as
-- a JSON object. Each part is computed on its own: one that fails (a keyring that cannot be read,
-- a privilege the reader lacks) gives its metric as NaN with an "error" label, the rest still come.
CREATE FUNCTION metric_rows()
RETURNS TABLE (name text, labels jsonb, value double precision)
LANGUAGE plpgsql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  db jsonb := jsonb_build_object('database', current_database());
  p record;
  unsealed_rows bigint;
  unsealed_age double precision;
  since_seal double precision;
  s record;
  n bigint;
BEGIN
  BEGIN
    SELECT * INTO p FROM ge_security.posture();
    RETURN QUERY SELECT 'findings', db || jsonb_build_object('severity', x.severity), x.n::double precision
      FROM (VALUES ('critical', p.critical), ('high', p.high), ('medium', p.medium), ('low', p.low),
                   ('info', p.info)) AS x(severity, n);
    RETURN QUERY VALUES ('findings_not_assessed', db, p.not_assessed::double precision),
                        ('findings_waived', db, p.waived::double precision),
                        ('posture_score', db, p.score::double precision);
  EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT m, db || jsonb_build_object('error', SQLSTATE), 'NaN'::double precision
      FROM unnest(ARRAY['findings', 'findings_not_assessed', 'findings_waived', 'posture_score']) m;
  END;

  BEGIN
    SELECT count(*), greatest(extract(epoch FROM clock_timestamp() - min(l.at)), 0) INTO unsealed_rows, unsealed_age
      FROM ge_security.audit_log l
     WHERE l.id > coalesce((SELECT max(b.last_id) FROM ge_security.audit_block b), 0);
    SELECT greatest(extract(epoch FROM clock_timestamp() - max(b.sealed_at)), 0) INTO since_seal FROM ge_security.audit_block b;
    RETURN QUERY VALUES ('audit_unsealed_rows', db, unsealed_rows::double precision),
                        ('audit_unsealed_age_seconds', db, coalesce(unsealed_age, 0)),
                        ('audit_seconds_since_seal', db, coalesce(since_seal, 'NaN'));
  EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT m, db || jsonb_build_object('error', SQLSTATE), 'NaN'::double precision
      FROM unnest(ARRAY['audit_unsealed_rows', 'audit_unsealed_age_seconds', 'audit_seconds_since_seal']) m;
  END;

  BEGIN
    SELECT * INTO s FROM ge_security.worker_status;
    RETURN QUERY VALUES
      ('audit_last_verify_ok', db, CASE WHEN s.verify_ok THEN 1.0::float8 WHEN NOT s.verify_ok THEN 0.0::float8 ELSE 'NaN'::float8 END),
      ('audit_last_verify_problems', db, coalesce(s.verify_problems::double precision, 'NaN')),
      ('audit_last_verify_age_seconds', db, coalesce(extract(epoch FROM now() - s.verified_at)::double precision, 'NaN')),
      ('drift_seconds_since_check', db, coalesce(extract(epoch FROM now() - s.drift_checked_at)::double precision, 'NaN'));
    RETURN QUERY SELECT 'drift_open_events', db || jsonb_build_object('kind', k.kind),
                        (SELECT count(*) FROM ge_security.drift_event e
                          WHERE e.closed_at IS NULL AND e.kind = k.kind)::double precision
      FROM (VALUES ('added'), ('removed'), ('changed')) AS k(kind);
    RETURN QUERY SELECT 'baseline_age_seconds', db,
                        coalesce((SELECT extract(epoch FROM now() - max(b.approved_at)) FROM ge_security.baseline b)::double precision, 'NaN');
  EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT m, db || jsonb_build_object('error', SQLSTATE), 'NaN'::double precision
      FROM unnest(ARRAY['audit_last_verify_ok', 'audit_last_verify_problems', 'audit_last_verify_age_seconds',
                        'drift_seconds_since_check', 'drift_open_events', 'baseline_age_seconds']) m;
  END;

  BEGIN
    SELECT count(*) INTO n FROM ge_security.keyring_status();
    RETURN QUERY VALUES ('keyring_keys', db, n::double precision);
  EXCEPTION WHEN OTHERS THEN
    RETURN QUERY VALUES ('keyring_keys', db || jsonb_build_object('error', SQLSTATE), 'NaN'::double precision);
  END;
END
$$;
COMMENT ON FUNCTION metric_rows() IS 'ge_security: the rows of the metrics view';

CREATE VIEW metrics AS SELECT m.name, m.labels, m.value FROM metric_rows() m;
COMMENT ON VIEW metrics IS
  'ge_security: one row per metric (name, labels, value) for postgres_exporter custom queries';

REVOKE ALL ON metrics FROM PUBLIC;
REVOKE ALL ON FUNCTION metric_rows() FROM PUBLIC;
GRANT SELECT ON metrics TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION metric_rows() TO ge_security_auditor;
