-- Waivers: a reason and an expiry of at most a year are required; expired waivers stop applying.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
CREATE ROLE rt_waived_su SUPERUSER NOLOGIN;
CREATE ROLE rt_other_su SUPERUSER NOLOGIN;

SELECT * FROM pg_temp.refused($$SELECT ge_security.waive('superuser_not_allowlisted', 'role rt_waived_su', NULL, now() + interval '30 days')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.waive('superuser_not_allowlisted', 'role rt_waived_su', '   ', now() + interval '30 days')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.waive('superuser_not_allowlisted', 'role rt_waived_su', 'break-glass', now() - interval '1 day')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.waive('superuser_not_allowlisted', 'role rt_waived_su', 'break-glass', now() + interval '13 months')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.waive('superuser_not_allowlisted', 'role rt_waived_su', 'break-glass', NULL)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.waive('no_such_check', 'role rt_waived_su', 'break-glass', now() + interval '30 days')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.waive('superuser_not_allowlisted', '', 'break-glass', now() + interval '30 days')$$);
SELECT count(*) AS waivers_after_refusals FROM ge_security.waiver;

-- A valid waiver hides the finding by default and shows it as waived on request.
SELECT ge_security.waive('superuser_not_allowlisted', 'role rt_waived_su',
                         'break-glass account, reviewed by security (TICKET-42)',
                         now() + interval '30 days') LIKE 'waived superuser_not_allowlisted on role rt_waived_su until %' AS waived;
SELECT check_id, object_name, status FROM ge_security.assess()
 WHERE object_name LIKE 'role rt\_%' ORDER BY object_name;
SELECT check_id, object_name, status FROM ge_security.assess('info', true)
 WHERE object_name LIKE 'role rt\_%' ORDER BY object_name;
SELECT waived FROM ge_security.posture();
SELECT granted_by, reason FROM ge_security.waiver;

-- Renewing replaces the waiver instead of piling up rows.
SELECT ge_security.waive('superuser_not_allowlisted', 'role rt_waived_su', 'renewed after review',
                         now() + interval '60 days') IS NOT NULL AS renewed;
SELECT count(*) AS waiver_rows, min(reason) AS reason FROM ge_security.waiver;

-- An expired waiver no longer applies (written directly: waive() refuses past dates).
UPDATE ge_security.waiver SET expires_at = now() - interval '1 second';
SELECT check_id, object_name, status FROM ge_security.assess('info', true)
 WHERE object_name LIKE 'role rt\_%' ORDER BY object_name;

-- assert_posture fails a CI gate and names every finding at or above the bar.
SELECT ge_security.assert_posture('critical');
SELECT ge_security.assert_posture();

DELETE FROM ge_security.waiver;
DROP ROLE rt_waived_su, rt_other_su;
SELECT ge_security.assert_posture('critical');
