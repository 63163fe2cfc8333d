#!/usr/bin/env bash
# Runs every scenario script in pg_test/scenarios/ (each starts and stops its own clusters).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0
# SCENARIOS="worker_seals tls_files" runs only those (a quicker loop while developing).
for scenario in "$here"/scenarios/*.sh; do
  name=$(basename "$scenario" .sh)
  if [ -n "${SCENARIOS:-}" ] && [[ " $SCENARIOS " != *" $name "* ]]; then continue; fi
  started=$SECONDS
  if bash "$scenario"; then
    echo "scenario $name: ok ($((SECONDS - started)) s)"; passed=$((passed + 1))
  else
    echo "scenario $name: FAILED ($((SECONDS - started)) s)"; failed=$((failed + 1))
  fi
done
echo "scenarios: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
