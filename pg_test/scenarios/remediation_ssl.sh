#!/usr/bin/env bash
# ssl_off's remediation is runnable SQL only when ssl = on would let the server start: with the
# certificate missing, or the key readable by others, it says why instead; with good files, it
# runs as offered and the server restarts with TLS.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
port=54481
cluster_scratch remediation_ssl "$port"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }
fix() { q -c "SELECT remediation FROM ge_security.assess() WHERE check_id = 'ssl_off'"; }
q -c "CREATE EXTENSION ge_security" >/dev/null

if ! pg_has_ssl; then
  # a build without TLS: ssl = on can never start, whatever the files; the fix says so
  make_certificate "$dir" server 30
  mv "$dir/server.key" "$dir/server.crt" "$dir/data/"
  chown postgres: "$dir/data/server.key" "$dir/data/server.crt"
  chmod 600 "$dir/data/server.key"
  got=$(fix)
  case "$got" in
    "-- Not runnable: this PostgreSQL was built without TLS support"*) echo "  no TLS in this build: $got" ;;
    *) echo "a build without TLS, but the remediation is: $got"; exit 1 ;;
  esac
  echo "  the rest skipped on PostgreSQL $PG_MAJOR: $PG_CONFIG was built without TLS support"
  exit 0
fi

got=$(fix)
case "$got" in
  "-- Not runnable yet"*"certificate"*) echo "  certificate missing: $got" ;;
  *) echo "missing certificate, but the remediation is: $got"; exit 1 ;;
esac

make_certificate "$dir" server 30
mv "$dir/server.key" "$dir/server.crt" "$dir/data/"
chown postgres: "$dir/data/server.key" "$dir/data/server.crt"
chmod 644 "$dir/data/server.key"
got=$(fix)
case "$got" in
  "-- Not runnable yet"*"mode 0644"*) echo "  key mode 0644: $got" ;;
  *) echo "world-readable key, but the remediation is: $got"; exit 1 ;;
esac

chmod 600 "$dir/data/server.key"
got=$(fix)
[ "$got" = "ALTER SYSTEM SET ssl = 'on'; SELECT pg_catalog.pg_reload_conf();" ] \
  || { echo "usable files, but the remediation is: $got"; exit 1; }
# pasted into psql as offered (psql sends ALTER SYSTEM on its own, outside a transaction block),
# it works, and the server still starts afterwards
echo "$got" | q >/dev/null
sleep 1
cluster_stop "$dir"
cluster_start "$dir"
[ "$(q -c "SHOW ssl")" = on ] || { echo "ssl is not on after the remediation and a restart"; exit 1; }
[ -z "$(fix)" ] || { echo "ssl_off still reported"; exit 1; }
echo "  good files: the remediation ran as offered and the server restarted with ssl = on"
