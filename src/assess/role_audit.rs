//! role_audit(): one row per role with its attributes, memberships, password storage and
//! the role checks it fails, for access reviews (docs/sql_reference.md).
use super::engine::{self, Status};
use super::registry;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use std::collections::HashMap;

/// `password_type` when the caller may read pg_authid, `'unknown'` otherwise.
const PASSWORD_TYPE_FROM_AUTHID: &str = "(SELECT CASE WHEN a.rolpassword IS NULL THEN 'none' \
     WHEN a.rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'scram-sha-256' \
     WHEN a.rolpassword ~ '^md5[0-9a-f]{32}$' THEN 'md5' ELSE 'plaintext' END \
     FROM pg_catalog.pg_authid a WHERE a.oid = r.oid)";

/// When each role's password was last set, from the trail's role rows (the DDL guard records
/// `{"role": ..., "password_set": true}` as their key); used when the caller may read the trail.
const PASSWORD_CHANGES_FROM_TRAIL: &str = "SELECT l.row_key ->> 'role' AS role, \
     pg_catalog.max(l.at) AS at FROM ge_security.audit_log l \
     WHERE l.op = 'DDL' AND l.row_key ->> 'password_set' = 'true' GROUP BY 1";

const ROLES: &str = r#"
WITH password_changes AS ({password_changes}),
system_schema AS (
  SELECT n.oid FROM pg_catalog.pg_namespace n WHERE ge_security.system_schema(n.nspname)),
owned AS (
  SELECT owner, count(*)::int AS n FROM (
    SELECT c.relowner AS owner FROM pg_catalog.pg_class c
     WHERE c.relnamespace NOT IN (SELECT oid FROM system_schema)
       AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    UNION ALL
    SELECT p.proowner FROM pg_catalog.pg_proc p
     WHERE p.pronamespace NOT IN (SELECT oid FROM system_schema)
    UNION ALL
    SELECT n.nspowner FROM pg_catalog.pg_namespace n
     WHERE n.oid NOT IN (SELECT oid FROM system_schema)) o
  GROUP BY owner)
SELECT r.rolname::text, r.rolcanlogin, r.rolsuper,
       pg_catalog.array_remove(ARRAY[
         CASE WHEN r.rolsuper THEN 'SUPERUSER' END, CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
         CASE WHEN r.rolcreatedb THEN 'CREATEDB' END, CASE WHEN r.rolreplication THEN 'REPLICATION' END,
         CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL)::text[],
       ARRAY(SELECT g.rolname::text FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid ORDER BY 1),
       r.rolsuper OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles s
                              WHERE s.rolsuper AND s.oid <> r.oid
                                AND pg_catalog.pg_has_role(r.oid, s.oid, 'MEMBER')),
       {password_type},
       CASE WHEN r.rolvaliduntil = 'infinity' THEN NULL ELSE r.rolvaliduntil END,
       COALESCE(o.n, 0),
       pc.at
FROM pg_catalog.pg_roles r LEFT JOIN owned o ON o.owner = r.oid
LEFT JOIN password_changes pc ON pc.role = r.rolname
WHERE r.rolname !~ '^pg_'
ORDER BY r.rolname"#;

/// Every non-system role with what an access review needs to see.
#[pg_extern(parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn role_audit() -> TableIterator<
    'static,
    (
        name!(role_name, String),
        name!(can_login, bool),
        name!(superuser, bool),
        name!(risky_attributes, Vec<String>),
        name!(member_of, Vec<String>),
        name!(effective_superuser, bool),
        name!(password_type, String),
        name!(valid_until, Option<TimestampWithTimeZone>),
        name!(password_changed_at, Option<TimestampWithTimeZone>),
        name!(owns_objects, i32),
        name!(findings, Vec<String>),
    ),
> {
    let mut failed: HashMap<String, Vec<String>> = HashMap::new();
    for f in engine::run(registry::all().filter(|c| c.category == "roles")) {
        let role = f.details.get("role").and_then(|r| r.as_str());
        if let (Status::Fail, Some(role)) = (f.status, role) {
            let ids = failed.entry(role.to_owned()).or_default();
            if !ids.iter().any(|id| id == f.check.id) {
                ids.push(f.check.id.to_owned());
            }
        }
    }
    let rows = Spi::connect(|client| {
        let reads_authid = client
            .select(
                "SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT')",
                None,
                &[],
            )?
            .first()
            .get_one::<bool>()?
            .unwrap_or(false);
        let password_type = if reads_authid {
            PASSWORD_TYPE_FROM_AUTHID
        } else {
            "'unknown'::text"
        };
        let reads_trail = client
            .select(
                "SELECT has_table_privilege('ge_security.audit_log', 'SELECT')",
                None,
                &[],
            )?
            .first()
            .get_one::<bool>()?
            .unwrap_or(false);
        let password_changes = if reads_trail {
            PASSWORD_CHANGES_FROM_TRAIL
        } else {
            "SELECT NULL::text AS role, NULL::timestamptz AS at WHERE false"
        };
        let query = ROLES
            .replace("{password_type}", password_type)
            .replace("{password_changes}", password_changes);
        let mut rows = Vec::new();
        for row in client.select(&query, None, &[])? {
            let name: String = row.get(1)?.unwrap_or_default();
            let findings = failed.remove(&name).unwrap_or_default();
            rows.push((
                name,
                row.get(2)?.unwrap_or(false),
                row.get(3)?.unwrap_or(false),
                row.get(4)?.unwrap_or_default(),
                row.get(5)?.unwrap_or_default(),
                row.get(6)?.unwrap_or(false),
                row.get(7)?.unwrap_or_default(),
                row.get(8)?,
                row.get(10)?,
                row.get(9)?.unwrap_or(0),
                findings,
            ));
        }
        Ok::<_, pgrx::spi::Error>(rows)
    })
    .unwrap_or_else(|e| crate::error::spi_failed("role_audit", e));
    TableIterator::new(rows)
}
