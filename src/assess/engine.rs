//! Runs checks against the catalogs as the caller and applies waivers.
//! Every check is one set-based query; a missing privilege yields a `not_assessed` row.
use super::registry::{Check, Severity};
use super::setting_problems;
use crate::gucs;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;
use std::collections::HashSet;

/// Common table expressions every finder may use. Parameters: $1 superuser allow-list,
/// $2 app roles (empty: LOGIN non-superusers), $3 tenant columns, $4 PII name pattern, $5 reporting
/// (read-only) roles. Extension members and
/// system schemas never appear in them. `app_reach` holds the app roles and every role they
/// are members of (directly or not), and `app_relation` the relations they may read or write,
/// to test ACLs without one privilege call per role and relation.
const PRELUDE: &str = r#"
WITH RECURSIVE
allowlisted AS (
  SELECT r.oid, r.rolname FROM pg_catalog.pg_roles r WHERE r.rolname = ANY ($1::text[])),
app_role AS (
  SELECT r.oid, r.rolname FROM pg_catalog.pg_roles r
  WHERE r.rolname !~ '^pg_'
    AND CASE WHEN pg_catalog.cardinality($2::text[]) = 0 THEN r.rolcanlogin AND NOT r.rolsuper
             ELSE r.rolname = ANY ($2::text[]) END),
app_reach(oid) AS (
  SELECT oid FROM app_role
  UNION
  SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN app_reach a ON m.member = a.oid),
app_relation AS (
  SELECT c.oid FROM pg_catalog.pg_class c
   WHERE c.relacl IS NULL AND c.relowner IN (SELECT oid FROM app_reach)
  UNION
  SELECT c.oid FROM pg_catalog.pg_class c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) x
   WHERE c.relacl IS NOT NULL AND x.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
     AND (x.grantee = 0 OR x.grantee IN (SELECT oid FROM app_reach))),
login_role AS (
  SELECT r.* FROM pg_catalog.pg_roles r
  WHERE r.rolcanlogin AND r.rolname !~ '^pg_' AND r.rolname <> ALL ($1::text[])),
user_schema AS (
  SELECT n.oid, n.nspname, n.nspowner FROM pg_catalog.pg_namespace n
  WHERE NOT ge_security.system_schema(n.nspname)
    AND n.oid NOT IN (SELECT e.extnamespace FROM pg_catalog.pg_extension e
                      WHERE e.extname = 'ge_security')
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                      AND d.objid = n.oid AND d.deptype = 'e')),
user_relation AS (
  SELECT c.oid, c.relname, c.relkind, c.relowner, c.relrowsecurity, c.relforcerowsecurity,
         c.relacl, s.nspname, pg_catalog.format('%I.%I', s.nspname, c.relname) AS qualified
  FROM pg_catalog.pg_class c JOIN user_schema s ON s.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'e')),
user_function AS (
  SELECT p.oid, p.proname, p.prokind, p.proowner, p.prosecdef, p.proconfig, p.proacl, s.nspname,
         pg_catalog.format('%I.%I(%s)', s.nspname, p.proname,
                           pg_catalog.pg_get_function_identity_arguments(p.oid)) AS qualified
  FROM pg_catalog.pg_proc p JOIN user_schema s ON s.oid = p.pronamespace
  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                      AND d.objid = p.oid AND d.deptype = 'e'))
"#;

/// What happened to a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Fail,
    NotAssessed,
    Waived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fail => "fail",
            Status::NotAssessed => "not_assessed",
            Status::Waived => "waived",
        }
    }
}

/// One row of `assess()`.
#[derive(Debug, Clone)]
pub struct Finding {
    pub check: &'static Check,
    pub object_type: String,
    pub object_name: String,
    pub status: Status,
    pub message: String,
    pub remediation: Option<String>,
    pub details: serde_json::Value,
}

