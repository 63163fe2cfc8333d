#!/usr/bin/env bash
# Column encryption in databases that are not UTF8: envelopes and blind indexes hold UTF-8, so
# text converts from the database encoding on the way in and back on the way out. A value
# encrypted in a UTF8 database decrypts to the same text in a LATIN1 one (and back), blind
# indexes agree across them, characters LATIN1 cannot hold are refused (22P05) without quoting
# them, SQL_ASCII refuses bytes outside ASCII (22021/22P05); the plaintext remediation runs as
# pasted into psql there; an envelope that would exceed a bytea is refused before it is built.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir crypto_enc
port=54450
ring="$dir/keyring"
printf '1:%s\n2:%s\n' "$(openssl rand -hex 32)" "$(openssl rand -hex 32)" >"$ring"
chown postgres: "$ring"
chmod 600 "$ring"
cluster_create "$dir/c" "$port" "ge_security.keyring_path = '$ring'" "ge_security.active_key_id = 1" \
  "log_error_verbosity = verbose"
cluster_start "$dir/c"
cluster_psql "$dir/c" "$port" postgres -q \
  -c "CREATE DATABASE utf TEMPLATE template0 ENCODING 'UTF8'" \
  -c "CREATE DATABASE latin TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'" \
  -c "CREATE DATABASE plain_ascii TEMPLATE template0 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'"
# Every client speaks UTF-8 (this script's literals); the server converts to each database's encoding.
q() { local db=$1; shift; PGCLIENTENCODING=UTF8 cluster_psql "$dir/c" "$port" "$db" -qtA "$@"; }
for db in utf latin plain_ascii; do q "$db" -c "CREATE EXTENSION ge_security"; done
# expect_error DB SQLSTATE TEXT SQL: the statement fails with that code and a message containing TEXT
expect_error() {
  local out
  if out=$(PGCLIENTENCODING=UTF8 cluster_psql "$dir/c" "$port" "$1" -qtA -v VERBOSITY=verbose -c "$4" 2>&1); then
    echo "expected $2 from: $4"; exit 1
  fi
  case "$out" in *"ERROR:  $2:"*"$3"*) ;; *) echo "unexpected error for $4 in $1: $out"; exit 1 ;; esac
  echo "$out"
}
hostile=0

# round trips in each database's own repertoire
[ "$(q utf -c "SELECT ge_security.decrypt(ge_security.encrypt('zażółć', 'ctx', 'ł'), 'ctx', 'ł')")" = zażółć ] \
  || { echo "UTF8 round trip"; exit 1; }
[ "$(q latin -c "SELECT ge_security.decrypt(ge_security.encrypt('café', 'ctx', 'clé'), 'ctx', 'clé')")" = café ] \
  || { echo "LATIN1 round trip"; exit 1; }
[ "$(q plain_ascii -c "SELECT ge_security.decrypt(ge_security.encrypt('plain', 'ctx'), 'ctx')")" = plain ] \
  || { echo "SQL_ASCII round trip"; exit 1; }
# the envelope holds UTF-8 whatever the database encoding
inside=$(q latin -c "SELECT ge_security.decrypt_bytea(ge_security.encrypt('café', 'ctx'), 'ctx')")
[ "$inside" = '\x636166c3a9' ] || { echo "LATIN1 envelope holds $inside, not UTF-8"; exit 1; }
echo "  round trips: zażółć in UTF8, café in LATIN1 (UTF-8 inside the envelope), ASCII in SQL_ASCII"

# across databases: encrypted in one, decrypted in the other, with non-ASCII context and aad
from_utf=$(q utf -c "SELECT ge_security.encrypt('café crème', 'clients.prénom', 'José')::text")
[ "$(q latin -c "SELECT ge_security.decrypt('$from_utf'::bytea, 'clients.prénom', 'José')")" = 'café crème' ] \
  || { echo "UTF8 -> LATIN1 decrypt"; exit 1; }
