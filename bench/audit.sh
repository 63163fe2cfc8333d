#!/usr/bin/env bash
# Audit benchmark (README, Benchmarks): pgbench single-row UPDATE, 4 clients, on the same table shape
# unaudited, with the seed's PL/pgSQL to_jsonb trigger, with ge_security's native trigger and, where
# installed, with pgaudit's session audit of writes (pgaudit.log = 'write', its lines going to the
# server log as in a default setup); synchronous_commit off and on; then audit_verify() against a plain SHA-256 scan of the same
# rows. Prints a table of ratios. BENCH_SECONDS, BENCH_ROUNDS.
# BENCH_FLOOR=1 adds a fourth table, floor_accounts, for a build with bench/audit_floor.patch
# applied: its audit rows carry no row data, which measures the floor of any trigger that writes
# one row per change (README, Benchmarks).
# BENCH_V1=1 adds v1_accounts, audited natively with ge_security.row_encoding = 1 (the 0.1.0
# row hash), to price encoding v2's per-value digests in the same run (target: v2 >= 0.95 v1).
# BENCH_STAGES=1, on a build with bench/audit_stages.patch applied, adds unbatched_accounts,
# audited natively with each audit row written at once as before batching
# (ge_security_bench.stage = unbatched): whether buffering costs single-row statements anything.
# This VM drifts by ±20 % from minute to minute, so each round runs the three variants back to
# back (order rotating) and a ratio is the median of the per-round ratios. Every run starts
# from the same state: its table vacuumed and a CHECKPOINT taken (autovacuum is off, so
# neither lands inside one variant's run only).
set -euo pipefail
source "$(dirname "$0")/../pg_test/cluster.sh"
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-5}
scratch_dir bench
port=54396
preload=()
pg_has_pgaudit && preload=("shared_preload_libraries = 'ge_security,pgaudit'")
cluster_create "$dir" "$port" "fsync = on" "shared_buffers = 512MB" "max_wal_size = 4GB" \
  "checkpoint_timeout = 30min" "autovacuum = off" "${preload[@]}"
cluster_start "$dir"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }

q -v seed_audit="$(cd "$(dirname "$0")" && pwd)/seed_audit.sql" >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE plain_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
INSERT INTO plain_accounts SELECT g, 1, 0, '' FROM generate_series(1, 100000) g;
CREATE TABLE plpgsql_accounts (LIKE plain_accounts INCLUDING ALL);
INSERT INTO plpgsql_accounts SELECT * FROM plain_accounts;
CREATE TABLE native_accounts (LIKE plain_accounts INCLUDING ALL);
INSERT INTO native_accounts SELECT * FROM plain_accounts;
\i :seed_audit
CREATE TRIGGER seed_audit AFTER INSERT OR UPDATE OR DELETE ON plpgsql_accounts FOR EACH ROW EXECUTE FUNCTION seed_audit();
SELECT ge_security.enable_audit('native_accounts');
CREATE TABLE floor_accounts (LIKE plain_accounts INCLUDING ALL);
INSERT INTO floor_accounts SELECT * FROM plain_accounts;
SELECT ge_security.enable_audit('floor_accounts');
CREATE TABLE pgaudit_accounts (LIKE plain_accounts INCLUDING ALL);
INSERT INTO pgaudit_accounts SELECT * FROM plain_accounts;
CREATE TABLE v1_accounts (LIKE plain_accounts INCLUDING ALL);
INSERT INTO v1_accounts SELECT * FROM plain_accounts;
SELECT ge_security.enable_audit('v1_accounts');
CREATE TABLE unbatched_accounts (LIKE plain_accounts INCLUDING ALL);
INSERT INTO unbatched_accounts SELECT * FROM plain_accounts;
SELECT ge_security.enable_audit('unbatched_accounts');
VACUUM ANALYZE;
SQL
variants=(plain plpgsql native)
pg_has_pgaudit && variants+=(pgaudit)
[ "${BENCH_FLOOR:-0}" = 1 ] && variants+=(floor)
[ "${BENCH_V1:-0}" = 1 ] && variants+=(v1)
if [ "${BENCH_STAGES:-0}" = 1 ]; then
  # a build without the patch writes an audit row however the stage is set
  q -c "SET ge_security_bench.stage = noop" -c "UPDATE unbatched_accounts SET abalance = abalance WHERE aid = 1"
  if [ "$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE table_name = 'public.unbatched_accounts' AND op = 'UPDATE'")" != 0 ]; then
    echo "BENCH_STAGES=1 needs a build with bench/audit_stages.patch applied" >&2
    exit 1
  fi
  variants+=(unbatched)
