#!/usr/bin/env bash
# The keyring file: unsafe permissions, a missing or malformed file are refused by the crypto
# functions (the server still starts); keys never reach the log, even with log_statement=all;
# a key switch survives a restart; reencrypt_column() leaves a concurrent writer's value alone.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir crypto
port=54398
ring="$dir/keyring"
key1=$(openssl rand -hex 32)
key2=$(openssl rand -hex 32)
write_ring() { printf '%s\n' "$@" >"$ring"; chown postgres: "$ring"; chmod 600 "$ring"; }
write_ring "1:$key1"
chmod 644 "$ring"
cluster_create "$dir/c" "$port" "ge_security.keyring_path = '$ring'" "ge_security.active_key_id = 1" \
  "log_statement = 'all'" "log_min_error_statement = 'error'"
cluster_start "$dir/c"
q() { cluster_psql "$dir/c" "$port" postgres -qtA "$@"; }
# expect_error SQLSTATE TEXT SQL: the statement fails with that code and a message containing TEXT
expect_error() {
  local out
  if out=$(cluster_psql "$dir/c" "$port" postgres -qtA -v VERBOSITY=verbose -c "$3" 2>&1); then
    echo "expected $1 from: $3"; exit 1
  fi
  case "$out" in *"$1"*"$2"*) ;; *) echo "unexpected error for $3: $out"; exit 1 ;; esac
}

q -c "CREATE EXTENSION ge_security"
expect_error F0000 "is readable or writable by group or others (mode 0644)" "SELECT ge_security.encrypt('x', 'c')"
chmod 600 "$ring"
[ "$(q -c "SELECT length(ge_security.encrypt('x', 'c'))")" = 34 ] || { echo "encrypt after chmod 600 failed"; exit 1; }
write_ring "1:zz$key1"
expect_error F0000 "line 1: key is not 64 hexadecimal characters" "SELECT ge_security.encrypt('x', 'c')"
mv "$ring" "$ring.moved"
expect_error F0000 "cannot be read: entity not found" "SELECT ge_security.encrypt('x', 'c')"
mv "$ring.moved" "$ring"
write_ring "1:$key1"
echo "  unsafe, malformed and missing keyrings refused; the server kept running"

# data under key 1, then key 2 added and made active across a restart
q -c "CREATE TABLE clients (id int PRIMARY KEY, email bytea)" \
  -c "INSERT INTO clients SELECT g, ge_security.encrypt('c' || g || '@example.com', 'clients.email', g::text) FROM generate_series(1, 500) g"
expect_error 22P03 "ciphertext does not authenticate" "SELECT ge_security.decrypt(email, 'clients.phone', id::text) FROM clients"
write_ring "1:$key1" "2:$key2"
q -c "ALTER SYSTEM SET ge_security.active_key_id = 2"
cluster_stop "$dir/c"
cluster_start "$dir/c"
[ "$(q -c "SELECT count(*) FROM clients WHERE ge_security.decrypt(email, 'clients.email', id::text) = 'c' || id || '@example.com'")" = 500 ] \
  || { echo "old ciphertexts unreadable after key switch and restart"; exit 1; }

# a writer holds row 1 while the column is re-encrypted: its value survives
q -c "BEGIN" -c "UPDATE clients SET email = ge_security.encrypt('writer@example.com', 'clients.email', '1') WHERE id = 1" \
  -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null &
sleep 1
first=$(q -c "SELECT ge_security.reencrypt_column('clients', 'email', 'clients.email', 'id', 64)")
wait
second=$(q -c "SELECT ge_security.reencrypt_column('clients', 'email', 'clients.email', 'id', 64)")
[ "$first" = 499 ] && [ "$second" = 0 ] || { echo "reencrypt_column changed $first then $second rows"; exit 1; }
[ "$(q -c "SELECT ge_security.decrypt(email, 'clients.email', '1') FROM clients WHERE id = 1")" = writer@example.com ] \
  || { echo "the concurrent writer's value was overwritten"; exit 1; }
[ "$(q -c "SELECT count(*) FROM clients WHERE substr(email, 2, 4) <> '\\x00000002'::bytea")" = 0 ] \
  || { echo "rows left under the old key"; exit 1; }
echo "  key switch across restart, reencrypt_column with a concurrent writer: $first + $second rows, writer kept"

# retire key 1: everything still decrypts; a stray key-1 ciphertext names the missing key
stray=$(q -c "SELECT ge_security.encrypt('x', 'c')::text" -c "SET ge_security.active_key_id = 1" \
          -c "SELECT ge_security.encrypt('x', 'c')::text" | tail -n 1)
write_ring "2:$key2"
[ "$(q -c "SELECT count(*) FROM clients WHERE ge_security.decrypt(email, 'clients.email', id::text) LIKE '%@example.com'")" = 500 ] \
  || { echo "rows unreadable after retiring key 1"; exit 1; }
expect_error 42704 "key id 1 is not in the keyring" "SELECT ge_security.decrypt('$stray'::bytea, 'c')"

# keys never reach the server log, even with log_statement = all and errors logged
if grep -qi -e "$key1" -e "$key2" "$dir/c/server.log"; then echo "key material in the server log"; exit 1; fi
[ "$(q -c "SELECT count(*) FROM pg_settings WHERE setting ILIKE '%$key2%'")" = 0 ] || { echo "key in pg_settings"; exit 1; }
echo "  retired key refused by name; no key material in the log or pg_settings"
