-- Policy drift: approving a baseline, drift() against it, drift_check() recording each item once,
-- assess() reporting unapproved drift, who may do what, and hostile names. Everything runs in
-- one transaction that is rolled back (roles included).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
BEGIN;
-- drift event ids are a sequence, which rollbacks do not rewind: start them at 1 in this file
SELECT setval('ge_security.drift_event_id_seq', 1, false) AS first_event_id;
CREATE ROLE dr_app LOGIN;
CREATE ROLE dr_auditor LOGIN IN ROLE ge_security_auditor;
CREATE ROLE dr_flipper LOGIN;
-- objects of the approved posture that the test then weakens, and their untouched twins
CREATE SCHEMA dr;
CREATE TABLE dr.grants_weak (id int PRIMARY KEY);
CREATE TABLE dr.grants_kept (id int PRIMARY KEY);
CREATE TABLE dr.rls_weak (id int PRIMARY KEY, tenant_id int NOT NULL);
CREATE TABLE dr.rls_kept (id int PRIMARY KEY, tenant_id int NOT NULL);
ALTER TABLE dr.rls_weak ENABLE ROW LEVEL SECURITY;
ALTER TABLE dr.rls_kept ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON dr.rls_weak USING (tenant_id = current_setting('app.tenant')::int);
CREATE POLICY tenant ON dr.rls_kept USING (tenant_id = current_setting('app.tenant')::int);

-- 1. No baseline yet: drift() and drift_check() say so, assess() reports it.
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.drift()$$);
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.drift_check()$$);
SELECT check_id, severity, object_type, status, remediation
  FROM ge_security.assess() WHERE category = 'drift' ORDER BY check_id;

-- 2. Who may look and who may approve. An application role may do nothing.
SET ROLE dr_app;
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.drift()$$);
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.security_snapshot()$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.approve_baseline('app role approves')$$);
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.drift_check()$$);
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.baseline$$);
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.drift_event$$);
SELECT * FROM pg_temp.refused($$INSERT INTO ge_security.drift_event (baseline_id, kind, object_type, object_name) VALUES (1, 'added', 'role', 'x')$$);
-- the auditor may compare (pg_hba.conf rules included, although it cannot read them itself) but
-- neither approve nor record
RESET ROLE;
SET ROLE dr_auditor;
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.drift()$$);
SELECT has_function_privilege('pg_catalog.pg_hba_file_rules()', 'EXECUTE') AS auditor_reads_hba_itself,
       count(*) FILTER (WHERE object_type = 'hba_rule') > 0 AS snapshot_has_hba_rules,
       count(*) FILTER (WHERE object_type = 'role' AND state ? 'password') > 0 AS snapshot_has_password_kinds,
       count(*) FILTER (WHERE state::text ~ 'SCRAM-SHA-256\$') AS password_hashes_shown
  FROM ge_security.security_snapshot();
SELECT * FROM pg_temp.refused($$SELECT ge_security.approve_baseline('auditor approves')$$);
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.drift_check()$$);
SELECT count(*) AS baselines_visible_to_auditor FROM ge_security.baseline;
RESET ROLE;

-- 3. Bad notes are refused with a SQLSTATE.
SELECT * FROM pg_temp.refused($$SELECT ge_security.approve_baseline(NULL)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.approve_baseline('   ')$$);

-- 4. The snapshot: what it covers, and the same rows every time.
SELECT object_type, count(*) > 0 AS present FROM ge_security.security_snapshot() GROUP BY 1 ORDER BY 1;
SELECT count(*) AS duplicate_keys FROM (SELECT object_type, object_name FROM ge_security.security_snapshot()
                                         GROUP BY 1, 2 HAVING count(*) > 1) d;
SELECT (SELECT jsonb_agg(jsonb_build_array(object_type, object_name, state) ORDER BY object_type, object_name)
          FROM ge_security.security_snapshot())
     = (SELECT jsonb_agg(jsonb_build_array(object_type, object_name, state) ORDER BY object_type, object_name)
          FROM ge_security.security_snapshot()) AS snapshot_repeats;
-- a session's SET, DateStyle or TimeZone does not change it
SELECT jsonb_agg(state ORDER BY object_name) AS before_set
  FROM ge_security.security_snapshot() WHERE object_name IN ('setting row_security', 'setting ssl') \gset
SET row_security = off;
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Pacific/Kiritimati';
SELECT jsonb_agg(state ORDER BY object_name) = :'before_set'::jsonb AS settings_ignore_session
  FROM ge_security.security_snapshot() WHERE object_name IN ('setting row_security', 'setting ssl');
RESET row_security;

