#!/usr/bin/env bash
# Permission checks come before locks: while a writer holds its lock on a table in an open
# transaction, a role that does not own the table calls enable_audit()/disable_audit() with
# lock_timeout = 2s and is refused at once with 42501 (it used to queue for a
# ShareRowExclusiveLock, stalling every writer behind it, and fail with 55P03 after 2 s). The
# same for the owner of a parent table whose child another role owns and a writer holds. The
# owner itself does wait (55P03), which shows the lock was really held.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
port=54460
cluster_scratch lock_order "$port"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }

q >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE ROLE lo_owner NOLOGIN;
CREATE ROLE lo_other NOLOGIN;
CREATE ROLE lo_stranger NOLOGIN;
CREATE TABLE public.accounts (id int PRIMARY KEY, balance numeric);
ALTER TABLE public.accounts OWNER TO lo_owner;
CREATE TABLE public.tree (id int PRIMARY KEY);
CREATE TABLE public.tree_child () INHERITS (public.tree);
ALTER TABLE public.tree_child ADD PRIMARY KEY (id);
ALTER TABLE public.tree OWNER TO lo_owner;
ALTER TABLE public.tree_child OWNER TO lo_other;
INSERT INTO public.accounts VALUES (1, 10);
SQL

# the writer: an UPDATE in an open transaction (RowExclusiveLock), and a lock on the child
q >/dev/null 2>&1 <<'SQL' &
SET application_name = 'lo_writer';
BEGIN;
UPDATE public.accounts SET balance = balance + 1 WHERE id = 1;
LOCK TABLE public.tree_child IN ROW EXCLUSIVE MODE;
SELECT pg_sleep(60);
ROLLBACK;
SQL
writer=$!
for _ in $(seq 1 100); do
  held=$(q -c "SELECT count(*) FROM pg_locks WHERE granted AND mode = 'RowExclusiveLock'
                 AND relation IN ('public.accounts'::regclass, 'public.tree_child'::regclass)")
  [ "$held" = 2 ] && break
  sleep 0.1
done
[ "$held" = 2 ] || { echo "the writer did not take its locks"; exit 1; }

# attempt ROLE SQL: prints "<SQLSTATE> <milliseconds>" of SQL run as ROLE with lock_timeout 2s
attempt() {
  local role=$1 sql=$2 start end out state
  start=$(date +%s%N)
  out=$(cluster_psql "$dir" "$port" postgres -qtA -v VERBOSITY=verbose \
          -c "SET lock_timeout = '2s'" -c "SET ROLE $role" -c "$sql" 2>&1) || true
  end=$(date +%s%N)
  state=$(printf '%s\n' "$out" | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -n 1)
  echo "${state:-none} $(( (end - start) / 1000000 ))"
}
# expect ROLE SQL STATE MAX_MS
expect() {
  local got state ms
  got=$(attempt "$1" "$2")
  state=${got% *}
  ms=${got#* }
  if [ "$state" != "$3" ] || [ "$ms" -gt "$4" ]; then
    echo "FAILED: as $1, $2: expected $3 within $4 ms, got $state after $ms ms"
    exit 1
  fi
  echo "  as $1: $2 -> $state after $ms ms"
}
expect lo_stranger "SELECT ge_security.enable_audit('public.accounts')" 42501 1000
expect lo_stranger "SELECT ge_security.disable_audit('public.accounts')" 42501 1000
expect lo_owner "SELECT ge_security.enable_audit('public.tree')" 42501 1000
expect lo_owner "SELECT ge_security.disable_audit('public.tree')" 42501 1000
# the owner may act, so it does queue for the writer's lock (the weak twin)
expect lo_owner "SELECT ge_security.enable_audit('public.accounts')" 55P03 5000
# nobody is left waiting behind the writer, whose transaction is intact
waiting=$(q -c "SELECT count(*) FROM pg_locks WHERE NOT granted")
[ "$waiting" = 0 ] || { echo "$waiting lock requests still waiting"; exit 1; }
q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lo_writer'" >/dev/null
wait "$writer" 2>/dev/null || true
# with the writer gone the owner enables auditing, and the stranger is still refused
expect lo_owner "SELECT ge_security.enable_audit('public.accounts')" none 5000
expect lo_stranger "SELECT ge_security.disable_audit('public.accounts')" 42501 1000
echo "  permission checks come before locks"
