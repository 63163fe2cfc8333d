//! Row-level security checks: tables that carry a tenant column (ge_security.tenant_columns)
//! and are reachable by app roles without the engine isolating tenants.
use super::registry::{Check, Severity};

pub const CHECKS: &[Check] = &[Check {
    id: "rls_missing_on_tenant_table",
    severity: Severity::High,
    category: "rls",
    title: "Tenant table without row-level security",
    controls: &["ISO27001:A.8.3", "ISO27001:A.5.15", "SOC2:CC6.1", "CIS:4.5"],
    description: "A table has a tenant column and an app role can read or write it, but row-level \
                  security is off: isolation rests on every query remembering its WHERE clause.",
    requires: None,
    finder: r#"
SELECT 'table', r.qualified,
       pg_catalog.format('table %s has tenant column %I but row-level security is disabled',
                         r.qualified, a.attname),
       pg_catalog.format(
         'ALTER TABLE %1$s ENABLE ROW LEVEL SECURITY; ALTER TABLE %1$s FORCE ROW LEVEL SECURITY; '
         'CREATE POLICY tenant_isolation ON %1$s '
         'USING (%2$I = NULLIF(current_setting(''app.current_tenant_id'', true), '''')::%3$s) '
         'WITH CHECK (%2$I = NULLIF(current_setting(''app.current_tenant_id'', true), '''')::%3$s);',
         r.qualified, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)),
       pg_catalog.jsonb_build_object('table', r.qualified, 'tenant_column', a.attname,
         'app_roles', (SELECT pg_catalog.jsonb_agg(ar.rolname ORDER BY ar.rolname) FROM app_role ar
                        WHERE pg_catalog.has_table_privilege(ar.oid, r.oid,
                                'SELECT, INSERT, UPDATE, DELETE')))
FROM user_relation r
JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE r.relkind IN ('r', 'p') AND NOT r.relrowsecurity AND a.attname = ANY ($3::text[])
  AND EXISTS (SELECT 1 FROM app_role ar
               WHERE pg_catalog.has_table_privilege(ar.oid, r.oid, 'SELECT, INSERT, UPDATE, DELETE'))"#,
}];
