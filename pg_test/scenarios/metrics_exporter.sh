#!/usr/bin/env bash
# The metrics view through Debian's prometheus-postgres-exporter: the custom-query file is the one
# the README gives (extracted from it), the exporter connects as a role that is only a member of
# ge_security_auditor, and the scraped page carries the posture, backlog, verification, drift and
# keyring metrics, following a drift event the worker recorded.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/cluster.sh"
exporter=/usr/bin/prometheus-postgres-exporter
[ -x "$exporter" ] || { echo "prometheus-postgres-exporter is not installed (make deps)"; exit 1; }
scratch_dir exporter
port=54502
web=54519
cluster_create "$dir" "$port" "ge_security.databases = 'appdb'" "ge_security.seal_interval = 200ms" \
  "ge_security.drift_interval = 1s" "ge_security.verify_interval = 1s"
cluster_start "$dir"
fail() { echo "$1"; [ -f "$dir/exporter.log" ] && tail -20 "$dir/exporter.log"; [ -n "${KEEP_METRICS:-}" ] && cp "$dir/metrics.txt" "$KEEP_METRICS"; exit 1; }
cluster_psql "$dir" "$port" postgres -q -c "CREATE DATABASE appdb"
q() { cluster_psql "$dir" "$port" appdb -qtA "$@"; }
q >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE ROLE postgres_exporter LOGIN IN ROLE pg_monitor, ge_security_auditor;
CREATE TABLE t (id int PRIMARY KEY);
SELECT ge_security.enable_audit('t');
INSERT INTO t SELECT generate_series(1, 50);
SQL
# the exporter's own role authenticates by peer; map the postgres OS user to it
echo "exporter postgres postgres_exporter" | as_postgres tee -a "$dir/data/pg_ident.conf" >/dev/null
as_postgres sed -i "1i local appdb postgres_exporter peer map=exporter" "$dir/data/pg_hba.conf"
q -c "SELECT pg_reload_conf()" >/dev/null
q -c "SELECT ge_security.approve_baseline('CHG-1 monitoring set up')" >/dev/null
# the README's query file, verbatim
awk '/^<!-- exporter-queries -->$/ {grab = 1; next} grab && /^```yaml$/ {inside = 1; next}
     inside && /^```$/ {exit} inside {print}' "$here/../README.md" >"$dir/queries.yaml"
grep -q 'ge_security.metrics' "$dir/queries.yaml" || fail "no query file found in README.md"
chown postgres: "$dir/queries.yaml"
as_postgres env DATA_SOURCE_NAME="host=$dir port=$port dbname=appdb user=postgres_exporter sslmode=disable" \
  "$exporter" --web.listen-address="127.0.0.1:$web" --extend.query-path="$dir/queries.yaml" \
  --disable-default-metrics --disable-settings-metrics >"$dir/exporter.log" 2>&1 &
# runuser does not pass the exit trap's signal on: stop the exporter itself, or it outlives the
# scenario (and keeps whatever file descriptors it inherited)
trap 'pkill -f -- "--web.listen-address=127.0.0.1:$web" || true; kill $(jobs -p) 2>/dev/null || true; cluster_stop_all; rm -rf "$dir"' EXIT
scrape() { curl -fsS "http://127.0.0.1:$web/metrics" >"$dir/metrics.txt" 2>/dev/null; }
value() {  # value NAME [LABEL="VALUE"]: the scraped value of that series
  grep -E "^ge_security_value\{[^}]*name=\"$1\"" "$dir/metrics.txt" | grep -F -- "${2:-ge_security_value}" | awk '{print $2}'
}
for _ in $(seq 1 50); do scrape && [ -n "$(value posture_score)" ] && break; sleep 0.2; done
[ -n "$(value posture_score)" ] || { cat "$dir/metrics.txt" 2>/dev/null | grep -v '^#' | head; fail "no ge_security metrics scraped"; }
for metric in findings findings_not_assessed posture_score audit_unsealed_rows audit_unsealed_age_seconds \
              audit_seconds_since_seal audit_last_verify_ok drift_open_events drift_seconds_since_check keyring_keys; do
  [ -n "$(value "$metric")" ] || fail "metric $metric missing from the scrape"
done
[ "$(value findings 'severity="low"')" != "" ] || fail "findings by severity missing"
echo "  scraped $(grep -c '^ge_security_value' "$dir/metrics.txt") ge_security series, e.g. $(grep -m1 'name="posture_score"' "$dir/metrics.txt")"

# the worker's verification shows up, then a drift event it records
verified() { scrape && [ "$(value audit_last_verify_ok)" = 1 ]; }
for _ in $(seq 1 50); do verified && break; sleep 0.3; done
verified || fail "last verification not reported as ok: $(value audit_last_verify_ok)"
q -c "CREATE ROLE intruder SUPERUSER" >/dev/null
drifted() { scrape && [ "$(value drift_open_events 'kind="added"')" = 1 ]; }
for _ in $(seq 1 50); do drifted && break; sleep 0.3; done
drifted || fail "open drift events not reported: $(grep drift_open "$dir/metrics.txt")"
critical() { scrape && [ "$(value findings 'severity="critical"')" -ge 1 ]; }
for _ in $(seq 1 20); do critical && break; sleep 0.5; done
critical || fail "the critical finding is not counted"
echo "  after CREATE ROLE intruder SUPERUSER: $(grep 'kind="added"' "$dir/metrics.txt"), critical findings $(value findings 'severity="critical"')"
