-- assess() accuracy: what peer linters report (tables and SECURITY DEFINER functions that app
-- and reporting roles reach through PUBLIC, direct grants, group roles and default privileges;
-- functions without a pinned search_path; views running with their owner's rights; PII
-- names), and the false positives that are gone. Every class has a weak and a hardened twin.
CREATE ROLE ra_app LOGIN;
CREATE ROLE ra_report LOGIN;
CREATE ROLE ra_group NOLOGIN;
CREATE ROLE ra_owner NOLOGIN;
CREATE ROLE ra_login_owner LOGIN;
CREATE ROLE ra_auditor LOGIN;
GRANT ge_security_auditor TO ra_auditor;
GRANT ra_group TO ra_app;
SET ge_security.app_roles = 'ra_app';
SET ge_security.readonly_roles = 'ra_report';
CREATE SCHEMA ra_acc AUTHORIZATION ra_owner;
CREATE SCHEMA ra_acc_hidden AUTHORIZATION ra_owner;
GRANT USAGE ON SCHEMA ra_acc TO ra_app, ra_report;
GRANT USAGE ON SCHEMA ra_acc_hidden TO ra_auditor;
-- the findings of the checks this file is about, on its own objects
CREATE VIEW ra_findings AS
SELECT check_id, severity, object_name, message, remediation, details FROM ge_security.assess()
 WHERE object_name LIKE '%ra\_acc%'
   AND check_id IN ('pii_table_readable_without_rls', 'table_readable_without_rls',
                    'secdef_function_executable_by_app_role', 'function_search_path_mutable',
                    'owner_rights_view_reads_pii', 'owner_rights_view_readable',
                    'rls_bypassed_by_definer_view', 'rls_permissive_policy_to_public',
                    'rls_policy_always_true', 'rls_enabled_not_forced', 'rls_policy_leaky_function',
                    'pii_readable_by_readonly_role', 'pii_readable_by_readonly_role_rls_hidden',
                    'rls_missing_on_tenant_table');

-- PII names: whole segments of the name, never a segment that describes it or a flag
SELECT n, n ~* current_setting('ge_security.pii_patterns') AS pii
FROM unnest(ARRAY['email', 'contact_email', 'phone_number', 'password', 'passwd', 'password_hash',
                  'client_secret', 'access_token', 'api_key', 'apikey', 'credit_card', 'card_number',
                  'cvv', 'iban', 'dob', 'date_of_birth', 'ssn', 'national_id', 'nin', 'passport_no',
                  'token_count', 'password_policy_id', 'password_changed_at', 'api_key_id',
                  'email_verified', 'has_password', 'is_email_set', 'tokenizer', 'secretary',
                  'passwords', 'card_number_last4']) n;

-- 1. tables without RLS that app and reporting roles reach
SET ROLE ra_owner;
CREATE TABLE ra_acc.direct_pii (id int PRIMARY KEY, email text, token_count int);
GRANT SELECT, INSERT ON ra_acc.direct_pii TO ra_app;
CREATE TABLE ra_acc.group_plain (id int PRIMARY KEY, note text);
GRANT SELECT, UPDATE ON ra_acc.group_plain TO ra_group;
CREATE TABLE ra_acc.public_plain (id int PRIMARY KEY, note text);
GRANT SELECT ON ra_acc.public_plain TO PUBLIC;
CREATE TABLE ra_acc.names_only (id int PRIMARY KEY, token_count int, password_policy_id int,
                                email_verified boolean, has_password boolean);
GRANT SELECT ON ra_acc.names_only TO ra_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA ra_acc GRANT SELECT ON TABLES TO ra_report;
CREATE TABLE ra_acc.by_default (id int PRIMARY KEY, phone text);
ALTER DEFAULT PRIVILEGES IN SCHEMA ra_acc REVOKE SELECT ON TABLES FROM ra_report;
-- twins: row-level security on, no grant, no USAGE on the schema, a tenant table (its own check)
CREATE TABLE ra_acc.rls_on (id int PRIMARY KEY, email text);
ALTER TABLE ra_acc.rls_on ENABLE ROW LEVEL SECURITY;
ALTER TABLE ra_acc.rls_on FORCE ROW LEVEL SECURITY;
CREATE POLICY app_rows ON ra_acc.rls_on TO ra_app USING (id > 0);
GRANT SELECT ON ra_acc.rls_on TO ra_app;
CREATE TABLE ra_acc.not_granted (id int PRIMARY KEY, email text, note text);
CREATE TABLE ra_acc_hidden.no_usage (id int PRIMARY KEY, email text);
GRANT SELECT ON ra_acc_hidden.no_usage TO ra_app;
CREATE TABLE ra_acc.tenant_t (id int PRIMARY KEY, tenant_id int NOT NULL, email text);
GRANT SELECT ON ra_acc.tenant_t TO ra_app;
RESET ROLE;
SELECT check_id, severity, object_name, details->'pii_columns' AS pii, details->'readers' AS readers
  FROM ra_findings WHERE check_id IN ('pii_table_readable_without_rls', 'table_readable_without_rls',
                                      'rls_missing_on_tenant_table')
 ORDER BY 1, 3;
