#!/usr/bin/env bash
# Findings for CI systems: assess_sarif() validates against the official SARIF 2.1.0 schema (Python
# jsonschema from Debian) with one rule per check and one result per finding, waived findings as
# suppressions; assess_junit() parses as XML with one testcase per check and one failure per
# finding. Hostile object names stay data in both. Only ge_security_auditor members may call them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/cluster.sh"
/usr/bin/python3 -c "import jsonschema" 2>/dev/null || { echo "python3-jsonschema is not installed (make deps)"; exit 1; }
scratch_dir export
port=54531
cluster_create "$dir" "$port"
cluster_start "$dir"
fail() { echo "$1"; exit 1; }
cluster_psql "$dir" "$port" postgres -q -c "CREATE DATABASE shop"
q() { cluster_psql "$dir" "$port" shop -qtA "$@"; }
q >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE ROLE auditor_alice LOGIN IN ROLE ge_security_auditor;
CREATE ROLE plain_bob LOGIN;
CREATE TABLE orders (id int PRIMARY KEY, tenant_id int NOT NULL, customer_email text);
CREATE TABLE "a<b>&""c'd</failure>" (id int PRIMARY KEY, ssn text);
DO $$ BEGIN EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, email text)', E'ctl\x01\x1fname'); END $$;
GRANT SELECT ON orders, "a<b>&""c'd</failure>" TO PUBLIC;
CREATE ROLE weak_admin LOGIN CREATEROLE PASSWORD 'x';
SELECT ge_security.waive('login_role_createrole', 'role weak_admin', 'CHG-7: migration role until Q3',
                         now() + interval '30 days');
SQL

# 1. the privilege: refused for a plain role, allowed to an auditor
for f in assess_sarif assess_junit; do
  out=$(q -c "SET ROLE plain_bob" -c "SELECT ge_security.$f()" 2>&1 || true)
  grep -q "permission denied for function $f" <<<"$out" || fail "plain_bob was not refused $f: $out"
done

# 2. SARIF, as the README's CI job exports it (auditor role), validated against the schema
# (the counts below come from assess() as the same role: what a role may read changes findings)
qa() { q -c "SET ROLE auditor_alice" -c "$1"; }
qa "SELECT ge_security.assess_sarif()" >"$dir/findings.sarif"
qa "SELECT count(*) FROM ge_security.assess('info', true)" >"$dir/n_findings"
qa "SELECT count(*) FROM ge_security.checks()" >"$dir/n_checks"
qa "SELECT count(*) FROM ge_security.assess('info', true) WHERE status = 'waived'" >"$dir/n_waived"
/usr/bin/python3 - "$dir" "$here/schemas/sarif-schema-2.1.0.json" <<'PY' || fail "SARIF check failed"
import json, sys, jsonschema
d = sys.argv[1]
doc = json.load(open(d + "/findings.sarif"))
schema = json.load(open(sys.argv[2]))
jsonschema.Draft4Validator.check_schema(schema)
errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
assert not errors, "\n".join("%s: %s" % (list(e.path), e.message) for e in errors[:10])
# the validator must catch a broken document, or the check above proves nothing
broken = json.loads(json.dumps(doc)); broken["runs"][0]["results"][0]["level"] = "fatal"
assert list(jsonschema.Draft4Validator(schema).iter_errors(broken)), "schema accepted a bad level"
run = doc["runs"][0]
rules, results = run["tool"]["driver"]["rules"], run["results"]
n_findings, n_checks, n_waived = (int(open(d + "/" + n).read()) for n in ("n_findings", "n_checks", "n_waived"))
assert len(rules) == n_checks, (len(rules), n_checks)
assert len(results) == n_findings and n_findings > 5, (len(results), n_findings)
for r in results:
    assert rules[r["ruleIndex"]]["id"] == r["ruleId"], r["ruleId"]
    assert r["level"] in ("error", "warning", "note", "none")
    assert r["locations"][0]["logicalLocations"][0]["name"]
suppressed = [r for r in results if "suppressions" in r]
assert len(suppressed) == n_waived == 1, (len(suppressed), n_waived)
assert suppressed[0]["suppressions"][0]["justification"] == "CHG-7: migration role until Q3"
assert suppressed[0]["ruleId"] == "login_role_createrole"
hostile = [r for r in results if "</failure>" in r["locations"][0]["logicalLocations"][0]["name"]]
assert hostile, "the hostile table name is missing from the results"
tags = {t for rule in rules for t in rule["properties"]["tags"]}
assert any(t.startswith("ISO27001:") for t in tags) and any(t.startswith("CIS:") for t in tags)
levels = {r["level"] for r in results}
print("  SARIF 2.1.0 valid: %d rules, %d results (%s), %d suppressed" % (len(rules), len(results), ", ".join(sorted(levels)), len(suppressed)))
PY

# 3. JUnit, parsed as XML: one testcase per check, one failure per failing finding
qa "SELECT ge_security.assess_junit()" >"$dir/findings.xml"
qa "SELECT count(*) FROM ge_security.assess('info', true) WHERE status = 'fail'" >"$dir/n_fail"
qa "SELECT count(*) FROM ge_security.checks() WHERE severity IN ('high', 'critical')" >"$dir/n_high_checks"
qa "SELECT count(*) FROM ge_security.assess('high', true) WHERE status = 'fail'" >"$dir/n_high_fail"
qa "SELECT ge_security.assess_junit('high')" >"$dir/findings_high.xml"
python3 - "$dir" <<'PY' || fail "JUnit check failed"
import sys, xml.etree.ElementTree as ET
d = sys.argv[1]
num = lambda n: int(open(d + "/" + n).read())
for name, checks, fails in (("findings.xml", num("n_checks"), num("n_fail")),
                            ("findings_high.xml", num("n_high_checks"), num("n_high_fail"))):
    root = ET.parse(d + "/" + name).getroot()
    assert root.tag == "testsuites", root.tag
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == checks == int(suite.get("tests")), (name, len(cases), checks)
    failures = [f for c in cases for f in c.findall("failure")]
    assert len(failures) == fails > 0, (name, len(failures), fails)
    failed_cases = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures")) == len(failed_cases) == int(root.get("failures"))
    assert int(suite.get("skipped")) == len([c for c in cases if c.find("skipped") is not None])
    assert len({c.get("name") for c in cases}) == len(cases), "duplicate testcase"
    print("  JUnit %s: %d testcases, %d failing, %d failures" % (name, len(cases), len(failed_cases), len(failures)))
root = ET.parse(d + "/findings.xml").getroot()
texts = [f.get("message") for f in root.iter("failure")]
assert any("</failure>" in t for t in texts), "hostile table name lost"
assert any("ctlname" in t for t in texts), "control characters were not dropped"
waived = [c for c in root.iter("testcase") if c.get("name") == "login_role_createrole"][0]
assert "CHG-7" in waived.find("system-out").text and waived.find("failure") is None
PY

# 4. a bad min_severity is the same clear error as assess()'s
out=$(q -c "SELECT ge_security.assess_sarif('severe')" 2>&1 || true)
grep -q "ERROR" <<<"$out" || fail "assess_sarif accepted a bad severity: $out"
out=$(q -c "\set VERBOSITY verbose" -c "SELECT ge_security.assess_junit('severe')" 2>&1 || true)
grep -q "ERROR:  22023" <<<"$out" || fail "assess_junit('severe') did not raise 22023: $out"
echo "findings_export: ok"
