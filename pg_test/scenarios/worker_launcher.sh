#!/usr/bin/env bash
# The launcher keeps one worker per database in ge_security.databases: a missing database is
# logged once and waited for (no crash loop), a database added on reload gets its worker without
# a restart and one removed loses it, a worker whose cycle fails logs a WARNING and carries on,
# a terminated worker is started again, SIGKILL brings everything back, and a fast shutdown is
# prompt. Both processes show in pg_stat_activity under backend types naming ge_security.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir launcher
port=54503
cluster_create "$dir" "$port" "ge_security.databases = 'appdb, ghost'" "ge_security.seal_interval = 200ms" \
  "ge_security.drift_interval = 1s"
q() { cluster_psql "$dir" "$port" "$@"; }
cluster_start "$dir"
q postgres -q -c "CREATE DATABASE appdb"
q appdb -q <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE events (id int PRIMARY KEY, what text);
SELECT ge_security.enable_audit('events');
INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 100) g;
SQL
fail() { echo "$1"; echo "--- server log"; tail -40 "$dir/server.log"; exit 1; }
worker_pid() {
  q postgres -qtA -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ge_security worker' AND datname = '$1'"
}
unsealed() {
  q appdb -qtA -c "SELECT count(*) FROM ge_security.audit_log
                    WHERE id > coalesce((SELECT max(last_id) FROM ge_security.audit_block), 0)"
}
wait_for() {  # wait_for WHAT COMMAND...: up to 15 s for the command to succeed
  local what=$1; shift
  for _ in $(seq 1 75); do "$@" && return 0; sleep 0.2; done
  fail "timed out waiting for: $what"
}
has_worker() { [ -n "$(worker_pid "$1")" ]; }
no_worker() { [ -z "$(worker_pid "$1")" ]; }
all_sealed() { [ "$(unsealed)" = 0 ]; }

# 1. backend types, and sealing without anyone calling audit_seal()
wait_for "appdb's worker" has_worker appdb
types=$(q postgres -qtA -c "SELECT string_agg(DISTINCT backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity
                             WHERE backend_type LIKE 'ge_security%'")
[ "$types" = "ge_security launcher,ge_security worker" ] || fail "backend types: $types"
wait_for "the worker to seal" all_sealed
echo "  launcher and worker in pg_stat_activity ($types); 100 audit rows sealed by the worker"

# 2. the missing database: one LOG line, no worker, no crash loop (over 6 s of back-off)
sleep 6
missing=$(grep -c 'database ghost named in ge_security.databases does not exist' "$dir/server.log" || true)
[ "$missing" = 1 ] || fail "the missing database was logged $missing times"
crashes=$(grep -c 'exited with exit code\|terminated by signal' "$dir/server.log" || true)
[ "$crashes" = 0 ] || fail "$crashes worker exits while waiting for a missing database"
no_worker ghost || fail "a worker runs for a missing database"
echo "  missing database: logged once, no worker started, no exits in 6 s"

# 3. the database appears: without the extension its worker waits quietly (one LOG line) ...
q postgres -q -c "CREATE DATABASE ghost"
q postgres -qtA -c "SELECT pg_reload_conf()" >/dev/null
wait_for "ghost's worker" has_worker ghost
sleep 3
waiting=$(grep -c 'for database ghost: extension ge_security is not installed' "$dir/server.log" || true)
[ "$waiting" = 1 ] || fail "the missing extension was logged $waiting times"
ghost_pid=$(worker_pid ghost)
# ... and starts sealing once the extension is created
q ghost -q -c "CREATE EXTENSION ge_security" -c "CREATE TABLE t (id int PRIMARY KEY)" \
  -c "SELECT ge_security.enable_audit('t')" -c "INSERT INTO t SELECT generate_series(1, 10)"
ghost_sealed() { [ "$(q ghost -qtA -c "SELECT count(*) FROM ge_security.audit_block")" != 0 ]; }
wait_for "ghost's worker to seal" ghost_sealed
[ "$(worker_pid ghost)" = "$ghost_pid" ] || fail "ghost's worker was restarted while waiting for the extension"
echo "  created later: worker started on reload, waited for the extension (logged once), then sealed"

# 4. a database added to the list on reload gets a worker; one removed loses it
q postgres -q -c "CREATE DATABASE third"
q postgres -q -c "ALTER SYSTEM SET ge_security.databases = 'appdb, ghost, third'" -c "SELECT pg_reload_conf()"
wait_for "third's worker after a reload" has_worker third
q postgres -q -c "ALTER SYSTEM SET ge_security.databases = 'appdb, third'" -c "SELECT pg_reload_conf()"
wait_for "ghost's worker to stop after a reload" no_worker ghost
has_worker appdb || fail "appdb's worker stopped when ghost was removed"
echo "  reload: third gained a worker, ghost lost its own, appdb's kept running"

# 5. a failing cycle is a WARNING, not a crash: sealing fails while the id sequence caches ids
appdb_pid=$(worker_pid appdb)
q appdb -q -c "SET ge_security.maintenance = on" -c "ALTER SEQUENCE ge_security.audit_log_id_seq CACHE 5"
grep_warning() { grep -q 'ge_security worker for database appdb: seal cycle failed' "$dir/server.log"; }
wait_for "a WARNING about the failed seal" grep_warning
grep 'seal cycle failed' "$dir/server.log" | head -1 | grep -q 'WARNING' || fail "the failure is not a WARNING"
q appdb -q -c "SET ge_security.maintenance = on" -c "ALTER SEQUENCE ge_security.audit_log_id_seq CACHE 1"
q appdb -q -c "INSERT INTO events SELECT g, 'after' FROM generate_series(101, 150) g"
wait_for "sealing to resume after the fix" all_sealed
[ "$(worker_pid appdb)" = "$appdb_pid" ] || fail "the worker was replaced after a failed cycle"
failures=$(grep -c 'seal cycle failed' "$dir/server.log")
echo "  failed seal cycles logged as WARNINGs ($failures, backing off), same worker sealed once fixed"

# 6. a terminated worker stops promptly and the launcher starts it again
q postgres -qtA -c "SELECT pg_terminate_backend($appdb_pid)" >/dev/null
gone() { [ "$(worker_pid appdb)" != "$appdb_pid" ]; }
wait_for "the terminated worker to go" gone
wait_for "a new worker for appdb" has_worker appdb
echo "  terminated worker $appdb_pid replaced by $(worker_pid appdb)"

# 7. SIGKILL: the postmaster restarts everything, the launcher starts the workers again
kill -9 "$(worker_pid appdb)"
sleep 1
for _ in $(seq 1 60); do q postgres -qtA -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.5; done
wait_for "appdb's worker after SIGKILL" has_worker appdb
wait_for "third's worker after SIGKILL" has_worker third
q appdb -q -c "INSERT INTO events SELECT g, 'after kill' FROM generate_series(151, 160) g"
wait_for "sealing after SIGKILL" all_sealed
launchers=$(q postgres -qtA -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ge_security launcher'")
workers=$(q postgres -qtA -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ge_security worker'")
[ "$launchers/$workers" = 1/2 ] || fail "after SIGKILL: $launchers launchers, $workers workers"
got=$(q appdb -qtA -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
[ "$got" = ok ] || fail "verify: $got"
echo "  SIGKILL: one launcher and two workers back, sealing resumed, trail verifies"

# 8. a fast shutdown is prompt
start=$(date +%s%N)
as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -lt 5000 ] || fail "fast shutdown took $ms ms"
grep -q 'ge_security worker for database appdb stopping' "$dir/server.log" || fail "no clean stop logged"
echo "  fast shutdown in $ms ms"