fi
for v in "${variants[@]}"; do
  printf '\\set aid random(1, 100000)\nUPDATE %s_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n' "$v" >"$dir/$v.sql"
done
chown postgres: "$dir"/*.sql

# every client names its actor, as an application would; each trigger records it in its own
# setting (the seed's column is NOT NULL)
actor="-c app.current_actor=bench-app -c app.current_user=bench-app"
tps() { # variant sync -> tps
  local audit=""
  [ "$1" = pgaudit ] && audit="-c pgaudit.log=write"
  q -c "VACUUM $1_accounts" -c "CHECKPOINT" >/dev/null
  local encoding=""
  [ "$1" = v1 ] && encoding="-c ge_security.row_encoding=1"
  [ "$1" = unbatched ] && encoding="-c ge_security_bench.stage=unbatched"
  as_postgres env -u RUST_BACKTRACE PGOPTIONS="-c synchronous_commit=$2 $actor $audit $encoding" "$PG_BIN/pgbench" -h "$dir" \
    -p "$port" -n -c 4 -j 2 -T "$SECONDS_PER_RUN" -f "$dir/$1.sql" postgres 2>/dev/null \
    | awk '/^tps = / {print $3}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# a sealer running throughout in one session, as the worker would (every 1 s); each call
# returns how many rows it sealed, i.e. the unsealed tail it found
( while [ ! -e "$dir/stop_sealer" ]; do echo "SELECT ge_security.audit_seal();"; sleep 1; done ) \
  | cluster_psql "$dir" "$port" postgres -qtA >"$dir/backlog.txt" 2>/dev/null &
sealer=$!

declare -A tps_of
for round in $(seq 1 "$ROUNDS"); do
  for sync in off on; do
    for k in "${!variants[@]}"; do
      v=${variants[$(((round + k) % ${#variants[@]}))]}
      tps_of[$v.$sync.$round]=$(tps "$v" "$sync")
    done
  done
done
touch "$dir/stop_sealer"; wait $sealer 2>/dev/null || true
q -c "SELECT ge_security.audit_seal()" >/dev/null

# per_round SYNC EXPR: EXPR of u (unaudited), p (PL/pgSQL), n (native), g (pgaudit), f (floor), o
# (native hashing under v1), b (native unbatched) tps in each round
per_round() {
  for round in $(seq 1 "$ROUNDS"); do
    awk -v u="${tps_of[plain.$1.$round]}" -v p="${tps_of[plpgsql.$1.$round]}" \
      -v n="${tps_of[native.$1.$round]}" -v g="${tps_of[pgaudit.$1.$round]:-0}" \
      -v f="${tps_of[floor.$1.$round]:-0}" -v o="${tps_of[v1.$1.$round]:-0}" \
      -v b="${tps_of[unbatched.$1.$round]:-0}" \
      "BEGIN {printf \"%.4f\\n\", $2}"
  done | median
}
row() { # label expression [note]
  printf '%-28s %12.2f %12.2f  %s\n' "$1" "$(per_round off "$2")" "$(per_round on "$2")" "${3:-}"
}
printf '\n%-28s %12s %12s\n' "audit trigger (4 clients)" "sync off" "sync on"
for v in "${variants[@]}"; do
  printf '%-28s %12.0f %12.0f  tps (median of %s rounds of %s s)\n' "$v" \
    "$(for r in $(seq 1 "$ROUNDS"); do echo "${tps_of[$v.off.$r]}"; done | median)" \
    "$(for r in $(seq 1 "$ROUNDS"); do echo "${tps_of[$v.on.$r]}"; done | median)" "$ROUNDS" "$SECONDS_PER_RUN"
done
echo "ratios: median over rounds of the ratio within each round"
row "native / unaudited" "n / u" "target: not lower than the release before (README)"
row "native / PL/pgSQL" "n / p" "target >= 1.0"
row "plpgsql / unaudited" "p / u"
# What a trigger adds to a transaction is 1/tps minus the unaudited 1/tps, a ratio that depends
# less on how fast this machine runs the unaudited statement. A free trigger reaches
# unaudited/PL/pgSQL: the ceiling of native/PL/pgSQL here.
row "added time, native / PL" "(1/n - 1/u) / (1/p - 1/u)" "below 1: native adds less than PL/pgSQL"
row "ceiling here" "u / p" "native / PL/pgSQL of a zero-cost trigger"
if pg_has_pgaudit; then
  row "pgaudit / unaudited" "g / u" "pgaudit.log = 'write': a log line per statement, no row data, no chain"
  row "native / pgaudit" "n / g"
  logged=$(grep -c "AUDIT: SESSION,.*pgaudit_accounts" "$dir/server.log" || true)
  if [ "$logged" = 0 ]; then
    echo "pgaudit wrote no audit line for pgaudit_accounts: its column would measure nothing" >&2
    exit 1
  fi
fi
if [ "${BENCH_FLOOR:-0}" = 1 ]; then
  with_rows=$(q -c "SELECT count(*) FROM ge_security.audit_log
                    WHERE table_name = 'public.floor_accounts' AND old_row IS NOT NULL")
  if [ "$with_rows" != 0 ]; then
    echo "BENCH_FLOOR=1 needs a build with bench/audit_floor.patch applied (floor rows carry row data)" >&2
    exit 1
  fi
  row "floor / unaudited" "f / u" "an audit row without row data: no trigger that writes a row beats it"
  row "floor / PL/pgSQL" "f / p"
  row "native / floor" "n / f"
fi
if [ "${BENCH_V1:-0}" = 1 ]; then
  row "native v2 / native v1" "n / o" "per-value digests: target >= 0.95"
fi
if [ "${BENCH_STAGES:-0}" = 1 ]; then
  row "native batched / unbatched" "n / b" "buffering a single-row statement's row: target >= 1.0, within noise"
fi
med_native_off=$(for r in $(seq 1 "$ROUNDS"); do echo "${tps_of[native.off.$r]}"; done | median)
max_backlog=$(sort -g "$dir/backlog.txt" | tail -1)
native_total=$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE table_name = 'public.native_accounts' AND op = 'UPDATE'")
committed=$(q -c "SELECT sum(abalance) FROM native_accounts")
printf '%-28s %12s rows = %s s of writes at the native sync-off rate (target < 2 s)\n' \
  "max unsealed backlog" "$max_backlog" "$(awk -v b="$max_backlog" -v t="$med_native_off" 'BEGIN {printf "%.2f", b / t}')"
printf '%-28s %12s audit rows for %s committed updates\n' "audit rows = writes" "$native_total" "$committed"
seed_total=$(q -c "SELECT count(*) FROM seed_audit_log")
seed_committed=$(q -c "SELECT sum(abalance) FROM plpgsql_accounts")
printf '%-28s %12s rows for %s committed updates\n' "seed trigger rows = writes" "$seed_total" "$seed_committed"

# verification against the floor of reading and hashing the same rows
time_ms() { q -c "\\timing on" -c "$1" | awk '/^Time:/ {print $2}'; }
verify_ms=""; scan_ms=""
for _ in 1 2 3; do
  verify_ms+="$(time_ms "SELECT count(*) FROM ge_security.audit_verify()") "
  scan_ms+="$(time_ms "SELECT count(sha256(convert_to(t::text, 'UTF8'))) FROM ge_security.audit_log t") "
done
v=$(echo "$verify_ms" | tr ' ' '\n' | grep . | median); s=$(echo "$scan_ms" | tr ' ' '\n' | grep . | median)
printf '%-28s %12.0f ms  (%s rows)\n' "audit_verify()" "$v" "$(q -c "SELECT count(*) FROM ge_security.audit_log")"
printf '%-28s %12.0f ms\n' "sha256 scan" "$s"
printf '%-28s %12s  target <= 1.5\n' "verify / sha256 scan" "$(ratio "$v" "$s")"
clean=$(q -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
printf '%-28s %12s\n' "audit_verify() after load" "$clean"
[ "$native_total" = "$committed" ] && [ "$seed_total" = "$seed_committed" ] && [ "$clean" = ok ]
