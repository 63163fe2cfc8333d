#!/usr/bin/env bash
# Bounded memory for a huge audited statement: one INSERT ... SELECT of AUDIT_MEMORY_ROWS rows
# (1 million in `make test`, to keep the suite short; the closing figures use 10 million) into
# an audited table. While it runs, its backend's memory contexts are logged every half second
# (pg_log_backend_memory_contexts) and its private memory read from /proc (RssAnon, which holds
# what the extension allocates outside PostgreSQL's contexts too). The context the trigger
# buffers audit rows in must stay within a few flush chunks (8 MB each) in every sample, the
# backend's private memory within a fixed margin above PostgreSQL's own AFTER-trigger queue
# (which every row trigger needs, 12 bytes a row), and every row must be audited.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
ROWS=${AUDIT_MEMORY_ROWS:-1000000}
scratch_dir batchmemory
port=54398
cluster_create "$dir" "$port" "synchronous_commit = off" "max_wal_size = 16GB" \
  "checkpoint_timeout = 30min" "autovacuum = off" "log_min_messages = log"
cluster_start "$dir"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }

q >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE readings (id int PRIMARY KEY, value int NOT NULL);
SELECT ge_security.enable_audit('readings');
SQL

q -c "SET application_name = 'bulk_writer'" \
  -c "INSERT INTO readings SELECT g, g % 97 FROM generate_series(1, $ROWS) g" >"$dir/insert.log" 2>&1 &
writer=$!
pid=""
for _ in $(seq 1 50); do
  pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bulk_writer' AND state = 'active'")
  [ -n "$pid" ] && break
  sleep 0.1
done
[ -n "$pid" ] || { echo "the bulk INSERT never started"; cat "$dir/insert.log"; exit 1; }
samples=0
rss_peak=0
while kill -0 "$writer" 2>/dev/null; do
  q -c "SELECT pg_log_backend_memory_contexts($pid)" >/dev/null 2>&1 || true
  rss=$(awk '/^RssAnon:/ {print $2 * 1024}' "/proc/$pid/status" 2>/dev/null || echo 0)
  [ "${rss:-0}" -gt "$rss_peak" ] && rss_peak=$rss
  samples=$((samples + 1))
  sleep 0.5
done
wait "$writer" || { echo "the bulk INSERT failed:"; cat "$dir/insert.log"; exit 1; }

# the batch context's size in each sample (bytes), and the largest
sizes=$(grep -o "ge_security audit batch: [0-9]* total" "$dir/server.log" | awk '{print $4}')
seen=$(echo "$sizes" | grep -c . || true)
peak=$(echo "$sizes" | sort -g | tail -1)
queue=$(grep -o "AfterTriggerEvents: [0-9]* total" "$dir/server.log" | awk '{print $2}' | sort -g | tail -1)
audited=$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE table_name = 'public.readings' AND op = 'INSERT'")
echo "  $ROWS rows inserted in one statement, $audited audit rows; $samples memory samples, $seen with the batch context"
echo "  peak of the audit batch context: $peak bytes; backend private memory (RssAnon) $rss_peak bytes, of which PostgreSQL's own trigger queue ${queue:-?} bytes"
[ "$audited" = "$ROWS" ] || { echo "audit rows ($audited) differ from inserted rows ($ROWS)"; exit 1; }
[ "$seen" -ge 3 ] || { echo "too few memory samples caught the batch context ($seen) to judge its size"; exit 1; }
[ "$peak" -le $((32 * 1024 * 1024)) ] || { echo "the audit batch context grew to $peak bytes: not bounded"; exit 1; }
[ -n "$queue" ] || { echo "no sample showed PostgreSQL's trigger queue"; exit 1; }
margin=$((rss_peak - queue))
[ "$margin" -le $((96 * 1024 * 1024)) ] || {
  echo "the backend's private memory peaked $margin bytes above the trigger queue: audit rows are not flushed in chunks"
  exit 1
}
