//! Runs checks against the catalogs as the caller and applies waivers.
//! Every check is one set-based query; a missing privilege yields a `not_assessed` row.
use super::registry::{Check, Severity};
use super::setting_problems;
use crate::gucs;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use std::collections::{HashMap, HashSet};

/// Common table expressions every finder may use. Parameters: $1 superuser allow-list,
/// $2 app roles (empty: LOGIN non-superusers), $3 tenant columns, $4 PII name pattern, $5 reporting
/// (read-only) roles, $6 the column names $4 matches. Extension members and
/// system schemas never appear in them. `app_reach` holds the app roles and every role they
/// are members of (directly or not), and `app_relation` the relations they may read or write,
/// to test ACLs without one privilege call per role and relation. `exposed_role` adds the
/// reporting roles to the app roles, and `exposed_grant` says, per relation and exposed role,
/// which privilege reaches it and how (PUBLIC, owner, direct grant or a group role), in a
/// schema it may use. `pii_name` holds the column names the PII pattern matches ($6, matched
/// once per assess() call and distinct name, however many tables and checks use it). `policy_verdict` is the one judgement of what a policy lets through
/// (`everything`, `nothing` or `some`): a USING or WITH CHECK made only of constants is
/// evaluated, as PostgreSQL evaluates it, so `false`, `1 = 0` and `NULL` let nothing through
/// (only expressions made of literals, comparisons and boolean operators, read back through
/// `ts_stat()`, which every build has: `query_to_xml()` needs a server built with libxml).
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
         c.relacl, c.relnamespace, s.nspname, pg_catalog.format('%I.%I', s.nspname, c.relname) AS qualified
  FROM pg_catalog.pg_class c JOIN user_schema s ON s.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'e')),
user_function AS (
  SELECT p.oid, p.proname, p.prokind, p.proowner, p.prosecdef, p.proconfig, p.proacl,
         p.pronamespace, s.nspname,
         pg_catalog.format('%I.%I(%s)', s.nspname, p.proname,
                           pg_catalog.pg_get_function_identity_arguments(p.oid)) AS qualified
  FROM pg_catalog.pg_proc p JOIN user_schema s ON s.oid = p.pronamespace
  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                      AND d.objid = p.oid AND d.deptype = 'e')),
exposed_role AS (
  SELECT a.oid, a.rolname, 'application' AS kind FROM app_role a WHERE a.rolname <> ALL ($5::text[])
  UNION
  SELECT r.oid, r.rolname, 'reporting' FROM pg_catalog.pg_roles r WHERE r.rolname = ANY ($5::text[])),
exposed_reach(role_oid, oid) AS (
  SELECT e.oid, e.oid FROM exposed_role e
  UNION
  SELECT x.role_oid, m.roleid FROM pg_catalog.pg_auth_members m JOIN exposed_reach x ON m.member = x.oid),
relation_grant AS (
  -- a relation without an ACL grants its owner everything (acldefault) and no one else
  SELECT r.oid AS relid, r.relowner, r.relnamespace, x.grantee, x.privilege_type
  FROM user_relation r
  CROSS JOIN LATERAL pg_catalog.aclexplode(r.relacl) x
  WHERE r.relacl IS NOT NULL AND r.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND x.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
  UNION ALL
  SELECT r.oid, r.relowner, r.relnamespace, r.relowner, p.privilege_type
  FROM user_relation r
  CROSS JOIN (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE')) p(privilege_type)
  WHERE r.relacl IS NULL AND r.relkind IN ('r', 'p', 'v', 'm', 'f')),
exposed_grant AS (
  SELECT g.relid, e.oid AS role_oid, e.rolname, e.kind, g.privilege_type,
         CASE WHEN g.grantee = 0 THEN 'PUBLIC'
              WHEN g.grantee = e.oid AND g.relowner = e.oid THEN 'owner'
              WHEN g.grantee = e.oid THEN 'direct grant'
              ELSE 'group role ' || pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END AS path,
         CASE WHEN g.grantee = 0 THEN 'PUBLIC'
              ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END AS grantee_sql
  FROM (SELECT g.*, h.role_oid FROM relation_grant g JOIN exposed_reach h ON h.oid = g.grantee
        UNION ALL
        SELECT g.*, e.oid FROM relation_grant g CROSS JOIN exposed_role e WHERE g.grantee = 0) g
  JOIN exposed_role e ON e.oid = g.role_oid
  WHERE pg_catalog.has_schema_privilege(e.oid, g.relnamespace, 'USAGE')),
pii_name AS (
  SELECT pg_catalog.convert_from(b, pg_catalog.getdatabaseencoding())::name AS attname
  FROM pg_catalog.unnest($6::bytea[]) b),
policy_verdict AS (
  SELECT p.oid, p.polrelid, p.polname, p.polpermissive, p.polroles, p.polcmd, q.using_expr, q.check_expr,
         CASE WHEN q.using_value OR q.check_value THEN 'everything'
              WHEN coalesce(NOT q.using_value, q.using_expr IS NULL)
               AND coalesce(NOT q.check_value, q.check_expr IS NULL) THEN 'nothing'
              ELSE 'some' END AS lets_through
  FROM pg_catalog.pg_policy p
  CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using_expr,
                             pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr) e
  CROSS JOIN LATERAL (
    SELECT e.using_expr, e.check_expr,
           (SELECT v.value FROM constant_value v WHERE v.expr = e.using_expr) AS using_value,
           (SELECT v.value FROM constant_value v WHERE v.expr = e.check_expr) AS check_value) q
  WHERE p.polrelid IN (SELECT oid FROM user_relation)),
