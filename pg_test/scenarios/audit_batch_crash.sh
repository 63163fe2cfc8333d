#!/usr/bin/env bash
# Batched audit writes under load: concurrent bulk writers (each statement changes hundreds of
# rows, so its audit rows are written in batches) with a sealer running, then kill -9 of a
# backend in the middle of a bulk statement and an immediate shutdown under bulk load:
# afterwards every committed change has exactly one audit row and the trail verifies clean.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir batchcrash
port=54399
cluster_create "$dir" "$port" "fsync = on" "max_connections = 40"
cluster_start "$dir"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }
pgbench() { as_postgres env -u RUST_BACKTRACE "$PG_BIN/pgbench" -h "$dir" -p "$port" -n "$@" postgres; }

q >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
INSERT INTO counters SELECT g, 0 FROM generate_series(1, 20000) g;
SELECT ge_security.enable_audit('counters');
CREATE TABLE appended (id bigserial PRIMARY KEY, k int NOT NULL);
SELECT ge_security.enable_audit('appended');
SQL
# each transaction: 1,500 rows updated in one statement (more than one flush holds), and 700
# rows appended by an INSERT ... SELECT; each client updates its own quarter (no deadlocks)
cat >"$dir/bulk.sql" <<'SQL'
\set lo :client_id * 5000 + random(1, 3500)
UPDATE counters SET n = n + 1 WHERE id BETWEEN :lo AND :lo + 1499;
INSERT INTO appended (k) SELECT g FROM generate_series(1, 700) g;
SQL
chown postgres: "$dir/bulk.sql"

# committed changes must equal audit rows, one each, and verify must be clean
check() {
  local stage=$1 got
  q -c "SELECT ge_security.audit_seal()" >/dev/null
  got=$(q -c "SELECT (SELECT sum(n) FROM counters) = (SELECT count(*) FROM ge_security.audit_log
                       WHERE op = 'UPDATE' AND table_name = 'public.counters')
              AND (SELECT count(*) FROM appended) = (SELECT count(*) FROM ge_security.audit_log
                       WHERE op = 'INSERT' AND table_name = 'public.appended')
              AND (SELECT count(*) = count(DISTINCT row_key) FROM ge_security.audit_log
                    WHERE table_name = 'public.appended' AND op = 'INSERT')")
  [ "$got" = "t" ] || {
    echo "$stage: committed changes and audit rows differ"
    q -c "SELECT (SELECT sum(n) FROM counters), (SELECT count(*) FROM appended),
                 (SELECT count(DISTINCT row_key) FROM ge_security.audit_log
                   WHERE table_name = 'public.appended')" \
      -c "SELECT table_name, op, count(*) FROM ge_security.audit_log GROUP BY 1, 2 ORDER BY 1, 2"
    cat "$dir"/pgbench*.log | grep -v "^progress" | tail -20
    exit 1
  }
  got=$(q -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
  [ "$got" = "ok" ] || { echo "$stage: verify says $got"; exit 1; }
  echo "  $stage: $(q -c "SELECT sum(n) FROM counters") updates and $(q -c "SELECT count(*) FROM appended") inserts committed, each audited; verify clean"
}

# 1. four concurrent bulk writers while a sealer seals every 200 ms
( while true; do q -c "SELECT ge_security.audit_seal()" >/dev/null 2>&1 || true; sleep 0.2; done ) &
sealer=$!
pgbench -c 4 -j 2 -T 10 -f "$dir/bulk.sql" >"$dir/pgbench1.log" 2>&1 || true
kill $sealer; wait $sealer 2>/dev/null || true
grep -q "^number of failed transactions: 0" "$dir/pgbench1.log" \
  || { echo "bulk writers failed:"; cat "$dir/pgbench1.log"; exit 1; }
check "4 bulk writers + sealer"

# 2. kill -9 one of four bulk writers under load (the postmaster then resets every backend)
pgbench -c 4 -j 2 -T 20 -f "$dir/bulk.sql" >"$dir/pgbench2.log" 2>&1 &
sleep 4
victim=$(q -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%counters%' AND pid <> pg_backend_pid() LIMIT 1")
[ -n "$victim" ] || { echo "no bulk writer to kill"; exit 1; }
kill -9 "$victim"
wait || true
for _ in $(seq 1 30); do q -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
check "after kill -9 of a bulk writer"

# 3. immediate shutdown under bulk load, then restart (crash recovery)
pgbench -c 4 -j 2 -T 20 -f "$dir/bulk.sql" >"$dir/pgbench3.log" 2>&1 &
sleep 5
cluster_stop "$dir" immediate
wait || true
as_postgres env -u RUST_BACKTRACE "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
check "after immediate shutdown and recovery"
