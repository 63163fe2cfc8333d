//! The assess() capability: a registry of checks (one file per category), the engine that
//! runs them as the caller, waivers, the posture score and the CI gate.
mod certificates;
mod controls;
mod data_protection;
mod drift;
mod engine;
mod functions;
mod grants;
mod hba;
mod posture;
mod registry;
mod resources;
mod rls;
mod role_audit;
mod roles;
mod server_files;
mod server_text;
mod setting_problems;
mod settings;
mod trail;
mod waivers;

use crate::error::{GeError, Kind};
use engine::Finding;
use pgrx::prelude::*;
use registry::Severity;
use server_text::{ServerJsonb, ServerText};

type FindingRow = (
    name!(check_id, String),
    name!(severity, String),
    name!(category, String),
    name!(object_type, ServerText),
    name!(object_name, ServerText),
    name!(status, String),
    name!(message, ServerText),
    name!(remediation, Option<ServerText>),
    name!(controls, Vec<String>),
    name!(details, ServerJsonb),
);

fn to_row(f: Finding) -> FindingRow {
    (
        f.check.id.to_owned(),
        f.check.severity.as_str().to_owned(),
        f.check.category.to_owned(),
        ServerText(f.object_type),
        ServerText(f.object_name),
        f.status.as_str().to_owned(),
        ServerText(f.message),
        f.remediation.map(ServerText),
        f.check.controls.iter().map(|c| (*c).to_owned()).collect(),
        ServerJsonb(f.details),
    )
}

fn severity_arg(value: Option<&str>, name: &str) -> Severity {
    let text = value.unwrap_or_else(|| {
        GeError::new(Kind::NullValue, format!("{name} must not be NULL")).raise()
    });
    Severity::parse(text).unwrap_or_else(|e| e.raise())
}

/// Every weakness found, with remediation SQL and control ids (docs/architecture.md,
/// "Assessment").
#[pg_extern(parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn assess(
    min_severity: default!(Option<&str>, "'info'"),
    include_waived: default!(Option<bool>, "false"),
) -> TableIterator<
    'static,
    (
        name!(check_id, String),
        name!(severity, String),
        name!(category, String),
        name!(object_type, ServerText),
        name!(object_name, ServerText),
        name!(status, String),
        name!(message, ServerText),
        name!(remediation, Option<ServerText>),
        name!(controls, Vec<String>),
        name!(details, ServerJsonb),
    ),
> {
    let min = severity_arg(min_severity, "min_severity");
    let findings = engine::run(registry::all());
    let include_waived = include_waived.unwrap_or_else(|| {
        GeError::new(Kind::NullValue, "include_waived must not be NULL").raise()
    });
    let rows = engine::select(findings, min, include_waived);
    TableIterator::new(rows.into_iter().map(to_row))
}

/// The catalogue of checks.
#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn checks() -> TableIterator<
    'static,
    (
        name!(check_id, String),
        name!(severity, String),
        name!(category, String),
        name!(title, String),
        name!(controls, Vec<String>),
        name!(description, String),
    ),
> {
    TableIterator::new(registry::all().map(|c| {
        (
            c.id.to_owned(),
            c.severity.as_str().to_owned(),
            c.category.to_owned(),
            c.title.to_owned(),
            c.controls.iter().map(|s| (*s).to_owned()).collect(),
            c.description.to_owned(),
        )
    }))
}

/// The framework controls that `checks()` cites: id (as in `checks().controls`), framework,
/// version and title, from one table in `controls.rs`.
#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn controls() -> TableIterator<
    'static,
    (
        name!(control_id, String),
        name!(framework, String),
        name!(version, String),
        name!(title, String),
    ),
> {
    TableIterator::new(controls::CONTROLS.iter().map(|c| {
        (
            c.id.to_owned(),
            c.framework.name.to_owned(),
            c.framework.version.to_owned(),
            c.title.to_owned(),
        )
    }))
}

/// One row: failing findings per severity, not assessed and waived counts, and a 0-100 score.
#[pg_extern(parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn posture() -> TableIterator<
    'static,
    (
        name!(critical, i64),
        name!(high, i64),
        name!(medium, i64),
        name!(low, i64),
        name!(info, i64),
        name!(not_assessed, i64),
        name!(waived, i64),
        name!(checks_run, i64),
        name!(checks_passed, i64),
        name!(score, i32),
    ),
> {
    let p = posture::summarise(&engine::run(registry::all()));
    TableIterator::once((
        p.failing[0],
        p.failing[1],
        p.failing[2],
        p.failing[3],
        p.failing[4],
        p.not_assessed,
        p.waived,
        p.checks_run,
        p.checks_passed,
        p.score,
    ))
}

/// Raise an ERROR naming every finding at or above `fail_on`, for CI gates.
#[pg_extern(parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn assert_posture(fail_on: default!(Option<&str>, "'high'")) -> String {
    let min = severity_arg(fail_on, "fail_on");
    let findings = engine::select(engine::run(registry::all()), min, false);
    posture::assert_none(&findings, min).unwrap_or_else(|e| e.raise())
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::registry::{self, Severity};
    use pgrx::prelude::*;
    use std::collections::HashSet;

    #[pg_test]
    fn check_ids_are_unique_snake_case_and_cite_controls() {
        let mut seen = HashSet::new();
        for check in registry::all() {
            assert!(seen.insert(check.id), "duplicate check id {}", check.id);
            assert!(
                check
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{} is not snake_case",
                check.id
            );
            assert!(!check.controls.is_empty(), "{} cites no control", check.id);
            for control in check.controls {
                assert!(
                    ["ISO27001:", "SOC2:", "CIS:"]
                        .iter()
                        .any(|p| control.starts_with(p)),
                    "{}: bad control id {control}",
                    check.id
                );
            }
        }
    }

    #[pg_test]
    fn severity_parsing_is_strict() {
        assert_eq!(Severity::parse(" HIGH ").ok(), Some(Severity::High));
        assert!(Severity::parse("severe").is_err());
        assert!(Severity::Critical > Severity::Info);
    }

    #[pg_test]
    fn every_finder_plans_against_the_catalogs() {
        let rows = Spi::get_one::<i64>("SELECT count(*) FROM ge_security.assess('info', true)");
        assert!(rows.is_ok());
    }

    #[pg_test(error = "unknown severity \"severe\"")]
    fn assess_refuses_unknown_severity() {
        let _ = Spi::run("SELECT * FROM ge_security.assess('severe')");
    }
}
