#!/usr/bin/env bash
# Each database has its own trail and id sequence, and its own sealing horizon: a transaction
# holding audit ids in one database does not hold back sealing in another, and a trail whose
# extension was dropped and created again (ids from 1 again) seals and verifies clean.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
port=54390
cluster_scratch databases "$port"
q() { local db=$1; shift; cluster_psql "$dir" "$port" "$db" -qtA "$@"; }

for db in db_a db_b; do
  q postgres -c "CREATE DATABASE $db"
  q "$db" >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE t (id int PRIMARY KEY, v text);
SELECT ge_security.enable_audit('t');
SQL
done
q db_a -c "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 1000) g"
q db_b -c "INSERT INTO t SELECT g, 'b' FROM generate_series(1, 3) g"
got=$(q db_b -c "SELECT ge_security.audit_seal()"); [ "$got" = 4 ] || { echo "db_b sealed $got rows, not its 4"; exit 1; }

# a transaction in db_b holds an audit id while db_a writes and seals
q db_b -c "BEGIN" -c "INSERT INTO t VALUES (100, 'held')" -c "SELECT pg_sleep(4)" -c "COMMIT" \
  >/dev/null &
holder=$!
for _ in $(seq 1 50); do
  [ "$(q db_b -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")" = 1 ] && break
  sleep 0.1
done
q db_a -c "INSERT INTO t SELECT g, 'a' FROM generate_series(1001, 1010) g"
sealed=$(q db_a -c "SELECT ge_security.audit_seal()")
[ "$sealed" = 1011 ] || { echo "db_a sealed $sealed rows of 1011 while db_b held an id"; exit 1; }
echo "  db_a sealed its 1011 rows while a db_b transaction held an audit id"
# db_b's own sealer must wait for its open transaction: nothing of it is sealed yet
[ "$(q db_b -c "SELECT ge_security.audit_seal()")" = 0 ] || { echo "db_b sealed past its held id"; exit 1; }
wait $holder
[ "$(q db_b -c "SELECT ge_security.audit_seal()")" = 1 ] || { echo "db_b did not seal the held row"; exit 1; }

# the extension dropped and created again in db_b: ids start from 1 while db_a is far ahead
q db_b >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT ge_security.disable_audit('t');  -- the DDL guard refuses to drop it while tables are audited
DROP EXTENSION ge_security CASCADE;
CREATE EXTENSION ge_security;
SELECT ge_security.enable_audit('t');
INSERT INTO t VALUES (200, 'after recreate');
SQL
[ "$(q db_b -c "SELECT ge_security.audit_seal()")" = 2 ] || { echo "recreated trail did not seal"; exit 1; }
for db in db_a db_b; do
  got=$(q "$db" -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
  [ "$got" = ok ] || { echo "$db verify: $got"; exit 1; }
done
echo "  both trails verify clean; the recreated one sealed from id 1"
