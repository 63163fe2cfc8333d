#!/usr/bin/env bash
# Builds the Debian package postgresql-<major>-ge-security_<version>_<arch>.deb from
# `cargo pgrx package` and dpkg-deb. Usage: build_deb.sh [--debug] [OUT_DIR]
# (--debug packages the unoptimised build the tests use; releases are built without it).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=(); if [ "${1:-}" = --debug ]; then profile=(--debug); shift; fi
out_dir=$(realpath -m "${1:-target/package}")
pg_config=${PG_CONFIG:-/usr/bin/pg_config}
major=$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
version=$(sed -nE 's/^version *= *"([^"]+)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
package=postgresql-$major-ge-security
root=$out_dir/$package
rm -rf "$root" && mkdir -p "$root"

cargo pgrx package "${profile[@]}" --pg-config "$pg_config" --out-dir "$root" >&2
[ -f "$root$("$pg_config" --pkglibdir)/ge_security.so" ] || { echo "cargo pgrx package made no library" >&2; exit 1; }
doc=$root/usr/share/doc/$package
install -d "$doc"
install -m 644 README.md "$doc/README.md"
install -m 644 docs/*.md "$doc/"
install -m 644 LICENSE "$doc/copyright"
install -d "$doc/examples"
install -m 644 tools/verify_archive.py "$doc/examples/verify_archive.py"
find "$root" -type d -exec chmod 755 {} + && find "$root" -type f -exec chmod 644 {} +

install -d "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<CONTROL
Package: $package
Version: $version
Architecture: $arch
Maintainer: ge_security developers <ge-security@users.noreply.github.com>
Depends: postgresql-$major, libc6
Section: database
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Description: security posture, tamper-evident audit trail and encryption for PostgreSQL $major
 ge_security hardens a PostgreSQL database from the inside and proves that its
 controls work: assess() lists every weakness with remediation SQL and ISO 27001,
 SOC 2 and CIS control ids; a hash-chained, sealed audit trail; fail-closed
 row-level security for tenants; AES-256-GCM column encryption; a background
 worker that seals the trail and reports drift from an approved baseline.
 .
 Add ge_security to shared_preload_libraries, restart, then CREATE EXTENSION.
CONTROL
deb=$out_dir/${package}_${version}_${arch}.deb
dpkg-deb --root-owner-group --build "$root" "$deb" >&2
echo "$deb"
