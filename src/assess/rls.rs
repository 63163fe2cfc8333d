//! Row-level security checks: tables that carry a tenant column (ge_security.tenant_columns)
//! and are reachable by app roles without the engine isolating tenants.
use super::registry::{Check, Severity};

/// Row-level security as the tenant boundary (CIS PostgreSQL 15 v1.2.0, 4.7).
const ISOLATION: &[&str] = &["ISO27001:A.8.3", "SOC2:CC6.1", "CIS:4.7"];

pub const CHECKS: &[Check] = &[
Check {
    id: "rls_missing_on_tenant_table",
    severity: Severity::High,
    category: "rls",
    title: "Tenant table without row-level security",
    controls: &["ISO27001:A.8.3", "ISO27001:A.5.15", "SOC2:CC6.1", "CIS:4.7"],
    description: "A table has a tenant column and an app role can read or write it, but row-level \
                  security is off: isolation rests on every query remembering its WHERE clause.",
    requires: None,
    finder: r#"
SELECT 'table', r.qualified,
       pg_catalog.format('table %s has tenant column %I but row-level security is disabled',
                         r.qualified, a.attname),
       pg_catalog.format(
         'BEGIN; ALTER TABLE %1$s ENABLE ROW LEVEL SECURITY; ALTER TABLE %1$s FORCE ROW LEVEL SECURITY; '
         'CREATE POLICY tenant_isolation ON %1$s '
         'USING (%2$I = NULLIF(current_setting(''app.current_tenant_id'', true), '''')::%3$s) '
         'WITH CHECK (%2$I = NULLIF(current_setting(''app.current_tenant_id'', true), '''')::%3$s); COMMIT;',
         r.qualified, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)),
       pg_catalog.jsonb_build_object('table', r.qualified, 'tenant_column', a.attname,
         'reachable_through', (SELECT pg_catalog.jsonb_agg(DISTINCT CASE WHEN x.grantee = 0 THEN 'PUBLIC'
                                        ELSE pg_catalog.pg_get_userbyid(x.grantee) END)
                                 FROM pg_catalog.aclexplode(coalesce(r.relacl, pg_catalog.acldefault('r', r.relowner))) x
                                WHERE x.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
                                  AND (x.grantee = 0 OR x.grantee IN (SELECT oid FROM app_reach))))
FROM user_relation r
JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE r.relkind IN ('r', 'p') AND NOT r.relrowsecurity AND a.attname = ANY ($3::text[])
  AND r.oid IN (SELECT oid FROM app_relation)"#,
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
             pg_catalog.format('BEGIN; ALTER TABLE %1$s ENABLE ROW LEVEL SECURITY; ALTER TABLE %1$s FORCE ROW LEVEL SECURITY; COMMIT;', r.qualified), \
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
    Check {
        id: "rls_policy_open_when_setting_missing",
        severity: Severity::High,
        category: "rls",
        title: "Policy that lets rows through when the tenant setting is missing or empty",
        controls: ISOLATION,
        description: "A policy reads a setting with current_setting(..., true) and then treats NULL or \
                      the empty string as 'match everything' (IS NULL, coalesce, = ''): a request \
                      that forgot to set the tenant sees every tenant.",
        requires: None,
        finder: r#"
SELECT 'policy', pg_catalog.format('%I ON %s', p.polname, r.qualified),
       pg_catalog.format('policy %I on %s lets rows through when its setting is missing or empty',
                         p.polname, r.qualified),
       pg_catalog.format('BEGIN; SELECT ge_security.enable_tenant_isolation(%L, %L); DROP POLICY %I ON %s; COMMIT;',
                         r.qualified, coalesce((SELECT a.attname::text FROM pg_catalog.pg_attribute a
                             WHERE a.attrelid = r.oid AND a.attname = ANY ($3::text[]) LIMIT 1), 'tenant_id'),
                         p.polname, r.qualified),
       pg_catalog.jsonb_build_object('table', r.qualified, 'policy', p.polname, 'expression', e.expr)
FROM pg_catalog.pg_policy p
JOIN user_relation r ON r.oid = p.polrelid
CROSS JOIN LATERAL (SELECT coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '') || ' ' ||
                           coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '') AS expr) e
