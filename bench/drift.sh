#!/usr/bin/env bash
# The worker's cost on the assess benchmark's database (10,000 tables, 2,000 roles, 5,000
# functions; its setup is read from bench/assess_scale.sh): CPU and wall time of one drift cycle
# (drift_check(): snapshot, comparison with the approved baseline, bookkeeping) and of
# approve_baseline(), against assess() in the same rounds (rotating order, ratios are medians of
# per-round ratios), then the CPU an idle worker uses per minute with the default intervals
# (seal every 1 s, drift every 60 s). Target: a drift cycle within 2x assess().
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../pg_test/cluster.sh"
TABLES=${BENCH_TABLES:-10000}
ROLES=${BENCH_ROLES:-2000}
FUNCTIONS=${BENCH_FUNCTIONS:-5000}
ROUNDS=${BENCH_ROUNDS:-5}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-180}
scratch_dir bench_drift
port=54510
cluster_create "$dir/c" "$port" "max_locks_per_transaction = 1024"
cluster_start "$dir/c"
q() { cluster_psql "$dir/c" "$port" postgres -qtA "$@"; }

# the assess benchmark's database, built by the very SQL of bench/assess_scale.sh
setup=$(awk '/^q >\/dev\/null <<SQL$/ {grab = 1; next} grab && /^SQL$/ {exit} grab {print}' "$here/assess_scale.sh")
[ -n "$setup" ] || { echo "could not read the setup of bench/assess_scale.sh"; exit 1; }
eval "cat <<SQL
$setup
SQL" | q >/dev/null
q -c "SELECT ge_security.approve_baseline('bench: initial posture')" >/dev/null
items=$(q -c "SELECT items FROM ge_security.baseline ORDER BY id DESC LIMIT 1")

# measure SQL: "cpu_ms wall_ms" of one statement in the backend that runs it (utime + stime
# from /proc/self/stat, in clock ticks)
ticks_ms=$(awk -v t="$(getconf CLK_TCK)" 'BEGIN {print 1000 / t}')
measure() {
  q <<SQL | tail -1
CREATE FUNCTION pg_temp.cpu_ticks() RETURNS bigint LANGUAGE sql AS
\$\$ SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
     FROM (SELECT pg_read_file('/proc/self/stat') AS s) x \$\$;
SELECT pg_temp.cpu_ticks() AS c0, clock_timestamp() AS t0 \gset
$1;
SELECT ((pg_temp.cpu_ticks() - :c0) * $ticks_ms)::int || ' ' ||
       round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000)::int;
SQL
}
declare -A cpu wall
kinds=(assess drift approve)
declare -A sql=(
  [assess]="SELECT count(*) FROM ge_security.assess()"
  [drift]="SELECT count(*) FROM ge_security.drift_check()"
  [approve]="SELECT ge_security.approve_baseline('bench round') IS NOT NULL"
)
q -c "VACUUM ANALYZE" >/dev/null
for kind in "${kinds[@]}"; do measure "${sql[$kind]}" >/dev/null; done   # warm-up
for round in $(seq 1 "$ROUNDS"); do
  for n in 0 1 2; do
    kind=${kinds[$(( (round + n) % 3 ))]}
    read -r c w < <(measure "${sql[$kind]}")
    cpu[$kind]+="$c "; wall[$kind]+="$w "
  done
done
events=$(q -c "SELECT count(*) FROM ge_security.drift_event")
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
ratios() {  # ratios KIND ARRAY: per-round ratio of KIND to assess
  local -n values=$2; local a=(${values[assess]}) b=(${values[$1]}) i out=""
  for i in "${!a[@]}"; do out+="$(awk -v x="${b[$i]}" -v y="${a[$i]}" 'BEGIN {printf "%.3f", x / (y > 0 ? y : 1)}') "; done
  echo "$out" | median
}

# the idle worker: default intervals, a baseline approved, nothing written
q -c "ALTER SYSTEM SET ge_security.databases = 'postgres'" -c "SELECT pg_reload_conf()" >/dev/null
pid=""
for _ in $(seq 1 60); do
  pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ge_security worker'")
  [ -n "$pid" ] && break; sleep 0.5
done
[ -n "$pid" ] || { echo "the worker did not start"; exit 1; }
sleep 15   # first seal, drift check and verification
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
t0=$(proc_ticks "$pid")
sleep "$IDLE_SECONDS"
t1=$(proc_ticks "$pid")
idle_ms_per_min=$(awk -v d=$((t1 - t0)) -v ms="$ticks_ms" -v s="$IDLE_SECONDS" 'BEGIN {printf "%.0f", d * ms * 60 / s}')
launcher=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ge_security launcher'")
launcher_ticks=$(proc_ticks "$launcher")

printf '\n%s tables, %s roles, %s functions; baseline of %s items; %s rounds (median)\n' \
  "$TABLES" "$ROLES" "$FUNCTIONS" "$items" "$ROUNDS"
printf '%-44s %10s %10s\n' "" "CPU ms" "wall ms"
for kind in assess drift approve; do
  label=$([ "$kind" = assess ] && echo "assess()" || { [ "$kind" = drift ] && echo "drift cycle (drift_check())" || echo "approve_baseline()"; })
  printf '%-44s %10s %10s\n' "$label" "$(echo "${cpu[$kind]}" | median)" "$(echo "${wall[$kind]}" | median)"
done
drift_ratio=$(ratios drift wall)
printf '%-44s %10s %10s  (target <= 2)\n' "drift cycle / assess()" "$(ratios drift cpu)" "$drift_ratio"
printf '%-44s %10s %10s\n' "approve_baseline() / assess()" "$(ratios approve cpu)" "$(ratios approve wall)"
drift_cpu=$(echo "${cpu[drift]}" | median)
printf '%-44s %10s\n' "idle worker, CPU ms per minute" "$idle_ms_per_min"
printf '%-44s %10s\n' "  one drift cycle a minute (median above)" "$drift_cpu"
printf '%-44s %10s\n' "  the rest: 60 seal cycles and waiting" "$(awk -v a="$idle_ms_per_min" -v b="$drift_cpu" 'BEGIN {r = a - b; printf "%.0f", r < 0 ? 0 : r}')"
printf '%-44s %10s\n' "launcher, CPU ms since start" "$(awk -v d="$launcher_ticks" -v ms="$ticks_ms" 'BEGIN {printf "%.0f", d * ms}')"
printf '%-44s %10s\n' "drift events recorded (expected 0)" "$events"
awk -v r="$drift_ratio" 'BEGIN {exit !(r <= 2)}'