SELECT message, remediation FROM ra_findings WHERE object_name = 'ra_acc.group_plain';
-- hardened: RLS on the PII table, the group's grant revoked, PUBLIC's revoked
SELECT pg_catalog.split_part(remediation, ' -- ', 1) FROM ra_findings
 WHERE object_name = 'ra_acc.direct_pii' \gexec
REVOKE ALL ON ra_acc.group_plain FROM ra_group;
REVOKE ALL ON ra_acc.public_plain FROM PUBLIC;
SELECT check_id, object_name FROM ra_findings
 WHERE check_id IN ('pii_table_readable_without_rls', 'table_readable_without_rls') ORDER BY 1, 2;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'ra_acc.direct_pii'::regclass;

-- 2. SECURITY DEFINER functions app roles may execute (PUBLIC is its own check)
SET ROLE ra_owner;
CREATE FUNCTION ra_acc.definer_direct() RETURNS int LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS 'SELECT 1';
CREATE FUNCTION ra_acc.definer_group() RETURNS int LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS 'SELECT 1';
CREATE FUNCTION ra_acc.definer_auditor() RETURNS int LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS 'SELECT 1';
REVOKE EXECUTE ON FUNCTION ra_acc.definer_direct(), ra_acc.definer_group(), ra_acc.definer_auditor() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ra_acc.definer_direct() TO ra_app;
GRANT EXECUTE ON FUNCTION ra_acc.definer_group() TO ra_group;
GRANT EXECUTE ON FUNCTION ra_acc.definer_auditor() TO ra_auditor;
RESET ROLE;
SELECT object_name, message, remediation FROM ra_findings
 WHERE check_id = 'secdef_function_executable_by_app_role' ORDER BY 1;
REVOKE EXECUTE ON FUNCTION ra_acc.definer_group() FROM ra_group;
SELECT object_name FROM ra_findings WHERE check_id = 'secdef_function_executable_by_app_role';

-- 3. functions without a pinned search_path where app roles reach (low); twins: pinned,
-- BEGIN ATOMIC, C, and in a schema app roles cannot use
SET ROLE ra_owner;
CREATE FUNCTION ra_acc.unpinned(i int) RETURNS int LANGUAGE plpgsql AS 'BEGIN RETURN i + 1; END';
CREATE FUNCTION ra_acc.pinned(i int) RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
  AS 'BEGIN RETURN i + 1; END';
