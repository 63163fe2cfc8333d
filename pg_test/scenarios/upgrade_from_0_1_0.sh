#!/usr/bin/env bash
# ALTER EXTENSION ge_security UPDATE from release 0.1.0 with the trail intact. 0.1.0 is built from
# its commit in a git worktree and installed; a database gets audited tables, a sealed trail with
# unsealed rows on top, encrypted columns, waivers and tenant policies. The current build then
# replaces the library, the server restarts and the extension is updated. Checked: the trail
# verifies over old and new rows against the digest taken under 0.1.0; old ciphertexts decrypt;
# waivers and policies are unchanged; the upgraded extension's objects are exactly those of a fresh
# CREATE EXTENSION (definitions, privileges, comments, dump configuration); assess() gives the same
# findings on an upgraded and a freshly installed database built by the same script.
# scenario: exclusive
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/.." && pwd)
source "$here/cluster.sh"
release_commit=6131289 # release 0.1.0
if [ "$PG_MAJOR" != 15 ]; then
  echo "  skipped on PostgreSQL $PG_MAJOR: release 0.1.0 was built for PostgreSQL 15 only"
  exit 0
fi
scratch_dir upgrade
fail() { echo "$1"; exit 1; }
pg_config=${PG_CONFIG:-/usr/bin/pg_config}
version=$(sed -nE 's/^version *= *"([^"]+)"/\1/p' "$repo/Cargo.toml" | head -1)
git -C "$repo" cat-file -e "$release_commit^{commit}" 2>/dev/null \
  || fail "release 0.1.0 (commit $release_commit) is not in this clone's history"
[ -f "$GE_EXTDIR/ge_security--0.1.0--$version.sql" ] || fail "no upgrade script ge_security--0.1.0--$version.sql installed"

# the build the suite installed goes aside and comes back whatever happens
backup=$dir/backup worktree=$dir/v0.1.0
set_aside_installed "$backup"
trap 'kill $(jobs -p) 2>/dev/null || true; cluster_stop_all; install_files "$backup" "$backup";
      git -C "$repo" worktree remove --force "$worktree" 2>/dev/null || true; rm -rf "$dir"' EXIT

# 1. release 0.1.0, built from its commit (its own target directory, seeded with this build's
#    dependencies the first time)
git -C "$repo" worktree add --detach "$worktree" "$release_commit" >"$dir/worktree.log" 2>&1 \
  || { cat "$dir/worktree.log"; fail "git worktree add failed"; }
old_target=$repo/target/release-0.1.0
[ -d "$old_target" ] || { mkdir -p "$old_target" && cp -a "$repo/target/debug" "$old_target/" 2>/dev/null || true; }
(cd "$worktree" && CARGO_TARGET_DIR=$old_target cargo pgrx package --debug --pg-config "$pg_config" \
  --out-dir "$dir/pkg") >"$dir/build.log" 2>&1 || { tail -30 "$dir/build.log"; fail "building 0.1.0 failed"; }
install_files "$dir/pkg$GE_LIBDIR" "$dir/pkg$GE_EXTDIR"

port=54551 ring=$dir/keyring
printf '1:%s\n' "$(openssl rand -hex 32)" >"$ring" && chown postgres: "$ring" && chmod 600 "$ring"
cluster_create "$dir/c" "$port" "ge_security.keyring_path = '$ring'" "ge_security.active_key_id = 1"
cluster_start "$dir/c"
q() { local db=$1; shift; cluster_psql "$dir/c" "$port" "$db" -qtA "$@"; }
q postgres -c "CREATE DATABASE shop" -c "CREATE DATABASE fresh" -c "CREATE ROLE app_user LOGIN" \
  -c "CREATE ROLE weak_admin LOGIN CREATEROLE" >/dev/null
# the same script builds both databases (0.1.0's SQL surface, which 0.2.0 keeps)
cat >"$dir/setup.sql" <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE orders (id int PRIMARY KEY, tenant_id int NOT NULL, total numeric, email_enc bytea);
CREATE TABLE notes (id int PRIMARY KEY, body text);
GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO app_user;
SELECT ge_security.enable_audit('orders');
SELECT ge_security.enable_audit('notes');
SELECT ge_security.enable_tenant_isolation('orders', 'tenant_id');
INSERT INTO orders SELECT g, g % 3, g * 10,
       ge_security.encrypt('c' || g || '@example.com', 'orders.email', g::text) FROM generate_series(1, 100) g;
