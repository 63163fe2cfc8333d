#!/usr/bin/env bash
# The DDL guard, with log_statement = 'all': every way of switching auditing off or altering the
# trail is refused (42501) for a superuser and for a table owner who is not one, in every
# spelling; afterwards every write is still in the trail and audit_verify() is ok. Maintenance
# mode allows and records. Security DDL and DDL on audited tables is recorded once each, with
# passwords redacted, and passwords reach neither the trail nor the server log. New partitions
# and inheritance children are audited in the statement that creates or attaches them.
# pg_stat_statements is preloaded ahead of ge_security, so the hooks pass statements on to a C
# hook: its errors come back cleanly, and it still sees every statement.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir ddl_guard
port=54483
# no worker seals here: a seal interval of 10 s lets audit_verify() accept 50 s of unsealed
# rows, so a slow (shared, loaded) machine does not turn them into unsealed_backlog
cluster_create "$dir" "$port" "log_statement = 'all'" "log_min_duration_statement = 0" \
  "log_min_error_statement = 'error'" "log_line_prefix = '%m [%p] %u@%d '" "ge_security.seal_interval = '10s'" \
  "shared_preload_libraries = 'pg_stat_statements,ge_security'"
# the table owner connects as itself (over the socket, trusted in this throwaway cluster)
{ echo "local all gd_owner trust"; cat "$dir/data/pg_hba.conf"; } >"$dir/hba.tmp"
as_postgres cp "$dir/hba.tmp" "$dir/data/pg_hba.conf"
cluster_start "$dir"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }
as_owner() { as_postgres "$PG_BIN/psql" -X -qtA -h "$dir" -p "$port" -d postgres -U gd_owner "$@"; }
fail() { echo "$*"; exit 1; }

q <<'SQL' >/dev/null
CREATE EXTENSION ge_security;
CREATE ROLE gd_owner LOGIN;
CREATE SCHEMA gd AUTHORIZATION gd_owner;
GRANT USAGE ON SCHEMA ge_security TO gd_owner;
CREATE FUNCTION public.gd_noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
SQL
as_owner <<'SQL' >/dev/null
CREATE TABLE gd.t (id int PRIMARY KEY, v text);
SELECT ge_security.enable_audit('gd.t');
SQL
writes=0
write() { # one audited write as the owner, counted
  writes=$((writes + 1))
  as_owner -c "INSERT INTO gd.t VALUES ($writes, 'w') ON CONFLICT (id) DO UPDATE SET v = 'again'" >/dev/null
}
refused() { # refused WHO SQL: the statement fails with 42501 and the write after it is audited
  local who=$1 sql=$2 out
  if [ "$who" = super ]; then
    out=$(q -c '\set VERBOSITY verbose' -c "$sql" 2>&1 || true)
  else
    out=$(as_owner -c '\set VERBOSITY verbose' -c "$sql" 2>&1 || true)
  fi
  case "$out" in
    *"ERROR:  42501:"*"protected by ge_security"*) ;;
    *) fail "not refused for $who: $sql -> $out" ;;
  esac
  write
  refusals=$((refusals + 1))
}
refusals=0
for who in super owner; do
  for sql in \
    "ALTER TABLE gd.t DISABLE TRIGGER ALL" \
    "ALTER TABLE gd.t DISABLE TRIGGER USER" \
    "ALTER TABLE gd.t DISABLE TRIGGER ge_security_audit_row" \
    "ALTER TABLE gd.t DISABLE TRIGGER ge_security_audit_truncate" \
    "ALTER TABLE gd.t ENABLE TRIGGER ge_security_audit_row" \
    "ALTER TABLE gd.t ENABLE REPLICA TRIGGER ge_security_audit_row" \
    "ALTER TABLE gd.t ENABLE TRIGGER ALL" \
    "ALTER TABLE gd.t ENABLE TRIGGER USER" \
    "ALTER TABLE gd.t ADD COLUMN x int, DISABLE TRIGGER ge_security_audit_row" \
    "ALTER TABLE IF EXISTS gd.t DISABLE TRIGGER \"ge_security_audit_row\"" \
    "DROP TRIGGER ge_security_audit_row ON gd.t" \
    "DROP TRIGGER IF EXISTS ge_security_audit_truncate ON gd.t" \
    "ALTER TRIGGER ge_security_audit_row ON gd.t RENAME TO quiet" \
    "CREATE OR REPLACE TRIGGER ge_security_audit_row AFTER INSERT ON gd.t FOR EACH ROW EXECUTE FUNCTION public.gd_noop()"
  do refused "$who" "$sql"; done
