//! Resource limit checks for application roles: statement and idle-in-transaction timeouts,
//! and connection limits.
use super::registry::{Check, Severity};

const AVAILABILITY: &[&str] = &["ISO27001:A.8.6", "SOC2:A1.1"];

/// An app role with no effective value for `$setting` (none on the role, the database, or
/// globally).
macro_rules! timeout_finder {
    ($setting:literal, $fix:literal) => {
        concat!(
            "SELECT 'role', 'role ' || pg_catalog.quote_ident(a.rolname), ",
            "pg_catalog.format('app role %I runs without ",
            $setting,
            "', a.rolname), ",
            "pg_catalog.format('ALTER ROLE %I SET ",
            $setting,
            " = %L;', a.rolname, '",
            $fix,
            "'), ",
            "pg_catalog.jsonb_build_object('role', a.rolname) ",
            "FROM app_role a ",
            "WHERE pg_catalog.current_setting('",
            $setting,
            "') IN ('0', '0ms') ",
            "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s ",
            "  CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) c ",
            "  WHERE s.setrole IN (a.oid, 0) AND c LIKE '",
            $setting,
            "=%' AND c NOT IN ('",
            $setting,
            "=0'))"
        )
    };
}

pub const CHECKS: &[Check] = &[
    Check {
        id: "app_role_no_statement_timeout",
        severity: Severity::Low,
        category: "resources",
        title: "Application role without statement_timeout",
        controls: AVAILABILITY,
        description: "A runaway query from the application can hold locks and a backend forever.",
        requires: None,
        finder: timeout_finder!("statement_timeout", "30s"),
    },
    Check {
        id: "app_role_no_idle_in_transaction_timeout",
        severity: Severity::Low,
        category: "resources",
        title: "Application role without idle_in_transaction_session_timeout",
        controls: AVAILABILITY,
        description: "A session left idle inside a transaction holds locks and blocks vacuum.",
        requires: None,
        finder: timeout_finder!("idle_in_transaction_session_timeout", "60s"),
    },
    Check {
        id: "app_role_unlimited_connections",
        severity: Severity::Low,
        category: "resources",
        title: "Application role without a connection limit",
        controls: &["ISO27001:A.8.6", "SOC2:A1.1", "CIS:5.5"],
        description: "A connection leak in one application can take every connection slot.",
        requires: None,
        finder: "SELECT 'role', 'role ' || pg_catalog.quote_ident(r.rolname), \
                 pg_catalog.format('app role %I has no connection limit', r.rolname), \
                 pg_catalog.format('ALTER ROLE %I CONNECTION LIMIT 100;', r.rolname), \
                 pg_catalog.jsonb_build_object('role', r.rolname) \
                 FROM app_role a JOIN pg_catalog.pg_roles r ON r.oid = a.oid \
                 WHERE r.rolcanlogin AND r.rolconnlimit = -1",
    },
];
