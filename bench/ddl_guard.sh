#!/usr/bin/env bash
# DDL guard cost: the ProcessUtility hook runs on every utility statement. Two clusters in one run,
# alternating rounds, medians of per-round ratios: one with ge_security preloaded and installed
# in the benchmark database (the guard classifies every statement), one without the library.
# Workloads (pgbench, 1 client): 10,000 CREATE TEMP TABLE / DROP pairs (classified, not recorded)
# and 2,000 GRANT / REVOKE pairs (recorded as two DDL rows each where the guard runs).
set -euo pipefail
source "$(dirname "$0")/../pg_test/cluster.sh"
ROUNDS=${BENCH_ROUNDS:-5}
scratch_dir bench_ddl
port_on=54376 port_off=54377
cluster_create "$dir/on" "$port_on"
cluster_create "$dir/off" "$port_off" "shared_preload_libraries = ''"
cluster_start "$dir/on"
cluster_start "$dir/off"
for c in on off; do
  port=port_$c
  cluster_psql "$dir/$c" "${!port}" postgres -q -c "CREATE ROLE bench_reader NOLOGIN" -c "CREATE TABLE t (id int)" >/dev/null
done
cluster_psql "$dir/on" "$port_on" postgres -q -c "CREATE EXTENSION ge_security" >/dev/null
cat >"$dir/temp.sql" <<'SQL'
CREATE TEMP TABLE bench_tmp (id int);
DROP TABLE bench_tmp;
SQL
cat >"$dir/grant.sql" <<'SQL'
GRANT SELECT ON t TO bench_reader;
REVOKE SELECT ON t FROM bench_reader;
SQL
chown postgres: "$dir"/*.sql
seconds() { # seconds CLUSTER SCRIPT TRANSACTIONS
  local c=$1 port=port_$1 start end
  start=$(date +%s.%N)
  as_postgres "$PG_BIN/pgbench" -n -h "$dir/$c" -p "${!port}" -c 1 -t "$3" -f "$dir/$2" postgres >"$dir/pgbench.log" 2>&1 || { cat "$dir/pgbench.log" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A ratios times
for workload in temp:10000 grant:2000; do
  name=${workload%%:*} n=${workload##*:}
  r=""; ton=""; toff=""
  for i in $(seq 1 "$ROUNDS"); do
    if [ $((i % 2)) = 1 ]; then a=$(seconds on "$name.sql" "$n"); b=$(seconds off "$name.sql" "$n")
    else b=$(seconds off "$name.sql" "$n"); a=$(seconds on "$name.sql" "$n"); fi
    r+="$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.4f", a / b}') "; ton+="$a "; toff+="$b "
  done
  ratios[$name]=$(echo "$r" | tr ' ' '\n' | grep . | median)
  times[$name]="$(echo "$toff" | tr ' ' '\n' | grep . | median) $(echo "$ton" | tr ' ' '\n' | grep . | median)"
done
rows=$(cluster_psql "$dir/on" "$port_on" postgres -qtA -c "SELECT count(*) FROM ge_security.audit_log WHERE op = 'DDL'")
printf '\n%-44s %10s %10s %12s\n' "workload (median of $ROUNDS rounds)" "off s" "guard s" "guard/off"
read -r off on <<<"${times[temp]}"
printf '%-44s %10.2f %10.2f %12.3f\n' "10,000 CREATE TEMP TABLE + DROP pairs" "$off" "$on" "${ratios[temp]}"
read -r off on <<<"${times[grant]}"
printf '%-44s %10.2f %10.2f %12.3f\n' "2,000 GRANT + REVOKE pairs (recorded)" "$off" "$on" "${ratios[grant]}"
printf '%-44s %10s\n' "DDL rows written by the guard" "$rows"
