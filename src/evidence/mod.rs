//! Evidence for auditors: `evidence()` gathers, from the database's own operation, the findings
//! grouped by control (ISO 27001:2022 Annex A, SOC 2 TSC, CIS), the role inventory, RLS coverage,
//! protected columns, the audit trail's verification and digest, drift from the approved
//! baseline and the security settings, and seals the document with the SHA-256 of its canonical
//! form. `evidence_report()` renders the same document as one self-contained HTML page.
//!
//! Each section is read through the extension's SQL functions (as the caller), in its own
//! subtransaction: a section the caller may not read, or that fails, says so in an `error` key
//! instead of failing the whole document.
mod report;

use crate::canonical;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Findings quoted per check; the rest are counted.
const QUOTED_FINDINGS: usize = 20;

/// Run `build` in a subtransaction; an ERROR becomes `{"error": "..."}` (cancellation and
/// shutdown are raised again).
fn section(build: impl FnOnce() -> Value) -> Value {
    crate::subtransaction::run(build).unwrap_or_else(|error| {
        let report = match error.as_ref() {
            CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
            CaughtError::RustPanic { ereport, .. } => ereport,
        };
        if [
            PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            PgSqlErrorCode::ERRCODE_ADMIN_SHUTDOWN,
        ]
        .contains(&report.sql_error_code())
        {
            error.rethrow();
        }
        json!({ "error": report.message() })
    })
}

/// One jsonb value computed by `query` (NULL reads as JSON null).
fn query_json(query: &str) -> Value {
    Spi::get_one::<JsonB>(query)
        .unwrap_or_else(|e| crate::error::spi_failed("an evidence query", e))
        .map(|j| j.0)
        .unwrap_or(Value::Null)
}

fn as_str<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The status of a check from its findings: fail, not_assessed, waived or pass.
fn check_status(findings: &[&Value]) -> &'static str {
    let has = |s: &str| findings.iter().any(|f| as_str(f, "status") == s);
    if has("fail") {
        "fail"
    } else if has("not_assessed") {
        "not_assessed"
    } else if has("waived") {
        "waived"
    } else {
        "pass"
    }
}

fn rank(status: &str) -> u8 {
    match status {
        "fail" => 3,
        "not_assessed" => 2,
        "waived" => 1,
        _ => 0,
    }
}

/// `controls`: every control id the catalogue cites, with the checks citing it, their status
/// and the findings behind it.
fn controls(catalogue: &Value, findings: &Value) -> Value {
    let mut by_check: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for f in findings.as_array().into_iter().flatten() {
        by_check.entry(as_str(f, "check_id")).or_default().push(f);
    }
    let mut controls: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for check in catalogue.as_array().into_iter().flatten() {
        let id = as_str(check, "check_id");
        let found = by_check.get(id).cloned().unwrap_or_default();
        let count = |s: &str| found.iter().filter(|f| as_str(f, "status") == s).count();
        let quoted: Vec<Value> = found
            .iter()
            .take(QUOTED_FINDINGS)
            .map(|f| {
                json!({
                    "object_type": f.get("object_type"),
                    "object_name": f.get("object_name"),
                    "status": f.get("status"),
                    "message": f.get("message"),
                })
            })
            .collect();
        let summary = json!({
            "check_id": id,
            "title": check.get("title"),
            "severity": check.get("severity"),
            "status": check_status(&found),
            "failing": count("fail"),
            "not_assessed": count("not_assessed"),
            "waived": count("waived"),
            "findings": quoted,
            "findings_not_quoted": found.len().saturating_sub(QUOTED_FINDINGS),
        });
        for control in check
            .get("controls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            controls
                .entry(control.to_owned())
                .or_default()
                .push(summary.clone());
        }
    }
    Value::Object(
        controls
            .into_iter()
            .map(|(control, checks)| {
                let status = checks
                    .iter()
                    .map(|c| as_str(c, "status"))
                    .max_by_key(|s| rank(s))
                    .unwrap_or("pass")
                    .to_owned();
                let count = |s: &str| checks.iter().filter(|c| as_str(c, "status") == s).count();
                let evidence = format!(
                    "{} checks: {} pass, {} fail, {} not assessed, {} waived",
                    checks.len(),
                    count("pass"),
                    count("fail"),
                    count("not_assessed"),
                    count("waived")
                );
                (
                    control,
                    json!({ "status": status, "evidence": evidence, "checks": checks }),
                )
            })
            .collect::<Map<String, Value>>(),
    )
}

