//! Summaries of findings: counts per severity, a 0-100 score, and the CI assertion.
//! The score weights each check by severity and counts unassessed checks as not passing.
use super::engine::{Finding, Status};
use super::registry::{self, Severity};
use crate::error::{GeError, Kind};
use std::collections::HashSet;

pub struct Posture {
    /// Failing findings per severity, critical first (the order of `Severity::ALL`).
    pub failing: [i64; 5],
    pub not_assessed: i64,
    pub waived: i64,
    pub checks_run: i64,
    pub checks_passed: i64,
    pub score: i32,
}

fn weight(severity: Severity) -> i64 {
    match severity {
        Severity::Critical => 10,
        Severity::High => 5,
        Severity::Medium => 3,
        Severity::Low => 1,
        Severity::Info => 0,
    }
}

pub fn summarise(findings: &[Finding]) -> Posture {
    let mut failing = [0i64; 5];
    let mut not_passing: HashSet<&str> = HashSet::new();
    let (mut not_assessed, mut waived) = (0, 0);
    for f in findings {
        match f.status {
            Status::Fail => {
                let slot = Severity::ALL
                    .iter()
                    .position(|s| *s == f.check.severity)
                    .unwrap_or(4);
                failing[slot] += 1;
                not_passing.insert(f.check.id);
            }
            Status::NotAssessed => {
                not_assessed += 1;
                not_passing.insert(f.check.id);
            }
            Status::Waived => waived += 1,
        }
    }
    let (mut total, mut earned, mut run, mut passed) = (0i64, 0i64, 0i64, 0i64);
    for check in registry::all() {
        run += 1;
        total += weight(check.severity);
        if !not_passing.contains(check.id) {
            passed += 1;
            earned += weight(check.severity);
        }
    }
    let score = if total == 0 {
        100
    } else {
        (earned * 100 / total) as i32
    };
    Posture {
        failing,
        not_assessed,
        waived,
        checks_run: run,
        checks_passed: passed,
        score,
    }
}

/// Ok with a one-line summary when no finding (failing or not assessed) is at or above `min`.
pub fn assert_none(findings: &[Finding], min: Severity) -> Result<String, GeError> {
    let blocking: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status != Status::Waived && f.check.severity >= min)
        .collect();
    if blocking.is_empty() {
        return Ok(format!("ok: no finding at or above {}", min.as_str()));
    }
    let lines: Vec<String> = blocking
        .iter()
        .map(|f| {
            format!(
                "{} [{}{}] {}: {}",
                f.check.id,
                f.check.severity.as_str(),
                if f.status == Status::NotAssessed {
                    ", not assessed"
                } else {
                    ""
                },
                f.object_name,
                f.message
            )
        })
        .collect();
    Err(GeError::new(
        Kind::PostureViolation,
        format!(
            "security posture check failed: {} finding(s) at or above {}",
            blocking.len(),
            min.as_str()
        ),
    )
    .detail(lines.join("\n"))
    .hint("Fix them (SELECT * FROM ge_security.assess() shows remediation) or waive them with ge_security.waive()."))
}