done
for sql in \
  "ALTER TABLE ge_security.audit_log ADD COLUMN note text" \
  "ALTER TABLE ge_security.audit_log DISABLE TRIGGER ge_security_append_only" \
  "ALTER TABLE ge_security.audit_block DISABLE TRIGGER ALL" \
  "ALTER TABLE ge_security.audit_log RENAME TO old_log" \
  "ALTER TABLE ge_security.audit_log SET SCHEMA public" \
  "ALTER TABLE ge_security.audit_log OWNER TO gd_owner" \
  "DROP TABLE ge_security.audit_log" \
  "DROP TABLE ge_security.audit_block CASCADE" \
  "DROP TRIGGER ge_security_append_only ON ge_security.audit_log" \
  "ALTER SEQUENCE ge_security.audit_log_id_seq RESTART WITH 1" \
  "ALTER SEQUENCE ge_security.audit_log_id_seq INCREMENT BY 2" \
  "DROP SEQUENCE ge_security.audit_log_id_seq" \
  "CREATE TRIGGER sneak BEFORE INSERT ON ge_security.audit_log FOR EACH ROW EXECUTE FUNCTION public.gd_noop()" \
  "CREATE RULE quiet AS ON INSERT TO ge_security.audit_log DO INSTEAD NOTHING" \
  "CREATE POLICY hide ON ge_security.audit_log USING (false)" \
  "DROP EXTENSION ge_security" \
  "DROP EXTENSION ge_security CASCADE" \
  "ALTER EXTENSION ge_security DROP FUNCTION ge_security.audit_verify(jsonb)" \
  "DROP SCHEMA ge_security CASCADE" \
  "ALTER SCHEMA ge_security RENAME TO elsewhere" \
  "ALTER SCHEMA ge_security OWNER TO gd_owner"
do refused super "$sql"; done
echo "  $refusals refusals (superuser and table owner, every spelling), each 42501"

# every write made between the attempts is in the trail, and the trail verifies
rows=$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE table_name = 'gd.t' AND op IN ('INSERT', 'UPDATE')")
[ "$rows" = "$writes" ] || fail "$writes writes but $rows audit rows"
[ "$(q -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")" = ok ] || fail "verify failed"
echo "  all $writes writes between the attempts are in the trail; audit_verify() ok"

# maintenance mode: a superuser may, and it is recorded
ddl() { q -c "SELECT count(*) FROM ge_security.audit_log WHERE op = 'DDL' AND statement = \$\$$1\$\$"; }
q -c "SET ge_security.maintenance = on" -c "ALTER TABLE gd.t DISABLE TRIGGER ge_security_audit_row" \
  -c "ALTER TABLE gd.t ENABLE ALWAYS TRIGGER ge_security_audit_row" >/dev/null
[ "$(ddl 'ALTER TABLE gd.t DISABLE TRIGGER ge_security_audit_row')" = 1 ] || fail "maintenance disable not recorded"
[ "$(ddl 'ALTER TABLE gd.t ENABLE ALWAYS TRIGGER ge_security_audit_row')" = 1 ] || fail "maintenance enable not recorded"
# the owner cannot turn maintenance on
out=$(as_owner -c "SET ge_security.maintenance = on" 2>&1 || true)
case "$out" in *"permission denied"*) ;; *) fail "owner set maintenance: $out" ;; esac
echo "  maintenance mode: allowed for a superuser and recorded; refused to the owner"

