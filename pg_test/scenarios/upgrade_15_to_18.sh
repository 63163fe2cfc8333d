#!/usr/bin/env bash
# The upgrade path across major versions: a trail written on PostgreSQL 15 and dumped with 15's
# pg_dump (custom format and plain SQL) verifies after restore into PostgreSQL 18 against
# 15's digest, its ciphertexts decrypt there under the same keyring, and 18 extends the chain.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
# both installations carry the build under test in `make test`'s PostgreSQL 18 pass
PG15_CONFIG=${PG15_CONFIG:-/usr/bin/pg_config}
if [ "$PG_MAJOR" != 18 ]; then
  echo "  skipped on PostgreSQL $PG_MAJOR: runs in the PostgreSQL 18 pass (make scenarios PG=18)"
  exit 0
fi
PG15_BIN=$("$PG15_CONFIG" --bindir)
[ -f "$("$PG15_CONFIG" --pkglibdir)/ge_security.so" ] \
  || { echo "ge_security is not installed for PostgreSQL 15 ($PG15_CONFIG): make install-debug PG=15"; exit 1; }
scratch_dir upgrade
old_port=54374 new_port=54375
ring="$dir/keyring"
printf '1:%s\n2:%s\n' "$(openssl rand -hex 32)" "$(openssl rand -hex 32)" >"$ring"
chown postgres: "$ring"
chmod 600 "$ring"
keys=("ge_security.keyring_path = '$ring'" "ge_security.active_key_id = 2")

# the old cluster runs 15's binaries: cluster.sh's functions take PG_BIN, set per call
PG_BIN=$PG15_BIN cluster_create "$dir/old" "$old_port" "${keys[@]}"
PG_BIN=$PG15_BIN cluster_start "$dir/old"
cluster_create "$dir/new" "$new_port" "${keys[@]}"
cluster_start "$dir/new"
old() { local db=$1; shift; PG_BIN=$PG15_BIN cluster_psql "$dir/old" "$old_port" "$db" -qtA "$@"; }
new() { local db=$1; shift; cluster_psql "$dir/new" "$new_port" "$db" -qtA "$@"; }
[ "$(old postgres -c "SHOW server_version_num" | cut -c1-2)" = 15 ] || { echo "old cluster is not 15"; exit 1; }
[ "$(new postgres -c "SHOW server_version_num" | cut -c1-2)" = 18 ] || { echo "new cluster is not 18"; exit 1; }

# rows with every kind of value the canonical encoding and the jsonb images carry, encrypted
# columns under two keys, updates, deletes, a truncate, and seals between them
old postgres -c "CREATE DATABASE app" >/dev/null
old app >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE clients (id int PRIMARY KEY, name text, note text, score numeric, born date,
                      seen timestamptz, flags boolean[], extra jsonb, raw bytea, phone_enc bytea);
SELECT ge_security.enable_audit('clients');
SET ge_security.active_key_id = 1;
INSERT INTO clients VALUES
  (1, 'Zoë', E'tab\there "quoted" \\ back', 12.50, '1980-02-29', '2026-01-01 10:00:00+00',
   '{t,f,NULL}', '{"a": [1, 2.5, null], "b": {"c": "ü"}}', '\x00ff10', ge_security.encrypt('+41 79 000 00 01', 'clients.phone', '1')),
  (2, NULL, '', -0.0001, NULL, NULL, NULL, 'null', '\x', ge_security.encrypt('+41 79 000 00 02', 'clients.phone', '2'));
SELECT ge_security.audit_seal();
RESET ge_security.active_key_id;
INSERT INTO clients SELECT g, 'client ' || g, repeat('x', g * 37), g / 7.0, DATE '2000-01-01' + g, NULL,
       ARRAY[g % 2 = 0], pg_catalog.jsonb_build_object('g', g), pg_catalog.int4send(g),
       ge_security.encrypt('+41 79 000 ' || g, 'clients.phone', g::text)
  FROM generate_series(3, 60) g;
