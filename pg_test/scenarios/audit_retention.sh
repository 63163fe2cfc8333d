#!/usr/bin/env bash
# Retention and archival of the audit trail (docs/architecture.md, "Retention and archival").
# 1. Started with the default retention (365 days): a superuser in maintenance mode cannot prune,
#    and no SET, ALTER SYSTEM or reload lowers the retention below the value at start.
# 2. Restarted with a retention of 1 second in postgresql.conf: blocks are archived with
#    audit_export(), the archives verify outside the database (tools/verify_archive.py) against
#    digests taken before the prunes and tampered archives do not; audit_prune() removes the
#    rows, the trail verifies with the pruned range reported; removing a prune record or the rows
#    of an unpruned block is caught; a kill -9 in the middle of a prune leaves every row; younger
#    blocks are refused.
# 3. A dump of the pruned trail, restored, verifies against the digest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/cluster.sh"
verify_archive=$here/../tools/verify_archive.py
scratch_dir retention
port=54561
fail() { echo "$1"; exit 1; }
cluster_create "$dir/c" "$port"
cluster_start "$dir/c"
q() { local db=$1; shift; cluster_psql "$dir/c" "$port" "$db" -qtA "$@"; }
# sqlstate DB ARGS...: "SQLSTATE: message" of the first error the statements raise, or "no error"
sqlstate() {
  local db=$1 out; shift
  if out=$(cluster_psql "$dir/c" "$port" "$db" -qtA -v VERBOSITY=verbose "$@" 2>&1 >/dev/null); then
    echo "no error"
  else
    echo "$out" | sed -n 's/^.*ERROR:  \([0-9A-Z]\{5\}\): /\1: /p' | head -1
  fi
}
expect_error() { # expect_error WHAT EXPECTED_PREFIX GOT
  case "$3" in "$2"*) echo "  $1: $3" ;; *) fail "$1: expected '$2...', got '$3'" ;; esac
}
verdict() { q shop -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify($1)"; }

q postgres -c "CREATE DATABASE shop" -c "CREATE ROLE archivist LOGIN" -c "CREATE ROLE app_user LOGIN" >/dev/null
q shop >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
GRANT ge_security_auditor TO archivist;
CREATE TABLE clients (id int PRIMARY KEY, name text, email text, meta jsonb);
GRANT SELECT, INSERT, UPDATE ON clients TO app_user;
SELECT ge_security.enable_audit('clients');
INSERT INTO clients SELECT g, 'client ' || g || ' é ✓ 😀', 'c' || g || '@example.com',
       jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g), 'x', 1.50) FROM generate_series(1, 300) g;
SELECT ge_security.audit_seal();
UPDATE clients SET email = 'new' || id || '@example.com', meta = NULL WHERE id <= 100;
SELECT ge_security.audit_seal();
SQL

# 1. the retention the server started with (the default) holds
[ "$(q shop -c "SHOW ge_security.audit_retention")" = "365 days" ] || fail "the default retention is not 365 days"
got=$(sqlstate shop -c "SET ge_security.maintenance = on" -c "SET session_replication_role = replica" \
        -c "SELECT ge_security.audit_prune(1)")
expect_error "prune inside the retention, superuser in maintenance mode" \
  "55000: block 1 or an earlier one is inside the audit retention" "$got"
expect_error "lowering the retention with SET" "22023: invalid value for parameter \"ge_security.audit_retention\"" \
  "$(sqlstate shop -c "SET ge_security.audit_retention = '364 days'")"
expect_error "lowering it with ALTER SYSTEM" "22023: invalid value for parameter" \
  "$(sqlstate shop -c "ALTER SYSTEM SET ge_security.audit_retention = '1 second'")"
expect_error "lowering it for a database" "22023: invalid value for parameter" \
  "$(sqlstate postgres -c "ALTER DATABASE shop SET ge_security.audit_retention = '1 day'")"
expect_error "an application role setting it" "42501: permission denied to set parameter" \
  "$(sqlstate shop -c "SET ROLE app_user" -c "SET ge_security.audit_retention = '400 days'")"
[ "$(q shop -c "SET ge_security.audit_retention = '400 days'" -c "SHOW ge_security.audit_retention")" = "400 days" ] \
  || fail "raising the retention was refused"
