-- Role checks: each weak role is reported, its hardened twin is not, and the remediation runs.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
SET password_encryption = 'scram-sha-256';
-- the test cluster ends idle transactions server-wide; the app-role timeout twins need it off
SET idle_in_transaction_session_timeout = 0;
SET ge_security.superuser_allowlist = 'postgres, rt_ops_su';
-- weak: superuser outside the allow-list; twin: allow-listed superuser
CREATE ROLE rt_rogue_su SUPERUSER LOGIN PASSWORD 'x' VALID UNTIL '2099-01-01';
CREATE ROLE rt_ops_su SUPERUSER LOGIN PASSWORD 'x' VALID UNTIL '2099-01-01';
-- weak: LOGIN roles with risky attributes; twins: the same attributes on NOLOGIN roles
CREATE ROLE rt_login_createrole LOGIN CREATEROLE PASSWORD 'x' VALID UNTIL '2099-01-01';
CREATE ROLE rt_login_createdb LOGIN CREATEDB PASSWORD 'x' VALID UNTIL '2099-01-01';
CREATE ROLE rt_login_replication LOGIN REPLICATION PASSWORD 'x' VALID UNTIL '2099-01-01';
CREATE ROLE rt_login_bypassrls LOGIN BYPASSRLS PASSWORD 'x' VALID UNTIL '2099-01-01';
CREATE ROLE rt_group_risky NOLOGIN CREATEROLE CREATEDB REPLICATION BYPASSRLS;
-- weak: LOGIN roles reaching a superuser or a risky role through (nested) membership
CREATE ROLE rt_group_su NOLOGIN SUPERUSER;
CREATE ROLE rt_group_mid NOLOGIN;
GRANT rt_group_su TO rt_group_mid;
CREATE ROLE rt_login_indirect_su LOGIN PASSWORD 'x' VALID UNTIL '2099-01-01';
GRANT rt_group_mid TO rt_login_indirect_su;
CREATE ROLE rt_login_indirect_risky LOGIN PASSWORD 'x' VALID UNTIL '2099-01-01';
GRANT rt_group_risky TO rt_login_indirect_risky;
-- twin: a NOLOGIN member of the superuser group is not a login path
CREATE ROLE rt_nologin_member NOLOGIN;
GRANT rt_group_mid TO rt_nologin_member;
-- weak: md5, plain text, missing password, no expiry; twin: SCRAM with expiry
SET password_encryption = 'md5';
SET client_min_messages = error;  -- PostgreSQL 18 warns that MD5 passwords are deprecated
CREATE ROLE rt_login_md5 LOGIN PASSWORD 'secret-md5' VALID UNTIL '2099-01-01';
RESET client_min_messages;
SET password_encryption = 'scram-sha-256';
CREATE ROLE rt_login_plain LOGIN PASSWORD 'to-be-plain' VALID UNTIL '2099-01-01';
UPDATE pg_authid SET rolpassword = 'hunter2' WHERE rolname = 'rt_login_plain';
CREATE ROLE rt_login_nopass LOGIN VALID UNTIL '2099-01-01';
CREATE ROLE rt_login_noexpiry LOGIN PASSWORD 'x';
CREATE ROLE rt_login_good LOGIN PASSWORD 'x' VALID UNTIL '2099-01-01';
-- weak: members of the server file / program roles, directly or nested; twin: none
CREATE ROLE rt_login_program LOGIN PASSWORD 'x' VALID UNTIL '2099-01-01';
GRANT pg_execute_server_program TO rt_login_program;
CREATE ROLE rt_group_files NOLOGIN;
GRANT pg_read_server_files TO rt_group_files;
CREATE ROLE rt_login_files LOGIN PASSWORD 'x' VALID UNTIL '2099-01-01';
GRANT rt_group_files TO rt_login_files;
-- weak: an app role owning a table, schema and function; twin: a NOLOGIN owner role
CREATE ROLE rt_app LOGIN PASSWORD 'x' VALID UNTIL '2099-01-01';
CREATE ROLE rt_owner NOLOGIN;
CREATE SCHEMA "rt app ""schema""" AUTHORIZATION rt_app;
CREATE TABLE "rt app ""schema""".orders (id int PRIMARY KEY);
ALTER TABLE "rt app ""schema""".orders OWNER TO rt_app;
CREATE FUNCTION public.rt_app_fn(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
ALTER FUNCTION public.rt_app_fn(int) OWNER TO rt_app;
CREATE TABLE public.rt_owned_ok (id int);
ALTER TABLE public.rt_owned_ok OWNER TO rt_owner;
SET ge_security.app_roles = 'rt_app';

CREATE VIEW rt_findings AS
SELECT check_id, severity, object_type, object_name, status,
       regexp_replace(remediation, '''\d{4}-\d{2}-\d{2}''', '''DATE''', 'g') AS remediation
  FROM ge_security.assess()
 WHERE details->>'role' LIKE 'rt\_%';

SELECT * FROM rt_findings ORDER BY check_id, object_name, remediation;

-- hardened twins never appear
SELECT count(*) AS twins_reported FROM rt_findings
 WHERE object_name IN ('role rt_ops_su', 'role rt_group_risky', 'role rt_nologin_member',
                       'role rt_login_good', 'role rt_owner')
    OR object_name LIKE '%rt_owned_ok%';

-- role_audit(): one row per role, with its findings
SELECT role_name, can_login, superuser, risky_attributes, member_of, effective_superuser,
       password_type, owns_objects, findings
  FROM ge_security.role_audit() WHERE role_name LIKE 'rt\_%' ORDER BY role_name;

-- The remediation SQL is runnable: apply every non-interactive one, then nothing is left.
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT DISTINCT remediation FROM ge_security.assess()
            WHERE details->>'role' LIKE 'rt\_%' AND remediation NOT LIKE '%\password%' LOOP
    EXECUTE r.remediation;
  END LOOP;
END $$;
SELECT check_id, object_name FROM rt_findings ORDER BY 1, 2;

DROP VIEW rt_findings;
DROP SCHEMA "rt app ""schema""" CASCADE;
DROP FUNCTION public.rt_app_fn(int);
DROP TABLE public.rt_owned_ok;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'rt\_%' ORDER BY rolname DESC LOOP
    EXECUTE format('DROP ROLE %I', r.rolname);
  END LOOP;
END $$;
RESET ge_security.app_roles;
RESET ge_security.superuser_allowlist;
RESET password_encryption;
RESET idle_in_transaction_session_timeout;
