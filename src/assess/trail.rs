//! Audit trail checks: the DDL guard is not loaded (auditing can be switched off unnoticed),
//! and LOGIN roles whose password, as the trail's role rows date it, is older than allowed.
use super::registry::{Check, Requirement, Severity};

/// The dormant-role finder: LOGIN roles with no row in the audit trail (as session user, or
/// the row of their creation) since `$cutoff`, an SQL timestamptz expression (90 days ago;
/// another moment in tests). Roles the trail has never seen are reported together as one
/// not_assessed row. The recent end of the trail is found through the sealed blocks, so only
/// that range of ids is read for every role.
macro_rules! dormant_finder {
    ($cutoff:literal) => {
        concat!(
            r#",
cutoff AS (SELECT ("#,
            $cutoff,
            r#")::timestamptz AS at),
recent_from AS (
  SELECT COALESCE(
           (SELECT pg_catalog.min(b.first_id) FROM ge_security.audit_block b, cutoff
             WHERE b.sealed_at >= cutoff.at),
           (SELECT COALESCE(pg_catalog.max(b.last_id), 0) + 1 FROM ge_security.audit_block b)) AS id),
recent AS (
  SELECT DISTINCT x.role
  FROM ge_security.audit_log l CROSS JOIN recent_from f CROSS JOIN cutoff
  CROSS JOIN LATERAL (VALUES (l.session_user_name),
                             (CASE WHEN l.op = 'DDL' AND l.statement ~* '^\s*CREATE\s+(ROLE|USER)\M'
                                   THEN l.row_key ->> 'role' END)) x(role)
  WHERE l.id >= f.id AND l.at >= cutoff.at AND x.role IS NOT NULL),
candidate AS (
  SELECT r.oid, r.rolname,
         EXISTS (SELECT 1 FROM ge_security.audit_log l
                  WHERE l.session_user_name = r.rolname
                     OR (l.op = 'DDL' AND l.row_key ->> 'role' = r.rolname
                         AND l.statement ~* '^\s*CREATE\s+(ROLE|USER)\M')) AS known
  FROM login_role r
  WHERE (r.rolvaliduntil IS NULL OR r.rolvaliduntil > pg_catalog.now())
    AND r.rolname NOT IN (SELECT role FROM recent)
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.usesysid = r.oid))
SELECT 'role', 'role ' || pg_catalog.quote_ident(d.rolname),
       pg_catalog.format('LOGIN role %I has no activity in the audit trail since %s', d.rolname,
                         (SELECT cutoff.at::date FROM cutoff)),
       pg_catalog.format('ALTER ROLE %I NOLOGIN; -- until it is needed again: ALTER ROLE %I LOGIN;',
                         d.rolname, d.rolname),
       pg_catalog.jsonb_build_object('role', d.rolname, 'no_activity_since', (SELECT cutoff.at FROM cutoff),
         'trail_records', 'writes to audited tables and security DDL, not logins or reads'),
       false
FROM candidate d WHERE d.known
UNION ALL
SELECT 'audit_trail', 'ge_security.audit_log',
       pg_catalog.format('the audit trail has no row for %s LOGIN role(s) (%s), so whether they are still used is unknown: it records writes and security DDL, not logins',
                         pg_catalog.count(*), pg_catalog.string_agg(pg_catalog.quote_ident(d.rolname), ', ' ORDER BY d.rolname)),
       '-- check their logins in the server log (log_connections), and lock those not in use: ALTER ROLE <role> NOLOGIN;',
       pg_catalog.jsonb_build_object('roles', pg_catalog.jsonb_agg(d.rolname ORDER BY d.rolname)),
       true
FROM candidate d WHERE NOT d.known
HAVING pg_catalog.count(*) > 0"#
        )
    };
}

pub const CHECKS: &[Check] = &[
    Check {
        id: "audit_trail_unguarded",
        severity: Severity::High,
        category: "audit_trail",
        title: "The audit trail is not guarded (ge_security is not preloaded)",
        controls: &["ISO27001:A.8.15", "ISO27001:A.8.32", "SOC2:CC7.2", "SOC2:CC8.1"],
        description: "Without ge_security in shared_preload_libraries, a table owner can disable or \
                      drop the audit triggers, write unrecorded and switch them back on, the trail's \
                      own tables can be altered, and security DDL (grants, roles, policies) is not \
                      recorded. Sealing by the background worker does not run either.",
        requires: Some(Requirement {
            probe: "EXISTS (SELECT 1 FROM pg_catalog.pg_settings WHERE name = 'shared_preload_libraries')",
            needs: "the privilege to read shared_preload_libraries (pg_read_all_settings)",
        }),
        finder: r#"
SELECT 'audit_trail', 'ge_security.audit_log',
       'ge_security is not in shared_preload_libraries: audit triggers can be switched off unnoticed and security DDL is not recorded',
       pg_catalog.format('ALTER SYSTEM SET shared_preload_libraries = %L; -- then restart the server',
                         pg_catalog.concat_ws(',', NULLIF(s.setting, ''), 'ge_security')),
       pg_catalog.jsonb_build_object('setting', s.name, 'value', s.setting)
FROM pg_catalog.pg_settings s
WHERE s.name = 'shared_preload_libraries' AND s.setting !~ '(^|[ ,])ge_security([ ,]|$)'"#,
    },
    Check {
        id: "login_role_password_old",
        severity: Severity::Medium,
        category: "audit_trail",
        title: "LOGIN role password older than ge_security.password_max_age",
        controls: &["ISO27001:A.5.17", "SOC2:CC6.1"],
        description: "The trail's role rows date every password change made while ge_security was \
                      preloaded; a password older than ge_security.password_max_age (default 90 \
                      days) is reported. A role whose last change the trail does not know is \
                      not_assessed (PostgreSQL itself keeps no date).",
        requires: Some(Requirement {
            probe: "pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT') \
                    AND pg_catalog.has_table_privilege('ge_security.audit_log', 'SELECT')",
            needs: "SELECT on pg_catalog.pg_authid (superuser) and on ge_security.audit_log",
        }),
        finder: r#",
max_age AS (
  SELECT pg_catalog.make_interval(secs => s.setting::double precision) AS age, s.setting::bigint AS seconds
  FROM pg_catalog.pg_settings s WHERE s.name = 'ge_security.password_max_age'),
changed AS (
  SELECT l.row_key ->> 'role' AS role, pg_catalog.max(l.at) AS at
  FROM ge_security.audit_log l
  WHERE l.op = 'DDL' AND l.row_key ->> 'password_set' = 'true'
  GROUP BY 1)
SELECT 'role', 'role ' || pg_catalog.quote_ident(r.rolname),
       CASE WHEN c.at IS NULL
            THEN pg_catalog.format('the audit trail does not know when the password of %I was set', r.rolname)
            ELSE pg_catalog.format('the password of %I was set on %s, more than %s ago',
                                   r.rolname, c.at::date, m.age) END,
       pg_catalog.format('-- set a new password in psql (it never appears in SQL text or logs): \password %I',
                         r.rolname),
       pg_catalog.jsonb_build_object('role', r.rolname, 'password_changed_at', c.at,
                                     'max_age_seconds', m.seconds),
       c.at IS NULL
FROM login_role r
JOIN pg_catalog.pg_authid a ON a.oid = r.oid AND a.rolpassword IS NOT NULL
CROSS JOIN max_age m
LEFT JOIN changed c ON c.role = r.rolname
WHERE m.seconds > 0 AND (c.at IS NULL OR c.at < pg_catalog.now() - m.age)"#,
    },
    Check {
        id: "login_role_dormant",
        severity: Severity::Low,
        category: "audit_trail",
        title: "LOGIN role with no activity in the audit trail for 90 days",
        controls: &["ISO27001:A.5.18", "ISO27001:A.5.16", "SOC2:CC6.2", "CIS:4.4"],
        description: "PostgreSQL keeps no last-login date. The audit trail records, per session \
                      user, every audited write and security DDL, and the creation of roles: a \
                      LOGIN role (not allow-listed, not connected now, not expired) that the trail \
                      has seen but not in the last 90 days is reported; lock it with NOLOGIN until \
                      it is needed. A role that only reads leaves no row, so check the server log \
                      before locking. Roles the trail has never seen are one not_assessed row.",
        requires: Some(Requirement {
            probe: "pg_catalog.has_table_privilege('ge_security.audit_log', 'SELECT') \
                    AND pg_catalog.has_table_privilege('ge_security.audit_block', 'SELECT')",
            needs: "SELECT on ge_security.audit_log and ge_security.audit_block (ge_security_auditor)",
        }),
        finder: dormant_finder!("pg_catalog.now() - interval '90 days'"),
    },
];

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::super::engine::{self, Status};
    use super::super::registry::{Check, Severity};
    use pgrx::prelude::*;

    /// login_role_dormant with the cutoff at `$cutoff`.
    macro_rules! dormant_since {
        ($cutoff:literal) => {
            Check {
                id: "login_role_dormant",
                severity: Severity::Low,
                category: "audit_trail",
                title: "",
                controls: &[],
                description: "",
                requires: None,
                finder: dormant_finder!($cutoff),
            }
        };
    }
    // every row the trail holds is older than a cutoff tomorrow
    static CUTOFF_TOMORROW: Check = dormant_since!("pg_catalog.now() + interval '1 day'");
    static CUTOFF_90_DAYS: Check = dormant_since!("pg_catalog.now() - interval '90 days'");

    #[pg_test]
    fn login_role_seen_before_the_cutoff_is_dormant_after_it_is_not() {
        // the CREATE ROLE is recorded in the trail (the library is preloaded for these tests)
        Spi::run("CREATE ROLE ge_dormant_probe LOGIN").unwrap();
        let recorded = Spi::get_one::<i64>(
            "SELECT count(*) FROM ge_security.audit_log WHERE op = 'DDL' \
             AND row_key ->> 'role' = 'ge_dormant_probe'",
        );
        assert_eq!(recorded, Ok(Some(1)));
        let of_probe = |check: &'static Check| {
            engine::run(std::iter::once(check))
                .into_iter()
                .filter(|f| f.object_name == "role ge_dormant_probe")
                .collect::<Vec<_>>()
        };
        let dormant = of_probe(&CUTOFF_TOMORROW);
        assert_eq!(dormant.len(), 1);
        assert_eq!(dormant[0].status, Status::Fail);
        assert_eq!(
            dormant[0].remediation.as_deref(),
            Some("ALTER ROLE ge_dormant_probe NOLOGIN; -- until it is needed again: ALTER ROLE ge_dormant_probe LOGIN;")
        );
        // created today: not dormant under the real 90-day cutoff
        assert!(of_probe(&CUTOFF_90_DAYS).is_empty());
    }
}
