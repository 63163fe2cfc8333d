#!/usr/bin/env bash
# The background worker seals the trail by itself every seal_interval, logs the digest,
# comes back after being killed, and stops cleanly with the server. Sessions default to
# SERIALIZABLE here: the worker seals in READ COMMITTED all the same.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir worker
port=54397
cluster_create "$dir" "$port" "ge_security.databases = 'postgres'" "ge_security.seal_interval = 200ms" \
  "default_transaction_isolation = 'serializable'"
cluster_start "$dir"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }

q >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE events (id int PRIMARY KEY, what text);
SELECT ge_security.enable_audit('events');
INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 100) g;
SQL
unsealed() {
  q -c "SELECT count(*) FROM ge_security.audit_log
         WHERE id > coalesce((SELECT max(last_id) FROM ge_security.audit_block), 0)"
}
wait_sealed() {
  for _ in $(seq 1 50); do [ "$(unsealed)" = 0 ] && return 0; sleep 0.2; done
  echo "$1: the worker did not seal the trail ($(unsealed) rows unsealed)"; exit 1
}
wait_sealed "first cycle"
grep -q "ge_security audit digest for database postgres" "$dir/server.log" \
  || { echo "no digest in the server log"; exit 1; }

# with a SERIALIZABLE transaction open alongside, the worker seals in READ COMMITTED: it takes
# no predicate locks, so it cannot make that transaction fail with a serialization error
q -c "BEGIN" -c "SELECT count(*) FROM ge_security.audit_block" -c "SELECT pg_sleep(3)" \
  -c "INSERT INTO events VALUES (500, 'after a seal')" -c "COMMIT" >"$dir/serializable.out" 2>&1 &
serializable=$!
sleep 0.5
q -c "INSERT INTO events VALUES (501, 'sealed meanwhile')" >/dev/null
wait_sealed "with a serializable transaction open"
locks=$(q -c "SELECT count(*) FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a USING (pid)
              WHERE a.backend_type = 'ge_security worker' AND l.mode = 'SIReadLock'")
[ "$locks" = 0 ] || { echo "the worker holds $locks predicate locks"; exit 1; }
wait $serializable || { echo "serializable writer failed:"; cat "$dir/serializable.out"; exit 1; }
echo "  the worker sealed in READ COMMITTED beside a SERIALIZABLE writer (no predicate locks)"

# killed, the worker is restarted by the postmaster and carries on
pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ge_security worker'")
[ -n "$pid" ] || { echo "worker not running"; exit 1; }
kill -9 "$pid"
for _ in $(seq 1 60); do q -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.5; done
q -c "INSERT INTO events VALUES (1000, 'after restart')" >/dev/null
for _ in $(seq 1 40); do
  [ -n "$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ge_security worker'" 2>/dev/null)" ] && break
  sleep 0.5
done
wait_sealed "after the worker was killed"
got=$(q -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
[ "$got" = ok ] || { echo "verify after worker sealing: $got"; exit 1; }
echo "  worker sealed $(q -c "SELECT count(*) FROM ge_security.audit_log") rows in $(q -c "SELECT count(*) FROM ge_security.audit_block") blocks, survived kill -9"