# lowered in postgresql.conf and reloaded: refused, the server keeps its value until a restart
echo "ge_security.audit_retention = '1 second'" | as_postgres tee -a "$dir/c/data/postgresql.conf" >/dev/null
q shop -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
[ "$(q shop -c "SHOW ge_security.audit_retention")" = "365 days" ] || fail "a reload lowered the retention"
grep -q 'invalid value for parameter "ge_security.audit_retention": "1 second"' "$dir/c/server.log" \
  || fail "the refused reload is not in the server log"
expect_error "prune after the refused reload" "55000:" "$(sqlstate shop -c "SELECT ge_security.audit_prune(1)")"
echo "  the retention stays 365 days at runtime; nothing was pruned ($(q shop -c "SELECT count(*) FROM ge_security.audit_log") rows)"

# 2. restarted with a retention of 1 second: the floor is now 1 second
cluster_stop "$dir/c"
cluster_start "$dir/c"
[ "$(q shop -c "SHOW ge_security.audit_retention")" = "1 second" ] || fail "the retention from postgresql.conf was not applied"
expect_error "below the new floor" "22023: invalid value" "$(sqlstate shop -c "SET ge_security.audit_retention = '0'")"
sleep 2 # blocks 1 and 2 are now older than the retention
digest_a=$(q shop -c "SELECT ge_security.audit_digest()")
q shop -c "SET ROLE archivist" -c "SELECT * FROM ge_security.audit_export(1, 2)" >"$dir/a.jsonl"
python3 "$verify_archive" "$dir/a.jsonl" "$digest_a" >"$dir/a.out" || { cat "$dir/a.out"; fail "archive A does not verify"; }
echo "  $(cat "$dir/a.out")"
rows_a=$(grep -c '"type":"row"' "$dir/a.jsonl")
[ "$rows_a" = "$(q shop -c "SELECT count(*) FROM ge_security.audit_log WHERE id <= (SELECT last_id FROM ge_security.audit_block WHERE block_no = 2)")" ] \
  || fail "archive A does not hold every row of blocks 1 and 2"

# tampered archives are refused, each naming what is wrong
tamper() { # tamper NAME EXPECTED PYTHON_EXPRESSION_ON_lines
  python3 - "$dir/a.jsonl" "$dir/t.jsonl" "$3" "$verify_archive" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("verify_archive", sys.argv[4])
verify_archive = importlib.util.module_from_spec(spec)
spec.loader.exec_module(verify_archive)
lines = open(sys.argv[1]).read().splitlines()
exec(sys.argv[3])
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
  if python3 "$verify_archive" "$dir/t.jsonl" "$digest_a" >"$dir/t.out" 2>&1; then fail "tampered archive accepted: $1"; fi
  grep -q "$2" "$dir/t.out" || { cat "$dir/t.out"; fail "tampered archive ($1): expected '$2'"; }
  echo "  tampered archive refused ($1): $(grep -m1 "$2" "$dir/t.out")"
}
tamper "an e-mail changed in a row image" "row_hash does not match its fields" \
  'i = next(n for n, l in enumerate(lines) if "c7@example.com" in l); lines[i] = lines[i].replace("c7@example.com", "c8@example.com")'
tamper "a row and its hash rewritten" "do not make its rows_root" \
  'import json
i = next(n for n, l in enumerate(lines) if "c9@example.com" in l); r = json.loads(lines[i])
r["fields"]["new_row"] = r["fields"]["new_row"].replace("c9@", "x9@")
encode = verify_archive.ROW_ENCODINGS[r["encoding"]]
r["row_hash"] = encode(r["fields"], r["redacted"]).hex(); lines[i] = json.dumps(r)'
rows1=$(q shop -c "SELECT row_count FROM ge_security.audit_block WHERE block_no = 1")
tamper "a row removed" "seals $rows1 rows, the archive holds $((rows1 - 1))" 'del lines[5]'
tamper "a block sealed a day earlier" "block_hash does not match its fields" \
  'import json; b = json.loads(lines[1]); b["sealed_at_micros"] -= 86400000000; lines[1] = json.dumps(b)'
