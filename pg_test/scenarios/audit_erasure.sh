#!/usr/bin/env bash
# Erasure of a data subject from the audit trail (docs/architecture.md, "Redaction"): their rows
# redacted by key on the primary; then audit_verify() is ok (against the digest taken before,
# too) and their values are nowhere in audit_log, in a pg_dump of the trail, or on a
# streaming standby (its queries, its dump, and its relation files after VACUUM FULL); an edited
# kept digest is caught; v1 rows written before keep verifying; a dump of the redacted trail
# restores and verifies.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir erasure
primary_port=54401
standby_port=54402
cluster_create "$dir/primary" "$primary_port" "wal_level = replica" "max_wal_senders = 4"
cluster_start "$dir/primary"
p() { cluster_psql "$dir/primary" "$primary_port" "${DB:-postgres}" -qtA "$@"; }
s() { cluster_psql "$dir/standby" "$standby_port" postgres -qtA "$@"; }
fail() { echo "audit_erasure: $*"; exit 1; }
name='Zelda Quirinius-Ostrander'
mail='zq7731@example.net'

p >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION ge_security;
CREATE TABLE person (id int PRIMARY KEY, name text, email text, city text);
SELECT ge_security.enable_audit('person');
-- rows hashed under v1, as 0.1.0 wrote them
SET ge_security.row_encoding = 1;
INSERT INTO person SELECT g, 'old person ' || g, 'old' || g || '@example.org', 'Oldtown' FROM generate_series(1, 20) g;
RESET ge_security.row_encoding;
INSERT INTO person SELECT g, 'person ' || g, 'p' || g || '@example.org', 'Town ' || g % 7 FROM generate_series(21, 200) g;
INSERT INTO person VALUES (42000, '$name', '$mail', 'Ravenholm');
UPDATE person SET city = 'Ravenholm-Nord' WHERE id = 42000;
UPDATE person SET email = 'second-$mail' WHERE id = 42000;
UPDATE person SET city = 'Elsewhere' WHERE id BETWEEN 21 AND 40;
SELECT ge_security.audit_seal();
SQL
p >/dev/null <<'SQL'
-- images with nesting, escapes and non-ASCII, for the outside check of the v2 layout below
CREATE TABLE odd (id int PRIMARY KEY, "we""ird, {name}" text, doc jsonb, j json, tags text[], n numeric);
SELECT ge_security.enable_audit('odd');
INSERT INTO odd VALUES (1, E'a "quoted", {braced} \\ back\tslash\n€ é', '{"b": [1, "x, y", {"c": null}], "a": {"}": "{"}}',
                        '{"z": 1, "a": [true, false]}', ARRAY['x,y', '"q"', NULL], 1.500);
UPDATE odd SET n = n + 1, doc = doc || '{"k\"ey": "v\u00e9"}';
SELECT ge_security.audit_seal();
SQL
digest_before=$(p -c "SELECT ge_security.audit_digest()")
[ "$(p -c "SELECT count(*) FROM ge_security.audit_log WHERE hash_version = 1")" -ge 20 ] || fail "no v1 rows"

# a streaming standby, made while the values are still in the trail
as_postgres "$PG_BIN/pg_basebackup" -h "$dir/primary" -p "$primary_port" -D "$dir/standby/data" -R -X stream
sed -i "s|^port = .*|port = $standby_port|; s|^unix_socket_directories = .*|unix_socket_directories = '$dir/standby'|" \
  "$dir/standby/data/postgresql.conf"
cluster_start "$dir/standby"
[ "$(s -c "SELECT pg_is_in_recovery()")" = t ] || fail "standby is not in recovery"
[ "$(s -c "SELECT count(*) FROM ge_security.audit_log l WHERE strpos(l::text, '$mail') > 0")" -gt 0 ] \
  || fail "the standby never had the values (the test would prove nothing)"

# the person leaves the table, and the trail: redacted by key
p >/dev/null -c "DELETE FROM person WHERE id = 42000" -c "SELECT ge_security.audit_seal()"
got=$(p -c "SELECT ge_security.audit_redact_subject('person', '{\"id\": 42000}', 'GDPR art. 17, request 2026-117')")
[ "$got" = 4 ] || fail "redacted $got rows of the subject, expected 4 (insert, two updates, delete)"
p >/dev/null -c "SELECT ge_security.audit_seal()"
verify() { p -c "SELECT string_agg(coalesce(problem, 'ok') || ' ' || coalesce(detail, ''), ',') FROM ge_security.audit_verify($1)"; }
got=$(verify "'$digest_before'")
case "$got" in "ok "*", 4 redacted") ;; *) fail "verify against the earlier digest: $got";; esac
[ "$(p -c "SELECT count(*) FROM ge_security.audit_log WHERE hash_version = 1 AND redacted IS NULL")" -ge 20 ] \
  || fail "v1 rows changed"
mentions() { "$@" -c "SELECT count(*) FROM ge_security.audit_log l WHERE strpos(l::text, '$mail') > 0 OR strpos(l::text, '$name') > 0 OR strpos(l::text, 'Ravenholm') > 0"; }
[ "$(mentions p)" = 0 ] || fail "the subject's values are still in audit_log"
# the redaction record says who, when, why, which rows
got=$(p -c "SELECT new_row->>'redaction' || ' ' || (new_row->>'count') || ' ' || (new_row->>'reason') || ' ' || session_user_name FROM ge_security.audit_log WHERE op = 'DDL' AND new_row ? 'redaction'")
[ "$got" = "subject 4 GDPR art. 17, request 2026-117 postgres" ] || fail "redaction record: $got"

