-- apply_role_model() and lockdown_role(): what they change, that the result passes the role
-- checks, and that lockdown is recorded in the audit trail.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
CREATE ROLE rt_migrator LOGIN;
CREATE SCHEMA "rt shop" AUTHORIZATION rt_migrator;
CREATE TABLE "rt shop".orders (id serial PRIMARY KEY, total numeric);
CREATE VIEW "rt shop".big_orders AS SELECT * FROM "rt shop".orders WHERE total > 100;
CREATE FUNCTION "rt shop".order_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM "rt shop".orders';
ALTER TABLE "rt shop".orders OWNER TO rt_migrator;
ALTER VIEW "rt shop".big_orders OWNER TO rt_migrator;
ALTER FUNCTION "rt shop".order_count() OWNER TO rt_migrator;
GRANT SELECT ON "rt shop".orders TO PUBLIC;

SELECT ge_security.apply_role_model('rt shop', 'rt_migrator', 'rt_rw', 'rt_ro');
SELECT unnest(ge_security.apply_role_model('rt shop', 'rt_shop_owner', 'rt_shop_rw', 'rt_shop_ro')) AS statement;
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'rt_shop_%' ORDER BY 1;
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner,
       has_table_privilege('rt_shop_rw', c.oid, 'INSERT') AS rw_inserts,
       has_table_privilege('rt_shop_ro', c.oid, 'SELECT') AS ro_reads,
       has_table_privilege('rt_shop_ro', c.oid, 'INSERT') AS ro_inserts,
       has_table_privilege('public', c.oid, 'SELECT') AS public_reads
  FROM pg_class c WHERE c.relnamespace = '"rt shop"'::regnamespace AND c.relkind IN ('r', 'v') ORDER BY 1;
-- a table created later by the owner gets the same grants (default privileges)
SET ROLE rt_shop_owner;
CREATE TABLE "rt shop".invoices (id int PRIMARY KEY);
RESET ROLE;
SELECT has_table_privilege('rt_shop_rw', '"rt shop".invoices', 'UPDATE') AS rw_on_new,
       has_table_privilege('rt_shop_ro', '"rt shop".invoices', 'SELECT') AS ro_on_new,
       has_table_privilege('rt_shop_ro', '"rt shop".invoices', 'DELETE') AS ro_deletes_new;
-- app roles built on the model own nothing and pass the ownership and grant checks
CREATE ROLE rt_app LOGIN IN ROLE rt_shop_rw;
SET ge_security.app_roles = 'rt_app';
SELECT count(*) AS findings_for_app FROM ge_security.assess()
 WHERE details->>'role' = 'rt_app' AND check_id IN ('app_role_owns_objects', 'app_role_schema_create');

-- lockdown_role: NOLOGIN, recorded in the trail; refusals
SELECT ge_security.lockdown_role('rt_app');
SELECT rolcanlogin FROM pg_roles WHERE rolname = 'rt_app';
SELECT op, statement FROM ge_security.audit_log WHERE statement LIKE '%lockdown_role%' ORDER BY id;
\set VERBOSITY terse
SELECT ge_security.lockdown_role('no such role');
SELECT ge_security.lockdown_role(NULL);
SELECT ge_security.apply_role_model('rt shop', 'postgres', 'rt_x', 'rt_y');
SELECT ge_security.apply_role_model('no schema', 'rt_a', 'rt_b', 'rt_c');
SELECT ge_security.apply_role_model('rt shop', 'rt_a', 'rt_a', 'rt_c');
\set VERBOSITY default

RESET ge_security.app_roles;
DROP SCHEMA "rt shop" CASCADE;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'rt\_%' LOOP
    EXECUTE format('DROP OWNED BY %I', r.rolname);
  END LOOP;
  FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'rt\_%' LOOP
    EXECUTE format('DROP ROLE %I', r.rolname);
  END LOOP;
END $$;