SELECT ge_security.protect_column('orders', 'email_enc', 'orders.email', 'id');
INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 20) g;
UPDATE orders SET total = total + 1 WHERE id <= 10;
SELECT ge_security.audit_seal();
DELETE FROM orders WHERE id > 95;
UPDATE notes SET body = body || '!' WHERE id <= 5;
SELECT ge_security.waive('login_role_createrole', 'role weak_admin', 'CHG-1: provisioning role',
                         now() + interval '60 days');
SQL
q shop -f "$dir/setup.sql" >/dev/null
[ "$(q shop -c "SELECT extversion FROM pg_extension WHERE extname = 'ge_security'")" = 0.1.0 ] || fail "0.1.0 is not what was installed"
digest=$(q shop -c "SELECT ge_security.audit_digest()")
unsealed=$(q shop -c "SELECT count(*) FROM ge_security.audit_log WHERE id > (SELECT max(last_id) FROM ge_security.audit_block)")
[ "$unsealed" -gt 0 ] || fail "the 0.1.0 trail has no unsealed rows on top"
last_id=$(q shop -c "SELECT max(id) FROM ge_security.audit_log")
kept() { # what must survive the upgrade unchanged
  q shop -c "SELECT check_id, object_name, reason, expires_at FROM ge_security.waiver ORDER BY 1, 2" \
         -c "SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies ORDER BY 1" \
         -c "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'orders'::regclass" \
         -c "SELECT * FROM ge_security.protected_column ORDER BY 1, 2" \
         -c "SELECT count(*), max(id), string_agg(encode(row_hash, 'hex'), '' ORDER BY id) FROM ge_security.audit_log WHERE id <= $last_id" \
         -c "SELECT * FROM ge_security.audit_block ORDER BY block_no"
}
kept >"$dir/kept.before"

# 2. the current build replaces the library; restart; update
cluster_stop "$dir/c"
install_files "$backup" "$backup"
cluster_start "$dir/c"
q shop -c "ALTER EXTENSION ge_security UPDATE" >/dev/null
# the new library's DDL guard records the update in the trail (the script's own statements are not)
got=$(q shop -c "SELECT string_agg(op || ' ' || statement, '; ') FROM ge_security.audit_log WHERE id > $last_id")
[ "$got" = "DDL ALTER EXTENSION ge_security UPDATE" ] || fail "the update is not recorded as one DDL row: $got"
got=$(q shop -c "SELECT extversion FROM pg_extension WHERE extname = 'ge_security'")
[ "$got" = "$version" ] || fail "ALTER EXTENSION UPDATE left version $got"
kept >"$dir/kept.after"
diff "$dir/kept.before" "$dir/kept.after" >"$dir/kept.diff" || { cat "$dir/kept.diff"; fail "the upgrade changed kept data"; }
echo "  updated 0.1.0 -> $version: $(q shop -c "SELECT count(*) FROM ge_security.audit_log") trail rows ($unsealed unsealed), waivers, policies and protected columns unchanged"