# recorded, not refused: exactly one DDL row each
recorded() { # recorded WHO SQL
  if [ "$1" = super ]; then q -c "$2" >/dev/null; else as_owner -c "$2" >/dev/null; fi
  [ "$(ddl "$2")" = 1 ] || fail "not recorded exactly once: $2 ($(ddl "$2"))"
  recorded_kinds=$((recorded_kinds + 1))
}
recorded_kinds=0
recorded owner "ALTER TABLE gd.t ADD COLUMN note text"
recorded owner "ALTER TABLE gd.t ALTER COLUMN note TYPE varchar(50) USING left(note, 50)"
recorded owner "ALTER TABLE gd.t RENAME COLUMN note TO remark"
recorded owner "ALTER TABLE gd.t DROP COLUMN remark"
as_owner -c "CREATE TABLE gd.gone (id int PRIMARY KEY)" -c "SELECT ge_security.enable_audit('gd.gone')" >/dev/null
recorded owner "ALTER TABLE gd.gone RENAME TO gone2"
recorded owner "DROP TABLE gd.gone2"
q -c "CREATE ROLE gd_reader NOLOGIN" >/dev/null
recorded super "GRANT SELECT ON gd.t TO gd_reader"
recorded super "REVOKE SELECT ON gd.t FROM gd_reader"
recorded super "GRANT SELECT (id) ON gd.t TO gd_reader"
recorded super "GRANT gd_reader TO gd_owner"
recorded super "REVOKE gd_reader FROM gd_owner"
recorded super "ALTER DEFAULT PRIVILEGES IN SCHEMA gd GRANT SELECT ON TABLES TO gd_reader"
recorded super "CREATE ROLE gd_temp NOLOGIN"
recorded super "ALTER ROLE gd_temp CREATEDB"
recorded super "DROP ROLE gd_temp"
recorded super "ALTER SYSTEM SET log_connections = on"
recorded owner "CREATE POLICY gd_p ON gd.t USING (true)"
recorded owner "ALTER POLICY gd_p ON gd.t USING (id > 0)"
recorded owner "DROP POLICY gd_p ON gd.t"
recorded owner "ALTER TABLE gd.t ENABLE ROW LEVEL SECURITY"
recorded owner "ALTER TABLE gd.t FORCE ROW LEVEL SECURITY"
recorded owner "ALTER TABLE gd.t NO FORCE ROW LEVEL SECURITY"
recorded owner "ALTER TABLE gd.t DISABLE ROW LEVEL SECURITY"
q -c "CREATE TABLE public.gd_plain (id int)" >/dev/null
recorded super "ALTER TABLE public.gd_plain OWNER TO gd_owner"
recorded super "CREATE EXTENSION citext"
recorded super "DROP EXTENSION citext"
recorded super "COPY (SELECT 1) TO PROGRAM 'cat >/dev/null'"
recorded super "SET session_replication_role = replica"
echo "  $recorded_kinds kinds of DDL recorded exactly once each"

# the extension's own role helpers are recorded once, not once per statement they run
q -c "CREATE ROLE gd_victim LOGIN" -c "SELECT ge_security.lockdown_role('gd_victim')" >/dev/null
n=$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE op = 'DDL' AND statement LIKE '%lockdown_role(''gd_victim'')%'")
[ "$n" = 1 ] || fail "lockdown_role recorded $n times"
n=$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE op = 'DDL' AND statement ~ '^ALTER ROLE \"?gd_victim\"? NOLOGIN'")
[ "$n" = 0 ] || fail "lockdown_role's inner ALTER ROLE recorded separately"

# passwords: plain and pre-hashed, in CREATE and ALTER ROLE, never stored or logged
verifier='SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$dGhpc2lzbm90YXJlYWxrZXl0aGlzaXNub3RhcmVhbGs=:bm90YXJlYWxzZXJ2ZXJrZXlub3RhcmVhbHNlcnZlcms='
q -c "CREATE ROLE gd_pw LOGIN PASSWORD 'Plain-Secret-4711'" >/dev/null
q -c "ALTER ROLE gd_pw PASSWORD '$verifier'" >/dev/null
q -c "ALTER ROLE gd_pw WITH ENCRYPTED PASSWORD 'md5a3556571e93b0d20722ba62be61e8c2d'" >/dev/null
# a failing statement carrying a password: its STATEMENT line must not show it
q -c "CREATE ROLE gd_pw PASSWORD 'Failing-Secret-0815'" >/dev/null 2>&1 || true
n=$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE op = 'DDL' AND row_key->>'role' = 'gd_pw' AND row_key->>'password_set' = 'true'")
[ "$n" = 3 ] || fail "password changes of gd_pw recorded $n times (expected 3)"
q -c "SELECT statement FROM ge_security.audit_log WHERE row_key->>'role' = 'gd_pw' ORDER BY id" | sed 's/^/    trail: /'
sleep 0.5
for secret in Plain-Secret-4711 Failing-Secret-0815 c2FsdHNhbHRzYWx0c2FsdA md5a3556571e93b0d20722ba62be61e8c2d; do
  if grep -q -- "$secret" "$dir/server.log"; then grep -n -- "$secret" "$dir/server.log" | head -3; fail "$secret is in the server log"; fi
  [ "$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE statement LIKE '%$secret%' OR row_key::text LIKE '%$secret%'")" = 0 ] \
    || fail "$secret is in the trail"
done
grep -c "\[redacted\]" "$dir/server.log" | sed 's/^/    redacted log lines: /'
echo "  passwords (plain, SCRAM and md5 verifiers, a failing statement) are in neither the trail nor the server log"