/// `summary`: failing findings per severity, with the posture's counts and score.
fn summary(findings: &Value, posture: &Value) -> Value {
    let mut out = Map::new();
    for severity in ["critical", "high", "medium", "low", "info"] {
        let n = findings
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| as_str(f, "status") == "fail" && as_str(f, "severity") == severity)
            .count();
        out.insert(severity.into(), json!(n));
    }
    for key in [
        "not_assessed",
        "waived",
        "checks_run",
        "checks_passed",
        "score",
    ] {
        out.insert(key.into(), posture.get(key).cloned().unwrap_or(Value::Null));
    }
    if let Some(error) = posture.get("error") {
        out.insert("error".into(), error.clone());
    }
    Value::Object(out)
}

/// The evidence document (everything but its digest, then the digest).
pub fn build() -> Value {
    let meta = query_json(
        "SELECT jsonb_build_object(\
           'generated_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
           'server_version', current_setting('server_version'), \
           'extension_version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'ge_security'), \
           'database', current_database()::text)",
    );
    let findings = section(|| {
        query_json(
            "SELECT coalesce(jsonb_agg(jsonb_build_object('check_id', a.check_id, 'severity', a.severity, \
                      'object_type', a.object_type, 'object_name', a.object_name, 'status', a.status, \
                      'message', a.message) ORDER BY a.check_id COLLATE \"C\", a.object_name COLLATE \"C\"), '[]') \
               FROM ge_security.assess('info', true) a",
        )
    });
    let catalogue = section(|| {
        query_json(
            "SELECT jsonb_agg(jsonb_build_object('check_id', c.check_id, 'title', c.title, \
                      'severity', c.severity, 'controls', to_jsonb(c.controls)) ORDER BY c.check_id COLLATE \"C\") \
               FROM ge_security.checks() c",
        )
    });
    let posture = section(|| query_json("SELECT to_jsonb(p) FROM ge_security.posture() p"));
    let controls = match (&catalogue, &findings) {
        (c, _) if c.get("error").is_some() => c.clone(),
        (_, f) if f.get("error").is_some() => f.clone(),
        (c, f) => controls(c, f),
    };
    let mut doc = Map::new();
    for key in [
        "generated_at",
        "server_version",
        "extension_version",
        "database",
    ] {
        doc.insert(key.into(), meta.get(key).cloned().unwrap_or(Value::Null));
    }
    let mut summary = summary(&findings, &posture);
    if let (Some(error), Some(map)) = (findings.get("error"), summary.as_object_mut()) {
        map.insert("error".into(), error.clone());
    }
    doc.insert("summary".into(), summary);
    doc.insert("controls".into(), controls);
    doc.insert(
        "roles".into(),
        section(|| {
            query_json(
                "SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.role_name COLLATE \"C\"), '[]') \
                   FROM ge_security.role_audit() r",
            )
        }),
    );
    doc.insert(
        "rls".into(),
        section(|| {
            query_json(
                "SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.table_name COLLATE \"C\"), '[]') \
                   FROM ge_security.rls_coverage() r",
            )
        }),
    );
    doc.insert(
        "protected_columns".into(),
        section(|| {
            query_json(
                "SELECT coalesce(jsonb_agg(jsonb_build_object('table', p.table_name::text, 'column', p.column_name, \
                          'context', p.context, 'aad_column', p.aad_column, 'registered_by', p.registered_by, \
                          'registered_at', to_char(p.registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) \
                          ORDER BY p.table_name::text COLLATE \"C\", p.column_name COLLATE \"C\"), '[]') \
                   FROM ge_security.protected_column p",
            )
        }),
    );
    doc.insert("audit".into(), audit());
    doc.insert("drift".into(), drift());
    doc.insert(
        "settings".into(),
        section(|| {
            query_json(
                "SELECT coalesce(jsonb_object_agg(substr(s.object_name, 9), s.state -> 'value'), '{}') \
                   FROM ge_security.security_snapshot() s WHERE s.object_type = 'setting'",
            )
        }),
    );
    let digest = canonical::sha256_hex(canonical::json(&Value::Object(doc.clone())).as_bytes());
    doc.insert("digest".into(), json!(digest));
    Value::Object(doc)
}