UPDATE clients SET score = score * 2, extra = extra || '{"updated": true}' WHERE id % 3 = 0;
DELETE FROM clients WHERE id > 50;
SELECT ge_security.audit_seal();
CREATE TABLE scratch (id int PRIMARY KEY);
SELECT ge_security.enable_audit('scratch');
INSERT INTO scratch SELECT generate_series(1, 5);
TRUNCATE scratch;
SELECT ge_security.audit_seal();
SQL
digest=$(old app -c "SELECT ge_security.audit_digest()")
got=$(old app -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify('$digest')")
[ "$got" = ok ] || { echo "trail does not verify on 15 before the dump: $got"; exit 1; }
old app -c "GRANT ge_security_decryptor TO postgres" >/dev/null
phones=$(old app -c "SELECT string_agg(ge_security.decrypt(phone_enc, 'clients.phone', id::text), ',' ORDER BY id) FROM clients")
# (the GRANT is in the trail too, unsealed: the dump carries it)
rows=$(old app -c "SELECT count(*) FROM ge_security.audit_log")

# check_restored DB HOW: every row of 15's trail arrived, verifies against 15's digest, the
# ciphertexts decrypt to what 15 decrypted, and 18 extends the chain
check_restored() {
  local db=$1 how=$2 got last
  last=$(old app -c "SELECT max(id) FROM ge_security.audit_log")
  got=$(new "$db" -c "SELECT count(*) FROM ge_security.audit_log WHERE id <= $last")
  [ "$got" = "$rows" ] || { echo "$how: $got of $rows trail rows restored"; exit 1; }
  got=$(new "$db" -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify('$digest')")
  [ "$got" = ok ] || { echo "$how: 15's trail does not verify on 18: $got"; exit 1; }
  new "$db" -c "SET client_min_messages = warning" -c "GRANT ge_security_decryptor TO postgres" >/dev/null
  got=$(new "$db" -c "SELECT string_agg(ge_security.decrypt(phone_enc, 'clients.phone', id::text), ',' ORDER BY id) FROM clients")
  [ "$got" = "$phones" ] || { echo "$how: 15's ciphertexts decrypt differently on 18"; exit 1; }
  new "$db" -c "UPDATE clients SET note = 'on 18' WHERE id = 1" -c "INSERT INTO clients (id, name) VALUES (100, 'new on 18')" \
    -c "SELECT ge_security.audit_seal()" >/dev/null
  got=$(new "$db" -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify('$digest')")
  [ "$got" = ok ] || { echo "$how: the chain does not extend cleanly on 18: $got"; exit 1; }
  echo "  $how: $rows audit rows written on 15 verify on 18 against 15's digest, ciphertexts decrypt, 18 extends the chain"
}

# 15's pg_dump in custom format, 18's pg_restore. (18.6's own pg_dump cannot be used on a 15.20
# server: it dumps the pg_attver column option that 15.20 keeps, which 18.6 refuses.)
new postgres -c "CREATE DATABASE app_custom" -c "CREATE DATABASE app_plain" >/dev/null
as_postgres "$PG15_BIN/pg_dump" -h "$dir/old" -p "$old_port" -Fc -f "$dir/app.dump" app
as_postgres env PGOPTIONS="-c ge_security.maintenance=on" "$PG_BIN/pg_restore" -h "$dir/new" -p "$new_port" \
  -d app_custom --exit-on-error "$dir/app.dump"
check_restored app_custom "15's pg_dump -Fc, 18's pg_restore"
# 15's own pg_dump as a plain SQL script, loaded by 18's psql
as_postgres "$PG15_BIN/pg_dump" -h "$dir/old" -p "$old_port" -f "$dir/app.sql" app
as_postgres env PGOPTIONS="-c ge_security.maintenance=on" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
  -h "$dir/new" -p "$new_port" -d app_plain -f "$dir/app.sql" >/dev/null
check_restored app_plain "15's pg_dump (plain SQL), 18's psql"
PG_BIN=$PG15_BIN cluster_stop "$dir/old"
