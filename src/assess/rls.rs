//! Row-level security checks: tables that carry a tenant column (ge_security.tenant_columns)
//! and are reachable by app roles without the engine isolating tenants.
use super::registry::{Check, Severity};

/// `$v` (a pg_class row) is a view that runs with its owner's rights: no `security_invoker`
/// option, or one PostgreSQL reads as false (the option's text cast to boolean, as the server
/// parses it: `on`, `1`, `yes`, `true` are all true).
macro_rules! runs_as_owner {
    ($v:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_options_to_table(",
            $v,
            ".reloptions) o WHERE o.option_name = 'security_invoker' ",
            "AND o.option_value::pg_catalog.bool)"
        )
    };
}

/// Tables without row-level security that app or reporting roles may read or write
/// (`exposed_grant`): one query for two checks, each row naming its check in `check_id`
/// (pii_table_readable_without_rls when the table has PII-looking columns that are not
/// encrypted, table_readable_without_rls otherwise), so the grant reach is computed once per
/// assess() call. Tenant tables are left to rls_missing_on_tenant_table.
const EXPOSED_TABLE_FINDER: &str = r#",
exposed_table AS (
  SELECT r.oid, r.qualified,
         (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
           WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname IN (SELECT n.attname FROM pii_name n)
             AND NOT EXISTS (SELECT 1 FROM ge_security.protected_column pc
                              WHERE pc.table_name = r.oid AND pc.column_name = a.attname)) AS pii_columns
  FROM user_relation r
  WHERE r.relkind IN ('r', 'p') AND NOT r.relrowsecurity
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
                       AND a.attname = ANY ($3::text[]))
    AND r.oid IN (SELECT relid FROM exposed_grant)),
reader AS (
  SELECT g.relid, g.rolname, g.kind,
         pg_catalog.array_agg(DISTINCT g.privilege_type) AS privileges,
         pg_catalog.array_agg(DISTINCT g.path) AS paths,
         pg_catalog.array_agg(DISTINCT g.grantee_sql) FILTER (WHERE g.path <> 'owner') AS grantees
  FROM exposed_grant g WHERE g.relid IN (SELECT oid FROM exposed_table)
  GROUP BY g.relid, g.rolname, g.kind)
SELECT 'table', t.qualified,
       pg_catalog.format('table %s%s has no row-level security, and %s', t.qualified,
         CASE WHEN t.pii_columns IS NULL THEN ''
              ELSE pg_catalog.format(' (PII-looking columns %s)', pg_catalog.array_to_string(t.pii_columns, ', ')) END,
         pg_catalog.string_agg(pg_catalog.format('%s role %I can %s it (%s)', x.kind, x.rolname,
           pg_catalog.array_to_string(x.privileges, ', '), pg_catalog.array_to_string(x.paths, ', ')),
           '; ' ORDER BY x.rolname, x.kind)),
       pg_catalog.format('BEGIN; ALTER TABLE %1$s ENABLE ROW LEVEL SECURITY; ALTER TABLE %1$s FORCE ROW LEVEL SECURITY; COMMIT; '
                         '-- then CREATE POLICY ... ON %1$s TO <role> USING (<the rows it may see>); '
                         'or, if the role does not need the table: %2$s', t.qualified,
         coalesce((SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('REVOKE ALL ON TABLE %s FROM %s;', t.qualified, gr), ' ')
                     FROM reader y CROSS JOIN LATERAL pg_catalog.unnest(y.grantees) gr WHERE y.relid = t.oid),
                  pg_catalog.format('ALTER TABLE %s OWNER TO <a role that does not log in>;', t.qualified))),
       pg_catalog.jsonb_build_object('table', t.qualified, 'pii_columns', pg_catalog.to_jsonb(t.pii_columns),
         'readers', pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('role', x.rolname, 'kind', x.kind,
           'privileges', pg_catalog.to_jsonb(x.privileges), 'through', pg_catalog.to_jsonb(x.paths))
           ORDER BY x.rolname, x.kind)),
       CASE WHEN t.pii_columns IS NULL THEN 'table_readable_without_rls'
            ELSE 'pii_table_readable_without_rls' END AS check_id
FROM exposed_table t JOIN reader x ON x.relid = t.oid
GROUP BY t.oid, t.qualified, t.pii_columns"#;

