-- The metrics view: one row per metric for postgres_exporter, readable by auditors (the exporter's
-- role is made a member) and not by applications; values follow the state they measure; a part
-- that cannot be read is NaN with an error label instead of failing the view. Rolled back.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
BEGIN;
-- drift event ids are a sequence, which rollbacks do not rewind: start them at 1 in this file
SELECT setval('ge_security.drift_event_id_seq', 1, false) AS first_event_id;
CREATE ROLE mt_app LOGIN;
CREATE ROLE mt_exporter LOGIN IN ROLE pg_monitor, ge_security_auditor;

-- 1. The shape: names, labels and values, as the exporter reads them.
SELECT name, labels - 'database' AS labels, labels->>'database' = current_database() AS database_label
  FROM ge_security.metrics ORDER BY name, labels::text;
SELECT pg_typeof(name) AS name_type, pg_typeof(labels) AS labels_type, pg_typeof(value) AS value_type
  FROM ge_security.metrics LIMIT 1;

-- 2. Who may read it.
SET ROLE mt_app;
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.metrics$$);
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.metric_rows()$$);
RESET ROLE;
SET ROLE mt_exporter;
SELECT count(*) > 15 AS exporter_reads_metrics, count(*) FILTER (WHERE labels ? 'error') AS errors
  FROM ge_security.metrics;
RESET ROLE;

-- 3. Values follow the state: findings agree with posture(), the keyring's two keys are counted,
-- and drift events and the unsealed backlog show up.
SELECT (SELECT value FROM ge_security.metrics WHERE name = 'findings' AND labels->>'severity' = 'low') = p.low
       AND (SELECT value FROM ge_security.metrics WHERE name = 'posture_score') = p.score AS findings_match_posture
  FROM ge_security.posture() p;
SELECT value AS keyring_keys FROM ge_security.metrics WHERE name = 'keyring_keys';
SELECT ge_security.approve_baseline('CHG-9 metrics test') IS NOT NULL AS approved;
CREATE ROLE mt_new_role;
GRANT SELECT ON ge_security.waiver TO mt_new_role;
SELECT count(*) AS recorded FROM ge_security.drift_check();
SELECT labels->>'kind' AS kind, value FROM ge_security.metrics WHERE name = 'drift_open_events' ORDER BY 1;
SELECT value < 60 AS checked_recently FROM ge_security.metrics WHERE name = 'drift_seconds_since_check';
SELECT value < 60 AS baseline_recent FROM ge_security.metrics WHERE name = 'baseline_age_seconds';
CREATE TABLE mt_audited (id int PRIMARY KEY);
SELECT ge_security.enable_audit('mt_audited');
INSERT INTO mt_audited SELECT generate_series(1, 7);
SELECT value >= 8 AS unsealed_rows_counted FROM ge_security.metrics WHERE name = 'audit_unsealed_rows';
SELECT value >= 0 AS unsealed_age FROM ge_security.metrics WHERE name = 'audit_unsealed_age_seconds';
SELECT value = 'NaN' AS never_verified FROM ge_security.metrics WHERE name = 'audit_last_verify_ok';

-- 4. Parts that cannot be read: a role granted the view but none of what is behind it gets every
-- metric as NaN with the SQLSTATE as an error label, instead of an error.
CREATE ROLE mt_partial LOGIN;
GRANT SELECT ON ge_security.metrics TO mt_partial;
GRANT EXECUTE ON FUNCTION ge_security.metric_rows() TO mt_partial;
SET ROLE mt_partial;
SELECT labels->>'error' AS error, count(*) AS metrics, bool_and(value = 'NaN') AS all_nan
  FROM ge_security.metrics GROUP BY 1;
RESET ROLE;
ROLLBACK;
