//! The evidence document as one self-contained HTML page: inline CSS, an inline SVG chart, no
//! script, and a Content-Security-Policy that forbids loading anything. Every value from the
//! database is HTML-escaped, so role, table and policy names cannot inject markup.
use serde_json::Value;
use std::fmt::Write;

const SEVERITIES: [(&str, &str); 5] = [
    ("critical", "#991b1b"),
    ("high", "#c2410c"),
    ("medium", "#b45309"),
    ("low", "#1d4ed8"),
    ("info", "#4b5563"),
];

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#111827;background:#f9fafb}\
header{background:#111827;color:#f9fafb;padding:24px 32px}header h1{margin:0 0 8px;font-size:24px}\
header p{margin:2px 0;color:#d1d5db;font-size:13px}main{padding:8px 32px 32px}\
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:20px 0;padding:16px 20px}\
h2{margin:0 0 12px;font-size:19px}h3{margin:18px 0 6px;font-size:15px}\
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}\
th,td{border-bottom:1px solid #e5e7eb;padding:5px 8px;text-align:left;vertical-align:top}\
th{background:#f3f4f6;font-weight:600}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}\
.badge{display:inline-block;white-space:nowrap;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;color:#fff}\
.fail{background:#b91c1c}.pass{background:#15803d}.not_assessed{background:#6b7280}.waived{background:#7c3aed}\
.sev{color:#fff;border-radius:4px;padding:1px 6px;font-size:12px}\
.posture{display:flex;gap:32px;align-items:center;flex-wrap:wrap}\
.score{font-size:64px;font-weight:700;line-height:1}.score small{font-size:16px;color:#6b7280;font-weight:400}\
.error{color:#b91c1c}.muted{color:#6b7280}footer{padding:0 32px 32px;color:#6b7280;font-size:12px}";

/// `text` with the five HTML-significant characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value as display text (escaped): strings as they are, lists joined, null as a dash.
fn show(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => "—".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => crate::canonical::json(other),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => crate::canonical::json(other),
    };
    escape(&text)
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.get(key)
}

fn num(value: &Value, key: &str) -> i64 {
    value.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn badge(status: &str) -> String {
    let class = match status {
        "fail" | "pass" | "not_assessed" | "waived" => status,
        _ => "not_assessed",
    };
    format!(
        "<span class=\"badge {class}\">{}</span>",
        escape(&status.replace('_', " "))
    )
}

fn severity(sev: &str) -> String {
    let colour = SEVERITIES
        .iter()
        .find(|(s, _)| *s == sev)
        .map_or("#4b5563", |(_, c)| c);
    format!(
        "<span class=\"sev\" style=\"background:{colour}\">{}</span>",
        escape(sev)
    )
}

/// A section that could not be read says why instead of its content.
fn failed(out: &mut String, value: &Value) -> bool {
    if let Some(error) = value.get("error") {
        let _ = write!(
            out,
            "<p class=\"error\">Not assessed: {}</p>",
            show(Some(error))
        );
        true
    } else {
        false
    }
}

/// A table of `rows` with the given (heading, key) columns.
fn table(out: &mut String, rows: &[Value], columns: &[(&str, &str)]) {
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>");
        return;
    }
    out.push_str("<table><thead><tr>");
    for (heading, _) in columns {
        let _ = write!(out, "<th>{}</th>", escape(heading));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (_, key) in columns {
            let _ = write!(out, "<td>{}</td>", show(get(row, key)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn array(value: Option<&Value>) -> Vec<Value> {
    value.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The failing findings per severity as a bar chart.
fn chart(summary: &Value) -> String {
    let counts: Vec<i64> = SEVERITIES.iter().map(|(s, _)| num(summary, s)).collect();
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let mut svg = String::from(
        "<svg width=\"520\" height=\"230\" viewBox=\"0 0 520 230\" role=\"img\" \
         aria-label=\"failing findings by severity\">",
    );
    svg.push_str("<line x1=\"20\" y1=\"190\" x2=\"510\" y2=\"190\" stroke=\"#9ca3af\"/>");
    for (n, ((name, colour), count)) in SEVERITIES.iter().zip(&counts).enumerate() {
        let height = if *count == 0 {
            2
        } else {
            (160 * count / max).max(4)
        };
        let x = 40 + n as i64 * 95;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"60\" height=\"{height}\" fill=\"{colour}\" rx=\"3\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"600\">{count}</text>\
             <text x=\"{}\" y=\"210\" text-anchor=\"middle\" font-size=\"13\">{name}</text>",
            190 - height,
            x + 30,
            190 - height - 6,
            x + 30
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A finding's object: its name, preceded by its type unless the name already says it.
fn object(finding: &Value) -> String {
    let kind = finding
        .get("object_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = finding
        .get("object_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if kind.is_empty() || name.starts_with(&format!("{} ", kind.replace('_', " "))) {
        escape(name)
    } else {
        format!("{} {}", escape(&kind.replace('_', " ")), escape(name))
    }
}

/// The checks behind the controls that did not pass, once each, most severe first.
fn failing_checks(controls: &Value) -> Vec<Value> {
    let mut seen = std::collections::BTreeMap::new();
    for control in controls.as_object().into_iter().flat_map(|m| m.values()) {
        for check in array(control.get("checks")) {
            let status = check.get("status").and_then(Value::as_str).unwrap_or("");
            if status != "pass" {
                let id = check
                    .get("check_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                seen.entry(id).or_insert(check);
            }
        }
    }
    let mut checks: Vec<Value> = seen.into_values().collect();
    let rank = |c: &Value| {
        let sev = c.get("severity").and_then(Value::as_str).unwrap_or("");
        SEVERITIES
            .iter()
            .position(|(s, _)| *s == sev)
            .unwrap_or(SEVERITIES.len())
    };
    checks.sort_by_key(|c| rank(c));
    checks
}

pub fn render(doc: &Value) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let database = show(get(doc, "database"));
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>ge_security evidence: {database}</title><style>{STYLE}</style></head><body>\
         <header><h1>Security evidence: database {database}</h1>\
         <p>Generated {} by ge_security {} on PostgreSQL {}</p>\
         <p>Evidence digest (SHA-256 of the canonical JSON): <span class=\"mono\">{}</span></p></header><main>",
        show(get(doc, "generated_at")),
        show(get(doc, "extension_version")),
        show(get(doc, "server_version")),
        show(get(doc, "digest")),
    );

    // posture
    let summary = get(doc, "summary").cloned().unwrap_or(Value::Null);
    out.push_str("<section id=\"summary\"><h2>Posture</h2>");
    failed(&mut out, &summary);
    let _ = write!(
        out,
        "<div class=\"posture\"><div><div class=\"score\">{}<small> / 100</small></div>\
         <p class=\"muted\">posture score</p></div><div>{}</div><table style=\"width:auto\"><tbody>",
        show(get(&summary, "score")),
        chart(&summary)
    );
    for (name, _) in SEVERITIES {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            severity(name),
            num(&summary, name)
        );
    }
    for (label, key) in [
        ("not assessed", "not_assessed"),
        ("waived", "waived"),
        ("checks run", "checks_run"),
        ("checks passed", "checks_passed"),
    ] {
        let _ = write!(
            out,
            "<tr><td>{label}</td><td>{}</td></tr>",
            show(get(&summary, key))
        );
    }
    out.push_str("</tbody></table></div></section>");

    // findings
    let controls = get(doc, "controls").cloned().unwrap_or(Value::Null);
    out.push_str("<section id=\"findings\"><h2>Findings</h2>");
    if !failed(&mut out, &controls) {
        let checks = failing_checks(&controls);
        if checks.is_empty() {
            out.push_str("<p>No check found a weakness.</p>");
        } else {
            out.push_str(
                "<table><thead><tr><th>Severity</th><th>Check</th><th>Status</th>\
                 <th>Object</th><th>Finding</th></tr></thead><tbody>",
            );
            for check in &checks {
                let sev = check.get("severity").and_then(Value::as_str).unwrap_or("");
                for finding in array(check.get("findings")) {
                    let _ = write!(
                        out,
                        "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
                        severity(sev),
                        show(get(check, "check_id")),
                        badge(finding.get("status").and_then(Value::as_str).unwrap_or("")),
                        object(&finding),
                        show(get(&finding, "message")),
                    );
                }
                let more = num(check, "findings_not_quoted");
                if more > 0 {
                    let _ = write!(
                        out,
                        "<tr><td></td><td><code>{}</code></td><td colspan=\"3\" class=\"muted\">and {more} more (SELECT * FROM ge_security.assess())</td></tr>",
                        show(get(check, "check_id"))
                    );
                }
            }
            out.push_str("</tbody></table>");
        }
    }
    out.push_str("</section>");

    // controls
    out.push_str("<section id=\"controls\"><h2>Controls</h2>");
    if !failed(&mut out, &controls) {
        for (id, control) in controls.as_object().into_iter().flatten() {
            let _ = write!(
                out,
                "<h3 class=\"control\">{} {}</h3><p class=\"muted\">{}</p>\
                 <table><thead><tr><th>Check</th><th>Title</th><th>Severity</th><th>Status</th>\
                 <th>Failing</th><th>Not assessed</th><th>Waived</th></tr></thead><tbody>",
                escape(id),
                badge(control.get("status").and_then(Value::as_str).unwrap_or("")),
                show(get(control, "evidence"))
            );
            for check in array(control.get("checks")) {
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    show(get(&check, "check_id")),
                    show(get(&check, "title")),
                    severity(check.get("severity").and_then(Value::as_str).unwrap_or("")),
                    badge(check.get("status").and_then(Value::as_str).unwrap_or("")),
                    num(&check, "failing"),
                    num(&check, "not_assessed"),
                    num(&check, "waived"),
                );
            }
            out.push_str("</tbody></table>");
        }
    }
    out.push_str("</section>");

    // drift
    let drift = get(doc, "drift").cloned().unwrap_or(Value::Null);
    out.push_str("<section id=\"drift\"><h2>Drift from the approved baseline</h2>");
    let baseline = get(&drift, "baseline").cloned().unwrap_or(Value::Null);
    if !failed(&mut out, &baseline) {
        if baseline.is_null() {
            out.push_str("<p class=\"error\">No security baseline has been approved.</p>");
        } else {
            let intact = baseline.get("intact").and_then(Value::as_bool) == Some(true);
            let _ = write!(
                out,
                "<table style=\"width:auto\"><tbody><tr><th>Baseline</th><td>{}</td></tr>\
                 <tr><th>Approved</th><td>{} by {} (as {})</td></tr><tr><th>Note</th><td>{}</td></tr>\
                 <tr><th>Items</th><td>{}</td></tr><tr><th>SHA-256</th><td class=\"mono\">{}</td></tr>\
                 <tr><th>Stored snapshot</th><td>{}</td></tr></tbody></table>",
                show(get(&baseline, "id")),
                show(get(&baseline, "approved_at")),
                show(get(&baseline, "approved_by")),
                show(get(&baseline, "approved_as")),
                show(get(&baseline, "note")),
                show(get(&baseline, "items")),
                show(get(&baseline, "sha256")),
                if intact {
                    badge("pass") + " matches its digest"
                } else {
                    badge("fail") + " does not match its digest"
                }
            );
        }
    }
    let current = get(&drift, "current").cloned().unwrap_or(Value::Null);
    if !current.is_null() && !failed(&mut out, &current) {
        let _ = write!(
            out,
            "<h3>Current drift: {} items</h3>",
            num(&current, "count")
        );
        table(
            &mut out,
            &array(current.get("items")),
            &[
                ("Kind", "kind"),
                ("Type", "object_type"),
                ("Object", "object_name"),
            ],
        );
    }
    let events = get(&drift, "events").cloned().unwrap_or(Value::Null);
    if !failed(&mut out, &events) {
        let _ = write!(
            out,
            "<h3>Drift history</h3><p class=\"muted\">{} open events; drift last checked {}.</p>",
            num(&events, "open"),
            show(get(&events, "last_checked"))
        );
        table(
            &mut out,
            &array(events.get("history")),
            &[
                ("Event", "id"),
                ("Kind", "kind"),
                ("Type", "object_type"),
                ("Object", "object_name"),
                ("Seen", "opened_at"),
                ("Closed", "closed_at"),
                ("Why closed", "closed_reason"),
            ],
        );
    }
    out.push_str("</section>");

    // audit trail
    let audit = get(doc, "audit").cloned().unwrap_or(Value::Null);
    out.push_str("<section id=\"audit\"><h2>Audit trail</h2>");
    let verification = get(&audit, "verification").cloned().unwrap_or(Value::Null);
    if !failed(&mut out, &verification) {
        let ok = verification.get("ok").and_then(Value::as_bool) == Some(true);
        let _ = write!(
            out,
            "<p>Verification: {} {}</p>",
            if ok { badge("pass") } else { badge("fail") },
            show(get(&verification, "result"))
        );
        table(
            &mut out,
            &array(verification.get("problems")),
            &[
                ("Problem", "problem"),
                ("Block", "block_no"),
                ("Row", "id"),
                ("Detail", "detail"),
            ],
        );
    }
    let digest = get(&audit, "digest").cloned().unwrap_or(Value::Null);
    if !failed(&mut out, &digest) {
        let _ = write!(
            out,
            "<table style=\"width:auto\"><tbody><tr><th>Last block</th><td>{}</td></tr>\
             <tr><th>Last sealed row</th><td>{}</td></tr><tr><th>Block hash</th><td class=\"mono\">{}</td></tr>\
             <tr><th>Sealed at</th><td>{}</td></tr></tbody></table>",
            show(get(&digest, "block_no")),
            show(get(&digest, "last_id")),
            show(get(&digest, "block_hash")),
            show(get(&digest, "sealed_at"))
        );
    }
    out.push_str("</section>");

    // inventories
    let roles = get(doc, "roles").cloned().unwrap_or(Value::Null);
    out.push_str("<section id=\"roles\"><h2>Roles</h2>");
    if !failed(&mut out, &roles) {
        table(
            &mut out,
            roles.as_array().map(Vec::as_slice).unwrap_or(&[]),
            &[
                ("Role", "role_name"),
                ("Login", "can_login"),
                ("Superuser", "superuser"),
                ("Effective superuser", "effective_superuser"),
                ("Risky attributes", "risky_attributes"),
                ("Member of", "member_of"),
                ("Password", "password_type"),
                ("Valid until", "valid_until"),
                ("Findings", "findings"),
            ],
        );
    }
    out.push_str("</section>");
    let rls = get(doc, "rls").cloned().unwrap_or(Value::Null);
    out.push_str("<section id=\"rls\"><h2>Row-level security coverage</h2>");
    if !failed(&mut out, &rls) {
        table(
            &mut out,
            rls.as_array().map(Vec::as_slice).unwrap_or(&[]),
            &[
                ("Table", "table_name"),
                ("Tenant column", "tenant_column"),
                ("RLS", "rls_enabled"),
                ("Forced", "rls_forced"),
                ("Policies", "policies"),
                ("Commands", "commands_covered"),
                ("Status", "status"),
            ],
        );
    }
    out.push_str("</section>");
    let protected = get(doc, "protected_columns")
        .cloned()
        .unwrap_or(Value::Null);
    out.push_str("<section id=\"protected-columns\"><h2>Protected columns</h2>");
    if !failed(&mut out, &protected) {
        table(
            &mut out,
            protected.as_array().map(Vec::as_slice).unwrap_or(&[]),
            &[
                ("Table", "table"),
                ("Column", "column"),
                ("Context", "context"),
                ("AAD column", "aad_column"),
                ("Registered by", "registered_by"),
                ("Registered at", "registered_at"),
            ],
        );
    }
    out.push_str("</section>");
    let settings = get(doc, "settings").cloned().unwrap_or(Value::Null);
    out.push_str("<section id=\"settings\"><h2>Security settings</h2>");
    if !failed(&mut out, &settings) {
        let rows: Vec<Value> = settings
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, value)| serde_json::json!({ "name": name, "value": value }))
            .collect();
        table(&mut out, &rows, &[("Setting", "name"), ("Value", "value")]);
    }
    out.push_str("</section></main>");
    let _ = write!(
        out,
        "<footer>Evidence digest {} over the canonical JSON of SELECT ge_security.evidence() without its digest key \
         (object keys sorted by their UTF-8 bytes, no whitespace).</footer></body></html>",
        show(get(doc, "digest"))
    );
    out
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn report_escapes_every_value() {
        let hostile = "<script>alert('x')</script>\"&";
        let doc = serde_json::json!({
            "database": hostile,
            "generated_at": hostile,
            "summary": {"critical": 1, "score": 90},
            "controls": {"ISO27001:A.8.2": {"status": "fail", "evidence": hostile, "checks": [
                {"check_id": "x", "title": hostile, "severity": "critical", "status": "fail",
                 "failing": 1, "findings": [{"object_type": "role", "object_name": hostile,
                 "status": "fail", "message": hostile}], "findings_not_quoted": 0}]}},
            "roles": [{"role_name": hostile, "member_of": [hostile]}],
            "settings": {hostile: hostile},
            "drift": {"baseline": null, "current": null, "events": {"open": 0, "history": []}},
            "audit": {"verification": {"ok": true, "result": hostile, "problems": []},
                      "digest": {"block_hash": hostile}},
            "rls": [], "protected_columns": []
        });
        let html = super::render(&doc);
        assert!(!html.contains("<script"), "unescaped script tag");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"));
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
    }
}
