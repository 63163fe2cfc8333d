-- Grants, functions, languages, extensions, resource limits and PII auditing: each weak
-- object is reported, its hardened twin is not, and the remediation runs where it is SQL.
-- the test cluster ends idle transactions server-wide; the app-role timeout twins need it off
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
SET idle_in_transaction_session_timeout = 0;
CREATE ROLE rt_app LOGIN CONNECTION LIMIT 20;
CREATE ROLE rt_app2 LOGIN;
CREATE ROLE rt_owner NOLOGIN;
SET ge_security.app_roles = 'rt_app, rt_app2';
ALTER ROLE rt_app SET statement_timeout = '30s';
ALTER ROLE rt_app SET idle_in_transaction_session_timeout = '60s';
CREATE SCHEMA "rt Weak";
CREATE SCHEMA rt_hard;
CREATE SCHEMA rt_extensions;

-- grants: weak objects
CREATE TABLE "rt Weak".public_read (id int PRIMARY KEY);
GRANT SELECT ON "rt Weak".public_read TO PUBLIC;
CREATE SEQUENCE "rt Weak".public_seq;
GRANT USAGE ON SEQUENCE "rt Weak".public_seq TO PUBLIC;
GRANT CREATE ON SCHEMA "rt Weak" TO PUBLIC;
GRANT CREATE ON SCHEMA "rt Weak" TO rt_app2;
CREATE TABLE "rt Weak".broad (id int PRIMARY KEY);
GRANT ALL ON "rt Weak".broad TO rt_app2;
CREATE TABLE "rt Weak".passed_on (id int PRIMARY KEY);
GRANT SELECT ON "rt Weak".passed_on TO rt_app2 WITH GRANT OPTION;
ALTER DEFAULT PRIVILEGES FOR ROLE rt_owner IN SCHEMA "rt Weak" GRANT SELECT ON TABLES TO PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE contrib_regression TO PUBLIC;
-- grants: hardened twins
CREATE TABLE rt_hard.app_only (id int PRIMARY KEY);
GRANT SELECT, INSERT, UPDATE, DELETE ON rt_hard.app_only TO rt_app;

-- functions: weak definer functions and their twins
CREATE FUNCTION "rt Weak".temp_first() RETURNS int LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog AS 'SELECT 1';
CREATE FUNCTION "rt Weak".public_first() RETURNS int LANGUAGE sql SECURITY DEFINER
  SET search_path = public, pg_catalog, pg_temp AS 'SELECT 1';
CREATE FUNCTION rt_hard.pinned() RETURNS int LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS 'SELECT 1';
REVOKE EXECUTE ON FUNCTION rt_hard.pinned() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rt_hard.pinned() TO rt_app;

-- languages and extensions
CREATE LANGUAGE rt_untrusted HANDLER plpgsql_call_handler;
CREATE EXTENSION citext SCHEMA public;
CREATE EXTENSION dblink SCHEMA rt_extensions;

-- PII: a table with an email column, unaudited; its twin is audited
CREATE TABLE "rt Weak".customers (id int PRIMARY KEY, email bytea);
CREATE TABLE rt_hard.customers (id int PRIMARY KEY, email bytea);
SELECT ge_security.enable_audit('rt_hard.customers') IS NOT NULL AS audited;

CREATE VIEW rt_findings AS
SELECT check_id, object_type, object_name, remediation FROM ge_security.assess()
 WHERE category IN ('grants', 'functions', 'resources', 'data_protection')
   AND check_id <> 'pii_column_plaintext';
SELECT check_id, object_type, object_name FROM rt_findings ORDER BY 1, 3;
SELECT count(*) AS hardened_twins_reported FROM rt_findings
 WHERE object_name LIKE '%rt_hard%' OR object_name IN ('role rt_app', 'rt_extensions');
SELECT check_id, remediation FROM rt_findings
 WHERE check_id IN ('table_privileges_to_public', 'default_privileges_to_public',
                    'secdef_function_unsafe_search_path', 'app_role_broad_table_privileges')
 ORDER BY 1, 2;

-- apply every SQL remediation (not the advisory ones), then nothing is left but those
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT DISTINCT remediation FROM rt_findings
            WHERE remediation NOT LIKE '--%' AND check_id NOT IN ('untrusted_language_installed',
                  'risky_extension_installed', 'extension_in_public_schema') LOOP
    EXECUTE r.remediation;
  END LOOP;
END $$;
SELECT check_id, object_name FROM rt_findings ORDER BY 1, 2;

DROP VIEW rt_findings;
DROP EXTENSION dblink;
DROP EXTENSION citext;
DROP LANGUAGE rt_untrusted;
ALTER DEFAULT PRIVILEGES FOR ROLE rt_owner IN SCHEMA "rt Weak" REVOKE ALL ON TABLES FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE contrib_regression FROM PUBLIC;
DROP SCHEMA "rt Weak", rt_hard, rt_extensions CASCADE;
DROP ROLE rt_app, rt_app2, rt_owner;
RESET ge_security.app_roles;
RESET idle_in_transaction_session_timeout;