# new descendants of an audited table are audited in the same statement
as_owner <<'SQL' >/dev/null
CREATE TABLE gd.parted (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
SELECT ge_security.enable_audit('gd.parted');
CREATE TABLE gd.parted_eu PARTITION OF gd.parted FOR VALUES IN ('eu');
CREATE TABLE gd.parted_us (id int, region text, PRIMARY KEY (id, region));
ALTER TABLE gd.parted ATTACH PARTITION gd.parted_us FOR VALUES IN ('us');
CREATE TABLE gd.base (id int PRIMARY KEY, v text);
SELECT ge_security.enable_audit('gd.base');
CREATE TABLE gd.child (id int PRIMARY KEY, v text, extra int) INHERITS (gd.base);
CREATE TABLE gd.late (id int PRIMARY KEY, v text);
ALTER TABLE gd.late INHERIT gd.base;
SQL
triggers() {
  q -c "SELECT string_agg(tgname || ':' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger
        WHERE tgrelid = '$1'::regclass AND tgname LIKE 'ge_security_audit%'
          AND tgfoid = 'ge_security.audit_trigger'::regproc"
}
for t in gd.parted_eu gd.parted_us gd.child gd.late; do
  [ "$(triggers $t)" = "ge_security_audit_row:A,ge_security_audit_truncate:A" ] || fail "$t not audited: $(triggers $t)"
done
as_owner -c "INSERT INTO gd.parted VALUES (1, 'eu'), (2, 'us')" -c "INSERT INTO gd.child VALUES (10, 'c', 1)" \
  -c "INSERT INTO gd.late VALUES (20, 'l')" >/dev/null
for t in gd.parted_eu gd.parted_us gd.child gd.late; do
  [ "$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE table_name = '$t' AND op = 'INSERT'")" = 1 ] || fail "write to $t not audited"
done
echo "  partitions created and attached, and inheritance children created and added, are audited"

# errors raised below a C hook ahead of ours: a failing DDL statement (ProcessUtility) and a
# COPY FROM an audited table failing half-way and an audited UPDATE failing in its AFTER
# trigger (ExecutorFinish) each give their own error, write no audit row, and leave the
# session usable; pg_stat_statements, called through our hooks, counted them
q -c "CREATE EXTENSION pg_stat_statements" >/dev/null
rows_before=$(q -c "SELECT count(*) FROM ge_security.audit_log")
out=$(q -c '\set ON_ERROR_STOP 0' -c '\set VERBOSITY verbose' -c "ALTER TABLE gd.t ADD COLUMN v text" -c "SELECT 'still here'" 2>&1 || true)
case "$out" in *"ERROR:  42701:"*"still here"*) ;; *) fail "failing DDL through the hook chain: $out" ;; esac
out=$(printf '900\tok\n901\tok\nnot-a-number\tbad\n' | as_owner -c '\set VERBOSITY verbose' \
  -c "COPY gd.t FROM STDIN" 2>&1 || true)
case "$out" in *"ERROR:  22P02:"*) ;; *) fail "failing COPY through the hook chain: $out" ;; esac
q <<'SQL' >/dev/null
CREATE FUNCTION public.gd_fail() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN IF NEW.v = ''poison'' THEN RAISE EXCEPTION ''poisoned'' USING ERRCODE = ''P0099''; END IF; RETURN NULL; END';
SQL
as_owner -c "CREATE TRIGGER zz_fail AFTER UPDATE ON gd.t FOR EACH ROW EXECUTE FUNCTION public.gd_fail()" >/dev/null
out=$(as_owner -c '\set ON_ERROR_STOP 0' -c '\set VERBOSITY verbose' -c "UPDATE gd.t SET v = 'poison' WHERE id = 1" \
  -c "SELECT 'still here'" 2>&1 || true)
case "$out" in *"ERROR:  P0099:"*"still here"*) ;; *) fail "failing AFTER trigger through the hook chain: $out" ;; esac
as_owner -c "DROP TRIGGER zz_fail ON gd.t" >/dev/null
# errors pass through our hooks whole: a custom SQLSTATE and the CONTEXT raised in a DO block
# (ProcessUtility), and a foreign key's violation raised by its AFTER trigger (ExecutorFinish)
# with the schema, table and constraint names clients read
out=$(q -c '\set ON_ERROR_STOP 0' -c '\set VERBOSITY verbose' \
  -c "DO \$\$BEGIN RAISE EXCEPTION 'custom' USING ERRCODE = 'GE123'; END\$\$" 2>&1 || true)
