#!/usr/bin/env bash
# Concurrent writers with a sealer running, then kill -9 of a backend inside an audited
# transaction and an immediate shutdown under load: afterwards every committed write has
# exactly one audit row and the trail verifies clean.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
port=54394
cluster_scratch crash "$port" "fsync = on" "max_connections = 40"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }
pgbench() { as_postgres env -u RUST_BACKTRACE "$PG_BIN/pgbench" -h "$dir" -p "$port" -n "$@" postgres; }

q >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
INSERT INTO counters SELECT g, 0 FROM generate_series(1, 100) g;
SELECT ge_security.enable_audit('counters');
SQL
echo "UPDATE counters SET n = n + 1 WHERE id = 1 + (random() * 99)::int;" >"$dir/update.sql"
chown postgres: "$dir/update.sql"

# committed updates (sum of n) must equal audit UPDATE rows, and verify must be clean
check() {
  local stage=$1 got
  q -c "SELECT ge_security.audit_seal()" >/dev/null
  got=$(q -c "SELECT (SELECT sum(n) FROM counters) = (SELECT count(*) FROM ge_security.audit_log
                       WHERE op = 'UPDATE' AND table_name = 'public.counters')")
  [ "$got" = "t" ] || { echo "$stage: committed writes and audit rows differ"; exit 1; }
  got=$(q -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
  [ "$got" = "ok" ] || { echo "$stage: verify says $got"; exit 1; }
  echo "  $stage: $(q -c "SELECT sum(n) FROM counters") committed updates, each audited; verify clean"
}

# 1. eight concurrent writers while a sealer seals every 200 ms
( while true; do q -c "SELECT ge_security.audit_seal()" >/dev/null 2>&1 || true; sleep 0.2; done ) &
sealer=$!
pgbench -c 8 -j 2 -T 8 -f "$dir/update.sql" >"$dir/pgbench1.log" 2>&1
kill $sealer; wait $sealer 2>/dev/null || true
check "8 clients + sealer"

# 2. kill -9 a backend in the middle of an audited transaction
q -c "BEGIN" -c "UPDATE counters SET n = n + 1 WHERE id = 1" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
sleep 1
victim=$(q -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")
kill -9 "$victim"
wait || true
for _ in $(seq 1 30); do q -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
check "after kill -9 of a writer"

# 3. immediate shutdown under load, then restart (crash recovery)
pgbench -c 4 -j 2 -T 20 -f "$dir/update.sql" >"$dir/pgbench2.log" 2>&1 &
sleep 4
cluster_stop "$dir" immediate
wait || true
as_postgres env -u RUST_BACKTRACE "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
check "after immediate shutdown and recovery"
