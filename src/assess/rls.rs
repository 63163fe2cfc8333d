//! Row-level security checks: tables that carry a tenant column (ge_security.tenant_columns)
//! and are reachable by app roles without the engine isolating tenants.
use super::registry::{Check, Severity};

const ISOLATION: &[&str] = &["ISO27001:A.8.3", "SOC2:CC6.1", "CIS:4.5"];

pub const CHECKS: &[Check] = &[
Check {
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
},
Check {
    id: "rls_enabled_not_forced",
    severity: Severity::Medium,
    category: "rls",
    title: "Row-level security enabled but not forced, owner can log in",
    controls: ISOLATION,
    description: "The table owner bypasses policies unless RLS is forced; when the owner is a LOGIN \
                  role (often the application's), isolation does not apply to it.",
    requires: None,
    finder: "SELECT 'table', r.qualified, \
             pg_catalog.format('table %s has row-level security enabled but not forced, and its owner %I can log in', \
               r.qualified, o.rolname), \
             pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY;', r.qualified), \
             pg_catalog.jsonb_build_object('table', r.qualified, 'owner', o.rolname) \
             FROM user_relation r JOIN pg_catalog.pg_roles o ON o.oid = r.relowner \
             WHERE r.relkind IN ('r', 'p') AND r.relrowsecurity AND NOT r.relforcerowsecurity \
               AND o.rolcanlogin",
},
Check {
    id: "rls_enabled_no_policy",
    severity: Severity::Low,
    category: "rls",
    title: "Row-level security enabled without any policy",
    controls: ISOLATION,
    description: "With RLS on and no policy, every non-owner sees and writes nothing. That may be \
                  intended (deny-all), but it is often a forgotten policy.",
    requires: None,
    finder: "SELECT 'table', r.qualified, \
             pg_catalog.format('table %s has row-level security enabled and no policy (deny-all)', r.qualified), \
             pg_catalog.format('-- deny-all is intended: waive this finding; otherwise CREATE POLICY ... ON %s', r.qualified), \
             pg_catalog.jsonb_build_object('table', r.qualified) \
             FROM user_relation r WHERE r.relkind IN ('r', 'p') AND r.relrowsecurity \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = r.oid)",
},
Check {
    id: "rls_policies_while_disabled",
    severity: Severity::Medium,
    category: "rls",
    title: "Policies exist but row-level security is disabled",
    controls: ISOLATION,
    description: "Policies do nothing until RLS is enabled on the table: the isolation someone \
                  wrote is not in force.",
    requires: None,
    finder: "SELECT 'table', r.qualified, \
             pg_catalog.format('table %s has %s polic(ies) but row-level security is disabled', r.qualified, \
               (SELECT count(*) FROM pg_catalog.pg_policy p WHERE p.polrelid = r.oid)), \
             pg_catalog.format('ALTER TABLE %1$s ENABLE ROW LEVEL SECURITY; ALTER TABLE %1$s FORCE ROW LEVEL SECURITY;', r.qualified), \
             pg_catalog.jsonb_build_object('table', r.qualified) \
             FROM user_relation r WHERE r.relkind IN ('r', 'p') AND NOT r.relrowsecurity \
               AND EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = r.oid)",
},
Check {
    id: "rls_policy_always_true",
    severity: Severity::High,
    category: "rls",
    title: "Permissive policy that lets every row through",
    controls: ISOLATION,
    description: "A permissive policy whose USING or WITH CHECK is always true (true, 1 = 1) ORs \
                  away every other policy for the commands and roles it covers.",
    requires: None,
    finder: r#"
SELECT 'policy', pg_catalog.format('%I ON %s', p.polname, r.qualified),
       pg_catalog.format('permissive policy %I on %s is always true for %s', p.polname, r.qualified,
         CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                       WHEN 'd' THEN 'DELETE' ELSE 'ALL' END),
       pg_catalog.format('DROP POLICY %I ON %s;', p.polname, r.qualified),
       pg_catalog.jsonb_build_object('table', r.qualified, 'policy', p.polname,
         'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid),
         'with_check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
FROM pg_catalog.pg_policy p JOIN user_relation r ON r.oid = p.polrelid
WHERE p.polpermissive
  AND (pg_catalog.btrim(coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), ''), '() ') IN ('true', '1 = 1')
    OR pg_catalog.btrim(coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), ''), '() ') IN ('true', '1 = 1'))"#,
},
];