# 3. the trail verifies, old rows against the digest taken under 0.1.0, then with new rows on top
verify() { q shop -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify($1)"; }
[ "$(verify "'$digest'")" = ok ] || fail "the trail does not verify after the upgrade: $(verify "'$digest'")"
q shop -c "INSERT INTO orders VALUES (500, 1, 5, ge_security.encrypt('new@example.com', 'orders.email', '500'))" \
       -c "UPDATE notes SET body = 'after the upgrade' WHERE id = 1" -c "SELECT ge_security.audit_seal()" >/dev/null
[ "$(verify "'$digest'")" = ok ] || fail "old and new rows do not verify together: $(verify "'$digest'")"
[ "$(verify NULL)" = ok ] || fail "the trail does not verify: $(verify NULL)"
echo "  audit_verify() ok over $(q shop -c "SELECT count(*) FROM ge_security.audit_log") rows against the 0.1.0 digest"

# 4. old ciphertexts decrypt under the new library
got=$(q shop -c "SELECT count(*) FROM orders WHERE ge_security.decrypt(email_enc, 'orders.email', id::text) = 'c' || id || '@example.com'")
[ "$got" = 95 ] || fail "only $got of 95 old ciphertexts decrypt"
[ "$(q shop -c "SELECT ge_security.decrypt(email_enc, 'orders.email', '500') FROM orders WHERE id = 500")" = new@example.com ] \
  || fail "a new ciphertext does not decrypt"

# 5. the upgraded extension is exactly a fresh one: every member object's definition, privileges,
#    comments, and the tables pg_dump carries
q fresh -f "$dir/setup.sql" >/dev/null
catalog() {
  q "$1" <<'SQL'
WITH member AS (
  SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
   WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'ge_security' AND d.deptype = 'e')
SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
       || E'\nacl ' || coalesce(p.proacl::text, 'default') || E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
  FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text || ' acl ' || coalesce(c.relacl::text, 'default')
       || ' rls ' || c.relrowsecurity || c.relforcerowsecurity || ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '')
       || coalesce(E'\nview ' || pg_get_viewdef(c.oid), '')
       || coalesce((SELECT string_agg(E'\ncolumn ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                            || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                            || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
                            || coalesce(' comment ' || col_description(c.oid, a.attnum), '')
                            || coalesce(' acl ' || a.attacl::text, ''), '' ORDER BY a.attnum)
                     FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
       || coalesce((SELECT string_agg(E'\nconstraint ' || co.conname || ' ' || pg_get_constraintdef(co.oid), '' ORDER BY co.conname)
                     FROM pg_constraint co WHERE co.conrelid = c.oid), '')
       || coalesce((SELECT string_agg(E'\nindex ' || pg_get_indexdef(i.indexrelid), '' ORDER BY 1)
                     FROM pg_index i WHERE i.indrelid = c.oid), '')
       || coalesce((SELECT string_agg(E'\ntrigger ' || pg_get_triggerdef(t.oid), '' ORDER BY t.tgname)
                     FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '')
       || coalesce((SELECT E'\nsequence ' || s.seqtypid::regtype || ' ' || s.seqincrement || ' ' || s.seqcache || ' ' || s.seqcycle
                     FROM pg_sequence s WHERE s.seqrelid = c.oid), '')
  FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
UNION ALL
SELECT 'member ' || pg_describe_object(m.classid, m.objid, 0) FROM member m
 WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass)
UNION ALL
SELECT 'extension ' || e.extversion || ' config ' || coalesce((SELECT string_agg(x::regclass::text, ',' ORDER BY x::regclass::text)
                                                              FROM unnest(e.extconfig) x), '')
       || ' conditions ' || coalesce(array_to_string(e.extcondition, ','), '') || ' schema ' || e.extnamespace::regnamespace
  FROM pg_extension e WHERE e.extname = 'ge_security'
ORDER BY 1
SQL
}
catalog shop >"$dir/catalog.upgraded"
catalog fresh >"$dir/catalog.fresh"
diff -u "$dir/catalog.fresh" "$dir/catalog.upgraded" >"$dir/catalog.diff" \
  || { head -80 "$dir/catalog.diff"; fail "the upgraded extension differs from a fresh CREATE EXTENSION"; }
echo "  catalog: $(grep -c '^function ' "$dir/catalog.fresh") functions, $(grep -c '^relation ' "$dir/catalog.fresh") relations, identical to a fresh install"

# 6. the same findings on the upgraded and the fresh database (the database's own name aside)
findings() {
  q "$1" -c "SELECT check_id, severity, object_type, replace(object_name, '$1', 'DB'), status, replace(message, '$1', 'DB')
               FROM ge_security.assess('info', true) ORDER BY 1, 4"
}
findings shop >"$dir/assess.upgraded"
findings fresh >"$dir/assess.fresh"
diff -u "$dir/assess.fresh" "$dir/assess.upgraded" >"$dir/assess.diff" \
  || { cat "$dir/assess.diff"; fail "assess() differs between the upgraded and a fresh install"; }
echo "  assess(): the same $(wc -l <"$dir/assess.fresh") findings upgraded and fresh"
echo "upgrade_from_0_1_0: ok"
