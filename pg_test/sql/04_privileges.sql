-- Who may look: PUBLIC may not, an auditor member may and gets not_assessed rows for what
-- needs superuser, and nobody but the superuser may waive.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
CREATE ROLE rt_nobody LOGIN;
CREATE ROLE rt_auditor LOGIN;
GRANT ge_security_auditor TO rt_auditor;
SET password_encryption = 'md5';
SET client_min_messages = error;  -- PostgreSQL 18 warns that MD5 passwords are deprecated
CREATE ROLE rt_md5_victim LOGIN PASSWORD 'weak' VALID UNTIL '2099-01-01';
RESET client_min_messages;
RESET password_encryption;

SET ROLE rt_nobody;
SELECT * FROM ge_security.assess();
SELECT * FROM ge_security.posture();
SELECT * FROM ge_security.role_audit();
SELECT ge_security.assert_posture();
SELECT * FROM ge_security.waiver;
RESET ROLE;

SET ROLE rt_auditor;
-- the password checks cannot read pg_authid: they say so instead of passing
SELECT check_id, object_type, status, message FROM ge_security.assess()
 WHERE status = 'not_assessed' ORDER BY check_id;
SELECT count(*) AS md5_failures_seen FROM ge_security.assess()
 WHERE check_id = 'password_md5' AND status = 'fail';
SELECT not_assessed, score < 100 AS score_penalised FROM ge_security.posture();
SELECT password_type FROM ge_security.role_audit() WHERE role_name = 'rt_md5_victim';
-- not_assessed counts as failing for a CI gate
SELECT ge_security.assert_posture('critical');
SELECT ge_security.waive('password_md5', 'role rt_md5_victim', 'auditor tries', now() + interval '1 day');
RESET ROLE;

-- the superuser sees the weak password the auditor could not
SELECT check_id, object_name, status FROM ge_security.assess() WHERE check_id = 'password_md5';
SELECT password_type FROM ge_security.role_audit() WHERE role_name = 'rt_md5_victim';

DROP ROLE rt_nobody, rt_auditor, rt_md5_victim;