tamper "a line forged twice" "a key appears twice" 'lines[3] = lines[3][:-1] + ", \"type\": \"row\"}"'
if python3 "$verify_archive" "$dir/a.jsonl" '{"block_no": 2, "last_id": 401, "block_hash": "'"$(printf '%064d' 0)"'"}' >/dev/null; then
  fail "an archive verified against a digest of another chain"
fi

# prune block 1; the prune is a row of the trail
got=$(q shop -c "SELECT ge_security.audit_prune(1)")
[ "$got" = "$rows1" ] || fail "audit_prune(1) deleted $got rows, not $rows1"
q shop -c "SELECT ge_security.audit_seal()" >/dev/null
got=$(q shop -c "SELECT op || ' ' || table_name || ' ' || (row_key->>'pruned_through_block') || ' ' || (row_key->>'rows')
                  FROM ge_security.audit_log WHERE row_key ? 'pruned_through_block'")
[ "$got" = "DDL ge_security.audit_log 1 $rows1" ] || fail "the prune is not recorded as one DDL row: $got"
q shop -c "INSERT INTO clients SELECT g, 'late ' || g FROM generate_series(301, 350) g" -c "SELECT ge_security.audit_seal()" >/dev/null
digest_b=$(q shop -c "SELECT ge_security.audit_digest()")
q shop -c "SET ROLE archivist" -c "SELECT * FROM ge_security.audit_export(2, 4)" >"$dir/b.jsonl"
python3 "$verify_archive" "$dir/b.jsonl" "$digest_b" >/dev/null || fail "archive B does not verify"
expect_error "export of pruned rows" "55000: the rows of audit block 1 are no longer in the database" \
  "$(sqlstate shop -c "SELECT count(*) FROM ge_security.audit_export(1, 2)")"
expect_error "proof of a pruned row" "42704: the rows of audit block 1 are no longer in the database" \
  "$(sqlstate shop -c "SELECT ge_security.audit_proof(5)")"

# a kill -9 in the middle of a prune leaves every row: the prune's DELETE waits on a row lock
# another session holds on the last row it must delete, and its backend is killed there
sleep 2
before=$(q shop -c "SELECT count(*), max(id) FROM ge_security.audit_log")
last4=$(q shop -c "SELECT last_id FROM ge_security.audit_block WHERE block_no = 4")
q shop -c "BEGIN" -c "SELECT 1 FROM ge_security.audit_log WHERE id = $last4 FOR UPDATE" -c "SELECT pg_sleep(60)" \
  >/dev/null 2>&1 &
sleep 1
q shop -c "SELECT ge_security.audit_prune(4)" >/dev/null 2>&1 &
victim=""
for _ in $(seq 1 50); do
  victim=$(q shop -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%audit_prune(4)%' AND wait_event_type = 'Lock'
                        AND pid <> pg_backend_pid()")
  [ -n "$victim" ] && break
  sleep 0.2
done
[ -n "$victim" ] || fail "the prune never waited on the row lock"
deleting=$(q shop -c "SELECT count(*) FROM pg_locks WHERE pid = $victim AND locktype = 'transactionid' AND NOT granted")
[ "$deleting" = 1 ] || fail "the prune is not waiting inside its DELETE"
kill -9 "$victim"
wait || true
for _ in $(seq 1 30); do q shop -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
[ "$(q shop -c "SELECT count(*), max(id) FROM ge_security.audit_log")" = "$before" ] || fail "a killed prune left a partial result"
[ "$(verdict "'$digest_b'")" = ok ] || fail "the trail does not verify after the killed prune: $(verdict "'$digest_b'")"
echo "  kill -9 in the middle of a prune: every row is still there, verify ok"

# prune through block 3: it removes block 2 and block 3, which holds the first prune's record;
# the new record covers every block up to 3
got=$(q shop -c "SELECT ge_security.audit_prune(3)")
[ "$got" -gt 100 ] || fail "audit_prune(3) deleted $got rows"
[ "$(q shop -c "SELECT ge_security.audit_prune(2)")" = 0 ] || fail "pruning blocks already pruned is not a no-op"
q shop -c "SELECT ge_security.audit_seal()" >/dev/null
detail=$(q shop -c "SELECT detail FROM ge_security.audit_verify('$digest_a') WHERE ok")
case "$detail" in
  *"the rows of blocks 1 to 3 ("*" rows) were pruned, their headers verified"*) echo "  verify after the prunes: $detail" ;;
  *) fail "verify does not report the pruned range as ok: $(verdict "'$digest_a'") $detail" ;;