/// Views that run with their owner's rights and that app or reporting roles may read, over
/// no row-level secured table (rls_bypassed_by_definer_view reports those): one query for two
/// checks, each row naming its check in `check_id` (owner_rights_view_reads_pii when the view
/// reads PII-looking columns, owner_rights_view_readable otherwise).
const OWNER_RIGHTS_VIEW_FINDER: &str = concat!(
    r#",
owner_view AS (
  -- views only (not every relation): few in most databases, so the privilege test per view
  -- and role is cheaper than the grants of every relation
  SELECT vc.oid, pg_catalog.format('%I.%I', s.nspname, vc.relname) AS qualified, vc.relowner,
         (SELECT pg_catalog.array_agg(DISTINCT pg_catalog.format('%s role %I', e.kind, e.rolname))
            FROM exposed_role e
           WHERE pg_catalog.has_table_privilege(e.oid, vc.oid, 'SELECT')
             AND pg_catalog.has_schema_privilege(e.oid, vc.relnamespace, 'USAGE')) AS readers
  FROM (SELECT c.* FROM pg_catalog.pg_class c WHERE c.relkind = 'v' OFFSET 0) vc
  JOIN user_schema s ON s.oid = vc.relnamespace
  WHERE "#,
    runs_as_owner!("vc"),
    r#"
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = vc.oid AND d.deptype = 'e')
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w
                    JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                     AND d.objid = w.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    JOIN pg_catalog.pg_class t ON t.oid = d.refobjid AND t.oid <> vc.oid AND t.relrowsecurity
                    WHERE w.ev_class = vc.oid)),
view_reads AS (
  SELECT v.oid AS view_oid, d.refobjid AS relid, a.attname,
         a.attname IN (SELECT n.attname FROM pii_name n) AND NOT EXISTS (SELECT 1 FROM ge_security.protected_column pc
                                          WHERE pc.table_name = d.refobjid AND pc.column_name = a.attname) AS pii
  FROM owner_view v
  JOIN pg_catalog.pg_rewrite w ON w.ev_class = v.oid AND v.readers IS NOT NULL
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = w.oid
                             AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> v.oid
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid AND d.refobjsubid > 0),
judged AS (
  SELECT v.*,
         (SELECT pg_catalog.array_agg(DISTINCT r.relid::pg_catalog.regclass::text) FROM view_reads r WHERE r.view_oid = v.oid) AS reads,
         (SELECT pg_catalog.array_agg(DISTINCT pg_catalog.format('%s.%I', r.relid::pg_catalog.regclass, r.attname))
            FROM view_reads r WHERE r.view_oid = v.oid AND r.pii) AS pii_columns
  FROM owner_view v WHERE v.readers IS NOT NULL)
SELECT 'view', j.qualified,
       pg_catalog.format('view %s runs with the rights of its owner %I%s, and %s can read it', j.qualified,
         pg_catalog.pg_get_userbyid(j.relowner),
         CASE WHEN j.pii_columns IS NULL THEN ''
              ELSE pg_catalog.format(' over PII-looking columns %s', pg_catalog.array_to_string(j.pii_columns, ', ')) END,
         pg_catalog.array_to_string(j.readers, ', ')),
       pg_catalog.format('ALTER VIEW %s SET (security_invoker = true); -- then grant its readers SELECT on what it reads (%s), under their own row-level security',
                         j.qualified, pg_catalog.array_to_string(j.reads, ', ')),
       pg_catalog.jsonb_build_object('view', j.qualified, 'owner', pg_catalog.pg_get_userbyid(j.relowner),
         'reads', pg_catalog.to_jsonb(j.reads), 'pii_columns', pg_catalog.to_jsonb(j.pii_columns),
         'readers', pg_catalog.to_jsonb(j.readers)),
       CASE WHEN j.pii_columns IS NULL THEN 'owner_rights_view_readable'
            ELSE 'owner_rights_view_reads_pii' END AS check_id
