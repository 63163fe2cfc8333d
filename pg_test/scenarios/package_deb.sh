#!/usr/bin/env bash
# The Debian package: packaging/build_deb.sh makes postgresql-15-ge-security_<version>_<arch>.deb
# with its control fields; `dpkg -i` installs it on this machine, a preloaded cluster creates the
# extension from it and audits a table; `dpkg -r` removes every file it installed. The files the
# test suite installed before are put back afterwards.
# scenario: exclusive
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/cluster.sh"
if [ "$PG_MAJOR" != 15 ]; then
  echo "  skipped on PostgreSQL $PG_MAJOR: the Debian package is built for Debian's postgresql-15 (make package)"
  exit 0
fi
scratch_dir package
fail() { echo "$1"; exit 1; }
pg_config=${PG_CONFIG:-/usr/bin/pg_config}
package=postgresql-$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')-ge-security
version=$(sed -nE 's/^version *= *"([^"]+)"/\1/p' "$here/../Cargo.toml" | head -1)
dpkg -s "$package" >/dev/null 2>&1 && fail "$package is already installed: remove it first (dpkg -r $package)"

# what `make install-debug` put there goes aside, and comes back whatever happens (cluster_create
# empties the directory it is given: the cluster lives in its own subdirectory)
backup=$dir/backup
set_aside_installed "$backup"
remove_installed
restore() {
  dpkg -r "$package" >/dev/null 2>&1 || true
  install_files "$backup" "$backup"
}
trap 'kill $(jobs -p) 2>/dev/null || true; cluster_stop_all; restore; rm -rf "$dir"' EXIT

deb=$(bash "$here/../packaging/build_deb.sh" --debug "$dir/out" 2>"$dir/build.log") \
  || { tail -20 "$dir/build.log"; fail "packaging/build_deb.sh failed"; }
[ "$(basename "$deb")" = "${package}_${version}_$(dpkg --print-architecture).deb" ] || fail "unexpected file name $deb"
dpkg-deb -I "$deb" >"$dir/info"
for field in "Package: $package" "Version: $version" "Depends: postgresql-15, libc6" "Maintainer: ge_security developers" "Section: database"; do
  grep -q "^ $field" "$dir/info" || { cat "$dir/info"; fail "control field missing: $field"; }
done
sed 's/^/  /' "$dir/info"

dpkg -i "$deb" >"$dir/dpkg.log" 2>&1 || { cat "$dir/dpkg.log"; fail "dpkg -i failed"; }
dpkg -s "$package" | grep -q "^Status: install ok installed" || fail "dpkg does not list $package as installed"
for f in "$GE_LIBDIR/ge_security.so" "$GE_EXTDIR/ge_security.control" "$GE_EXTDIR/ge_security--$version.sql"; do
  dpkg -L "$package" | grep -qx "$f" || fail "$f is not in the package's file list"
  [ -f "$f" ] || fail "$f was not installed"
done

port=54541
cluster_create "$dir/cluster" "$port"
cluster_start "$dir/cluster"
got=$(cluster_psql "$dir/cluster" "$port" postgres -qtA <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE orders (id int PRIMARY KEY, note text);
SELECT ge_security.enable_audit('orders');
INSERT INTO orders VALUES (1, 'from the package');
SELECT ge_security.audit_seal();
SELECT extversion || ' ' || (SELECT count(*) FROM ge_security.audit_log WHERE op = 'INSERT')
       || ' ' || (SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()) || ' ' || (SELECT count(*) > 10 FROM ge_security.assess())
  FROM pg_extension WHERE extname = 'ge_security';
SQL
)
[ "$(tail -1 <<<"$got")" = "$version 1 ok true" ] || fail "extension from the package misbehaves: $got"
cluster_stop_all

dpkg -r "$package" >"$dir/dpkg.log" 2>&1 || { cat "$dir/dpkg.log"; fail "dpkg -r failed"; }
dpkg -s "$package" 2>/dev/null | grep -q "^Status: install ok installed" && fail "$package still installed"
for f in "$GE_LIBDIR/ge_security.so" "$GE_EXTDIR/ge_security.control" "$GE_EXTDIR/ge_security--$version.sql"; do
  [ ! -e "$f" ] || fail "dpkg -r left $f behind"
done
echo "package_deb: $(basename "$deb") installed, used and removed cleanly"
