//! The catalogue of checks: each check is data (id, severity, controls, SQL finder) declared
//! in its category file; this file gathers them and defines the shared vocabulary.
use super::{
    certificates, data_protection, drift, functions, grants, hba, resources, rls, roles, settings,
    trail,
};
use crate::error::{GeError, Kind};

/// Severity of a finding, ordered from least to most serious.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parse a severity argument, refusing anything outside the five names.
    pub fn parse(text: &str) -> Result<Severity, GeError> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str() == text.trim().to_lowercase())
            .ok_or_else(|| {
                GeError::new(
                    Kind::InvalidParameter,
                    format!("unknown severity \"{text}\""),
                )
                .hint("Use one of: critical, high, medium, low, info.")
            })
    }
}

/// A privilege a check needs; without it the check reports `not_assessed`.
#[derive(Debug)]
pub struct Requirement {
    /// SQL boolean expression evaluated as the caller.
    pub probe: &'static str,
    /// What the caller lacks, in words, for the `not_assessed` message.
    pub needs: &'static str,
}

/// One check of the catalogue.
///
/// `finder` is a SQL query run after the shared prelude (see `engine::PRELUDE`) with
/// parameters $1 superuser allow-list, $2 app roles, $3 tenant columns (`text[]`), $4 the PII
/// column-name pattern (`text`), $5 the reporting roles (`text[]`), $6 the column names the
/// pattern matches (`bytea[]`, as stored; through the prelude's `pii_name`), and
/// returns `object_type, object_name, message, remediation, details` per violation. A sixth
/// boolean column, when present and true, marks the row `not_assessed` instead (the check
/// could not look, e.g. at a file the server cannot read). Checks may share one finder (the
/// same text, run once per assess() call): each of its rows then names its check in a
/// `check_id` column.
#[derive(Debug)]
pub struct Check {
    pub id: &'static str,
    pub severity: Severity,
    pub category: &'static str,
    pub title: &'static str,
    pub controls: &'static [&'static str],
    pub description: &'static str,
    pub requires: Option<Requirement>,
    pub finder: &'static str,
}

/// Every check, in catalogue order.
pub fn all() -> impl Iterator<Item = &'static Check> {
    roles::CHECKS
        .iter()
        .chain(grants::CHECKS)
        .chain(functions::CHECKS)
        .chain(settings::CHECKS)
        .chain(certificates::CHECKS)
        .chain(hba::CHECKS)
        .chain(resources::CHECKS)
        .chain(rls::CHECKS)
        .chain(data_protection::CHECKS)
        .chain(trail::CHECKS)
        .chain(drift::CHECKS)
}

/// The check with this id, or an ERROR naming it.
pub fn find(id: &str) -> Result<&'static Check, GeError> {
    all().find(|c| c.id == id).ok_or_else(|| {
        GeError::new(Kind::UndefinedObject, format!("unknown check \"{id}\""))
            .hint("SELECT check_id FROM ge_security.checks() lists the catalogue.")
    })
}
