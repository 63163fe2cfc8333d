#!/usr/bin/env bash
# The audit trail in a LATIN1 database: values outside ASCII (stored as single bytes, not
# UTF-8) are recorded on INSERT, UPDATE and DELETE, on both the direct and the to_jsonb path,
# and the trail verifies clean; a table whose names are not valid UTF-8 is refused up front,
# and one renamed outside ASCII after enable_audit is still recorded, verified and disabled;
# in a SQL_ASCII database json escapes above ASCII are recorded too.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir latin1
port=54382
cluster_create "$dir/c" $port
cluster_start "$dir/c"
cluster_psql "$dir/c" $port postgres -q \
  -c "CREATE DATABASE latin TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'"
sql() { PGCLIENTENCODING=UTF8 cluster_psql "$dir/c" $port latin -qtA "$@"; }
sql >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE cafe (cle text PRIMARY KEY, annee int, remarque text);
CREATE TABLE invoice (no int PRIMARY KEY, issued timestamptz, amount numeric, payee text);
SELECT ge_security.enable_audit('cafe');
SELECT ge_security.enable_audit('invoice');
SET app.current_actor = 'utilisateur:Zoë';
INSERT INTO cafe VALUES ('crème brûlée', 2026, 'déjà vu « ok »'), ('naïve', NULL, '');
UPDATE cafe SET annee = 2027, remarque = 'où ?' WHERE cle = 'naïve';
DELETE FROM cafe WHERE cle = 'crème brûlée';
INSERT INTO invoice VALUES (1, '2026-11-28 10:00+00', 12.50, 'Société Générale');
UPDATE invoice SET amount = 13 WHERE no = 1;
SELECT ge_security.audit_seal();
SQL
got=$(sql -c "SELECT op || ' ' || row_key::text || ' ' || coalesce(changed_columns::text, '') || ' ' || actor
              FROM ge_security.audit_log WHERE op <> 'DDL' ORDER BY id")
expected='INSERT {"cle": "crème brûlée"}  utilisateur:Zoë
INSERT {"cle": "naïve"}  utilisateur:Zoë
UPDATE {"cle": "naïve"} {annee,remarque} utilisateur:Zoë
DELETE {"cle": "crème brûlée"}  utilisateur:Zoë
INSERT {"no": 1}  utilisateur:Zoë
UPDATE {"no": 1} {amount} utilisateur:Zoë'
[ "$got" = "$expected" ] || { echo "unexpected trail in LATIN1:"; echo "$got"; exit 1; }
same=$(sql -c "SELECT bool_and(l.new_row = to_jsonb(c)) FROM cafe c
               JOIN ge_security.audit_log l ON l.row_key ->> 'cle' = c.cle AND l.op = 'UPDATE'")
[ "$same" = t ] || { echo "stored row differs from to_jsonb: $same"; exit 1; }
payee=$(sql -c "SELECT new_row ->> 'payee' FROM ge_security.audit_log WHERE op = 'UPDATE' AND table_name = 'public.invoice'")
[ "$payee" = "Société Générale" ] || { echo "to_jsonb path value: $payee"; exit 1; }
verdict=$(sql -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
[ "$verdict" = ok ] || { echo "verify in LATIN1: $verdict"; exit 1; }
echo "  LATIN1 database: values outside ASCII recorded on both paths and verified"
refusal=$(sql -c "CREATE TABLE tête (id int PRIMARY KEY)" -c "\\set VERBOSITY verbose" \
  -c "SELECT ge_security.enable_audit('tête')" 2>&1 || true)
case "$refusal" in *"0A000"*"valid UTF-8"*) ;; *) echo "non-UTF-8 table name: $refusal"; exit 1 ;; esac
echo "  a table named outside ASCII in LATIN1: refused with SQLSTATE 0A000"

# renamed outside ASCII after enable_audit: writes are still recorded (the name as stored),
# the trail verifies, and disable_audit works whatever the names became
sql >/dev/null <<'SQL'
ALTER TABLE cafe RENAME TO café;
ALTER TABLE café ADD COLUMN prénom text DEFAULT 'Zoë';
INSERT INTO café VALUES ('thé', 2028, 'à la menthe');
SELECT ge_security.audit_seal();
SQL
name=$(sql -c "SELECT table_name FROM ge_security.audit_log WHERE op = 'INSERT' ORDER BY id DESC LIMIT 1")
[ "$name" = 'public."café"' ] || { echo "renamed table recorded as: $name"; exit 1; }
verdict=$(sql -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
[ "$verdict" = ok ] || { echo "verify after rename: $verdict"; exit 1; }
sql -c "SELECT ge_security.disable_audit('café')" >/dev/null
left=$(sql -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'café'::regclass AND tgname LIKE 'ge_security%'")
[ "$left" = 0 ] || { echo "disable_audit left $left triggers"; exit 1; }
echo "  renamed outside ASCII after enable_audit: recorded, verified, and disabled"

# a SQL_ASCII database: json escapes above ASCII, which to_jsonb refuses there, are recorded
# through the text image instead of failing the write
cluster_psql "$dir/c" $port postgres -q \
  -c "CREATE DATABASE plain_ascii TEMPLATE template0 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'"
ascii() { cluster_psql "$dir/c" $port plain_ascii -qtA "$@"; }
ascii >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE notes (id int PRIMARY KEY, body json);
SELECT ge_security.enable_audit('notes');
INSERT INTO notes VALUES (1, '"\u00e9 \u4e2d"'), (2, '{"plain": true}');
SELECT ge_security.audit_seal();
SQL
got=$(ascii -c "SELECT string_agg(new_row::text, ' | ' ORDER BY id) FROM ge_security.audit_log WHERE op = 'INSERT'")
expected='{"id": "1", "body": "\"\\u00e9 \\u4e2d\""} | {"id": 2, "body": {"plain": true}}'
[ "$got" = "$expected" ] || { echo "SQL_ASCII images: $got"; exit 1; }
verdict=$(ascii -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
[ "$verdict" = ok ] || { echo "verify in SQL_ASCII: $verdict"; exit 1; }
echo "  SQL_ASCII database: json escapes above ASCII recorded as text, verified"
