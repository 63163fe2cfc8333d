#!/usr/bin/env bash
# Rewrites the check table of docs/sql_reference.md ("Check catalogue") from checks() of the
# installed build, in a throwaway cluster: one row per check (by category, then id), the counts
# in the sentence above it, and the "what it finds" text kept for checks the table already lists
# (a new check gets its title; say more by hand). Regress file 22_docs_checks fails until the
# table agrees. Run as `make docs-checks`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cluster.sh"
port=${DOCS_CHECKS_PORT:-54399}
cluster_scratch docs_checks "$port"
cluster_psql "$dir" "$port" postgres -q -c "CREATE EXTENSION ge_security"
cluster_psql "$dir" "$port" postgres -qAt -F $'\t' -c \
  "SELECT check_id, severity, category, title, array_to_string(controls, ', ')
     FROM ge_security.checks() ORDER BY category COLLATE \"C\", check_id COLLATE \"C\"" >"$dir/checks.tsv"
python3 - "$dir/checks.tsv" "$here/../docs/sql_reference.md" <<'PY'
import re, sys
checks = [line.rstrip('\n').split('\t') for line in open(sys.argv[1]) if line.strip()]
path = sys.argv[2]
doc = open(path).read()
start = doc.index('\n## Check catalogue\n')
end = doc.index('\n## ', start + 1)
section = doc[start:end]
row = re.compile(r'^\| `([a-z0-9_]+)` \| [a-z]+ \| [a-z_]+ \| (.*) \| [^|]* \|$')
said = {m[1]: m[2] for m in map(row.match, section.split('\n')) if m}
lines = section.split('\n')
first = next(i for i, l in enumerate(lines) if row.match(l))
last = max(i for i, l in enumerate(lines) if row.match(l))
table = [f'| `{c}` | {sev} | {cat} | {said.get(c, title)} | {controls} |'
         for c, sev, cat, title, controls in checks]
lines[first:last + 1] = table
section = '\n'.join(lines)
outside_rls = sum(1 for c in checks if c[2] != 'rls')
section, n = re.subn(r'\d+ checks \(\d+ outside row-level security\)',
                     f'{len(checks)} checks ({outside_rls} outside row-level security)', section)
if n != 1:
    sys.exit('the sentence "N checks (M outside row-level security)" is not in the section')
open(path, 'w').write(doc[:start] + section + doc[end:])
added = sorted(set(c[0] for c in checks) - set(said))
gone = sorted(set(said) - set(c[0] for c in checks))
print(f'docs/sql_reference.md: {len(checks)} checks; added {added or "none"}; removed {gone or "none"}')
PY