FROM judged j"#
);

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
                  role (often the application's), isolation does not apply to it. A table owned \
                  by a superuser or a BYPASSRLS role is not reported: FORCE does not bind such an \
                  owner, and only a non-superuser owner without BYPASSRLS would help (the role \
                  checks report those attributes).",
    requires: None,
    finder: "SELECT 'table', r.qualified, \
             pg_catalog.format('table %s has row-level security enabled but not forced, and its owner %I can log in', \
               r.qualified, o.rolname), \
             pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY;', r.qualified), \
             pg_catalog.jsonb_build_object('table', r.qualified, 'owner', o.rolname) \
             FROM user_relation r JOIN pg_catalog.pg_roles o ON o.oid = r.relowner \
             WHERE r.relkind IN ('r', 'p') AND r.relrowsecurity AND NOT r.relforcerowsecurity \
               AND o.rolcanlogin AND NOT o.rolsuper AND NOT o.rolbypassrls",
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
    description: "A permissive policy whose USING or WITH CHECK is always true (true, 1 = 1, any \
                  expression of constants that evaluates to true) ORs away every other policy \
                  for the commands and roles it covers.",
    requires: None,
    finder: r#"
SELECT 'policy', pg_catalog.format('%I ON %s', p.polname, r.qualified),
       pg_catalog.format('permissive policy %I on %s is always true for %s', p.polname, r.qualified,
         CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                       WHEN 'd' THEN 'DELETE' ELSE 'ALL' END),
       pg_catalog.format('DROP POLICY %I ON %s;', p.polname, r.qualified),
       pg_catalog.jsonb_build_object('table', r.qualified, 'policy', p.polname,
         'using', p.using_expr, 'with_check', p.check_expr)
FROM policy_verdict p JOIN user_relation r ON r.oid = p.polrelid
WHERE p.polpermissive AND p.lets_through = 'everything'"#,
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
FROM policy_verdict p
JOIN user_relation r ON r.oid = p.polrelid
CROSS JOIN LATERAL (SELECT coalesce(p.using_expr, '') || ' ' || coalesce(p.check_expr, '') AS expr) e
WHERE p.polpermissive AND p.lets_through <> 'nothing'
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
                      user widens access for every role, including roles added later. A policy \
                      that lets nothing through (USING false) widens nothing and is not reported; \
                      one that lets everything through is rls_policy_always_true.",
        requires: None,
        finder: r#"
SELECT 'policy', pg_catalog.format('%I ON %s', p.polname, r.qualified),
       pg_catalog.format('permissive policy %I on %s applies to PUBLIC and reads no tenant setting or user',
                         p.polname, r.qualified),
       pg_catalog.format('ALTER POLICY %I ON %s TO %s;', p.polname, r.qualified,
         coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.rolname), ', ' ORDER BY a.rolname)
                     FROM app_role a), 'CURRENT_USER')),
       pg_catalog.jsonb_build_object('table', r.qualified, 'policy', p.polname)
