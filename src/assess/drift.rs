//! Drift checks: no approved baseline, drift that is not being watched, and unapproved drift
//! the database worker recorded in ge_security.drift_event (a new superuser or BYPASSRLS role is
//! critical; other drift by its kind). The finders read the recorded events rather than
//! recomputing drift, so assess() costs the same with or without a baseline.
use super::registry::{Check, Requirement, Severity};

const READS_BASELINE: Option<Requirement> = Some(Requirement {
    probe: "pg_catalog.has_table_privilege('ge_security.baseline', 'SELECT') \
            AND pg_catalog.has_table_privilege('ge_security.worker_status', 'SELECT')",
    needs: "SELECT on ge_security.baseline and ge_security.worker_status (ge_security_auditor)",
});

const READS_EVENTS: Option<Requirement> = Some(Requirement {
    probe: "pg_catalog.has_table_privilege('ge_security.drift_event', 'SELECT')",
    needs: "SELECT on ge_security.drift_event (ge_security_auditor)",
});

const CHANGE: &[&str] = &[
    "ISO27001:A.8.9",
    "ISO27001:A.8.32",
    "SOC2:CC7.1",
    "SOC2:CC8.1",
];
const PRIVILEGED_CHANGE: &[&str] = &[
    "ISO27001:A.8.2",
    "ISO27001:A.8.9",
    "SOC2:CC6.3",
    "SOC2:CC7.1",
    "SOC2:CC8.1",
];
const MONITORING: &[&str] = &["ISO27001:A.8.9", "ISO27001:A.8.16", "SOC2:CC7.1"];

/// Open events of `$kind` that are not a new superuser or BYPASSRLS role (those are reported
/// as drift_privileged_role). The object type is mapped onto assess()'s vocabulary; details
/// keep the drift item's own type, the event id and both states.
macro_rules! unapproved_finder {
    ($kind:literal, $verb:literal) => {
        concat!(
            "SELECT CASE e.object_type WHEN 'role_membership' THEN 'role' WHEN 'role_setting' THEN 'setting' ",
            "WHEN 'foreign_table' THEN 'table' WHEN 'default_privileges' THEN 'schema' ",
            "WHEN 'ident_mapping' THEN 'hba_rule' WHEN 'audit_trigger' THEN 'audit_trail' ",
            "WHEN 'protected_column' THEN 'column' WHEN 'event_trigger' THEN 'function' ",
            "ELSE e.object_type END, e.object_name, ",
            "pg_catalog.format('%s ", $verb, " since the approved baseline (%s, drift event %s, seen %s)', ",
            "e.object_name, pg_catalog.replace(e.object_type, '_', ' '), e.id, ",
            "pg_catalog.to_char(e.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')), ",
            "pg_catalog.format('-- revert the change; or, once it is reviewed and approved: ",
            "SELECT ge_security.approve_baseline(%L);', 'approved drift event ' || e.id), ",
            "pg_catalog.jsonb_build_object('event', e.id, 'kind', e.kind, 'drift_object_type', e.object_type, ",
            "'before', e.before, 'after', e.after, 'baseline', e.baseline_id) ",
            "FROM ge_security.drift_event e WHERE e.closed_at IS NULL AND e.kind = '", $kind, "' ",
            "AND NOT (e.object_type = 'role' ",
            "AND ((coalesce((e.after ->> 'superuser')::boolean, false) ",
            "AND NOT coalesce((e.before ->> 'superuser')::boolean, false)) ",
            "OR (coalesce((e.after ->> 'bypassrls')::boolean, false) ",
            "AND NOT coalesce((e.before ->> 'bypassrls')::boolean, false))))"
        )
    };
}

