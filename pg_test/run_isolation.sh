#!/usr/bin/env bash
# Runs the isolation specs of pg_test/isolation (PostgreSQL's pg_isolation_regress) against a
# fresh cluster with ge_security preloaded: exact interleavings of audit writers and sealers.
# ISOLATION_TESTS="a b" runs only those specs; UPDATE_EXPECTED=1 copies the results over
# expected/ for review (never commit unread).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cluster.sh"
port=${ISOLATION_PORT:-54396}
cluster_scratch isolation "$port"

work="$dir/suite"
mkdir -p "$work"
cp -r "$here/isolation/specs" "$here/isolation/expected" "$work/"
chown -R postgres: "$dir"
isolation="$(dirname "$("${PG_CONFIG:-/usr/bin/pg_config}" --pgxs)")/../test/isolation/pg_isolation_regress"
tests=${ISOLATION_TESTS:-$(cd "$here/isolation/specs" && ls ./*.spec | sed 's|^\./||; s|\.spec$||' | sort)}
# two databases with the helpers of setup.sql: specs run in iso_main and reach iso_other
# through dblink (the isolation tester connects every session to one database)
for db in iso_main iso_other; do
  cluster_psql "$dir" "$port" postgres -q -c "CREATE DATABASE $db"
  cluster_psql "$dir" "$port" "$db" -q -f - <"$here/isolation/setup.sql"
done
status=0
as_postgres "$isolation" --use-existing --bindir="$PG_BIN" --host="$dir" --port="$port" \
  --inputdir="$work" --outputdir="$work" --dbname=iso_main $tests || status=$?
if [ $status -ne 0 ]; then
  cat "$work/regression.diffs" 2>/dev/null || true
fi
if [ "${UPDATE_EXPECTED:-0}" = 1 ]; then
  for t in $tests; do cp "$work/results/$t.out" "$here/isolation/expected/"; done
  echo "isolation/expected/ updated from results: review the diff before committing"
elif [ $status -ne 0 ]; then
  tail -50 "$dir/server.log" 2>/dev/null || true
fi
exit $status