FROM policy_verdict p JOIN user_relation r ON r.oid = p.polrelid
WHERE p.polpermissive AND p.polroles = '{0}'::pg_catalog.oid[]
  AND p.lets_through = 'some'
  AND coalesce(p.using_expr, '') || coalesce(p.check_expr, '')
      !~* '(current_setting|current_user|session_user)'"#,
    },
    Check {
        id: "rls_bypassed_by_definer_view",
        severity: Severity::High,
        category: "rls",
        title: "View over a row-level secured table that runs with its owner's rights",
        controls: ISOLATION,
        description: "A view without security_invoker (or any materialized view) reads its tables \
                      as its owner, so the policies that would filter the reader do not apply: an \
                      app role that can read the view sees every tenant. The option is read as \
                      PostgreSQL reads it (on, 1, yes and true are all true).",
        requires: None,
        finder: concat!(r#"
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
  AND (v.relkind = 'm' OR "#, runs_as_owner!("vc"), r#")
  AND EXISTS (SELECT 1 FROM app_role a WHERE pg_catalog.has_table_privilege(a.oid, v.oid, 'SELECT'))
GROUP BY v.relkind, v.qualified, v.oid, v.relowner"#),
    },
    Check {
        id: "rls_policy_leaky_function",
        severity: Severity::Info,
        category: "rls",
        title: "Policy expression passes row data to a user function that is not LEAKPROOF",
        controls: ISOLATION,
        description: "A function in a policy that is not LEAKPROOF and is given column values may \
                      reveal them through errors or side effects; review it, and mark it LEAKPROOF \
                      when safe. Functions that receive no row data (no arguments, or only \
                      constants and settings) cannot leak rows. One finding per policy.",
        requires: None,
        // A call receives row data when a column reference (a VAR node) sits inside its
        // FUNCEXPR node in the stored expression tree: the node's extent is found by matching
        // braces from where it starts.
        finder: r#",
suspect AS (
  SELECT p.oid AS polid, f.oid AS fnoid, f.qualified
  FROM pg_catalog.pg_policy p
  JOIN user_relation r ON r.oid = p.polrelid
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass AND d.objid = p.oid
                             AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
  JOIN user_function f ON f.oid = d.refobjid
  JOIN pg_catalog.pg_proc pr ON pr.oid = f.oid AND NOT pr.proleakproof AND pr.pronargs > 0),
call AS (
  SELECT s.polid, s.qualified, e.tree, x.pos
  FROM suspect s JOIN pg_catalog.pg_policy p ON p.oid = s.polid
  CROSS JOIN LATERAL (VALUES (p.polqual::pg_catalog.text), (p.polwithcheck::pg_catalog.text)) e(tree)
  CROSS JOIN LATERAL pg_catalog.generate_series(1, pg_catalog.length(e.tree)) x(pos)
  WHERE e.tree IS NOT NULL
    AND pg_catalog.substr(e.tree, x.pos, 18 + pg_catalog.length(s.fnoid::pg_catalog.text) + 1)
        = '{FUNCEXPR :funcid ' || s.fnoid::pg_catalog.text || ' '),
leaking AS (
  SELECT c.polid, c.qualified
  FROM call c
  CROSS JOIN LATERAL (
    SELECT pg_catalog.min(k.pos) AS stop
    FROM (SELECT y.pos, pg_catalog.sum(CASE pg_catalog.substr(c.tree, y.pos, 1) WHEN '{' THEN 1
                                            WHEN '}' THEN -1 ELSE 0 END) OVER (ORDER BY y.pos) AS depth
          FROM pg_catalog.generate_series(c.pos, pg_catalog.length(c.tree)) y(pos)) k
    WHERE k.depth = 0) n
  WHERE pg_catalog.strpos(pg_catalog.substr(c.tree, c.pos, n.stop - c.pos + 1), '{VAR ') > 0)
SELECT 'policy', pg_catalog.format('%I ON %s', p.polname, r.qualified),
       pg_catalog.format('policy %I on %s passes row data to %s, not LEAKPROOF', p.polname, r.qualified,
                         pg_catalog.string_agg(DISTINCT l.qualified, ', ')),
       pg_catalog.format('-- review %s; if it cannot leak its arguments: %s',
                         pg_catalog.string_agg(DISTINCT l.qualified, ', '),
                         pg_catalog.string_agg(DISTINCT pg_catalog.format('ALTER FUNCTION %s LEAKPROOF;', l.qualified), ' ')),
       pg_catalog.jsonb_build_object('table', r.qualified, 'policy', p.polname,
                                     'functions', pg_catalog.jsonb_agg(DISTINCT l.qualified))
FROM leaking l
JOIN pg_catalog.pg_policy p ON p.oid = l.polid
JOIN user_relation r ON r.oid = p.polrelid
GROUP BY p.oid, p.polname, r.qualified"#,
    },
    Check {
        id: "pii_table_readable_without_rls",
        severity: Severity::High,
        category: "rls",
        title: "Application or reporting role reads or writes a table with PII-looking columns that has no row-level security",
        controls: &["ISO27001:A.8.3", "ISO27001:A.5.34", "SOC2:CC6.1", "SOC2:C1.1", "CIS:4.6", "CIS:4.7"],
        description: "An app role (ge_security.app_roles) or a reporting role (ge_security.readonly_roles) \
                      holds SELECT, INSERT, UPDATE or DELETE on a table with PII-looking columns \
                      (ge_security.pii_patterns, not registered as encrypted) and no row-level \
                      security, through PUBLIC, a direct grant (default privileges included) or a \
                      group role it belongs to: every row's personal data is one query away. \
                      Tenant tables are rls_missing_on_tenant_table.",
        requires: None,
        finder: EXPOSED_TABLE_FINDER,
    },
    Check {
        id: "table_readable_without_rls",
        severity: Severity::Medium,
        category: "rls",
        title: "Application or reporting role reads or writes a table that has no row-level security",
        controls: &["ISO27001:A.8.3", "SOC2:CC6.1", "CIS:4.6", "CIS:4.7"],
        description: "An app role or a reporting role holds SELECT, INSERT, UPDATE or DELETE on a table \
                      without row-level security (and without PII-looking columns: those are \
                      pii_table_readable_without_rls), through PUBLIC, a direct grant (default \
                      privileges included) or a group role it belongs to: nothing in the database \
                      limits which rows it sees or changes.",
        requires: None,
        finder: EXPOSED_TABLE_FINDER,
    },
    Check {
        id: "owner_rights_view_reads_pii",
        severity: Severity::High,
        category: "rls",
        title: "View running with its owner's rights over PII-looking columns, readable by app or reporting roles",
        controls: &["ISO27001:A.8.3", "ISO27001:A.5.34", "SOC2:CC6.1", "SOC2:C1.1", "CIS:4.6"],
        description: "A view without security_invoker reads its tables with its owner's privileges, so \
                      an app or reporting role that may read the view sees the PII-looking columns \
                      it reads whatever its own privileges on those tables. Views over row-level \
                      secured tables are rls_bypassed_by_definer_view.",
        requires: None,
        finder: OWNER_RIGHTS_VIEW_FINDER,
    },
    Check {
        id: "owner_rights_view_readable",
        severity: Severity::Medium,
        category: "rls",
        title: "View running with its owner's rights, readable by app or reporting roles",
        controls: &["ISO27001:A.8.3", "SOC2:CC6.1", "CIS:4.6"],
        description: "A view without security_invoker reads its tables with its owner's privileges: an \
                      app or reporting role that may read it bypasses its own privileges on what \
                      the view reads. With security_invoker the reader's own privileges and \
                      row-level security apply.",
        requires: None,
        finder: OWNER_RIGHTS_VIEW_FINDER,
    },
];
