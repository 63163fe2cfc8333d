#!/usr/bin/env bash
# Evidence an auditor can read offline: evidence() exported with psql is valid JSON with every
# section and a digest that anyone can recompute from the canonical form; evidence_report()
# exported with psql is rendered by headless Chromium (Debian's chromium) to a PNG that is not
# blank, and the rendered DOM holds the posture, findings, controls, drift and audit sections
# with hostile names shown as text, never as markup.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/cluster.sh"
command -v chromium >/dev/null || { echo "chromium is not installed (make deps)"; exit 1; }
scratch_dir evidence
# KEEP_REPORT=DIR keeps the page and its screenshot for a look
if [ -n "${KEEP_REPORT:-}" ]; then
  trap 'cp "$dir/report.png" "$dir/report.html" "$dir/evidence.json" "$KEEP_REPORT"/ 2>/dev/null; kill $(jobs -p) 2>/dev/null || true; cluster_stop_all; rm -rf "$dir"' EXIT
fi
port=54501
cluster_create "$dir" "$port" "ge_security.databases = 'shop'" "ge_security.seal_interval = 200ms" \
  "ge_security.drift_interval = 1s"
cluster_start "$dir"
fail() { echo "$1"; exit 1; }
cluster_psql "$dir" "$port" postgres -q -c "CREATE DATABASE shop"
q() { cluster_psql "$dir" "$port" shop -qtA "$@"; }
q >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE ROLE auditor_alice LOGIN IN ROLE ge_security_auditor;
CREATE ROLE "<script>alert('role')</script>" LOGIN;
CREATE TABLE orders (id int PRIMARY KEY, tenant_id int NOT NULL, customer_email text);
CREATE TABLE "<img src=x onerror=alert(1)>" (id int PRIMARY KEY, tenant_id int NOT NULL);
GRANT SELECT ON orders TO PUBLIC;
SELECT ge_security.enable_audit('orders');
INSERT INTO orders SELECT g, g % 5, 'c' || g || '@example.com' FROM generate_series(1, 300) g;
SELECT ge_security.approve_baseline('CHG-42 quarterly review');
CREATE ROLE "intruder</td><h1>x" SUPERUSER;
SQL
recorded() { [ "$(q -c "SELECT count(*) FROM ge_security.drift_event")" -ge 1 ]; }
for _ in $(seq 1 50); do recorded && break; sleep 0.2; done
recorded || fail "the worker recorded no drift"
sealed() { [ "$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE id > coalesce((SELECT max(last_id) FROM ge_security.audit_block), 0)")" = 0 ]; }
for _ in $(seq 1 50); do sealed && break; sleep 0.2; done

# 1. the JSON export, as the README's one-liner runs it (as a member of ge_security_auditor)
q -c "SET ROLE auditor_alice" -c "SELECT ge_security.evidence()" >"$dir/evidence.json"
python3 - "$dir/evidence.json" <<'PY' || fail "evidence JSON check failed"
import hashlib, json, sys
doc = json.load(open(sys.argv[1]))
keys = {"generated_at", "server_version", "extension_version", "database", "summary", "controls",
        "roles", "rls", "protected_columns", "audit", "drift", "settings", "digest"}
assert set(doc) == keys, sorted(set(doc) ^ keys)
body = {k: v for k, v in doc.items() if k != "digest"}
canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
assert hashlib.sha256(canonical.encode()).hexdigest() == doc["digest"], "digest does not recompute"
assert doc["summary"]["critical"] >= 1, doc["summary"]
assert all(k.split(":")[0] in ("ISO27001", "SOC2", "CIS") for k in doc["controls"])
assert doc["controls"]["SOC2:CC7.1"]["status"] == "fail"
assert doc["audit"]["verification"]["ok"] is True, doc["audit"]
assert doc["drift"]["baseline"]["intact"] is True and doc["drift"]["baseline"]["note"] == "CHG-42 quarterly review"
assert any(e["object_name"] == 'role "intruder</td><h1>x"' for e in doc["drift"]["events"]["history"])
print("  evidence(): %d controls, score %s, %d roles, digest %s recomputed from the canonical JSON"
      % (len(doc["controls"]), doc["summary"]["score"], len(doc["roles"]), doc["digest"][:16]))
PY

# 2. the HTML export, rendered offline by headless Chromium
q -c "SET ROLE auditor_alice" -c "SELECT ge_security.evidence_report()" >"$dir/report.html"
chrome() {
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$dir/chrome-$1" --window-size=1200,1600 "${@:2}" "file://$dir/report.html" 2>"$dir/chrome-$1.log"
}
chrome shot --screenshot="$dir/report.png" >/dev/null || { cat "$dir/chrome-shot.log"; fail "chromium could not render the report"; }
chrome dom --dump-dom >"$dir/dom.html" || { cat "$dir/chrome-dom.log"; fail "chromium could not dump the DOM"; }
read -r width height colours share < <(python3 "$here/png_stats.py" "$dir/report.png")
[ "$width" = 1200 ] && [ "$colours" -ge 8 ] || fail "screenshot ${width}x$height has $colours colours"
awk -v s="$share" 'BEGIN {exit !(s >= 0.05)}' || fail "screenshot is almost blank ($share of pixels are not background)"
echo "  screenshot ${width}x$height, $(stat -c %s "$dir/report.png") bytes, $colours colours, $share not background"
for id in summary findings controls drift audit roles rls settings; do
  grep -q "<section id=\"$id\">" "$dir/dom.html" || fail "section $id missing from the rendered DOM"
done
grep -q '<svg ' "$dir/dom.html" || fail "no chart in the DOM"
grep -q '<h3 class="control">SOC2:CC7.1 <span class="badge fail">fail</span></h3>' "$dir/dom.html" \
  || fail "control SOC2:CC7.1 is not shown failing"
grep -q 'drift_privileged_role' "$dir/dom.html" || fail "the critical drift finding is not in the findings"
if grep -qiE '<(script|img|iframe|object|embed|link)\b' "$dir/dom.html"; then fail "active markup in the rendered DOM"; fi
if grep -q '<h1>x' "$dir/dom.html"; then fail "a role name was rendered as markup"; fi
grep -q '&lt;script&gt;alert' "$dir/dom.html" || fail "the hostile role name is not shown as text"
grep -q 'intruder&lt;/td&gt;&lt;h1&gt;x' "$dir/dom.html" || fail "the hostile drift object is not shown as text"
echo "  rendered DOM: summary, findings, controls, drift, audit, roles, rls and settings sections; hostile names as text"