esac
for d in "$digest_a" "$digest_b"; do [ "$(verdict "'$d'")" = ok ] || fail "verify against $d: $(verdict "'$d'")"; done
python3 "$verify_archive" "$dir/a.jsonl" "$digest_a" >/dev/null || fail "archive A no longer verifies against its digest"
python3 "$verify_archive" "$dir/b.jsonl" "$digest_b" >/dev/null || fail "archive B no longer verifies against its digest"
echo "  archives A (blocks 1-2) and B (blocks 2-4) verify outside the database against the digests taken before the prunes"

# younger blocks are refused, whatever the retention
q shop -c "INSERT INTO clients VALUES (999, 'young')" >/dev/null
newest=$(q shop -c "SELECT max(block_no) + 1 FROM ge_security.audit_block")
expect_error "prune of a block sealed in the same transaction" "55000: block $newest or an earlier one is inside" \
  "$(sqlstate shop -c "BEGIN" -c "SELECT ge_security.audit_seal()" -c "SELECT ge_security.audit_prune($newest)")"
expect_error "prune of an unsealed range" "42704: audit block $newest does not exist" \
  "$(sqlstate shop -c "SELECT ge_security.audit_prune($newest)")"
expect_error "prune with a raised retention" "55000: block 4 or an earlier one" \
  "$(sqlstate shop -c "SET ge_security.audit_retention = '1 day'" -c "SELECT ge_security.audit_prune(4)")"
expect_error "prune by an auditor" "42501: permission denied for function audit_prune" \
  "$(sqlstate shop -c "SET ROLE archivist" -c "SELECT ge_security.audit_prune(4)")"
expect_error "a plain DELETE after a prune" "42501: ge_security.audit_log is append-only" \
  "$(sqlstate shop -c "SET session_replication_role = replica" -c "DELETE FROM ge_security.audit_log WHERE id <= $last4")"

# tampering the pruned trail is caught (each in a transaction rolled back after verifying)
expect_problem() { # expect_problem NAME DETAIL_PART SQL
  local got
  got=$(q shop -c "BEGIN" -c "SET LOCAL ge_security.maintenance = on" -c "$3" \
          -c "SELECT string_agg(problem || ': ' || detail, '; ') FROM ge_security.audit_verify('$digest_b') WHERE NOT ok" \
          -c "ROLLBACK" 2>/dev/null | tail -n 1)
  case "$got" in *"$2"*) echo "  caught $1: $got" ;; *) fail "NOT caught: $1, verify said '$got'" ;; esac
}
expect_problem "the prune record removed" "no recorded prune" \
  "DELETE FROM ge_security.audit_log WHERE row_key ? 'pruned_through_block'"
expect_problem "the rows of an unpruned block deleted" "row_missing: block seals" \
  "DELETE FROM ge_security.audit_log WHERE id BETWEEN (SELECT first_id FROM ge_security.audit_block WHERE block_no = 4) AND $last4"
expect_problem "a block header of the pruned range edited" "block_link_broken" \
  "UPDATE ge_security.audit_block SET row_count = row_count - 1 WHERE block_no = 2"
[ "$(verdict "'$digest_b'")" = ok ] || fail "the trail is not clean after the rollbacks"

# 3. a dump of the pruned trail restores and verifies
q postgres -c "CREATE DATABASE restored" >/dev/null
as_postgres "$PG_BIN/pg_dump" -h "$dir/c" -p "$port" -Fc -f "$dir/shop.dump" shop
as_postgres env PGOPTIONS="-c ge_security.maintenance=on" "$PG_BIN/pg_restore" -h "$dir/c" -p "$port" \
  -d restored --exit-on-error "$dir/shop.dump"
got=$(cluster_psql "$dir/c" "$port" restored -qtA -c "SELECT coalesce(problem, detail) FROM ge_security.audit_verify('$digest_b')")
case "$got" in
  *"the rows of blocks 1 to 3 ("*"were pruned"*) echo "  restored pruned trail verifies: $got" ;;
  *) fail "the restored pruned trail does not verify: $got" ;;
esac