CREATE FUNCTION ra_acc.atomic(i int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT i + 1; END;
CREATE FUNCTION ra_acc_hidden.unpinned_hidden(i int) RETURNS int LANGUAGE plpgsql AS 'BEGIN RETURN i; END';
RESET ROLE;
SELECT object_name, severity, remediation FROM ra_findings WHERE check_id = 'function_search_path_mutable';
ALTER FUNCTION ra_acc.unpinned(int) SET search_path = pg_catalog, pg_temp;
SELECT count(*) AS unpinned_left FROM ra_findings WHERE check_id = 'function_search_path_mutable';

-- 4. views running with their owner's rights; security_invoker spelled on, 1, yes, true is
-- read as PostgreSQL reads it (the twins), off and 0 are not
SET ROLE ra_owner;
CREATE VIEW ra_acc.v_pii AS SELECT id, email FROM ra_acc.not_granted;
CREATE VIEW ra_acc.v_plain AS SELECT id, note FROM ra_acc.not_granted;
CREATE VIEW ra_acc.v_off WITH (security_invoker = off) AS SELECT id FROM ra_acc.not_granted;
CREATE VIEW ra_acc.v_on WITH (security_invoker = on) AS SELECT id, email FROM ra_acc.not_granted;
CREATE VIEW ra_acc.v_1 WITH (security_invoker = 1) AS SELECT id, email FROM ra_acc.not_granted;
CREATE VIEW ra_acc.v_yes WITH (security_invoker = yes) AS SELECT id, email FROM ra_acc.not_granted;
CREATE VIEW ra_acc.v_ungranted AS SELECT id, email FROM ra_acc.not_granted;
GRANT SELECT ON ra_acc.v_pii, ra_acc.v_on, ra_acc.v_1, ra_acc.v_yes TO ra_app;
GRANT SELECT ON ra_acc.v_plain, ra_acc.v_off TO ra_report;
-- over a row-level secured table: rls_bypassed_by_definer_view, with the same twins
CREATE TABLE ra_acc.secured (id int PRIMARY KEY, tenant_id int NOT NULL);
ALTER TABLE ra_acc.secured ENABLE ROW LEVEL SECURITY;
ALTER TABLE ra_acc.secured FORCE ROW LEVEL SECURITY;
CREATE POLICY by_tenant ON ra_acc.secured
  USING (tenant_id = NULLIF(current_setting('app.current_tenant_id', true), '')::int);
CREATE VIEW ra_acc.sv_definer AS SELECT id FROM ra_acc.secured;
CREATE VIEW ra_acc.sv_on WITH (security_invoker = on) AS SELECT id FROM ra_acc.secured;
CREATE VIEW ra_acc.sv_1 WITH (security_invoker = 1) AS SELECT id FROM ra_acc.secured;
CREATE VIEW ra_acc.sv_yes WITH (security_invoker = yes) AS SELECT id FROM ra_acc.secured;
GRANT SELECT ON ra_acc.sv_definer, ra_acc.sv_on, ra_acc.sv_1, ra_acc.sv_yes TO ra_app;
RESET ROLE;
SELECT check_id, severity, object_name, details->'pii_columns' AS pii FROM ra_findings
 WHERE check_id IN ('owner_rights_view_reads_pii', 'owner_rights_view_readable', 'rls_bypassed_by_definer_view')
 ORDER BY 1, 3;
ALTER VIEW ra_acc.v_pii SET (security_invoker = true);
ALTER VIEW ra_acc.v_plain SET (security_invoker = true);
ALTER VIEW ra_acc.v_off SET (security_invoker = true);
ALTER VIEW ra_acc.sv_definer SET (security_invoker = true);
SELECT count(*) AS view_findings_left FROM ra_findings
 WHERE check_id IN ('owner_rights_view_reads_pii', 'owner_rights_view_readable', 'rls_bypassed_by_definer_view');

-- false positive: a permissive PUBLIC policy that lets nothing through (USING false, 1 = 0)
-- widens nothing; one that lets some rows through is still reported; constants that are
-- always true are rls_policy_always_true
CREATE TABLE ra_acc.pol (id int PRIMARY KEY);
ALTER TABLE ra_acc.pol OWNER TO ra_owner;
ALTER TABLE ra_acc.pol ENABLE ROW LEVEL SECURITY;
ALTER TABLE ra_acc.pol FORCE ROW LEVEL SECURITY;
CREATE POLICY nothing ON ra_acc.pol USING (false);
CREATE POLICY nothing_either ON ra_acc.pol USING (1 = 0) WITH CHECK (NULL::boolean);
CREATE POLICY some_rows ON ra_acc.pol USING (id > 0);
CREATE POLICY constant_true ON ra_acc.pol USING (2 > 1);
SELECT check_id, object_name FROM ra_findings
 WHERE check_id IN ('rls_permissive_policy_to_public', 'rls_policy_always_true') ORDER BY 1, 2;
DROP POLICY some_rows ON ra_acc.pol;
DROP POLICY constant_true ON ra_acc.pol;
SELECT count(*) AS policy_findings_left FROM ra_findings
 WHERE check_id IN ('rls_permissive_policy_to_public', 'rls_policy_always_true');

-- false positive: RLS enabled, not forced, on a table a superuser owns (FORCE would not bind
-- it); the twin owned by a LOGIN role is reported
CREATE TABLE ra_acc.su_owned (id int PRIMARY KEY);
ALTER TABLE ra_acc.su_owned ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON ra_acc.su_owned TO ra_app USING (id > 0);
CREATE TABLE ra_acc.login_owned (id int PRIMARY KEY);
ALTER TABLE ra_acc.login_owned OWNER TO ra_login_owner;
ALTER TABLE ra_acc.login_owned ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON ra_acc.login_owned TO ra_app USING (id > 0);
SELECT object_name, message FROM ra_findings WHERE check_id = 'rls_enabled_not_forced';
ALTER TABLE ra_acc.login_owned FORCE ROW LEVEL SECURITY;
SELECT count(*) AS unforced_left FROM ra_findings WHERE check_id = 'rls_enabled_not_forced';

-- false positive: functions that receive no row data cannot leak it; a function given a
-- column in both USING and WITH CHECK is one finding
CREATE TABLE ra_acc.leaky (id int PRIMARY KEY, owner_name text);
ALTER TABLE ra_acc.leaky OWNER TO ra_owner;
ALTER TABLE ra_acc.leaky ENABLE ROW LEVEL SECURITY;
ALTER TABLE ra_acc.leaky FORCE ROW LEVEL SECURITY;
CREATE FUNCTION ra_acc.no_args() RETURNS boolean LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp AS 'SELECT true';
CREATE FUNCTION ra_acc.check_value(text) RETURNS boolean LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp AS 'SELECT $1 IS NOT NULL';
CREATE POLICY no_row_data ON ra_acc.leaky TO ra_app
  USING (ra_acc.no_args() AND ra_acc.check_value(current_setting('app.user', true)) AND id > 0);
CREATE POLICY row_data ON ra_acc.leaky TO ra_app
  USING (ra_acc.check_value(owner_name)) WITH CHECK (ra_acc.check_value(upper(owner_name)));
SELECT object_name, message, remediation FROM ra_findings WHERE check_id = 'rls_policy_leaky_function';
ALTER FUNCTION ra_acc.check_value(text) LEAKPROOF;
SELECT count(*) AS leaky_left FROM ra_findings WHERE check_id = 'rls_policy_leaky_function';

-- a reporting role with SELECT on PII: medium when it reads rows, low (with the reason) when
-- row-level security lets it see none, whatever policies for other roles or lets nothing
-- through say
CREATE TABLE ra_acc.report_pii (id int PRIMARY KEY, email text);
ALTER TABLE ra_acc.report_pii OWNER TO ra_owner;
GRANT SELECT ON ra_acc.report_pii TO ra_report;
SELECT check_id, severity, details->>'row_level_security' AS rls FROM ra_findings
 WHERE object_name = 'ra_acc.report_pii for role ra_report';
ALTER TABLE ra_acc.report_pii ENABLE ROW LEVEL SECURITY;
ALTER TABLE ra_acc.report_pii FORCE ROW LEVEL SECURITY;
CREATE POLICY app_only ON ra_acc.report_pii TO ra_app USING (true);
CREATE POLICY reports_nothing ON ra_acc.report_pii TO ra_report USING (false);
SELECT check_id, severity, message, details->>'row_level_security' AS rls FROM ra_findings
 WHERE object_name = 'ra_acc.report_pii for role ra_report';
CREATE POLICY reports_some ON ra_acc.report_pii TO ra_group, ra_report USING (id < 100);
SELECT check_id, severity, details->>'row_level_security' AS rls FROM ra_findings
 WHERE object_name = 'ra_acc.report_pii for role ra_report';

-- settings from the CIS logging section: each weak value is reported, the default is not
CREATE FUNCTION pg_temp.logging_findings() RETURNS TABLE (check_id text, object_name text, remediation text)
LANGUAGE sql AS $$
  SELECT check_id, object_name, remediation FROM ge_security.assess()
   WHERE check_id IN ('log_min_messages_high', 'log_error_verbosity_terse', 'debug_print_parse_on',
                      'debug_print_rewritten_on', 'debug_print_plan_on', 'debug_pretty_print_off',
                      'log_hostname_on', 'track_activities_off')
   ORDER BY 1 $$;
SELECT count(*) AS weak_logging_by_default FROM pg_temp.logging_findings();
SET log_min_messages = error;
SET log_error_verbosity = terse;
SET debug_print_parse = on;
SET debug_print_rewritten = on;
SET debug_print_plan = on;
SET debug_pretty_print = off;
SET track_activities = off;
ALTER SYSTEM SET log_hostname = on;
SELECT pg_reload_conf(), pg_sleep(1);
SELECT * FROM pg_temp.logging_findings();
RESET log_min_messages;
RESET log_error_verbosity;
RESET debug_print_parse;
RESET debug_print_rewritten;
RESET debug_print_plan;
RESET debug_pretty_print;
RESET track_activities;
ALTER SYSTEM RESET log_hostname;
SELECT pg_reload_conf(), pg_sleep(1);
SELECT count(*) AS weak_logging_left FROM pg_temp.logging_findings();
-- an application role may not run assess() (the posture is for auditors)
SET ROLE ra_app;
SELECT count(*) FROM ge_security.assess();
RESET ROLE;

-- the auditor (not a superuser) sees the same findings as a superuser
CREATE TEMP TABLE ra_as_superuser AS SELECT check_id, object_name FROM ra_findings;
GRANT SELECT ON ra_as_superuser, ra_findings TO ra_auditor;
SET ROLE ra_auditor;
SELECT count(*) AS superuser_findings, count(*) FILTER (WHERE (check_id, object_name) NOT IN
         (SELECT check_id, object_name FROM ra_findings)) AS missing_for_auditor
  FROM ra_as_superuser;
RESET ROLE;

DROP VIEW ra_findings;
DROP SCHEMA ra_acc, ra_acc_hidden CASCADE;
DROP OWNED BY ra_app, ra_report, ra_group, ra_owner, ra_login_owner, ra_auditor;
DROP ROLE ra_app, ra_report, ra_group, ra_owner, ra_login_owner, ra_auditor;
RESET ge_security.app_roles;
RESET ge_security.readonly_roles;
