//! Function, language and extension checks: SECURITY DEFINER functions open to search_path
//! hijacking or callable by everyone, untrusted languages, and risky or misplaced extensions.
use super::registry::{Check, Severity};

/// SECURITY DEFINER code that lets callers run with the owner's rights (CIS PostgreSQL 15
/// v1.2.0, 4.5: excessive function privileges).
const DEFINER_CODE: &[&str] = &["ISO27001:A.8.28", "ISO27001:A.8.2", "SOC2:CC8.1", "CIS:4.5"];

pub const CHECKS: &[Check] = &[
Check {
    id: "secdef_function_no_search_path",
    severity: Severity::High,
    category: "functions",
    title: "SECURITY DEFINER function without a pinned search_path",
    controls: DEFINER_CODE,
    description: "A SECURITY DEFINER function resolves unqualified names through the caller's \
                  search_path, so a caller who can create objects in a schema on that path runs \
                  code with the owner's rights.",
    requires: None,
    finder: "SELECT 'function', f.qualified, \
             pg_catalog.format('SECURITY DEFINER function %s does not pin search_path', f.qualified), \
             pg_catalog.format('ALTER %s %s SET search_path = pg_catalog, pg_temp;', \
               CASE f.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, f.qualified), \
             pg_catalog.jsonb_build_object('function', f.qualified, \
               'owner', pg_catalog.pg_get_userbyid(f.proowner)) \
             FROM user_function f WHERE f.prosecdef AND NOT EXISTS \
             (SELECT 1 FROM pg_catalog.unnest(f.proconfig) c WHERE c LIKE 'search_path=%')",
},
    Check {
        id: "secdef_function_unsafe_search_path",
        severity: Severity::High,
        category: "functions",
        title: "SECURITY DEFINER function with a search_path open to other roles",
        controls: DEFINER_CODE,
        description: "The pinned search_path does not end with pg_temp (so temporary objects are \
                      searched first), or puts first a schema where others may create objects.",
        requires: None,
        finder: r#"
SELECT 'function', f.qualified,
       pg_catalog.format('SECURITY DEFINER function %s has search_path %s', f.qualified, c.path),
       pg_catalog.format('ALTER %s %s SET search_path = pg_catalog, pg_temp;',
                         CASE f.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, f.qualified),
       pg_catalog.jsonb_build_object('function', f.qualified, 'search_path', c.path)
FROM user_function f
CROSS JOIN LATERAL (SELECT pg_catalog.substr(x, 13) AS path FROM pg_catalog.unnest(f.proconfig) x
                     WHERE x LIKE 'search_path=%') c
WHERE f.prosecdef
  AND (pg_catalog.btrim(pg_catalog.split_part(pg_catalog.reverse(c.path), ',', 1), ' "') <> 'pmet_gp'
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
                   WHERE n.nspname = pg_catalog.btrim(pg_catalog.split_part(c.path, ',', 1), ' "')
                     AND (n.nspname = 'public' OR pg_catalog.has_schema_privilege('public', n.oid, 'CREATE'))))"#,
    },
    Check {
        id: "secdef_function_executable_by_public",
        severity: Severity::High,
        category: "functions",
        title: "SECURITY DEFINER function executable by PUBLIC",
        controls: &["ISO27001:A.8.2", "ISO27001:A.5.15", "SOC2:CC6.3", "CIS:4.5"],
        description: "Every role can run code with the owner's rights; grant EXECUTE to the roles \
                      that need it.",
        requires: None,
        finder: "SELECT 'function', f.qualified, \
                 pg_catalog.format('SECURITY DEFINER function %s (owner %I) is executable by PUBLIC', \
                   f.qualified, pg_catalog.pg_get_userbyid(f.proowner)), \
                 pg_catalog.format('REVOKE EXECUTE ON %s %s FROM PUBLIC;', \
                   CASE f.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, f.qualified), \
                 pg_catalog.jsonb_build_object('function', f.qualified, 'owner', pg_catalog.pg_get_userbyid(f.proowner)) \
                 FROM user_function f WHERE f.prosecdef AND f.prokind IN ('f', 'p') \
                   AND (f.proacl IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.aclexplode(f.proacl) a \
                        WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))",
    },
    Check {
        id: "secdef_function_executable_by_app_role",
        severity: Severity::Medium,
        category: "functions",
        title: "SECURITY DEFINER function executable by an application or reporting role",
        controls: &["ISO27001:A.8.2", "ISO27001:A.5.15", "SOC2:CC6.3", "CIS:4.5"],
        description: "An app role (ge_security.app_roles) or a reporting role may run code with the \
                      owner's rights through a direct grant or a group role it belongs to (PUBLIC \
                      is secdef_function_executable_by_public). Keep such grants to functions \
                      written for them, and waive those.",
        requires: None,
        finder: r#"
SELECT 'function', f.qualified,
       pg_catalog.format('SECURITY DEFINER function %s (owner %I) can be executed by %s', f.qualified,
         pg_catalog.pg_get_userbyid(f.proowner),
         pg_catalog.string_agg(DISTINCT pg_catalog.format('%s role %I (%s)', e.kind, e.rolname,
           CASE WHEN x.grantee = e.oid THEN 'direct grant'
                ELSE 'group role ' || pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END), ', ')),
       pg_catalog.string_agg(DISTINCT pg_catalog.format('REVOKE EXECUTE ON %s %s FROM %I;',
         CASE f.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, f.qualified,
         pg_catalog.pg_get_userbyid(x.grantee)), ' ')
       || ' -- if the role is meant to call it, waive this finding instead',
       pg_catalog.jsonb_build_object('function', f.qualified, 'owner', pg_catalog.pg_get_userbyid(f.proowner),
         'owner_is_superuser', (SELECT o.rolsuper FROM pg_catalog.pg_roles o WHERE o.oid = f.proowner),
         'callers', pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_object('role', e.rolname, 'kind', e.kind,
           'through', CASE WHEN x.grantee = e.oid THEN 'direct grant'
                           ELSE 'group role ' || pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END)))