/// Run the given checks as the calling role and mark findings covered by a live waiver.
pub fn run(checks: impl Iterator<Item = &'static Check>) -> Vec<Finding> {
    let allowlist = gucs::list(&gucs::SUPERUSER_ALLOWLIST);
    let app_roles = gucs::list(&gucs::APP_ROLES);
    let tenant_columns = gucs::list(&gucs::TENANT_COLUMNS);
    let pii_pattern = gucs::text(&gucs::PII_PATTERNS);
    let readonly_roles = gucs::list(&gucs::READONLY_ROLES);
    let problems = setting_problems::find();
    let mut findings = Vec::new();
    Spi::connect(|client| {
        let database: String = client
            .select(
                "SELECT pg_catalog.quote_ident(pg_catalog.current_database())",
                None,
                &[],
            )
            .and_then(|t| t.first().get_one())
            .ok()
            .flatten()
            .unwrap_or_default();
        for check in checks {
            if let Some(requirement) = &check.requires {
                let probe = format!("SELECT ({})::boolean", requirement.probe);
                let allowed: bool = client
                    .select(&probe, None, &[])
                    .and_then(|t| t.first().get_one())
                    .ok()
                    .flatten()
                    .unwrap_or(false);
                if !allowed {
                    findings.push(not_assessed(check, &database, requirement.needs));
                    continue;
                }
            }
            let mut skipped = false;
            for problem in problems.iter().filter(|p| p.affects(check)) {
                findings.push(problem.finding(check));
                skipped |= problem.unusable;
            }
            if skipped {
                continue;
            }
            let args: [DatumWithOid; 5] = [
                allowlist.clone().into(),
                app_roles.clone().into(),
                tenant_columns.clone().into(),
                pii_pattern.as_str().into(),
                readonly_roles.clone().into(),
            ];
            let query = format!("{PRELUDE} {}", check.finder);
            let rows = client
                .select(&query, None, &args)
                .unwrap_or_else(|e| crate::error::spi_failed(check.id, e));
            let marks_not_assessed = rows.columns().unwrap_or(0) >= 6;
            for row in rows {
                let text = |n: usize| row.get::<String>(n).ok().flatten();
                let could_not_look =
                    marks_not_assessed && row.get::<bool>(6).ok().flatten() == Some(true);
                findings.push(Finding {
                    check,
                    object_type: text(1).unwrap_or_default(),
                    object_name: text(2).unwrap_or_default(),
                    status: if could_not_look {
                        Status::NotAssessed
                    } else {
                        Status::Fail
                    },
                    message: text(3).unwrap_or_default(),
                    remediation: text(4),
                    details: row
                        .get::<JsonB>(5)
                        .ok()
                        .flatten()
                        .map(|j| j.0)
                        .unwrap_or(serde_json::Value::Null),
                });
            }
        }
    });
    apply_waivers(&mut findings);
    findings
}

fn not_assessed(check: &'static Check, database: &str, needs: &str) -> Finding {
    Finding {
        check,
        object_type: "database".into(),
        object_name: database.into(),
        status: Status::NotAssessed,
        message: format!("{} was not assessed: the caller lacks {needs}", check.id),
        remediation: Some(format!(
            "-- run ge_security.assess() as a role with {needs}"
        )),
        details: serde_json::json!({ "needs": needs }),
    }
}

/// Mark failing findings that a live (unexpired) waiver covers.
fn apply_waivers(findings: &mut [Finding]) {
    let waived: HashSet<(String, String)> = Spi::connect(|client| {
        client
            .select(
                // a waiver written around waive() (say, expiring 'infinity') does not count
                "SELECT check_id, object_name FROM ge_security.waiver \
                 WHERE expires_at > pg_catalog.now() \
                   AND expires_at <= granted_at + pg_catalog.make_interval(years => 1)",
                None,
                &[],
            )
            .map(|rows| {
                rows.filter_map(|row| {
                    Some((row.get::<String>(1).ok()??, row.get::<String>(2).ok()??))
                })
                .collect()
            })
            .unwrap_or_default()
    });
    for finding in findings.iter_mut().filter(|f| f.status == Status::Fail) {
        if waived.contains(&(finding.check.id.to_owned(), finding.object_name.clone())) {
            finding.status = Status::Waived;
        }
    }
}

/// Findings at or above `min`, waived ones only when asked, most serious first.
pub fn select(mut findings: Vec<Finding>, min: Severity, include_waived: bool) -> Vec<Finding> {
    findings.retain(|f| f.check.severity >= min && (include_waived || f.status != Status::Waived));
    findings.sort_by(|a, b| {
        b.check
            .severity
            .cmp(&a.check.severity)
            .then_with(|| a.check.id.cmp(b.check.id))
            .then_with(|| a.object_name.cmp(&b.object_name))
    });
    findings
}
