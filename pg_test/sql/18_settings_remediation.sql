-- Settings that quietly change results are refused or reported; remediations that would stop
-- the server are not offered as runnable SQL; the role model refuses schemas it must not own;
-- waivers written around waive() do not count.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc

-- 1. Values no setting can mean are refused when set (22023), naming the setting.
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.pii_patterns = '(email'$$);
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.pii_patterns = '[[:nope:]]'$$);
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.app_roles = 'app_user, $$ || repeat('x', 100) || $$'$$);
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.readonly_roles = E'report\nuser'$$);
-- (PostgreSQL's own message quotes the value; the DETAIL, ours, quotes a short prefix)
SELECT code, left(message, 60) AS message, detail
  FROM pg_temp.error_report($$SET ge_security.superuser_allowlist = 'postgres, $$ || repeat('y', 100000) || $$'$$);
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.tenant_columns = E'tenant_id,x\ty'$$);
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.actor_setting = 'app.actor; DROP TABLE x'$$);
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.actor_setting = '.leading.dot'$$);
-- a refused value leaves the previous one in place
SHOW ge_security.pii_patterns;
-- valid values are taken
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.pii_patterns = '(^|_)(email|phone)($|_)'$$);
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.actor_setting = 'myapp.current_actor'$$);
RESET ge_security.pii_patterns;
RESET ge_security.actor_setting;

-- 2. Names of things that do not exist: the dependent checks say so instead of going quiet.
CREATE ROLE st_app LOGIN;
CREATE TABLE public.st_open (id int PRIMARY KEY, tenant_id int, email text);
GRANT SELECT ON public.st_open TO PUBLIC;
SET ge_security.app_roles = 'st_app';
-- the weak table is found with the real role
SELECT check_id, object_name, status FROM ge_security.assess()
 WHERE object_name = 'public.st_open' ORDER BY 1;
SELECT count(*) AS settings_rows FROM ge_security.assess() WHERE object_type = 'setting' AND object_name LIKE 'setting ge_security.%';
-- a typo: the checks that read app_roles are not_assessed, naming the setting and the value
SET ge_security.app_roles = 'st_ap';
SELECT DISTINCT object_name, status, details->>'value' AS value, details->>'problem' AS problem
  FROM ge_security.assess() WHERE object_type = 'setting' AND object_name = 'setting ge_security.app_roles';
SELECT count(*) > 0 AS app_checks_not_assessed FROM ge_security.assess()
 WHERE status = 'not_assessed' AND object_name = 'setting ge_security.app_roles';
-- one known, one unknown: the known role is still assessed, the unknown one is reported
SET ge_security.app_roles = 'st_app, st_ghost';
SELECT DISTINCT details->>'problem' AS problem FROM ge_security.assess()
 WHERE object_name = 'setting ge_security.app_roles';
SET ge_security.readonly_roles = 'st_reporting_typo';
SELECT DISTINCT check_id, status FROM ge_security.assess()
 WHERE object_name = 'setting ge_security.readonly_roles' ORDER BY 1;
SET ge_security.superuser_allowlist = 'postgres, st_dba_typo';
SELECT DISTINCT details->>'problem' AS problem FROM ge_security.assess()
 WHERE object_name = 'setting ge_security.superuser_allowlist';
SET ge_security.tenant_columns = 'tenant_id, tennant';
SELECT DISTINCT details->>'problem' AS problem FROM ge_security.assess()
 WHERE object_name = 'setting ge_security.tenant_columns';
-- an empty PII pattern would match nothing: the PII checks say they did not run
SET ge_security.pii_patterns = '';
SELECT DISTINCT check_id, status, details->>'problem' AS problem FROM ge_security.assess()
 WHERE object_name = 'setting ge_security.pii_patterns' ORDER BY 1;
RESET ge_security.app_roles;
RESET ge_security.readonly_roles;
RESET ge_security.superuser_allowlist;
RESET ge_security.tenant_columns;
RESET ge_security.pii_patterns;
-- with every setting sound, no setting rows
SELECT count(*) AS settings_rows FROM ge_security.assess() WHERE object_name LIKE 'setting ge_security.%';

-- 3. Remediations that would keep the server from starting are not runnable SQL. This cluster
-- runs TLS with a valid certificate and key, and pgaudit is installed: the fixes are runnable.
SELECT remediation FROM ge_security.assess() WHERE check_id IN ('ssl_off', 'pgaudit_not_loaded');
-- (scenario remediation_ssl covers ssl = off with missing, loose and good key files)
-- an ALTER SYSTEM remediation is never wrapped in a transaction block (it cannot run in one)
SELECT check_id FROM ge_security.assess()
 WHERE remediation ~ 'ALTER SYSTEM' AND remediation ~* '(^|;)\s*(BEGIN|START TRANSACTION)\M' ORDER BY 1;
