#!/usr/bin/env bash
# Without shared_preload_libraries, assess() and its settings still work (docs/architecture.md, "Modules").
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
port=54392
cluster_scratch nopreload "$port" "shared_preload_libraries = ''"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }

q -q -c "CREATE EXTENSION ge_security" -c "CREATE ROLE sc_rogue SUPERUSER NOLOGIN"
got=$(q -c "SELECT string_agg(check_id || ' ' || object_name, ',') FROM ge_security.assess() WHERE category = 'roles'")
[ "$got" = "superuser_not_allowlisted role sc_rogue" ] || { echo "unexpected findings: $got"; exit 1; }
# the allow-list setting is honoured once the library is loaded on demand
got=$(q -c "SET ge_security.superuser_allowlist = 'postgres, sc_rogue'" \
        -c "SELECT count(*) FROM ge_security.assess() WHERE category = 'roles'")
[ "$got" = "0" ] || { echo "allow-list ignored without preload: $got"; exit 1; }
# the trail is unguarded without the library, and assess() says so (high, with the fix)
got=$(q -c "SELECT severity || ' ' || object_name || ' ' || remediation FROM ge_security.assess() WHERE check_id = 'audit_trail_unguarded'")
case "$got" in
  "high ge_security.audit_log ALTER SYSTEM SET shared_preload_libraries = 'ge_security'; -- then restart the server") ;;
  *) echo "unguarded trail not reported: $got"; exit 1 ;;
esac
echo "  without preload: audit_trail_unguarded is reported (high) with its remediation"