case "$out" in *"ERROR:  GE123: custom"*"CONTEXT:  PL/pgSQL function inline_code_block"*) ;;
  *) fail "an error raised in a DO block lost its SQLSTATE or context: $out" ;; esac
as_owner -c "CREATE TABLE gd.child_rows (id int PRIMARY KEY, t_id int REFERENCES gd.t (id))" \
  -c "SELECT ge_security.enable_audit('gd.child_rows')" >/dev/null
out=$(as_owner -c '\set VERBOSITY verbose' -c "INSERT INTO gd.child_rows VALUES (1, 999999)" 2>&1 || true)
case "$out" in *"ERROR:  23503:"*"SCHEMA NAME:  gd"*"TABLE NAME:  child_rows"*"CONSTRAINT NAME:  child_rows_t_id_fkey"*) ;;
  *) fail "a foreign key violation lost its fields: $out" ;; esac
[ "$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE table_name = 'gd.t' AND id > $rows_before
           AND op IN ('INSERT', 'UPDATE')")" = 0 ] || fail "a failed statement left audit rows"
as_owner -c "UPDATE gd.t SET v = 'after' WHERE id = 1" >/dev/null
[ "$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE table_name = 'gd.t' AND id > $rows_before AND op = 'UPDATE'")" = 1 ] \
  || fail "the write after the failures was not audited"
# it records statements that completed: the UPDATE (our ExecutorFinish hook) and the CREATE
# TRIGGER (our two ProcessUtility hooks)
[ "$(q -c "SELECT count(*) FROM pg_stat_statements
           WHERE query LIKE 'UPDATE gd.t SET v = \$1 WHERE id = \$2' OR query LIKE 'CREATE TRIGGER zz_fail%'")" = 2 ] \
  || fail "pg_stat_statements did not see statements passed through our hooks: $(q -c "SELECT string_agg(query, ' | ') FROM pg_stat_statements")"
echo "  with pg_stat_statements hooked ahead: errors pass through whole (custom SQLSTATE, context, constraint names); failed statements leave no audit rows"

# no worker seals here: seal first, or rows older than five seal_intervals (5 s, easily reached
# on a loaded machine) are reported as unsealed_backlog
q -c "SELECT ge_security.audit_seal()" >/dev/null
[ "$(q -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")" = ok ] || fail "verify failed at the end"

# in a database without the extension the guard stays out of the way
q -c "CREATE DATABASE gd_other" >/dev/null
cluster_psql "$dir" "$port" gd_other -qtA -c "CREATE TABLE t (id int)" -c "CREATE TRIGGER ge_security_audit_row AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()" \
  -c "DROP TRIGGER ge_security_audit_row ON t" -c "CREATE ROLE gd_other_role" -c "DROP ROLE gd_other_role" >/dev/null
echo "  a database without the extension: its DDL runs untouched"

# password age: role_audit() dates gd_pw's password from the trail; with a 1-second limit it is
# reported; a password set where the trail could not see it (a database without the extension)
# is not_assessed, never a pass
cluster_psql "$dir" "$port" gd_other -qtA -c "CREATE ROLE gd_unseen LOGIN PASSWORD 'Unseen-Secret-1'" >/dev/null
[ "$(q -c "SELECT password_changed_at IS NOT NULL FROM ge_security.role_audit() WHERE role_name = 'gd_pw'")" = t ] \
  || fail "role_audit has no password_changed_at for gd_pw"
[ "$(q -c "SELECT password_changed_at IS NULL FROM ge_security.role_audit() WHERE role_name = 'gd_unseen'")" = t ] \
  || fail "role_audit dates a password the trail never saw"
[ "$(q -c "SELECT count(*) FROM ge_security.assess() WHERE check_id = 'login_role_password_old' AND object_name = 'role gd_pw'")" = 0 ] \
  || fail "a fresh password reported as old"
sleep 1.5
got=$(q -c "SET ge_security.password_max_age = '1s'" -c "SELECT string_agg(object_name || '=' || status, ',' ORDER BY object_name)
            FROM ge_security.assess() WHERE check_id = 'login_role_password_old' AND object_name IN ('role gd_pw', 'role gd_unseen')")
[ "$got" = "role gd_pw=fail,role gd_unseen=not_assessed" ] || fail "password age: $got"
grep -q "Unseen-Secret-1" "$dir/server.log" && fail "the password set in gd_other is in the server log"
echo "  password age: dated from the trail (role_audit, login_role_password_old), unknown ones not_assessed"
