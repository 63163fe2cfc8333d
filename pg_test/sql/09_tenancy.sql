-- Tenant isolation: the fail-closed helper, probes as the app role, coverage and RLS checks.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
CREATE ROLE rt_app LOGIN;
CREATE ROLE rt_owner NOLOGIN;
CREATE SCHEMA "rt tenants";
GRANT USAGE ON SCHEMA "rt tenants" TO rt_app;
SET ge_security.app_roles = 'rt_app';

-- one table per tenant-id type, owned by a NOLOGIN role, the app role reads and writes
CREATE TABLE "rt tenants".t_int (id serial PRIMARY KEY, tenant_id int NOT NULL, note text);
CREATE TABLE "rt tenants".t_bigint (id serial PRIMARY KEY, tenant_id bigint NOT NULL, note text);
CREATE TABLE "rt tenants".t_uuid (id serial PRIMARY KEY, tenant_id uuid NOT NULL, note text);
CREATE TABLE "rt tenants"."T; text" (id serial PRIMARY KEY, tenant_id text NOT NULL, note text);
CREATE INDEX ON "rt tenants".t_int (tenant_id);
INSERT INTO "rt tenants".t_int (tenant_id, note) VALUES (1, 'a'), (2, 'b');
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['t_int', 't_bigint', 't_uuid', 'T; text'] LOOP
    EXECUTE format('ALTER TABLE "rt tenants".%I OWNER TO rt_owner', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON "rt tenants".%I TO rt_app', t);
  END LOOP;
  GRANT USAGE ON ALL SEQUENCES IN SCHEMA "rt tenants" TO rt_app;
END $$;

-- refusals
SELECT * FROM pg_temp.refused($$SELECT ge_security.enable_tenant_isolation('"rt tenants".t_int', 'nope')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.enable_tenant_isolation('"rt tenants".t_int', 'note')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.enable_tenant_isolation('"rt tenants".t_int', 'tenant_id', 'no dot; DROP TABLE x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.enable_tenant_isolation(NULL, 'tenant_id')$$);
CREATE TABLE "rt tenants".t_nullable (id int PRIMARY KEY, tenant_id int);
SELECT * FROM pg_temp.refused($$SELECT ge_security.enable_tenant_isolation('"rt tenants".t_nullable', 'tenant_id')$$);
CREATE TABLE "rt tenants".t_float (id int PRIMARY KEY, tenant_id float8 NOT NULL);
SELECT * FROM pg_temp.refused($$SELECT ge_security.enable_tenant_isolation('"rt tenants".t_float', 'tenant_id')$$);

-- before: no isolation, the probes fail as the app role
SELECT probe, passed FROM ge_security.prove_tenant_isolation('"rt tenants".t_int', 'rt_app');
SELECT table_name, tenant_column, rls_enabled, rls_forced, policies, status
  FROM ge_security.rls_coverage() WHERE table_name LIKE '"rt tenants".%' ORDER BY 1;

-- the helper on every type (idempotent), then every probe passes
SELECT ge_security.enable_tenant_isolation('"rt tenants".t_int', 'tenant_id');
SELECT cardinality(ge_security.enable_tenant_isolation('"rt tenants".t_int', 'tenant_id')) AS statements_again;
SELECT cardinality(ge_security.enable_tenant_isolation('"rt tenants".t_bigint', 'tenant_id', 'app.tenant')) AS statements;
SELECT cardinality(ge_security.enable_tenant_isolation('"rt tenants".t_uuid', 'tenant_id')) AS statements;
SELECT cardinality(ge_security.enable_tenant_isolation('"rt tenants"."T; text"', 'tenant_id')) AS statements;
SELECT count(*) AS policies FROM pg_policy WHERE polrelid = '"rt tenants".t_int'::regclass;
SELECT probe, passed, detail FROM ge_security.prove_tenant_isolation('"rt tenants".t_int', 'rt_app');
SELECT probe, passed FROM ge_security.prove_tenant_isolation('"rt tenants".t_bigint', 'rt_app');
SELECT probe, passed FROM ge_security.prove_tenant_isolation('"rt tenants".t_uuid', 'rt_app');
SELECT probe, passed FROM ge_security.prove_tenant_isolation('"rt tenants"."T; text"', 'rt_app');
-- the probes leave no trace: rows, role, settings
SELECT count(*) AS rows_left, current_user = session_user AS role_restored,
       coalesce(current_setting('app.current_tenant_id', true), '') AS setting_left
  FROM "rt tenants".t_int;
SELECT count(*) AS uuid_rows_left FROM "rt tenants".t_uuid;

-- fail closed for the app role: nothing without a tenant, only its own rows with one
SET ROLE rt_app;
SELECT count(*) AS without_tenant FROM "rt tenants".t_int;
SET app.current_tenant_id = '1';
SELECT note FROM "rt tenants".t_int;
SELECT * FROM pg_temp.refused($$INSERT INTO "rt tenants".t_int (tenant_id, note) VALUES (2, 'forged')$$);
RESET app.current_tenant_id;
RESET ROLE;

-- an always-true permissive policy breaks isolation: the check and the probes both say so
CREATE POLICY anything_goes ON "rt tenants".t_int FOR ALL TO PUBLIC USING (true) WITH CHECK (true);
SELECT check_id, object_name FROM ge_security.assess() WHERE object_name LIKE '%rt tenants%' ORDER BY 1, 2;
SELECT probe, passed FROM ge_security.prove_tenant_isolation('"rt tenants".t_int', 'rt_app');
SELECT table_name, always_true_policies, status FROM ge_security.rls_coverage() WHERE table_name = '"rt tenants".t_int';
DROP POLICY anything_goes ON "rt tenants".t_int;

-- a view that runs with its owner's rights leaks every tenant; security_invoker closes it
CREATE VIEW "rt tenants".all_notes AS SELECT tenant_id, note FROM "rt tenants".t_int;
GRANT SELECT ON "rt tenants".all_notes TO rt_app;
SELECT check_id, object_type, object_name, remediation FROM ge_security.assess()
 WHERE check_id = 'rls_bypassed_by_definer_view';
SELECT probe, passed, detail FROM ge_security.prove_tenant_isolation('"rt tenants".t_int', 'rt_app')
 WHERE probe = 'read_via_views';
ALTER VIEW "rt tenants".all_notes SET (security_invoker = true);
SELECT count(*) AS definer_view_findings FROM ge_security.assess() WHERE check_id = 'rls_bypassed_by_definer_view';
SELECT probe, passed, detail FROM ge_security.prove_tenant_isolation('"rt tenants".t_int', 'rt_app')
 WHERE probe = 'read_via_views';

-- policies that open up when the setting is missing, for PUBLIC without any scoping, and
-- calling a leaky user function: each reported
CREATE TABLE "rt tenants".t_open (id int PRIMARY KEY, tenant_id int NOT NULL);
ALTER TABLE "rt tenants".t_open OWNER TO rt_owner;
ALTER TABLE "rt tenants".t_open ENABLE ROW LEVEL SECURITY;
ALTER TABLE "rt tenants".t_open FORCE ROW LEVEL SECURITY;
CREATE POLICY open_when_unset ON "rt tenants".t_open
  USING (current_setting('app.current_tenant_id', true) IS NULL
         OR tenant_id = current_setting('app.current_tenant_id', true)::int);
CREATE POLICY everyone_positive ON "rt tenants".t_open USING (id > 0);
CREATE FUNCTION "rt tenants".tenant_ok(int) RETURNS boolean LANGUAGE sql STABLE AS 'SELECT $1 > 0';
CREATE POLICY with_function ON "rt tenants".t_open TO rt_app USING ("rt tenants".tenant_ok(tenant_id));
SELECT check_id, severity, object_name FROM ge_security.assess()
 WHERE object_name LIKE '%t_open%' ORDER BY 1, 3;
-- hardened: fail-closed helper policy only
DROP POLICY open_when_unset ON "rt tenants".t_open;
DROP POLICY everyone_positive ON "rt tenants".t_open;
DROP POLICY with_function ON "rt tenants".t_open;
SELECT cardinality(ge_security.enable_tenant_isolation('"rt tenants".t_open', 'tenant_id')) AS statements;
SELECT count(*) AS t_open_findings FROM ge_security.assess() WHERE object_name LIKE '%t_open%';

-- weak twins for the other RLS checks: enabled not forced with a LOGIN owner, no policy,
-- policies while disabled; and their hardened forms are silent
CREATE ROLE rt_login_owner LOGIN;
CREATE TABLE "rt tenants".weak_unforced (id int PRIMARY KEY);
ALTER TABLE "rt tenants".weak_unforced OWNER TO rt_login_owner;
ALTER TABLE "rt tenants".weak_unforced ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON "rt tenants".weak_unforced TO rt_app USING (id > 0);
CREATE TABLE "rt tenants".weak_nopolicy (id int PRIMARY KEY);
ALTER TABLE "rt tenants".weak_nopolicy OWNER TO rt_owner;
ALTER TABLE "rt tenants".weak_nopolicy ENABLE ROW LEVEL SECURITY;
CREATE TABLE "rt tenants".weak_disabled (id int PRIMARY KEY);
ALTER TABLE "rt tenants".weak_disabled OWNER TO rt_owner;
CREATE POLICY p ON "rt tenants".weak_disabled TO rt_app USING (id > 0);
SELECT check_id, object_name FROM ge_security.assess()
 WHERE check_id LIKE 'rls\_%' AND object_name LIKE '%rt tenants%' ORDER BY 1, 2;
ALTER TABLE "rt tenants".weak_unforced FORCE ROW LEVEL SECURITY;
CREATE POLICY p ON "rt tenants".weak_nopolicy TO rt_app USING (id > 0);
ALTER TABLE "rt tenants".weak_disabled ENABLE ROW LEVEL SECURITY;
SELECT count(*) AS rls_findings_left FROM ge_security.assess()
 WHERE check_id LIKE 'rls\_%' AND object_name LIKE '%rt tenants%' AND check_id <> 'rls_missing_on_tenant_table';

DROP SCHEMA "rt tenants" CASCADE;
DROP ROLE rt_app, rt_owner, rt_login_owner;
RESET ge_security.app_roles;