from_latin=$(q latin -c "SELECT ge_security.encrypt('naïve', 'clients.prénom', 'José')::text")
[ "$(q utf -c "SELECT ge_security.decrypt('$from_latin'::bytea, 'clients.prénom', 'José')")" = naïve ] \
  || { echo "LATIN1 -> UTF8 decrypt"; exit 1; }
rotated=$(q latin -c "SET ge_security.active_key_id = 2" \
  -c "SELECT ge_security.rotate('$from_utf'::bytea, 'clients.prénom', 'José')::text" | tail -n 1)
[ "$(q utf -c "SELECT ge_security.decrypt('$rotated'::bytea, 'clients.prénom', 'José')")" = 'café crème' ] \
  || { echo "rotated in LATIN1, read in UTF8"; exit 1; }
# blind indexes agree across UTF8, LATIN1 and (for ASCII) SQL_ASCII
for value in café 'Ærøskøbing' plain; do
  a=$(q utf -c "SELECT ge_security.blind_index('$value', 'idx.é')::text")
  b=$(q latin -c "SELECT ge_security.blind_index('$value', 'idx.é')::text")
  [ "$a" = "$b" ] || { echo "blind index of $value differs between UTF8 and LATIN1"; exit 1; }
done
[ "$(q utf -c "SELECT ge_security.blind_index('plain', 'idx')::text")" = \
  "$(q plain_ascii -c "SELECT ge_security.blind_index('plain', 'idx')::text")" ] \
  || { echo "blind index differs between UTF8 and SQL_ASCII"; exit 1; }
echo "  UTF8 <-> LATIN1: encrypted, rotated and decrypted across, blind indexes equal"

# refusals, each with its SQLSTATE and without quoting the plaintext
polish=$(q utf -c "SELECT ge_security.encrypt('zażółć', 'ctx')::text")
out=$(expect_error latin 22P05 "has no equivalent in the database encoding LATIN1" \
  "SELECT ge_security.decrypt('$polish'::bytea, 'ctx')")
case "$out" in *0xc5*|*0xbc*|*"ż"*) echo "the refusal quotes the plaintext: $out"; exit 1 ;; esac
[ "$(q latin -c "SELECT ge_security.decrypt_bytea('$polish'::bytea, 'ctx')")" = '\x7a61c5bcc3b3c582c487' ] \
  || { echo "decrypt_bytea of the Polish text in LATIN1"; exit 1; }
expect_error plain_ascii 22021 "value holds bytes outside ASCII in a SQL_ASCII database" \
  "SELECT ge_security.encrypt('café', 'ctx')" >/dev/null
expect_error plain_ascii 22021 "value holds bytes outside ASCII in a SQL_ASCII database" \
  "SELECT ge_security.blind_index('café', 'ctx')" >/dev/null
expect_error plain_ascii 22021 "context holds bytes outside ASCII in a SQL_ASCII database" \
  "SELECT ge_security.encrypt('x', 'contexte_é')" >/dev/null
expect_error plain_ascii 22021 "aad holds bytes outside ASCII in a SQL_ASCII database" \
  "SELECT ge_security.decrypt('$polish'::bytea, 'ctx', 'é')" >/dev/null
out=$(expect_error plain_ascii 22P05 "outside ASCII, which a SQL_ASCII database cannot hold" \
  "SELECT ge_security.decrypt('$polish'::bytea, 'ctx')")
case "$out" in *"ż"*|*0xc5*) echo "the refusal quotes the plaintext: $out"; exit 1 ;; esac
nul=$(q latin -c "SELECT ge_security.encrypt('\\x6100'::bytea, 'ctx')::text")
expect_error latin 22021 "holds a NUL byte" "SELECT ge_security.decrypt('$nul'::bytea, 'ctx')" >/dev/null
hostile=$((hostile + 7))
echo "  refused: untranslatable text in LATIN1 (22P05), non-ASCII in SQL_ASCII (22021, 22P05), NUL (22021)"