# the whole sealed trail exported and verified outside the database: tools/verify_archive.py
# recomputes every row hash (v1 and v2, the redacted rows included), block root and link
digest_now=$(p -c "SELECT ge_security.audit_digest()")
p -c "SELECT * FROM ge_security.audit_export(1, (SELECT max(block_no) FROM ge_security.audit_block))" >"$dir/archive.jsonl"
outside=$(python3 "$(dirname "$0")/../../tools/verify_archive.py" "$dir/archive.jsonl" "$digest_now") \
  || fail "outside verification of the exported trail: $outside"
grep -q '"encoding":2,[^}]*"redacted":"' "$dir/archive.jsonl" || fail "the archive holds no redacted v2 row"
grep -q '"encoding":1,' "$dir/archive.jsonl" || fail "the archive holds no v1 row"
! grep -q -e "$mail" -e "$name" -e Ravenholm "$dir/archive.jsonl" || fail "the subject's values are in the archive"

# pg_dump of the trail
as_postgres "$PG_BIN/pg_dump" -h "$dir/primary" -p "$primary_port" -t ge_security.audit_log -t ge_security.audit_block \
  -f "$dir/trail.sql" postgres
grep -q "GDPR art. 17" "$dir/trail.sql" || fail "the dump does not hold the trail"
! grep -q -e "$mail" -e "$name" -e Ravenholm "$dir/trail.sql" || fail "the subject's values are in pg_dump of the trail"

# the standby, after replay: queries, a dump from it, and (after VACUUM FULL and a restartpoint)
# the relation files of the trail and of the table
p >/dev/null -c "SET ge_security.maintenance = on" -c "VACUUM FULL ge_security.audit_log" -c "VACUUM FULL person" -c "CHECKPOINT"
lsn=$(p -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
  [ "$(s -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && break
  sleep 0.2
done
[ "$(s -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] || fail "the standby did not catch up"
s >/dev/null -c "CHECKPOINT"
[ "$(mentions s)" = 0 ] || fail "the subject's values are still in the standby's audit_log"
got=$(s -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify('$digest_before')")
[ "$got" = ok ] || fail "verify on the standby: $got"
as_postgres "$PG_BIN/pg_dump" -h "$dir/standby" -p "$standby_port" -f "$dir/standby.sql" postgres
! grep -q -e "$mail" -e "$name" -e Ravenholm "$dir/standby.sql" || fail "the subject's values are in a dump of the standby"
files=$(s -c "SELECT string_agg(pg_relation_filepath(c.oid), ' ') FROM pg_class c
              WHERE c.oid IN ('ge_security.audit_log'::regclass, 'person'::regclass)
                 OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE oid IN ('ge_security.audit_log'::regclass, 'person'::regclass))")
for f in $files; do
  ! grep -q -a -e "$mail" -e Ravenholm "$dir/standby/data/$f"* || fail "the subject's values are in the standby's file $f"
done
wal=$(grep -l -a -e "$mail" "$dir"/standby/data/pg_wal/0* 2>/dev/null | wc -l || true)

# an edited kept digest is caught and named
got=$(p -c "BEGIN" -c "SET LOCAL ge_security.maintenance = on" -c "SET LOCAL client_min_messages = warning" \
        -c "UPDATE ge_security.audit_log SET redacted = jsonb_set(redacted, '{new_row,email}', to_jsonb(repeat('0', 64))) WHERE row_key = '{\"id\": 42000}' AND op = 'INSERT'" \
        -c "SELECT string_agg(problem || ' ' || (id = (SELECT id FROM ge_security.audit_log WHERE row_key = '{\"id\": 42000}' AND op = 'INSERT'))::text, ',') FROM ge_security.audit_verify()" \
        -c "ROLLBACK")
[ "$got" = "row_hash_mismatch true" ] || fail "an edited digest: $got"

# dump and restore of the redacted trail (documented maintenance) verifies against the digest
p >/dev/null -c "CREATE DATABASE restored"
as_postgres "$PG_BIN/pg_dump" -h "$dir/primary" -p "$primary_port" -Fc -f "$dir/all.dump" postgres
as_postgres env PGOPTIONS="-c ge_security.maintenance=on" "$PG_BIN/pg_restore" -h "$dir/primary" -p "$primary_port" \
  -d restored --exit-on-error "$dir/all.dump"
got=$(DB=restored p -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify('$digest_before')")
[ "$got" = ok ] || fail "the restored redacted trail does not verify: $got"
[ "$(DB=restored p -c "SELECT count(*) FROM ge_security.audit_log WHERE redacted IS NOT NULL")" = 4 ] \
  || fail "redactions lost in the restore"
echo "  erasure: outside script: $outside; 4 rows of one subject redacted; verify ok (earlier digest, standby, restore); values absent from audit_log, pg_dump, the standby's queries, dump and relation files; an edited digest caught; still in $wal WAL segment(s) written before the redaction (recycled by later checkpoints)"