WHERE p.polpermissive
  AND e.expr ~* 'current_setting\([^)]*,\s*true\)'
  AND e.expr ~* '(IS NULL|COALESCE\(|= ''''::text|<> ''''::text)'"#,
    },
    Check {
        id: "rls_permissive_policy_to_public",
        severity: Severity::Low,
        category: "rls",
        title: "Permissive policy for PUBLIC that does not depend on the tenant or the user",
        controls: ISOLATION,
        description: "A permissive policy granted to PUBLIC whose predicate reads no setting and no \
                      user widens access for every role, including roles added later.",
        requires: None,
        finder: r#"
SELECT 'policy', pg_catalog.format('%I ON %s', p.polname, r.qualified),
       pg_catalog.format('permissive policy %I on %s applies to PUBLIC and reads no tenant setting or user',
                         p.polname, r.qualified),
       pg_catalog.format('ALTER POLICY %I ON %s TO %s;', p.polname, r.qualified,
         coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.rolname), ', ' ORDER BY a.rolname)
                     FROM app_role a), 'CURRENT_USER')),
       pg_catalog.jsonb_build_object('table', r.qualified, 'policy', p.polname)
FROM pg_catalog.pg_policy p JOIN user_relation r ON r.oid = p.polrelid
WHERE p.polpermissive AND p.polroles = '{0}'::pg_catalog.oid[]
  AND coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '')
      || coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '')
      !~* '(current_setting|current_user|session_user)'
  AND pg_catalog.btrim(coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), ''), '() ') NOT IN ('true', '1 = 1')
  AND pg_catalog.btrim(coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), ''), '() ') NOT IN ('true', '1 = 1')"#,
    },
    Check {
        id: "rls_bypassed_by_definer_view",
        severity: Severity::High,
        category: "rls",
        title: "View over a row-level secured table that runs with its owner's rights",
        controls: ISOLATION,
        description: "A view without security_invoker (or any materialized view) reads its tables \
                      as its owner, so the policies that would filter the reader do not apply: an \
                      app role that can read the view sees every tenant.",
        requires: None,
        finder: r#"
SELECT CASE v.relkind WHEN 'm' THEN 'materialized_view' ELSE 'view' END, v.qualified,
       pg_catalog.format('%s %s reads row-level secured table %s with its owner''s rights, and app roles can read it',
                         CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END, v.qualified,
                         pg_catalog.string_agg(DISTINCT t.qualified, ', ')),
       CASE v.relkind WHEN 'm'
            THEN pg_catalog.format('REVOKE SELECT ON %s FROM %s;', v.qualified,
                   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.rolname), ', ' ORDER BY a.rolname)
                      FROM app_role a WHERE pg_catalog.has_table_privilege(a.oid, v.oid, 'SELECT')))
            ELSE pg_catalog.format('ALTER VIEW %s SET (security_invoker = true);', v.qualified) END,
       pg_catalog.jsonb_build_object('view', v.qualified, 'tables', pg_catalog.jsonb_agg(DISTINCT t.qualified),
         'owner', pg_catalog.pg_get_userbyid(v.relowner))
FROM user_relation v
JOIN pg_catalog.pg_class vc ON vc.oid = v.oid
JOIN pg_catalog.pg_rewrite w ON w.ev_class = v.oid
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = w.oid
                           AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
JOIN user_relation t ON t.oid = d.refobjid AND t.oid <> v.oid AND t.relrowsecurity
WHERE v.relkind IN ('v', 'm')
  AND (v.relkind = 'm' OR NOT coalesce(vc.reloptions @> '{security_invoker=true}', false))
  AND EXISTS (SELECT 1 FROM app_role a WHERE pg_catalog.has_table_privilege(a.oid, v.oid, 'SELECT'))
GROUP BY v.relkind, v.qualified, v.oid, v.relowner"#,
    },
    Check {
        id: "rls_policy_leaky_function",
        severity: Severity::Info,
        category: "rls",
        title: "Policy expression calls a user function that is not LEAKPROOF",
        controls: ISOLATION,
        description: "A function in a policy that is not LEAKPROOF may reveal the values it is given \
                      through errors or side effects; review it, and mark it LEAKPROOF when safe.",
        requires: None,
        finder: r#"
SELECT 'policy', pg_catalog.format('%I ON %s', p.polname, r.qualified),
       pg_catalog.format('policy %I on %s calls %s, which is not LEAKPROOF', p.polname, r.qualified, f.qualified),
       pg_catalog.format('-- review %s; if it cannot leak its arguments: ALTER FUNCTION %s LEAKPROOF;',
                         f.qualified, f.qualified),
       pg_catalog.jsonb_build_object('table', r.qualified, 'policy', p.polname, 'function', f.qualified)
FROM pg_catalog.pg_policy p
JOIN user_relation r ON r.oid = p.polrelid
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass AND d.objid = p.oid
                           AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
JOIN user_function f ON f.oid = d.refobjid
JOIN pg_catalog.pg_proc pr ON pr.oid = f.oid AND NOT pr.proleakproof"#,
    },
];
