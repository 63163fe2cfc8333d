#!/usr/bin/env bash
# Bulk audit benchmark (README, Benchmarks): one UPDATE of every row of a 200,000-row table and
# one INSERT ... SELECT of 200,000 rows, on the same table shape unaudited, with the seed's
# PL/pgSQL to_jsonb trigger (as in bench/audit.sh) and with ge_security's native trigger, whose
# rows are written in batches; synchronous_commit off. BENCH_ROUNDS, BENCH_ROWS.
# BENCH_V1=1 adds the native trigger hashing under ge_security.row_encoding = 1 (the 0.1.0 row
# hash), to price encoding v2's per-value digests in the same run (target: v2 <= 1.05 v1).
# Each round runs the three variants back to back (order rotating) and a ratio is the median
# of the per-round ratios. Every run starts from the same state: its table vacuumed and a
# CHECKPOINT taken (autovacuum is off); the INSERT's target is emptied after each run.
# The write floor: after each round, the audit rows the native trigger just wrote for one
# statement are copied by plain SQL into a table shaped like audit_log (same indexes). The
# statement's time plus that copy is what any row trigger writing the same rows would cost if
# building them were free: the best native / PL/pgSQL any such trigger can reach here.
# BENCH_STAGES=1, on a build with bench/audit_stages.patch applied, adds five runs of the native
# trigger on its own tables that stop part way (the setting ge_security_bench.stage): called and
# returning at once, after building the images, after reading who and when, after forming and
# hashing the tuples without inserting them, and writing each row at once as before batching.
# Their differences are what each part of an audited row costs in the statement (the per-row
# cost split), and called-and-returning plus the insert is the floor measured in situ.
set -euo pipefail
source "$(dirname "$0")/../pg_test/cluster.sh"
ROUNDS=${BENCH_ROUNDS:-5}
ROWS=${BENCH_ROWS:-200000}
scratch_dir bulkbench
port=54379
cluster_create "$dir" "$port" "fsync = on" "shared_buffers = 1GB" "max_wal_size = 8GB" \
  "checkpoint_timeout = 30min" "autovacuum = off" "synchronous_commit = off"
cluster_start "$dir"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }

