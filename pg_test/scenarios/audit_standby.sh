#!/usr/bin/env bash
# A hot standby of an audited primary: audit_verify() runs there (read-only), sealing is
# refused with a clear error, and no worker seals there (database workers wait for promotion).
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir standby
primary_port=54388
standby_port=54389
cluster_create "$dir/primary" "$primary_port" "ge_security.databases = 'postgres'" \
  "ge_security.seal_interval = 200ms" "wal_level = replica" "max_wal_senders = 4"
cluster_start "$dir/primary"
p() { cluster_psql "$dir/primary" "$primary_port" postgres -qtA "$@"; }
s() { cluster_psql "$dir/standby" "$standby_port" postgres -qtA "$@"; }
p >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE payments (id int PRIMARY KEY, amount numeric);
SELECT ge_security.enable_audit('payments');
INSERT INTO payments SELECT g, g FROM generate_series(1, 200) g;
SELECT ge_security.audit_seal();
SQL
as_postgres "$PG_BIN/pg_basebackup" -h "$dir/primary" -p "$primary_port" -D "$dir/standby/data" -R -X stream
sed -i "s|^port = .*|port = $standby_port|; s|^unix_socket_directories = .*|unix_socket_directories = '$dir/standby'|" \
  "$dir/standby/data/postgresql.conf"
cluster_start "$dir/standby"
[ "$(s -c "SELECT pg_is_in_recovery()")" = t ] || { echo "standby is not in recovery"; exit 1; }

p -c "UPDATE payments SET amount = amount + 1 WHERE id <= 50" >/dev/null
for _ in $(seq 1 50); do
  [ "$(s -c "SELECT count(*) FROM ge_security.audit_log")" = "$(p -c "SELECT count(*) FROM ge_security.audit_log")" ] \
    && [ "$(p -c "SELECT count(*) FROM ge_security.audit_log WHERE id > (SELECT max(last_id) FROM ge_security.audit_block)")" = 0 ] \
    && break
  sleep 0.2
done
sleep 1
got=$(s -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify('$(p -c "SELECT ge_security.audit_digest()")')")
[ "$got" = ok ] || { echo "verify on the standby: $got"; exit 1; }
if s -c "SELECT ge_security.audit_seal()" 2>"$dir/seal.err"; then echo "sealing on a standby was allowed"; exit 1; fi
grep -q "cannot seal the audit trail on a hot standby" "$dir/seal.err" || { cat "$dir/seal.err"; exit 1; }
# no error in the standby's log but the refused seal
if grep "ERROR" "$dir/standby/server.log" | grep -v "cannot seal" | grep -q .; then
  grep ERROR "$dir/standby/server.log"; echo "errors on the standby"; exit 1
fi
# workers that need a database start only once recovery ends: nothing was sealed there
if grep -q "ge_security audit digest" "$dir/standby/server.log"; then echo "the standby sealed"; exit 1; fi
echo "  standby verified $(s -c "SELECT count(*) FROM ge_security.audit_log") replicated audit rows against the primary's digest; sealing refused there"