pub const CHECKS: &[Check] = &[
    Check {
        id: "baseline_missing",
        severity: Severity::Low,
        category: "drift",
        title: "No approved security baseline",
        controls: &["ISO27001:A.8.9", "SOC2:CC7.1", "SOC2:CC8.1"],
        description: "Without an approved baseline, changes to roles, privileges, row-level security, \
                      pg_hba.conf and security settings cannot be told apart from the approved posture. \
                      Approve the reviewed posture with ge_security.approve_baseline(note).",
        requires: READS_BASELINE,
        finder: "SELECT 'baseline', pg_catalog.quote_ident(pg_catalog.current_database()), \
                 pg_catalog.format('no security baseline has been approved in database %I: drift from an approved posture cannot be detected', \
                                   pg_catalog.current_database()), \
                 'SELECT ge_security.approve_baseline(''initial security baseline, reviewed by <name>'');', \
                 pg_catalog.jsonb_build_object('database', pg_catalog.current_database()) \
                 WHERE NOT EXISTS (SELECT FROM ge_security.baseline)",
    },
    Check {
        id: "drift_not_monitored",
        severity: Severity::Low,
        category: "drift",
        title: "Drift from the approved baseline is not being checked",
        controls: MONITORING,
        description: "A baseline exists but no worker has compared the posture with it within three \
                      drift intervals: ge_security must be preloaded and the database listed in \
                      ge_security.databases for its worker to record drift and alert.",
        requires: READS_BASELINE,
        finder: "SELECT 'baseline', pg_catalog.quote_ident(pg_catalog.current_database()), \
                 CASE WHEN s.drift_checked_at IS NULL \
                      THEN pg_catalog.format('drift from the approved baseline has never been checked in database %I', pg_catalog.current_database()) \
                      ELSE pg_catalog.format('drift was last checked in database %I at %s, more than three drift intervals (%s s each) ago', \
                                             pg_catalog.current_database(), \
                                             pg_catalog.to_char(s.drift_checked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"'), i.seconds) END, \
                 CASE WHEN l.listed \
                      THEN '-- this database is in ge_security.databases but its worker has not checked drift: look for ge_security WARNINGs in the server log and check that shared_preload_libraries includes ge_security' \
                      ELSE pg_catalog.format('ALTER SYSTEM SET ge_security.databases = %L; SELECT pg_catalog.pg_reload_conf(); -- needs ge_security in shared_preload_libraries', \
                                             pg_catalog.concat_ws(', ', NULLIF(pg_catalog.btrim(pg_catalog.current_setting('ge_security.databases', true)), ''), \
                                                                  pg_catalog.current_database())) END, \
                 pg_catalog.jsonb_build_object('last_checked', s.drift_checked_at, 'drift_interval_s', i.seconds, 'listed', l.listed) \
                 FROM ge_security.worker_status s \
                 CROSS JOIN (SELECT GREATEST(coalesce((SELECT p.setting FROM pg_catalog.pg_settings p \
                                      WHERE p.name = 'ge_security.drift_interval')::integer, 60), 1) AS seconds) i \
                 CROSS JOIN (SELECT pg_catalog.current_database()::text = ANY (SELECT pg_catalog.btrim(x) \
                                      FROM pg_catalog.unnest(pg_catalog.string_to_array( \
                                        coalesce(pg_catalog.current_setting('ge_security.databases', true), ''), ',')) x) AS listed) l \
                 WHERE EXISTS (SELECT FROM ge_security.baseline) \
                   AND (s.drift_checked_at IS NULL \
                        OR s.drift_checked_at < pg_catalog.now() - pg_catalog.make_interval(secs => 3 * GREATEST(i.seconds, 60)))",
    },
    Check {
        id: "drift_privileged_role",
        severity: Severity::Critical,
        category: "drift",
        title: "Unapproved superuser or BYPASSRLS role",
        controls: PRIVILEGED_CHANGE,
        description: "Since the approved baseline a role was created with, or given, SUPERUSER or \
                      BYPASSRLS. Every new superuser is an immediate investigation: revoke the \
                      attribute, or approve a new baseline once the change is authorised.",
        requires: READS_EVENTS,
        finder: "SELECT 'role', e.object_name, \
                 pg_catalog.format('%s %s since the approved baseline with %s (drift event %s, seen %s)', e.object_name, \
                                   CASE e.kind WHEN 'added' THEN 'was created' ELSE 'was changed' END, \
                                   pg_catalog.concat_ws(' and ', CASE WHEN p.superuser THEN 'SUPERUSER' END, CASE WHEN p.bypassrls THEN 'BYPASSRLS' END), \
                                   e.id, pg_catalog.to_char(e.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')), \
                 pg_catalog.format('ALTER ROLE %s%s%s;', pg_catalog.substr(e.object_name, 6), \
                                   CASE WHEN p.superuser THEN ' NOSUPERUSER' ELSE '' END, CASE WHEN p.bypassrls THEN ' NOBYPASSRLS' ELSE '' END), \
                 pg_catalog.jsonb_build_object('event', e.id, 'kind', e.kind, 'before', e.before, 'after', e.after, \
                                               'baseline', e.baseline_id) \
                 FROM ge_security.drift_event e \
                 CROSS JOIN LATERAL (SELECT coalesce((e.after ->> 'superuser')::boolean, false) \
                                              AND NOT coalesce((e.before ->> 'superuser')::boolean, false) AS superuser, \
                                            coalesce((e.after ->> 'bypassrls')::boolean, false) \
                                              AND NOT coalesce((e.before ->> 'bypassrls')::boolean, false) AS bypassrls) p \
                 WHERE e.closed_at IS NULL AND e.object_type = 'role' AND (p.superuser OR p.bypassrls)",
    },
    Check {
        id: "drift_added",
        severity: Severity::High,
        category: "drift",
        title: "Unapproved object or privilege added since the baseline",
        controls: CHANGE,
        description: "A role, membership, grant target, policy, pg_hba.conf rule, function or other \
                      security-relevant object exists that the approved baseline does not have.",
        requires: READS_EVENTS,
        finder: unapproved_finder!("added", "was added"),
    },
    Check {
        id: "drift_changed",
        severity: Severity::High,
        category: "drift",
        title: "Unapproved change since the baseline",
        controls: CHANGE,
        description: "Privileges, attributes, row-level security flags, a policy expression, a \
                      pg_hba.conf rule or a security setting differ from the approved baseline.",
        requires: READS_EVENTS,
        finder: unapproved_finder!("changed", "changed"),
    },
    Check {
        id: "drift_removed",
        severity: Severity::Medium,
        category: "drift",
        title: "Unapproved removal since the baseline",
        controls: CHANGE,
        description: "An object of the approved baseline is gone: a dropped policy, audit trigger, \
                      protected column, pg_hba.conf rule or role that the approved posture relied on.",
        requires: READS_EVENTS,
        finder: unapproved_finder!("removed", "was removed"),
    },
];
