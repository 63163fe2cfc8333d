//! Data protection checks: PII-looking columns (ge_security.pii_patterns) kept as plain text
//! and not registered with protect_column(), and tables holding PII without an audit trail.
use super::registry::{Check, Severity};

pub const CHECKS: &[Check] = &[
Check {
    id: "pii_column_plaintext",
    severity: Severity::Medium,
    category: "data_protection",
    title: "PII-looking column stored as plain text",
    controls: &[
        "ISO27001:A.8.24",
        "ISO27001:A.8.11",
        "SOC2:CC6.1",
        "SOC2:CC6.7",
    ],
    description:
        "A column whose name matches ge_security.pii_patterns holds plain text and is not \
                  registered as an encrypted column: disks, backups, dumps and every role with \
                  SELECT see it in clear.",
    requires: None,
    finder: r#"
SELECT 'column', pg_catalog.format('%s.%I', r.qualified, a.attname),
       pg_catalog.format('column %s.%I looks like PII and is stored as plain %s',
                         r.qualified, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)),
       pg_catalog.format(
         'ALTER TABLE %1$s ALTER COLUMN %2$I TYPE bytea USING ge_security.encrypt(%2$I, %3$L); '
         'SELECT ge_security.protect_column(%4$L, %5$L, %3$L);',
         r.qualified, a.attname, r.qualified || '.' || a.attname, r.qualified, a.attname),
       pg_catalog.jsonb_build_object('table', r.qualified, 'column', a.attname,
                                     'type', pg_catalog.format_type(a.atttypid, a.atttypmod))
FROM user_relation r
JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE r.relkind IN ('r', 'p')
  AND a.atttypid IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype,
                     'pg_catalog.bpchar'::pg_catalog.regtype)
  AND a.attname ~* $4
  AND NOT EXISTS (SELECT 1 FROM ge_security.protected_column p
                   WHERE p.table_name = r.oid AND p.column_name = a.attname)"#,
},
    Check {
        id: "pii_table_not_audited",
        severity: Severity::Medium,
        category: "data_protection",
        title: "Table holding PII without a ge_security audit trail",
        controls: &["ISO27001:A.8.15", "SOC2:CC7.2"],
        description: "Changes to personal data leave no tamper-evident record of who changed what.",
        requires: None,
        finder: "SELECT 'table', r.qualified, \
                 pg_catalog.format('table %s holds PII-looking columns (%s) and is not audited', r.qualified, \
                   pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)), \
                 pg_catalog.format('SELECT ge_security.enable_audit(%L);', r.qualified), \
                 pg_catalog.jsonb_build_object('table', r.qualified, \
                   'columns', pg_catalog.jsonb_agg(a.attname ORDER BY a.attnum)) \
                 FROM user_relation r \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped \
                 WHERE r.relkind IN ('r', 'p') AND a.attname ~* $4 \
                   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t \
                                    WHERE t.tgrelid = r.oid AND t.tgname = 'ge_security_audit_row') \
                 GROUP BY r.qualified",
    },
];