-- every multi-statement SQL remediation without ALTER SYSTEM is one transaction or one DO block
SELECT check_id, remediation FROM ge_security.assess('info', true)
 WHERE remediation !~ '^\s*--' AND remediation !~ 'ALTER SYSTEM'
   AND (length(remediation) - length(replace(remediation, ';', ''))) > 1
   AND remediation !~ '^\s*BEGIN;.*COMMIT;' AND remediation !~ '^\s*DO ' ORDER BY 1;

-- 4. The role model refuses schemas it must not hand to an application owner.
SELECT code, message, detail FROM pg_temp.error_report($$SELECT ge_security.apply_role_model('ge_security', 'st_owner', 'st_rw', 'st_ro')$$);
SELECT code, message, detail FROM pg_temp.error_report($$SELECT ge_security.apply_role_model('pg_catalog', 'st_owner', 'st_rw', 'st_ro')$$);
SELECT code, message, detail FROM pg_temp.error_report($$SELECT ge_security.apply_role_model('information_schema', 'st_owner', 'st_rw', 'st_ro')$$);
SELECT code, message, detail FROM pg_temp.error_report($$SELECT ge_security.apply_role_model('pg_toast', 'st_owner', 'st_rw', 'st_ro')$$);
-- nothing was created or handed over
SELECT count(*) AS roles_created FROM pg_roles WHERE rolname IN ('st_owner', 'st_rw', 'st_ro');
SELECT pg_get_userbyid(c.relowner) AS waiver_owner FROM pg_class c WHERE c.oid = 'ge_security.waiver'::regclass;

-- 5. A waiver written around waive() (expiring in 'infinity', or more than a year after it was
-- granted) hides nothing.
CREATE ROLE st_rogue SUPERUSER NOLOGIN;
SELECT status FROM ge_security.assess('info', true) WHERE check_id = 'superuser_not_allowlisted' AND object_name = 'role st_rogue';
SELECT code, message, detail FROM pg_temp.error_report($$SELECT ge_security.waive('superuser_not_allowlisted', 'role st_rogue', 'x', 'infinity')$$);
INSERT INTO ge_security.waiver (check_id, object_name, reason, expires_at)
  VALUES ('superuser_not_allowlisted', 'role st_rogue', 'written by hand', 'infinity');
SELECT status FROM ge_security.assess('info', true) WHERE check_id = 'superuser_not_allowlisted' AND object_name = 'role st_rogue';
UPDATE ge_security.waiver SET expires_at = now() + interval '2 years' WHERE object_name = 'role st_rogue';
SELECT status FROM ge_security.assess('info', true) WHERE check_id = 'superuser_not_allowlisted' AND object_name = 'role st_rogue';
UPDATE ge_security.waiver SET expires_at = now() + interval '11 months' WHERE object_name = 'role st_rogue';
SELECT status FROM ge_security.assess('info', true) WHERE check_id = 'superuser_not_allowlisted' AND object_name = 'role st_rogue';
DELETE FROM ge_security.waiver WHERE object_name = 'role st_rogue';

-- 6. Sealing stalls behind idle open transactions unless they are ended: reported while
-- idle_in_transaction_session_timeout is 0 (the default), quiet once set.
SELECT check_id, object_name, remediation FROM ge_security.assess() WHERE check_id = 'idle_in_transaction_timeout_off';
SET idle_in_transaction_session_timeout = '10min';
SELECT count(*) AS still_reported FROM ge_security.assess() WHERE check_id = 'idle_in_transaction_timeout_off';
RESET idle_in_transaction_session_timeout;

-- 7. md5_password_warnings (PostgreSQL 18 on): reported while off, quiet once on. Before 18
-- the setting does not exist: one not_assessed row says so, never a pass or an error.
SELECT pg_catalog.current_setting('server_version_num')::integer >= 180000 AS pg18 \gset
\if :pg18
SET md5_password_warnings = off;
SELECT status, object_name, message, remediation FROM ge_security.assess() WHERE check_id = 'md5_password_warnings_off';
SET md5_password_warnings = on;
SELECT count(*) AS still_reported FROM ge_security.assess('info', true) WHERE check_id = 'md5_password_warnings_off';
RESET md5_password_warnings;
\else
SELECT status, object_name, message, remediation FROM ge_security.assess() WHERE check_id = 'md5_password_warnings_off';
\endif

-- 8. ssl_tls13_ciphers (PostgreSQL 18 on): the default (empty, OpenSSL's suites) is quiet; the
-- weak lists need a reload and are in scenario settings_hba. Before 18: one not_assessed row.
\if :pg18
SELECT count(*) AS reported FROM ge_security.assess('info', true) WHERE check_id = 'ssl_tls13_ciphers_weak';
\else
SELECT status, object_name, message, remediation FROM ge_security.assess() WHERE check_id = 'ssl_tls13_ciphers_weak';
\endif

DROP TABLE public.st_open;
DROP ROLE st_app, st_rogue;