# LATIN1 tables: protect / re-encrypt with ASCII names and non-ASCII values; a table named outside
# ASCII is refused cleanly (0A000), never with an internal error
q latin >/dev/null <<'SQL'
CREATE TABLE clients (id int PRIMARY KEY, nom text, email text);
INSERT INTO clients VALUES (1, 'José', 'josé@exemple.fr'), (2, 'Zoë', 'zoë@exemple.fr');
SQL
remediation=$(q latin -c "SELECT remediation FROM ge_security.assess() WHERE check_id = 'pii_column_plaintext'
                          AND object_name = 'public.clients.email'")
printf '%s\n' "$remediation" | q latin -v ON_ERROR_STOP=1 >/dev/null
[ "$(q latin -c "SELECT string_agg(ge_security.decrypt(email, 'public.clients.email'), ',' ORDER BY id) FROM clients")" \
  = 'josé@exemple.fr,zoë@exemple.fr' ] || { echo "the pasted remediation in LATIN1"; exit 1; }
left=$(q latin -c "SELECT count(*) FROM ge_security.assess() WHERE check_id IN ('pii_column_plaintext', 'protected_column_not_encrypted')")
[ "$left" = 0 ] || { echo "findings left after the remediation in LATIN1: $left"; exit 1; }
q latin >/dev/null <<'SQL'
ALTER TABLE clients ADD COLUMN phone bytea;
UPDATE clients SET phone = ge_security.encrypt('+33 1 ' || id, 'clients.phone', nom);
SELECT ge_security.protect_column('clients', 'phone', 'clients.phone', 'nom');
SQL
moved=$(q latin -c "SET ge_security.active_key_id = 2" \
  -c "SELECT ge_security.reencrypt_column('clients', 'phone', 'clients.phone', 'nom')" | tail -n 1)
[ "$moved" = 2 ] || { echo "reencrypt_column in LATIN1 moved $moved rows"; exit 1; }
[ "$(q latin -c "SELECT string_agg(ge_security.decrypt(phone, 'clients.phone', nom), ',' ORDER BY id) FROM clients")" \
  = '+33 1 1,+33 1 2' ] || { echo "values after reencrypt_column in LATIN1"; exit 1; }
q latin -c "CREATE TABLE café (id int, secret bytea)" >/dev/null
expect_error latin 0A000 "whose table name is valid UTF-8" "SELECT ge_security.protect_column('café', 'secret', 'x')" >/dev/null
expect_error latin 0A000 "whose table name is valid UTF-8" "SELECT ge_security.reencrypt_column('café', 'secret', 'x')" >/dev/null
hostile=$((hostile + 2))
echo "  LATIN1 tables: pasted remediation, protect_column, reencrypt_column with aad José; non-ASCII table name 0A000"

# an envelope larger than a bytea is refused before it is built (54000). (That one byte less
# fits is checked with GE_SLOW_TESTS=1: encrypting 1 GB takes minutes in the debug build.)
limit=$((0x3fffffff - 1 - 4 - 33))
expect_error utf 54000 "value is too large to encrypt" \
  "SELECT length(ge_security.encrypt(repeat('x', $((limit + 1))), 'ctx'))" >/dev/null
if [ "${GE_SLOW_TESTS:-0}" = 1 ]; then
  [ "$(q utf -c "SELECT length(ge_security.encrypt(repeat('x', $limit), 'ctx'))")" = $((limit + 33)) ] \
    || { echo "the largest plaintext did not encrypt"; exit 1; }
fi
# a 100 MB context or aad is never echoed by an error
out=$(expect_error utf 22P03 "ciphertext does not authenticate" \
  "SELECT ge_security.decrypt('$from_utf'::bytea, repeat('c', 100000000), repeat('a', 100000000))")
[ ${#out} -lt 2000 ] || { echo "an error echoed a 100 MB argument (${#out} bytes)"; exit 1; }
hostile=$((hostile + 2))
echo "  oversized plaintext refused with 54000 ($((limit + 1)) bytes), $limit bytes encrypt; 100 MB arguments not echoed"

# nothing crashed: the server log has no panic and no internal error
if grep -E "PANIC|server process .* was terminated|ERROR:  XX000" "$dir/c/server.log"; then
  echo "the server log shows a crash or an internal error"; exit 1
fi
echo "  $hostile hostile inputs refused with their SQLSTATEs; no crash, no XX000 in the log"
