#!/usr/bin/python3
"""Release metadata agrees with itself: META.json is valid PGXN Meta Spec 1.0.0 (the PGXN
maintainers' JSON schemas in pg_test/schemas/pgxn-meta-v1) and every place a version is written
(Cargo.toml, META.json's distribution and extension, the control file) says the same."""
import json
import pathlib
import re
import sys

import jsonschema

root = pathlib.Path(__file__).resolve().parent.parent
schemas = root / "pg_test" / "schemas" / "pgxn-meta-v1"


def fail(message):
    print("release metadata: " + message)
    sys.exit(1)


# The schemas write ECMA-262 Unicode classes and a POSIX class, which Python's re lacks:
# translate the ones they use.
UNICODE_CLASSES = {r"\p{Space}": r"\s", r"\p{Cntrl}": r"\x00-\x1f\x7f-\x9f", r"\p{lower}": r"a-z"}


def python_patterns(node):
    """The schema with every `pattern` rewritten for Python's re."""
    if isinstance(node, dict):
        out = {k: python_patterns(v) for k, v in node.items()}
        if isinstance(node.get("pattern"), str):
            pattern = node["pattern"]
            for ecma, python in UNICODE_CLASSES.items():
                inside = pattern.find(ecma) > pattern.find("[") >= 0
                pattern = pattern.replace(ecma, python if inside else "[" + python + "]")
            out["pattern"] = pattern.replace("[[:digit:]]", "[0-9]")
        return out
    if isinstance(node, list):
        return [python_patterns(v) for v in node]
    return node


def validator():
    store = {}
    for path in schemas.glob("*.schema.json"):
        doc = python_patterns(json.loads(path.read_text()))
        store[doc["$id"]] = doc
    top = store["https://pgxn.org/meta/v1/distribution.schema.json"]
    resolver = jsonschema.RefResolver.from_schema(top, store=store)
    return jsonschema.Draft202012Validator(top, resolver=resolver)


meta = json.loads((root / "META.json").read_text())
check = validator()
errors = sorted(check.iter_errors(meta), key=lambda e: list(e.path))
if errors:
    fail("META.json is not valid PGXN Meta Spec 1.0.0:\n" +
         "\n".join("  %s: %s" % ("/".join(map(str, e.path)) or "(top)", e.message) for e in errors))
# the validator must refuse a broken document, or the check above proves nothing
if not list(check.iter_errors(dict(meta, version="zero.two"))):
    fail("the PGXN schema accepted a version that is not SemVer")

cargo = re.search(r'^version\s*=\s*"([^"]+)"', (root / "Cargo.toml").read_text(), re.M).group(1)
control = re.search(r"^default_version\s*=\s*'([^']+)'", (root / "ge_security.control").read_text(), re.M).group(1)
versions = {
    "Cargo.toml": cargo,
    "META.json version": meta["version"],
    "META.json provides.ge_security.version": meta["provides"]["ge_security"]["version"],
    "ge_security.control default_version": cargo if control == "@CARGO_VERSION@" else control,
}
if len(set(versions.values())) != 1:
    fail("versions disagree: " + ", ".join("%s = %s" % kv for kv in versions.items()))
print("release metadata: META.json valid (PGXN Meta Spec 1.0.0), version %s everywhere" % cargo)
