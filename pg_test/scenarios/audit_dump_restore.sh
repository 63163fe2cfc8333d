#!/usr/bin/env bash
# pg_dump of a database with audited tables carries the trail; restored (as documented
# maintenance) into a new database it verifies clean against the original digest.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
port=54395
cluster_scratch dump "$port"
q() { local db=$1; shift; cluster_psql "$dir" "$port" "$db" -qtA "$@"; }

q postgres -c "CREATE DATABASE src" -c "CREATE DATABASE dst"
q src >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE orders (id int PRIMARY KEY, total numeric);
SELECT ge_security.enable_audit('orders');
INSERT INTO orders SELECT g, g FROM generate_series(1, 50) g;
DELETE FROM orders WHERE id > 40;
SELECT ge_security.audit_seal();
SQL
digest=$(q src -c "SELECT ge_security.audit_digest()")
as_postgres "$PG_BIN/pg_dump" -h "$dir" -p "$port" -Fc -f "$dir/src.dump" src
as_postgres env PGOPTIONS="-c ge_security.maintenance=on" "$PG_BIN/pg_restore" -h "$dir" -p "$port" \
  -d dst --exit-on-error "$dir/src.dump"
# every row of the source is restored; the restore's own recreation of the audit triggers (run in
# maintenance mode, after the trail's rows were loaded) is recorded on top as DDL rows
last=$(q src -c "SELECT max(id) FROM ge_security.audit_log")
got=$(q dst -c "SELECT count(*) FROM ge_security.audit_log WHERE id <= $last")
[ "$got" = "$(q src -c "SELECT count(*) FROM ge_security.audit_log")" ] || { echo "trail rows lost in restore: $got"; exit 1; }
got=$(q dst -c "SELECT string_agg(DISTINCT op, ',') FROM ge_security.audit_log WHERE id > $last")
[ -z "$got" ] || [ "$got" = DDL ] || { echo "unexpected rows written by the restore: $got"; exit 1; }
got=$(q dst -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify('$digest')")
[ "$got" = "ok" ] || { echo "restored trail does not verify: $got"; exit 1; }
# the restored database keeps auditing and sealing on top of the restored chain
q dst -c "INSERT INTO orders VALUES (100, 1)" -c "SELECT ge_security.audit_seal()" >/dev/null
got=$(q dst -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify('$digest')")
[ "$got" = "ok" ] || { echo "restored trail does not extend cleanly: $got"; exit 1; }
echo "  dump/restore: $(q dst -c "SELECT count(*) FROM ge_security.audit_log") audit rows restored and verified"