/// `audit`: the trail's verification (problems capped at 100, counted) and its digest.
fn audit() -> Value {
    let verification = section(|| {
        query_json(
            "WITH v AS MATERIALIZED (SELECT v.*, row_number() OVER () AS n FROM ge_security.audit_verify() v) \
             SELECT jsonb_build_object('ok', coalesce(bool_and(v.ok), false), \
                      'result', max(v.detail) FILTER (WHERE v.ok), \
                      'problem_count', count(*) FILTER (WHERE NOT v.ok), \
                      'problems', coalesce(jsonb_agg(jsonb_build_object('problem', v.problem, 'block_no', v.block_no, \
                                     'id', v.id, 'detail', v.detail) ORDER BY v.n) \
                                   FILTER (WHERE NOT v.ok AND v.n <= 100), '[]')) \
               FROM v",
        )
    });
    let digest = section(|| query_json("SELECT ge_security.audit_digest()"));
    let recorded = section(|| {
        query_json(
            "SELECT jsonb_build_object('verified_at', to_char(s.verified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                      'ok', s.verify_ok, 'problems', s.verify_problems) \
               FROM ge_security.worker_status s",
        )
    });
    json!({ "verification": verification, "digest": digest, "last_worker_verification": recorded })
}

/// `drift`: the approved baseline (with a check that its stored snapshot still hashes to its
/// digest), current drift, open events and the history of events.
fn drift() -> Value {
    let baseline = section(|| crate::drift::latest_baseline().unwrap_or(Value::Null));
    let current = if baseline.is_object() && baseline.get("error").is_none() {
        section(|| {
            query_json(
                "WITH d AS MATERIALIZED (SELECT d.*, row_number() OVER () AS n FROM ge_security.drift() d) \
                 SELECT jsonb_build_object('count', count(*), 'items', coalesce(jsonb_agg(jsonb_build_object(\
                          'kind', d.kind, 'object_type', d.object_type, 'object_name', d.object_name, \
                          'before', d.before, 'after', d.after) ORDER BY d.n) FILTER (WHERE d.n <= 200), '[]')) \
                   FROM d",
            )
        })
    } else {
        Value::Null
    };
    let events = section(|| {
        query_json(
            "SELECT jsonb_build_object(\
               'open', (SELECT count(*) FROM ge_security.drift_event e WHERE e.closed_at IS NULL), \
               'last_checked', (SELECT to_char(s.drift_checked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                                  FROM ge_security.worker_status s), \
               'history', coalesce((SELECT jsonb_agg(jsonb_build_object('id', e.id, 'kind', e.kind, \
                              'object_type', e.object_type, 'object_name', e.object_name, 'baseline', e.baseline_id, \
                              'opened_at', to_char(e.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                              'closed_at', to_char(e.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                              'closed_reason', e.closed_reason) ORDER BY e.id DESC) \
                            FROM (SELECT * FROM ge_security.drift_event ORDER BY id DESC LIMIT 100) e), '[]'))",
        )
    });
    json!({ "baseline": baseline, "current": current, "events": events })
}

/// The evidence document: findings grouped by control, roles, RLS coverage, protected columns,
/// audit verification and digest, drift and settings, sealed with the SHA-256 of its canonical
/// form (key `digest`, over every other key).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn evidence() -> JsonB {
    JsonB(build())
}

/// The evidence document as one self-contained HTML page (no scripts, fonts or styles from
/// elsewhere): posture score, a findings-by-severity chart, each control with its checks, the
/// drift history and the audit trail's digest and verification.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn evidence_report() -> String {
    report::render(&build())
}