constant_value(expr, value) AS (
  SELECT x.expr,
         coalesce((SELECT s.word = 'yes' FROM pg_catalog.ts_stat(
           'SELECT pg_catalog.to_tsvector(''simple'', CASE WHEN (' || x.expr
           || ')::pg_catalog.bool THEN ''yes'' ELSE ''no'' END)') s), false)
  FROM (SELECT DISTINCT t.expr FROM pg_catalog.pg_policy p
        CROSS JOIN LATERAL (VALUES (pg_catalog.pg_get_expr(p.polqual, p.polrelid)),
                                   (pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))) t(expr)
        WHERE p.polrelid IN (SELECT oid FROM user_relation)) x
  WHERE pg_catalog.lower(x.expr) ~ '^[\s()]*(true|false|null|not|and|or|is|[0-9]+|=|<>|<=|>=|<|>|::|boolean|integer)([\s()]*(true|false|null|not|and|or|is|[0-9]+|=|<>|<=|>=|<|>|::|boolean|integer))*[\s()]*$')
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
    let pii_names = pii_names(&pii_pattern);
    let checks: Vec<&'static Check> = checks.collect();
    // How many of the checks use each finder: one that several share (its rows name their
    // check in `check_id`) runs once, and its rows are kept for the others.
    let mut uses: HashMap<&'static str, usize> = HashMap::new();
    for check in &checks {
        *uses.entry(check.finder).or_default() += 1;
    }
    let mut kept: HashMap<&'static str, Vec<Vec<u8>>> = HashMap::new();
    let mut findings = Vec::new();
    Spi::connect(|client| {
        let database = client
            .select(
                "SELECT pg_catalog.convert_to(pg_catalog.quote_ident(pg_catalog.current_database()), 'UTF8')",
                None,
                &[],
            )
            .and_then(|t| t.first().get_one::<Vec<u8>>())
            .ok()
            .flatten()
            .map(|b| utf8(&b))
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
            if let Some(rows) = kept.get(check.finder) {
                findings.extend(rows.iter().filter_map(|b| finding_from_json(check, b)));
                continue;
            }
            let args: [DatumWithOid; 6] = [
                allowlist.clone().into(),
                app_roles.clone().into(),
                tenant_columns.clone().into(),
                pii_pattern.as_str().into(),
                readonly_roles.clone().into(),
                pii_names.clone().into(),
            ];
            // Each row comes back as JSON converted to UTF-8 bytes: names in the server
            // encoding (LATIN1, ...) never reach Rust as text of another encoding. The five
            // named columns are the finding; `check_id`, when present, names the check a row
            // of a shared finder belongs to; another column, when present and true, marks it
            // not_assessed.
            let query = format!(
                "SELECT pg_catalog.convert_to(pg_catalog.row_to_json(f)::pg_catalog.text, 'UTF8') \
                 FROM ({}\n) f({})",
                with_prelude(check.finder),
                COLUMNS.join(", ")
            );
            let rows: Vec<Vec<u8>> = client
                .select(&query, None, &args)
                .unwrap_or_else(|e| crate::error::spi_failed(check.id, e))
                .map(|row| row.get::<Vec<u8>>(1).ok().flatten().unwrap_or_default())
                .collect();
            findings.extend(rows.iter().filter_map(|b| finding_from_json(check, b)));
            if uses.get(check.finder).is_some_and(|&n| n > 1) {
                kept.insert(check.finder, rows);
            }
        }
    });
    apply_waivers(&mut findings);
    findings
}

/// The distinct column names of the database that `pattern` matches, as stored (bytes of the
/// database encoding), for `pii_name`: matched once, not once per check and table. An empty or
/// invalid pattern matches nothing (setting_problems reports it).
fn pii_names(pattern: &str) -> Vec<Vec<u8>> {
    if pattern.trim().is_empty() || gucs::pattern_problem(pattern).is_some() {
        return Vec::new();
    }
    Spi::connect(|client| {
        client
            .select(
                "SELECT pg_catalog.convert_to(n.attname::pg_catalog.text, \
                                              pg_catalog.getdatabaseencoding()) \
                 FROM (SELECT DISTINCT a.attname FROM pg_catalog.pg_attribute a \
                       WHERE a.attnum > 0 AND NOT a.attisdropped OFFSET 0) n \
                 WHERE n.attname OPERATOR(pg_catalog.~*) $1",
                None,
                &[pattern.into()],
            )
            .unwrap_or_else(|e| crate::error::spi_failed("matching the PII pattern", e))
            .filter_map(|row| row.get::<Vec<u8>>(1).ok().flatten())
            .collect()
    })
}

