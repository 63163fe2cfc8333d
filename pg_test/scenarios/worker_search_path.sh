#!/usr/bin/env bash
# The background worker runs as the bootstrap superuser with the database's settings. A database
# owner who is not a superuser plants operators and functions in her own schema and puts it first
# in the database's search_path (ALTER DATABASE ... SET search_path); after a restart the worker
# must still run only pg_catalog's: she stays an ordinary role and her canary never fires. Run
# once with the extension missing from her database and once with it installed and sealing.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
port=54480
cluster_scratch worker_path "$port" "ge_security.databases = 'victim'" "ge_security.seal_interval = 100ms"
q() { cluster_psql "$dir" "$port" "$@"; }

q postgres -q <<'SQL'
CREATE ROLE mallory LOGIN;
CREATE DATABASE victim OWNER mallory;
SQL
# everything below runs as mallory, who owns the database and nothing else
as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -d victim -U postgres <<'SQL'
SET ROLE mallory;
CREATE SCHEMA trap;
CREATE TABLE trap.canary (fired_as text, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT ON trap.canary TO PUBLIC;
-- every planted routine records who ran it and tries to make mallory a superuser
CREATE FUNCTION trap.fire() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO trap.canary(fired_as) VALUES (current_user);
  BEGIN EXECUTE 'ALTER ROLE mallory SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN true;
END $$;
-- each planted operator gives the right answer after firing, so that the worker's transaction
-- commits and the escalation sticks
DO $plant$
DECLARE
  t text;
  op record;
BEGIN
  FOREACH t IN ARRAY ARRAY['name', 'text', 'bigint', 'integer', 'bytea', 'oid'] LOOP
    FOR op IN SELECT * FROM (VALUES ('=', 'eq'), ('<>', 'ne'), ('<', 'lt'), ('<=', 'le'), ('>', 'gt'),
                                    ('>=', 'ge')) v(sym, tag) LOOP
      EXECUTE format('CREATE FUNCTION trap.%I(%s, %s) RETURNS boolean LANGUAGE sql AS %L',
                     op.tag || '_' || t, t, t,
                     format('SELECT trap.fire() AND $1 OPERATOR(pg_catalog.%s) $2', op.sym));
      EXECUTE format('CREATE OPERATOR trap.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = trap.%I)',
                     op.sym, t, t, op.tag || '_' || t);
    END LOOP;
  END LOOP;
END $plant$;
CREATE FUNCTION trap.now() RETURNS timestamptz LANGUAGE plpgsql AS
  'BEGIN PERFORM trap.fire(); RETURN pg_catalog.now(); END';
ALTER DATABASE victim SET search_path = trap, pg_catalog, public;
SQL

canary() { q victim -qtA -c "SELECT count(*) FROM trap.canary"; }
mallory_super() { q postgres -qtA -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"; }
check_trap() {
  [ "$(canary)" = 0 ] || { echo "$1: planted code ran as $(q victim -qtA -c "SELECT string_agg(DISTINCT fired_as, ',') FROM trap.canary")"; exit 1; }
  [ "$(mallory_super)" = f ] || { echo "$1: mallory became superuser"; exit 1; }
}

# 1. the extension is not even installed in her database: the worker's probe must be safe
cluster_stop "$dir"; cluster_start "$dir"
for _ in $(seq 1 30); do grep -q "worker started for database victim" "$dir/server.log" && break; sleep 0.2; done
grep -q "worker started for database victim" "$dir/server.log" || { echo "worker did not start"; exit 1; }
sleep 2   # about 20 seal cycles
check_trap "extension missing"
echo "  extension missing: 20 worker cycles under a hostile database search_path ran nothing planted"

# 2. installed, audited writes to seal: the worker seals and logs digests, still running nothing planted
q victim -q -c "SET search_path = pg_catalog" -c "CREATE EXTENSION ge_security" \
  -c "CREATE TABLE public.t (id int PRIMARY KEY, v text)" -c "SELECT ge_security.enable_audit('public.t')" \
  -c "INSERT INTO public.t SELECT g, 'v' FROM generate_series(1, 50) g"
cluster_stop "$dir"; cluster_start "$dir"
q victim -q -c "SET search_path = pg_catalog" -c "INSERT INTO public.t SELECT g, 'w' FROM generate_series(51, 80) g"
for _ in $(seq 1 50); do
  sealed=$(q victim -qtA -c "SET search_path = pg_catalog" -c "SELECT count(*) FROM ge_security.audit_log l
             WHERE l.id <= coalesce((SELECT max(b.last_id) FROM ge_security.audit_block b), 0)")
  [ "$sealed" -ge 81 ] && break; sleep 0.2
done
[ "$sealed" -ge 81 ] || { echo "the worker did not seal ($sealed rows sealed)"; exit 1; }
grep -q "ge_security audit digest for database victim" "$dir/server.log" || { echo "no digest logged"; exit 1; }
check_trap "extension installed"
got=$(q victim -qtA -c "SET search_path = pg_catalog" -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
[ "$got" = ok ] || { echo "verify: $got"; exit 1; }
echo "  extension installed: the worker sealed $sealed rows under the hostile search_path; mallory is still not superuser"