q -v seed_audit="$(cd "$(dirname "$0")" && pwd)/seed_audit.sql" >/dev/null 2>&1 <<SQL
CREATE EXTENSION ge_security;
CREATE TABLE source (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
INSERT INTO source SELECT g, 1, 0, '' FROM generate_series(1, $ROWS) g;
CREATE TABLE plain_accounts (LIKE source INCLUDING ALL);
CREATE TABLE plpgsql_accounts (LIKE source INCLUDING ALL);
CREATE TABLE native_accounts (LIKE source INCLUDING ALL);
CREATE TABLE plain_inserts (LIKE source INCLUDING ALL);
CREATE TABLE plpgsql_inserts (LIKE source INCLUDING ALL);
CREATE TABLE native_inserts (LIKE source INCLUDING ALL);
CREATE TABLE floor_log (LIKE ge_security.audit_log INCLUDING ALL);
CREATE TABLE v1_accounts (LIKE source INCLUDING ALL);
CREATE TABLE v1_inserts (LIKE source INCLUDING ALL);
INSERT INTO v1_accounts SELECT * FROM source;
INSERT INTO plain_accounts SELECT * FROM source;
INSERT INTO plpgsql_accounts SELECT * FROM source;
INSERT INTO native_accounts SELECT * FROM source;
\\i :seed_audit
CREATE TRIGGER seed_audit AFTER INSERT OR UPDATE OR DELETE ON plpgsql_accounts FOR EACH ROW EXECUTE FUNCTION seed_audit();
CREATE TRIGGER seed_audit AFTER INSERT OR UPDATE OR DELETE ON plpgsql_inserts FOR EACH ROW EXECUTE FUNCTION seed_audit();
SELECT ge_security.enable_audit('native_accounts');
SELECT ge_security.enable_audit('native_inserts');
SELECT ge_security.enable_audit('v1_accounts');
SELECT ge_security.enable_audit('v1_inserts');
VACUUM ANALYZE;
SQL

settings="SELECT set_config('app.current_actor', 'bench-app', false), set_config('app.current_user', 'bench-app', false)"
stages=(noop images prepared noinsert unbatched)
table_of() { # variant -> the tables' prefix (stage runs use the native trigger's tables)
  case " ${stages[*]} " in *" $1 "*) echo native ;; *) echo "$1" ;; esac
}
ms() { # variant statement -> milliseconds
  local encoding="SELECT 1"
  [ "$1" = v1 ] && encoding="SET ge_security.row_encoding = 1"
  [ "$(table_of "$1")" != "$1" ] && encoding="SET ge_security_bench.stage = $1"
  q -c "\\timing on" -c "$settings" -c "$encoding" -c "$2" | awk '/^Time:/ {t = $2} END {print t}'
}
update_ms() {
  local t; t=$(table_of "$1")
  q -c "VACUUM ${t}_accounts" -c "CHECKPOINT" >/dev/null
  ms "$1" "UPDATE ${t}_accounts SET abalance = abalance + 1"
}
insert_ms() {
  local t; t=$(table_of "$1")
  q -c "VACUUM ${t}_inserts" -c "CHECKPOINT" >/dev/null
  ms "$1" "INSERT INTO ${t}_inserts SELECT * FROM source"
  q -c "TRUNCATE ${t}_inserts" >/dev/null
}
floor_ms() { # the last $ROWS audit rows copied into floor_log
  q -c "VACUUM floor_log" -c "CHECKPOINT" >/dev/null
  ms floor "INSERT INTO floor_log SELECT * FROM ge_security.audit_log
      WHERE id > (SELECT max(id) FROM ge_security.audit_log) - $ROWS"
  q -c "TRUNCATE floor_log" >/dev/null
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

variants=(plain plpgsql native)
[ "${BENCH_V1:-0}" = 1 ] && variants+=(v1)
if [ "${BENCH_STAGES:-0}" = 1 ]; then
  # a build without the patch writes an audit row however the stage is set
  before=$(q -c "SELECT count(*) FROM ge_security.audit_log")
  q -c "SET ge_security_bench.stage = noop" -c "UPDATE native_accounts SET abalance = abalance WHERE aid = 1"
  if [ "$(q -c "SELECT count(*) FROM ge_security.audit_log")" != "$before" ]; then
    echo "BENCH_STAGES=1 needs a build with bench/audit_stages.patch applied" >&2
    exit 1
  fi
  variants+=("${stages[@]}")
fi
declare -A ms_of
for round in $(seq 1 "$ROUNDS"); do
  for statement in update insert; do
    for k in "${!variants[@]}"; do
      v=${variants[$(((round + k) % ${#variants[@]}))]}
      ms_of[$v.$statement.$round]=$("${statement}_ms" "$v")
      if [ "$v" = native ]; then ms_of[floor.$statement.$round]=$(floor_ms); fi
    done
  done
done

# per_round STATEMENT EXPR: median over rounds of EXPR of u (unaudited), p (PL/pgSQL) and
# n (native) milliseconds in each round, f, the copy of native's rows (the write floor), o (v1)
# and the stages: z (noop), i (images), r (prepared), x (noinsert), b (unbatched)
per_round() {
  for round in $(seq 1 "$ROUNDS"); do
    awk -v u="${ms_of[plain.$1.$round]}" -v p="${ms_of[plpgsql.$1.$round]}" \
      -v n="${ms_of[native.$1.$round]}" -v f="${ms_of[floor.$1.$round]}" -v o="${ms_of[v1.$1.$round]:-0}" \
      -v z="${ms_of[noop.$1.$round]:-0}" -v i="${ms_of[images.$1.$round]:-0}" \
      -v r="${ms_of[prepared.$1.$round]:-0}" -v x="${ms_of[noinsert.$1.$round]:-0}" \
      -v b="${ms_of[unbatched.$1.$round]:-0}" -v rows="$ROWS" \
      "BEGIN {printf \"%.4f\\n\", $2}"
  done | median
}
printf '\n%-30s %14s %14s\n' "bulk statement, $ROWS rows" "UPDATE all" "INSERT…SELECT"
for v in "${variants[@]}"; do
  printf '%-30s %11.0f ms %11.0f ms  (median of %s rounds)\n' "$v" \
    "$(for r in $(seq 1 "$ROUNDS"); do echo "${ms_of[$v.update.$r]}"; done | median)" \
    "$(for r in $(seq 1 "$ROUNDS"); do echo "${ms_of[$v.insert.$r]}"; done | median)" "$ROUNDS"
done
echo "ratios of times: median over rounds of the ratio within each round"
row() { printf '%-30s %14.2f %14.2f  %s\n' "$1" "$(per_round update "$2")" "$(per_round insert "$2")" "${3:-}"; }
row "native / PL/pgSQL" "n / p" "target <= 0.50 (both)"
row "native / unaudited" "n / u" "target <= 2.50 (UPDATE)"
row "PL/pgSQL / unaudited" "p / u"
row "write floor / PL/pgSQL" "(u + f) / p" "unaudited + copying the same audit rows: no row trigger beats it"
row "native / write floor" "n / (u + f)" "what building and firing add over the floor"
[ "${BENCH_V1:-0}" = 1 ] && row "native v2 / native v1" "n / o" "per-value digests: target <= 1.05"
if [ "${BENCH_STAGES:-0}" = 1 ]; then
  echo "per audited row, microseconds (differences of stage runs, median over rounds)"
  row "  the statement, unaudited" "u * 1000 / rows"
  row "  AFTER-trigger queue + call" "(z - u) * 1000 / rows" "any row trigger pays it (PL/pgSQL too)"
  row "  key, images, changed cols" "(i - z) * 1000 / rows"
  row "  who/when, batch copy" "(r - i) * 1000 / rows"
  row "  hash + form tuples" "(x - r) * 1000 / rows" "encoding v2: per-value and image digests, row hash"
  row "  heap + index insert, WAL" "(n - x) * 1000 / rows" "batched"
  row "  ... the same unbatched" "(b - x) * 1000 / rows" "one insert per row, as before batching"
  row "  PL/pgSQL trigger in all" "(p - u) * 1000 / rows"
  row "in-situ floor / PL/pgSQL" "(z + n - x) / p" "queue + call + insert: a trigger whose rows cost nothing to build"
  row "in-situ floor / unaudited" "(z + n - x) / u"
  row "native unbatched / batched" "b / n"
fi

# every change audited once, and the trail verifies
native_rows=$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE op IN ('UPDATE', 'INSERT')")
audited=1
[ "${BENCH_V1:-0}" = 1 ] && audited=$((audited + 1))
[ "${BENCH_STAGES:-0}" = 1 ] && audited=$((audited + 1))
expected=$((2 * ROUNDS * ROWS * audited))
q -c "SELECT ge_security.audit_seal()" >/dev/null
clean=$(q -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
printf '%-30s %14s of %s changes\n' "native audit rows" "$native_rows" "$expected"
printf '%-30s %14s\n' "audit_verify() after load" "$clean"
[ "$native_rows" = "$expected" ] && [ "$clean" = ok ]