/// The prelude's table expressions, each with its name, in order.
fn prelude_parts() -> &'static [(&'static str, &'static str)] {
    static PARTS: std::sync::OnceLock<Vec<(&'static str, &'static str)>> =
        std::sync::OnceLock::new();
    PARTS.get_or_init(|| {
        let body = PRELUDE.trim().trim_start_matches("WITH RECURSIVE").trim();
        let mut starts: Vec<usize> = body
            .match_indices('\n')
            .map(|(i, _)| i + 1)
            .filter(|&i| body[i..].starts_with(|c: char| c.is_ascii_lowercase()))
            .collect();
        starts.insert(0, 0);
        starts
            .iter()
            .enumerate()
            .map(|(n, &start)| {
                let end = starts.get(n + 1).copied().unwrap_or(body.len());
                let part = body[start..end].trim().trim_end_matches(',');
                let name_end = part
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                    .unwrap_or(part.len());
                (&part[..name_end], part)
            })
            .collect()
    })
}

/// Whether `text` names `name` as a whole word.
fn names(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name)
        .any(|(i, _)| !text[..i].ends_with(word) && !text[i + name.len()..].starts_with(word))
}

/// The finder after the prelude's table expressions it uses (directly or through others):
/// planning every expression for every check would cost more than running most checks.
fn with_prelude(finder: &str) -> String {
    let parts = prelude_parts();
    let mut needed = vec![false; parts.len()];
    let mut frontier = vec![finder];
    while let Some(text) = frontier.pop() {
        for (n, (name, part)) in parts.iter().enumerate() {
            if !needed[n] && names(text, name) {
                needed[n] = true;
                frontier.push(part);
            }
        }
    }
    let used: Vec<&str> = parts
        .iter()
        .zip(&needed)
        .filter(|(_, &n)| n)
        .map(|((_, part), _)| *part)
        .collect();
    let finder = finder.trim_start();
    match (used.is_empty(), finder.strip_prefix(',')) {
        (true, Some(rest)) => format!("WITH RECURSIVE {rest}"),
        (true, None) => finder.to_owned(),
        (false, _) => {
            let separator = if finder.starts_with(',') { "" } else { " " };
            format!("WITH RECURSIVE {}{separator}{finder}", used.join(",\n"))
        }
    }
}

/// The columns every finder returns, in order (`check_id` and a sixth, `could_not_look`, are
/// optional).
const COLUMNS: [&str; 5] = [
    "object_type",
    "object_name",
    "message",
    "remediation",
    "details",
];

/// Text converted to UTF-8 by the server; bytes of a SQL_ASCII database that are not UTF-8
/// are shown as replacement characters rather than refused.
fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A finding from one row of a finder, as `row_to_json` wrote it (UTF-8); none when the row
/// names another check (`check_id`, in a finder several checks share).
fn finding_from_json(check: &'static Check, bytes: &[u8]) -> Option<Finding> {
    let row: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&utf8(bytes)).unwrap_or_default();
    let text = |name: &str| row.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    if text("check_id").is_some_and(|id| id != check.id) {
        return None;
    }
    // the optional sixth column, whatever the finder named it
    let could_not_look = row
        .iter()
        .find(|(name, _)| !COLUMNS.contains(&name.as_str()) && name.as_str() != "check_id")
        .and_then(|(_, v)| v.as_bool())
        == Some(true);
    Some(Finding {
        check,
        object_type: text("object_type").unwrap_or_default(),
        object_name: text("object_name").unwrap_or_default(),
        status: if could_not_look {
            Status::NotAssessed
        } else {
            Status::Fail
        },
        message: text("message").unwrap_or_default(),
        remediation: text("remediation"),
        details: row
            .get("details")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
    })
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
                "SELECT pg_catalog.convert_to(check_id, 'UTF8'), \
                        pg_catalog.convert_to(object_name, 'UTF8') FROM ge_security.waiver \
                 WHERE expires_at > pg_catalog.now() \
                   AND expires_at <= granted_at + pg_catalog.make_interval(years => 1)",
                None,
                &[],
            )
            .map(|rows| {
                rows.filter_map(|row| {
                    let text = |n| row.get::<Vec<u8>>(n).ok().flatten().map(|b| utf8(&b));
                    Some((text(1)?, text(2)?))
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
