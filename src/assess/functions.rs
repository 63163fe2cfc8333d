//! Function checks: SECURITY DEFINER functions that can be hijacked through search_path.
//! More function, language and extension checks join this file.
use super::registry::{Check, Severity};

pub const CHECKS: &[Check] = &[Check {
    id: "secdef_function_no_search_path",
    severity: Severity::High,
    category: "functions",
    title: "SECURITY DEFINER function without a pinned search_path",
    controls: &["ISO27001:A.8.28", "SOC2:CC6.1", "CIS:4.3"],
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
}];
