#!/usr/bin/env python3
"""Draft the body of an upgrade script from two `cargo pgrx schema` outputs (docs/upgrading.md,
"Writing the next upgrade script"): every block of connected objects that is new or changed in
NEW is printed, functions as CREATE OR REPLACE. Blocks that create roles and tables (the bootstrap,
the trail's tables, the guard and crypto setup) exist already in an installed database and are
left out, but for what a new release changes in them, which must be written by hand (here: the
one definition of PostgreSQL's own schemas, and the actor column's comment). The draft is checked
by the scenario upgrade_from_0_1_0, which compares an updated catalog with a fresh install.

usage: packaging/upgrade_diff.py OLD_SCHEMA.sql NEW_SCHEMA.sql > draft.sql
"""
import re
import sys

BEGIN, END = "/* <begin connected objects> */", "/* </end connected objects> */"


def blocks(path):
    """(title, body) of each block of connected objects, the title its first comment line."""
    out = []
    for part in open(path, encoding="utf-8").read().split(BEGIN):
        body = part.split(END)[0].strip("\n")
        lines = body.strip().split("\n")
        if len(lines) >= 2:
            out.append((lines[1].strip(), body))
    return out


def without_source_lines(body):
    return "\n".join(l for l in body.split("\n") if not l.startswith("-- src/")).strip()


def or_replace(body):
    return re.sub(r"^CREATE\s+FUNCTION", "CREATE OR REPLACE FUNCTION", body, flags=re.M)


def draft(old_path, new_path):
    old = {title: without_source_lines(body) for title, body in blocks(old_path)}
    out = []
    for title, body in blocks(new_path):
        body = without_source_lines(body)
        if title == "-- bootstrap" or title.startswith("-- ge_security bootstrap:"):
            start = body.find('-- The one definition of "a schema of PostgreSQL itself"')
            if start >= 0:
                out.append(or_replace(body[start:]))
            continue
        if title.startswith(("-- ge_security bootstrap", "-- ge_security::audit::guard",
                             "-- ge_security crypto")):
            continue
        if old.get(title) == body:
            continue
        if title.startswith("-- ge_security audit trail tables"):
            comment = re.search(r"^COMMENT ON COLUMN audit_log\.actor.*$", body, re.M)
            out.append("-- The audit trail: what the actor column holds (no change to its data).\n"
                       + comment.group(0))
            continue
        out.append(or_replace(body))
    sys.stderr.write("%d blocks\n" % len(out))
    return "\n\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(draft(sys.argv[1], sys.argv[2]))
