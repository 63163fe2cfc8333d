-- The assess() engine on a clean cluster: the catalogue, no false positives, argument errors.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
SELECT count(*) >= 15 AS catalogue_is_populated FROM ge_security.checks();
SELECT check_id, severity, category, controls FROM ge_security.checks() ORDER BY category, check_id;

-- Nothing to report on a fresh cluster: postgres is the allow-listed superuser.
SELECT check_id, object_name, status FROM ge_security.assess();
SELECT critical, high, medium, low, info, not_assessed, waived, checks_run = checks_passed AS all_passed, score
  FROM ge_security.posture();
SELECT ge_security.assert_posture('info');

-- Bad arguments are refused with a SQLSTATE, never ignored.
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.assess('severe')$$);
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.assess(NULL)$$);
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.assess('critical', NULL)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.assert_posture('')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.assert_posture(NULL)$$);

-- The extension creates its auditor role, which is NOLOGIN.
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'ge_security_auditor';

-- Only the auditor role may read the report; PUBLIC may not.
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_run,
       has_function_privilege('ge_security_auditor', p.oid, 'EXECUTE') AS auditor_can_run
  FROM pg_proc p WHERE p.pronamespace = 'ge_security'::regnamespace
 ORDER BY p.proname;

-- Extension-owned objects are never findings, even ones that would be.
SELECT count(*) AS own_objects_reported FROM ge_security.assess()
 WHERE object_name LIKE 'ge_security.%';
