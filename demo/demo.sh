#!/usr/bin/env bash
# make demo: a throwaway cluster with ge_security preloaded, a weak demo database, the report.
# `demo.sh stop` stops it. The cluster stays up after the demo so you can explore it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../pg_test/cluster.sh"
DEMO_DIR=${DEMO_DIR:-/tmp/ge_security_demo}
DEMO_PORT=${DEMO_PORT:-54399}

cluster_stop "$DEMO_DIR"
[ "${1:-}" = stop ] && { rm -rf "$DEMO_DIR"; echo "demo cluster stopped"; exit 0; }

cluster_create "$DEMO_DIR" "$DEMO_PORT" "ge_security.keyring_path = '$DEMO_DIR/keyring'" \
  "ge_security.active_key_id = 1" "ge_security.databases = 'shop'" "ge_security.readonly_roles = 'reporting'"
# a demo keyring: one random key, readable by the server's OS user only
printf '1:%s\n' "$(openssl rand -hex 32)" >"$DEMO_DIR/keyring"
chown postgres: "$DEMO_DIR/keyring"
chmod 600 "$DEMO_DIR/keyring"
cluster_start "$DEMO_DIR"
cluster_psql "$DEMO_DIR" "$DEMO_PORT" postgres -q -c "CREATE DATABASE shop"
cluster_psql "$DEMO_DIR" "$DEMO_PORT" shop -q -f "$here/demo.sql" >/dev/null 2>&1 \
  || cluster_psql "$DEMO_DIR" "$DEMO_PORT" shop -q -f "$here/demo.sql"

echo
echo "== SELECT * FROM ge_security.assess();   (database shop)"
cluster_psql "$DEMO_DIR" "$DEMO_PORT" shop -P pager=off -c "SELECT * FROM ge_security.assess()"
echo "== SELECT * FROM ge_security.posture();"
cluster_psql "$DEMO_DIR" "$DEMO_PORT" shop -P pager=off -c "SELECT * FROM ge_security.posture()"

# the worker seals every second; give it a moment (it starts once the shop database exists)
for _ in $(seq 1 20); do
  [ "$(cluster_psql "$DEMO_DIR" "$DEMO_PORT" shop -qtA -c "SELECT count(*) FROM ge_security.audit_block")" != 0 ] && break
  sleep 0.5
done
echo "== the audit trail of public.projects, sealed by the background worker and verified"
cluster_psql "$DEMO_DIR" "$DEMO_PORT" shop -P pager=off -c "SELECT id, op, actor, table_name, row_key, changed_columns FROM ge_security.audit_log ORDER BY id" \
  -c "SELECT * FROM ge_security.audit_verify()" -c "SELECT ge_security.audit_digest()"

cat <<TXT
The demo cluster is still running (PostgreSQL 15, ge_security preloaded).
Connect:   sudo -u postgres psql -h $DEMO_DIR -p $DEMO_PORT shop
Try next:
  SELECT * FROM ge_security.assess('high');              -- only what matters most
  SELECT * FROM ge_security.role_audit();                -- an access review in one query
  SELECT * FROM ge_security.checks();                    -- the catalogue with control ids
  SELECT ge_security.waive('login_role_createdb', 'role app_user',
         'migration tool needs it until Q3', now() + interval '90 days');
  SELECT ge_security.assert_posture('critical');         -- the CI gate; fails here
  -- encrypt the plain PII column as its finding's remediation says, then:
  SELECT id, ge_security.decrypt(contact_email, 'public.clients.contact_email') FROM clients;
  SET ge_security.maintenance = on;  -- then try: UPDATE ge_security.audit_log SET actor = 'x';
  SELECT * FROM ge_security.audit_verify();              -- names the edited row
Stop it:   make demo-stop
TXT
