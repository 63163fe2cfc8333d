#!/usr/bin/env bash
# Runs the pg_regress suite of pg_test/ against a fresh cluster with ge_security preloaded.
# UPDATE_EXPECTED=1 copies the results over expected/ for review (never commit unread); UPDATE_ONLY
# names the files to copy when not all that ran.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cluster.sh"
scratch_dir regress
port=${REGRESS_PORT:-54391}
cluster_create "$dir/cluster" "$port" "ge_security.keyring_path = '$dir/cluster/keyring'" \
  "ge_security.active_key_id = 1"
# two random keys, readable by the server's OS user only
{ echo "# regress keyring"; echo "1:$(openssl rand -hex 32)"; echo "2:$(openssl rand -hex 32)"; } \
  >"$dir/cluster/keyring"
chown postgres: "$dir/cluster/keyring"
chmod 600 "$dir/cluster/keyring"
cluster_harden "$dir/cluster"
cluster_start "$dir/cluster"

work="$dir/suite"
mkdir -p "$work"
cp -r "$here/sql" "$here/expected" "$work/"
# 22_docs_checks compares the check table of this page with checks()
cp "$here/../docs/sql_reference.md" "$work/"
chown -R postgres: "$dir"
regress="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
# REGRESS_TESTS="07_crypto 15_x" runs only those files (a quicker loop while developing).
tests=${REGRESS_TESTS:-$(cd "$here/sql" && ls ./*.sql | sed 's|^\./||; s|\.sql$||' | sort)}
cluster_psql "$dir/cluster" "$port" postgres -q -c "CREATE DATABASE contrib_regression" \
  -c "REVOKE CONNECT, TEMPORARY ON DATABASE contrib_regression FROM PUBLIC"
status=0
as_postgres "$regress" --use-existing --bindir="$PG_BIN" --host="$dir/cluster" --port="$port" \
  --inputdir="$work" --outputdir="$work" --dbname=contrib_regression $tests || status=$?
if [ $status -ne 0 ]; then
  cat "$work/regression.diffs" 2>/dev/null || true
fi
if [ "${UPDATE_EXPECTED:-0}" = 1 ]; then
  for t in ${UPDATE_ONLY:-$tests}; do cp "$work/results/$t.out" "$here/expected/"; done
  echo "expected/ updated from results: review the diff before committing"
elif [ $status -ne 0 ]; then
  tail -50 "$dir/cluster/server.log" "$dir"/cluster/data/log/* 2>/dev/null || true
fi
exit $status
