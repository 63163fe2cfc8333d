//! Audit trail checks: the DDL guard is not loaded (auditing can be switched off unnoticed),
//! and LOGIN roles whose password, as the trail's role rows date it, is older than allowed.
use super::registry::{Check, Requirement, Severity};

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
];
