#!/usr/bin/env bash
# The worker watches the approved baseline: on a cluster preloaded with short intervals, whose
# ge_security.databases names one existing and one missing database, rows written to an audited
# table are sealed without anyone calling audit_seal(); after approve_baseline(), each of a new
# superuser role, a PUBLIC grant, RLS disabled, a policy dropped and a pg_hba.conf change
# followed by a reload produces exactly one drift event (not one per cycle), a WARNING in the
# server log and a notification a LISTENing session receives; a reverted change closes its
# event; the missing database never crash-loops.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir drift
port=54500
cluster_create "$dir" "$port" "ge_security.databases = 'appdb, ghost'" "ge_security.seal_interval = 200ms" \
  "ge_security.drift_interval = 1s" "ge_security.verify_interval = 2s"
cluster_start "$dir"
q() { cluster_psql "$dir" "$port" appdb -qtA "$@"; }
fail() { echo "$1"; echo "--- server log"; tail -30 "$dir/server.log"; exit 1; }
cluster_psql "$dir" "$port" postgres -q -c "CREATE DATABASE appdb"
q >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE ROLE app LOGIN;
CREATE TABLE accounts (id int PRIMARY KEY, tenant_id int NOT NULL, owner text);
CREATE TABLE ledger (id int PRIMARY KEY, tenant_id int NOT NULL, amount numeric);
CREATE TABLE notes (id int PRIMARY KEY, body text);
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON accounts USING (tenant_id = current_setting('app.tenant')::int);
CREATE POLICY tenant ON ledger USING (tenant_id = current_setting('app.tenant')::int);
SELECT ge_security.enable_audit('accounts');
INSERT INTO accounts SELECT g, g % 3, 'owner ' || g FROM generate_series(1, 200) g;
SQL
wait_for() {  # wait_for WHAT COMMAND...: up to 20 s for the command to succeed
  local what=$1; shift
  for _ in $(seq 1 100); do "$@" && return 0; sleep 0.2; done
  fail "timed out waiting for: $what"
}