-- 5. Approval: who, when, why, the SHA-256 of what was stored; drift() is then empty.
SELECT b->>'baseline' IS NOT NULL AS has_id, (b->>'items')::int > 100 AS many_items,
       b->>'sha256' ~ '^[0-9a-f]{64}$' AS sha256_shape, b->>'closed_drift_events' AS closed
  FROM (SELECT ge_security.approve_baseline($$CHG-1: initial posture'); DROP TABLE dr.rls_kept; --$$) AS b) s;
SELECT approved_by, approved_as, note, items = (SELECT count(*) FROM ge_security.baseline_item i WHERE i.baseline_id = b.id) AS items_stored
  FROM ge_security.baseline b;
SELECT count(*) AS drift_after_approval FROM ge_security.drift();
SELECT count(*) AS rls_kept_still_there FROM dr.rls_kept;
SELECT check_id, status FROM ge_security.assess() WHERE category = 'drift' ORDER BY check_id;

-- 6. Weakening the posture: a new superuser (hostile name), a BYPASSRLS role, a PUBLIC grant, RLS
-- disabled, a policy dropped, a membership, an ALTER ROLE ... SET; the twins stay as they were.
CREATE ROLE "<script>alert('x')</script>" SUPERUSER;
CREATE ROLE "dr ""quoted""
newline" LOGIN;
ALTER ROLE dr_flipper BYPASSRLS;
GRANT SELECT ON dr.grants_weak TO PUBLIC;
ALTER TABLE dr.rls_weak DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant ON dr.rls_weak;
GRANT dr_app TO dr_auditor;
ALTER ROLE dr_app SET search_path = dr, public;
SELECT kind, object_type, object_name, before, after FROM ge_security.drift();

-- 7. drift_check() records each item once, with a WARNING; the next check records nothing.
SELECT kind, object_type, object_name FROM ge_security.drift_check() ORDER BY event_id;
SELECT count(*) AS second_check FROM ge_security.drift_check();
SELECT count(*) AS open_events, count(DISTINCT (object_type, object_name)) AS distinct_objects
  FROM ge_security.drift_event WHERE closed_at IS NULL;
SELECT drift_open, drift_checked_at IS NOT NULL AS checked FROM ge_security.worker_status;

-- 8. assess() reports unapproved drift: new superuser / BYPASSRLS critical, others by kind.
SELECT check_id, severity, object_type, object_name, remediation
  FROM ge_security.assess() WHERE category = 'drift' AND check_id <> 'drift_not_monitored'
 ORDER BY check_id, object_name;
-- the remediation of the privileged roles is runnable as given
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT remediation FROM ge_security.assess() WHERE check_id = 'drift_privileged_role' LOOP
    EXECUTE r.remediation;
  END LOOP;
END $$;
SELECT rolname, rolsuper, rolbypassrls FROM pg_roles
 WHERE rolname IN ('<script>alert(''x'')</script>', 'dr_flipper') ORDER BY rolname;

-- 9. A reverted item is closed; an item that changes again is superseded by a new event.
REVOKE SELECT ON dr.grants_weak FROM PUBLIC;
SELECT kind, object_type, object_name FROM ge_security.drift_check() ORDER BY event_id;
SELECT kind, object_type, object_name, closed_reason FROM ge_security.drift_event
 WHERE closed_at IS NOT NULL ORDER BY id;

-- 10. The search_path of the caller cannot hijack drift bookkeeping: an operator planted first
-- in the path fires on use, yet drift() and drift_check() run as before.
CREATE SCHEMA dr_trap;
CREATE FUNCTION dr_trap.boom(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN RAISE EXCEPTION 'planted operator ran'; END$$;
CREATE OPERATOR dr_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = dr_trap.boom);
SET search_path = dr_trap, pg_catalog, public;
SELECT * FROM pg_temp.refused($$SELECT 'a'::text = 'a'::text$$);
SELECT count(*) AS drift_items_under_hostile_path FROM ge_security.drift();
SELECT count(*) AS new_events_under_hostile_path FROM ge_security.drift_check();
RESET search_path;

-- 11. Approving again closes every open event as approved; drift() and the checks are clean.
SELECT (b->>'closed_drift_events')::int > 0 AS closed_some
  FROM (SELECT ge_security.approve_baseline('CHG-2: reviewed drift') AS b) s;
SELECT count(*) AS still_open FROM ge_security.drift_event WHERE closed_at IS NULL;
SELECT closed_reason, count(*) FROM ge_security.drift_event GROUP BY 1 ORDER BY 1;
SELECT count(*) AS drift_after_second_approval FROM ge_security.drift();
SELECT check_id FROM ge_security.assess() WHERE category = 'drift' ORDER BY check_id;
SELECT count(*) AS baselines_kept, count(DISTINCT sha256) AS distinct_digests FROM ge_security.baseline;
ROLLBACK;
