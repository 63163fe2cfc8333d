#!/usr/bin/env bash
# Backup evidence from a real archiver: a failing archive_command raises archive_failing, a
# segment that has waited for hours raises archive_stale (not_assessed without pg_monitor),
# and once archiving works again neither fires.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir archive
port=54381
mkdir -p "$dir/archive" && chown postgres: "$dir/archive"
cluster_create "$dir/c" $port "archive_mode = on" "archive_command = 'exit 1'"
cluster_start "$dir/c"
sql() { cluster_psql "$dir/c" $port postgres -qtA "$@"; }
sql -c "CREATE EXTENSION ge_security" -c "CREATE ROLE plain_auditor LOGIN IN ROLE ge_security_auditor" >/dev/null

archive_findings() { # ROLE: the archive check ids that fire, as id:status
  cluster_psql "$dir/c" $port postgres -qtA -c "SET ROLE $1" -c "SELECT check_id || ':' || status
    FROM ge_security.assess() WHERE check_id ~ '^archive_' ORDER BY 1" | tr '\n' ' '
}
expect() { # CASE ROLE EXPECTED
  local got
  got=$(archive_findings "$2")
  [ "$got" = "$3" ] || { echo "$1: expected '$3', got '$got'"; exit 1; }
  echo "  $1: ${3:-nothing}"
}
wait_for() { # SQL condition, up to 60 s
  for _ in $(seq 60); do [ "$(sql -c "SELECT ($1)")" = t ] && return 0; sleep 1; done
  echo "timed out waiting for: $1"; exit 1
}

sql -c "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g" -c "SELECT pg_switch_wal()" >/dev/null
wait_for "(SELECT failed_count > 0 FROM pg_stat_archiver)"
expect "archive_command fails" postgres "archive_failing:fail "

touch -d '2 hours ago' "$dir/c/data/pg_wal/archive_status/"*.ready
expect "a segment has waited two hours" postgres "archive_failing:fail archive_stale:fail "
expect "the same, seen without pg_monitor" plain_auditor "archive_failing:fail archive_stale:not_assessed "

sql -c "ALTER SYSTEM SET archive_command = 'cp %p $dir/archive/%f'" -c "SELECT pg_reload_conf()" >/dev/null
sql -c "SELECT pg_switch_wal()" >/dev/null
wait_for "(SELECT last_archived_time > last_failed_time FROM pg_stat_archiver)
          AND NOT EXISTS (SELECT 1 FROM pg_ls_archive_statusdir() WHERE name ~ '\.ready$')"
expect "archiving works again" postgres ""