# 1. sealed by the worker, nobody calling audit_seal()
all_sealed() { [ "$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE id > coalesce((SELECT max(last_id) FROM ge_security.audit_block), 0)")" = 0 ]; }
wait_for "the worker to seal" all_sealed
echo "  $(q -c "SELECT count(*) FROM ge_security.audit_log") audit rows sealed by the worker"

# 2. approve the posture; the worker starts checking drift against it and finds none
q -c "SELECT ge_security.approve_baseline('CHG-100 initial posture, approved by the DBA')" >/dev/null
checked() { [ "$(q -c "SELECT drift_checked_at > (SELECT approved_at FROM ge_security.baseline) FROM ge_security.worker_status")" = t ]; }
wait_for "a drift check after approval" checked
sleep 2
[ "$(q -c "SELECT count(*) FROM ge_security.drift_event")" = 0 ] || fail "drift right after approval: $(q -c "SELECT * FROM ge_security.drift_event")"

# a session listening for alerts for the rest of the test (psql prints notifications after each
# statement it runs)
{
  echo "LISTEN ge_security_drift;"
  for _ in $(seq 1 240); do echo "SELECT pg_sleep(0.5);"; done
} | cluster_psql "$dir" "$port" appdb -qtA >"$dir/listener.out" 2>&1 &
listener=$!
sleep 1

events() { q -c "SELECT count(*) FROM ge_security.drift_event"; }
# change WHAT EXPECTED_OBJECT SQL...: after the change, exactly one new event, for that object,
# and still exactly one after three more drift cycles
change() {
  local what=$1 object=$2; shift 2
  local before; before=$(events)
  "$@"
  one_more() { [ "$(events)" -gt "$before" ]; }
  wait_for "drift event for $what" one_more
  sleep 3
  local after; after=$(events)
  [ "$after" = $((before + 1)) ] || fail "$what: $((after - before)) events: $(q -c "SELECT kind, object_type, object_name FROM ge_security.drift_event WHERE id > $before")"
  local got; got=$(q -c "SELECT kind || ' ' || object_type || ' ' || object_name FROM ge_security.drift_event ORDER BY id DESC LIMIT 1")
  [ "$got" = "$object" ] || fail "$what: recorded '$got', expected '$object'"
  echo "  $what: one event ($got), still one after three more cycles"
}
change "new superuser" "added role role intruder" q -c "CREATE ROLE intruder SUPERUSER LOGIN"
change "PUBLIC grant" "changed table public.notes" q -c "GRANT SELECT, UPDATE ON notes TO PUBLIC"
change "RLS disabled" "changed table public.ledger" q -c "ALTER TABLE ledger DISABLE ROW LEVEL SECURITY"
change "policy dropped" "removed policy tenant on public.accounts" q -c "DROP POLICY tenant ON accounts"
hba_edit() {
  echo "host appdb app 192.168.0.0/16 md5" | as_postgres tee -a "$dir/data/pg_hba.conf" >/dev/null
  q -c "SELECT pg_reload_conf()" >/dev/null
}
rules=$(( $(q -c "SELECT count(*) FROM pg_hba_file_rules") + 1 ))
change "hba rule added and reloaded" "added hba_rule hba rule $rules" hba_edit

# 3. the WARNINGs are in the log, one per event
for object in "role intruder" "public.notes" "public.ledger" "tenant on public.accounts" "hba rule $rules"; do
  n=$(grep -c "WARNING:  ge_security drift in database appdb: [a-z]*: $object (" "$dir/server.log" || true)
  [ "$n" = 1 ] || fail "$n WARNINGs for $object"
done
echo "  one WARNING per event in the server log"

# 4. assess() reports them: the new superuser as critical
got=$(q -c "SELECT string_agg(check_id || '/' || severity || '/' || object_name, ', ' ORDER BY check_id, object_name)
              FROM ge_security.assess() WHERE category = 'drift'")
expected="drift_added/high/hba rule $rules, drift_changed/high/public.ledger, drift_changed/high/public.notes, drift_privileged_role/critical/role intruder, drift_removed/medium/tenant on public.accounts"
[ "$got" = "$expected" ] || fail "assess(): $got"
echo "  assess(): $got"

# 5. a reverted change closes its event and records nothing new
before=$(events)
q -c "ALTER TABLE ledger ENABLE ROW LEVEL SECURITY"
closed() { [ "$(q -c "SELECT closed_reason FROM ge_security.drift_event WHERE object_name = 'public.ledger'")" = reverted ]; }
wait_for "the reverted change to close" closed
sleep 2
[ "$(events)" = "$before" ] || fail "reverting recorded new events"
echo "  RLS enabled again: its event closed as reverted, nothing new recorded"

# 6. the listening session received a notification per event
notified() { [ "$(grep -c 'Asynchronous notification "ge_security_drift"' "$dir/listener.out" || true)" -ge 5 ]; }
wait_for "the notifications" notified
kill "$listener" 2>/dev/null || true
n=$(grep -c 'Asynchronous notification "ge_security_drift" with payload' "$dir/listener.out" || true)
[ "$n" = 5 ] || { cat "$dir/listener.out"; fail "$n notifications received"; }
grep -q 'payload "{"database":"appdb","event":[0-9]*,"kind":"added","object":"role intruder","object_type":"role"}"' "$dir/listener.out" \
  || { cat "$dir/listener.out"; fail "no notification for the new superuser"; }
echo "  the LISTENing session received 5 notifications, e.g. $(grep -m1 -o '{"database[^}]*}' "$dir/listener.out")"

# 7. the worker verified the trail and recorded it; the missing database never crash-looped
verified() { [ "$(q -c "SELECT verify_ok FROM ge_security.worker_status")" = t ]; }
wait_for "a recorded verification" verified
missing=$(grep -c 'database ghost named in ge_security.databases does not exist' "$dir/server.log" || true)
exits=$(grep -c 'exited with exit code\|terminated by signal' "$dir/server.log" || true)
[ "$missing/$exits" = 1/0 ] || fail "missing database logged $missing times, $exits process exits"
if grep -q 'cycle failed' "$dir/server.log"; then fail "a worker cycle failed"; fi
echo "  verification recorded as ok; the missing database logged once, no process exits, no failed cycle"
