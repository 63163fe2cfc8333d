-- secdef_function_no_search_path and rls_missing_on_tenant_table: weak objects are reported,
-- hardened twins are not, and the remediation runs.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
CREATE ROLE rt_app LOGIN;
SET ge_security.app_roles = 'rt_app';
CREATE SCHEMA "rt; drop table x; --";
GRANT USAGE ON SCHEMA "rt; drop table x; --" TO rt_app;

-- weak: definer function without search_path (hostile schema name); twins: pinned, invoker
CREATE FUNCTION "rt; drop table x; --".weak_definer(int) RETURNS int
  LANGUAGE sql SECURITY DEFINER AS 'SELECT $1';
CREATE FUNCTION "rt; drop table x; --".pinned_definer(int) RETURNS int
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'SELECT $1';
CREATE FUNCTION "rt; drop table x; --".invoker(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
CREATE PROCEDURE "rt; drop table x; --".weak_proc() LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';

-- weak: tenant tables without RLS that the app role can reach; twins: RLS on, or unreachable
CREATE TABLE "rt; drop table x; --".orders (id int PRIMARY KEY, tenant_id bigint NOT NULL);
CREATE TABLE "rt; drop table x; --"."Invoices" (id int PRIMARY KEY, tenant_id uuid NOT NULL);
CREATE TABLE "rt; drop table x; --".isolated (id int PRIMARY KEY, tenant_id bigint NOT NULL);
ALTER TABLE "rt; drop table x; --".isolated ENABLE ROW LEVEL SECURITY;
CREATE TABLE "rt; drop table x; --".internal (id int PRIMARY KEY, tenant_id bigint NOT NULL);
CREATE TABLE "rt; drop table x; --".no_tenant (id int PRIMARY KEY);
GRANT SELECT, INSERT ON "rt; drop table x; --".orders, "rt; drop table x; --"."Invoices",
  "rt; drop table x; --".isolated, "rt; drop table x; --".no_tenant TO rt_app;

SELECT check_id, object_type, object_name, remediation FROM ge_security.assess()
 WHERE check_id IN ('secdef_function_no_search_path', 'rls_missing_on_tenant_table')
 ORDER BY check_id, object_name;
SELECT details->'reachable_through' AS reachable_through FROM ge_security.assess()
 WHERE check_id = 'rls_missing_on_tenant_table' ORDER BY object_name;

-- the remediation runs as written (pasted into psql: \gexec sends each as one query string)
-- and clears the findings
SELECT remediation FROM ge_security.assess()
 WHERE check_id IN ('secdef_function_no_search_path', 'rls_missing_on_tenant_table') \gexec
SELECT count(*) AS left_after_remediation FROM ge_security.assess()
 WHERE check_id IN ('secdef_function_no_search_path', 'rls_missing_on_tenant_table');
-- the generated policy fails closed: no tenant set, nothing visible or writable
INSERT INTO "rt; drop table x; --".orders VALUES (1, 7);
SET ROLE rt_app;
SELECT count(*) AS visible_without_tenant FROM "rt; drop table x; --".orders;
INSERT INTO "rt; drop table x; --".orders VALUES (2, 7);
SET app.current_tenant_id = '7';
SELECT count(*) AS visible_for_tenant_7 FROM "rt; drop table x; --".orders;
RESET app.current_tenant_id;
RESET ROLE;

DROP SCHEMA "rt; drop table x; --" CASCADE;
DROP ROLE rt_app;
RESET ge_security.app_roles;
