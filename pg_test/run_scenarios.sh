#!/usr/bin/env bash
# Runs every scenario script in pg_test/scenarios/ (each starts and stops its own clusters),
# SCENARIO_JOBS at a time (default 2); a scenario marked "# scenario: exclusive" runs alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
jobs=${SCENARIO_JOBS:-2}
logs=$(mktemp -d /tmp/ge_security_scenario_logs.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logs"' EXIT
passed=0 failed=0
declare -A started_at=() name_of=()

# Each scenario's clusters live in a scratch directory of their own and listen on a unix socket
# there (those that use TCP have ports of their own), so scenarios can overlap. Those that
# replace the installed extension files (a package, an older release) must not: they say so
# with the marker line and run after the others, one by one.
pooled=() exclusive=()
# SCENARIOS="worker_seals tls_files" runs only those (a quicker loop while developing).
for scenario in "$here"/scenarios/*.sh; do
  name=$(basename "$scenario" .sh)
  if [ -n "${SCENARIOS:-}" ] && [[ " $SCENARIOS " != *" $name "* ]]; then continue; fi
  if grep -qx "# scenario: exclusive" "$scenario"; then exclusive+=("$name"); else pooled+=("$name"); fi
done

report() { # NAME STATUS: print the scenario's output and its verdict
  local name=$1 status=$2 took=$((SECONDS - started_at[$1]))
  cat "$logs/$name.log"
  if [ "$status" -eq 0 ]; then
    echo "scenario $name: ok ($took s)"; passed=$((passed + 1))
  else
    echo "scenario $name: FAILED ($took s)"; failed=$((failed + 1))
  fi
}

start() { # NAME: run it in the background, its output kept for report
  started_at[$1]=$SECONDS
  bash "$here/scenarios/$1.sh" >"$logs/$1.log" 2>&1 &
  name_of[$!]=$1
}

wait_one() { # wait for any running scenario and report it
  local pid status=0
  wait -n -p pid || status=$?
  report "${name_of[$pid]}" "$status"
  unset "name_of[$pid]"
}

for name in ${pooled[@]+"${pooled[@]}"}; do
  while [ "${#name_of[@]}" -ge "$jobs" ]; do wait_one; done
  start "$name"
done
while [ "${#name_of[@]}" -gt 0 ]; do wait_one; done
for name in ${exclusive[@]+"${exclusive[@]}"}; do
  start "$name"
  wait_one
done

echo "scenarios: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