FROM user_function f
CROSS JOIN LATERAL pg_catalog.aclexplode(f.proacl) x
JOIN exposed_reach h ON h.oid = x.grantee
JOIN exposed_role e ON e.oid = h.role_oid
WHERE f.prosecdef AND f.prokind IN ('f', 'p') AND x.privilege_type = 'EXECUTE'
  AND x.grantee <> f.proowner AND e.oid <> f.proowner
  AND pg_catalog.has_schema_privilege(e.oid, f.pronamespace, 'USAGE')
GROUP BY f.oid, f.qualified, f.proowner, f.prokind"#,
    },
    Check {
        id: "function_search_path_mutable",
        severity: Severity::Low,
        category: "functions",
        title: "Function without a pinned search_path in a schema application roles use",
        controls: &["ISO27001:A.8.28", "SOC2:CC8.1", "CIS:4.5"],
        description: "A function (not SECURITY DEFINER: those are secdef_function_no_search_path) \
                      resolves unqualified names through the caller's search_path, so what it calls \
                      depends on who calls it and what is on their path. Reported in schemas app or \
                      reporting roles may use; C and internal functions and SQL functions with a \
                      BEGIN ATOMIC body (names bound when created) are not.",
        requires: None,
        finder: r#",
reachable_schema AS (
  SELECT s.oid FROM user_schema s
  WHERE EXISTS (SELECT 1 FROM exposed_role e WHERE pg_catalog.has_schema_privilege(e.oid, s.oid, 'USAGE')))
SELECT 'function', f.qualified,
       pg_catalog.format('function %s does not pin search_path', f.qualified),
       pg_catalog.format('ALTER %s %s SET search_path = pg_catalog, pg_temp; -- then qualify the names it uses (or list schema %I first)',
         CASE f.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, f.qualified, f.nspname),
       pg_catalog.jsonb_build_object('function', f.qualified, 'language', l.lanname,
                                     'owner', pg_catalog.pg_get_userbyid(f.proowner))
FROM user_function f
JOIN pg_catalog.pg_proc p ON p.oid = f.oid
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE NOT f.prosecdef AND f.prokind IN ('f', 'p') AND l.lanname NOT IN ('c', 'internal')
  AND p.prosqlbody IS NULL
  AND f.pronamespace IN (SELECT oid FROM reachable_schema)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(f.proconfig) c WHERE c LIKE 'search_path=%')"#,
    },
    Check {
        id: "untrusted_language_installed",
        severity: Severity::Medium,
        category: "functions",
        title: "Untrusted procedural language installed",
        controls: &["ISO27001:A.8.19", "ISO27001:A.8.9", "SOC2:CC6.8"],
        description: "Functions in an untrusted language (plpython3u, plperlu, ...) run arbitrary code \
                      as the postgres OS user.",
        requires: None,
        finder: "SELECT 'language', pg_catalog.quote_ident(l.lanname), \
                 pg_catalog.format('untrusted language %I is installed', l.lanname), \
                 pg_catalog.format('DROP EXTENSION IF EXISTS %I; -- or DROP LANGUAGE %I;', l.lanname, l.lanname), \
                 pg_catalog.jsonb_build_object('language', l.lanname) \
                 FROM pg_catalog.pg_language l \
                 WHERE NOT l.lanpltrusted AND l.lanname NOT IN ('c', 'internal')",
    },
    Check {
        id: "extension_in_public_schema",
        severity: Severity::Low,
        category: "functions",
        title: "Extension installed in the public schema",
        controls: &["ISO27001:A.8.9", "SOC2:CC7.1"],
        description: "Extension objects in public mix with application objects and are found \
                      through every default search_path.",
        requires: None,
        finder: "SELECT 'extension', pg_catalog.quote_ident(e.extname), \
                 pg_catalog.format('extension %I is installed in schema public', e.extname), \
                 CASE WHEN e.extrelocatable \
                   THEN pg_catalog.format('BEGIN; CREATE SCHEMA IF NOT EXISTS extensions; ALTER EXTENSION %I SET SCHEMA extensions; COMMIT;', e.extname) \
                   ELSE pg_catalog.format('-- %I is not relocatable: reinstall it WITH SCHEMA extensions', e.extname) END, \
                 pg_catalog.jsonb_build_object('extension', e.extname) \
                 FROM pg_catalog.pg_extension e \
                 WHERE e.extnamespace = 'public'::pg_catalog.regnamespace AND e.extname <> 'plpgsql'",
    },
    Check {
        id: "risky_extension_installed",
        severity: Severity::Low,
        category: "functions",
        title: "Extension that reaches outside the database is installed",
        controls: &["ISO27001:A.8.19", "ISO27001:A.8.9", "SOC2:CC6.8"],
        description: "dblink, postgres_fdw, file_fdw, adminpack and pageinspect reach other servers, \
                      server files or raw pages; keep them only where needed and restrict their use.",
        requires: None,
        finder: "SELECT 'extension', pg_catalog.quote_ident(e.extname), \
                 pg_catalog.format('extension %I is installed', e.extname), \
                 pg_catalog.format('DROP EXTENSION %I; -- if unused', e.extname), \
                 pg_catalog.jsonb_build_object('extension', e.extname, 'version', e.extversion) \
                 FROM pg_catalog.pg_extension e \
                 WHERE e.extname IN ('dblink', 'postgres_fdw', 'file_fdw', 'adminpack', 'pageinspect')",
    },
];
