//! Data protection checks: PII-looking columns (ge_security.pii_patterns) kept as plain text,
//! readable by reporting roles, or in tables without an audit trail.
use super::registry::{Check, Severity};

/// `plain_pii`: columns of user tables whose names match the PII pattern ($4), stored as
/// plain text and not registered with protect_column(). Continues the prelude's WITH list.
macro_rules! plain_pii {
    () => {
        r#",
plain_pii AS (
  SELECT r.oid AS relid, r.qualified, a.attname, a.attnum,
         pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
  FROM user_relation r
  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE r.relkind IN ('r', 'p')
    AND a.atttypid IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype,
                       'pg_catalog.bpchar'::pg_catalog.regtype)
    AND a.attname ~* $4
    AND NOT EXISTS (SELECT 1 FROM ge_security.protected_column pc
                     WHERE pc.table_name = r.oid AND pc.column_name = a.attname))"#
    };
}

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
        finder: concat!(
            plain_pii!(),
            r#"
SELECT 'column', pg_catalog.format('%s.%I', p.qualified, p.attname),
       pg_catalog.format('column %s.%I looks like PII and is stored as plain %s',
                         p.qualified, p.attname, p.type),
       pg_catalog.format(
         'ALTER TABLE %1$s ALTER COLUMN %2$I TYPE bytea USING ge_security.encrypt(%2$I, %3$L); '
         'SELECT ge_security.protect_column(%4$L, %5$L, %3$L);',
         p.qualified, p.attname, p.qualified || '.' || p.attname, p.qualified, p.attname),
       pg_catalog.jsonb_build_object('table', p.qualified, 'column', p.attname, 'type', p.type)
FROM plain_pii p"#
        ),
    },
    Check {
        id: "pii_readable_by_readonly_role",
        severity: Severity::Medium,
        category: "data_protection",
        title: "Reporting role reads PII in clear",
        controls: &["ISO27001:A.8.3", "ISO27001:A.8.11", "SOC2:CC6.1", "SOC2:C1.1"],
        description:
            "A role named in ge_security.readonly_roles may SELECT plain-text PII columns; \
             reporting rarely needs them. Grant it the other columns only.",
        requires: None,
        finder: concat!(
            plain_pii!(),
            r#",
reader AS (
  SELECT r.oid, r.rolname FROM pg_catalog.pg_roles r WHERE r.rolname = ANY ($5::text[])),
readable AS (
  SELECT p.relid, p.qualified, rd.oid AS role_oid, rd.rolname,
         pg_catalog.array_agg(p.attname ORDER BY p.attnum) AS columns
  FROM plain_pii p CROSS JOIN reader rd
  WHERE pg_catalog.has_column_privilege(rd.oid, p.relid, p.attnum, 'SELECT')
  GROUP BY p.relid, p.qualified, rd.oid, rd.rolname),
described AS (
  SELECT x.*,
         (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
          FROM pg_catalog.unnest(x.columns) c(name) JOIN pg_catalog.pg_attribute a
            ON a.attrelid = x.relid AND a.attname = c.name) AS pii_list,
         (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = x.relid AND a.attnum > 0 AND NOT a.attisdropped
            AND a.attname <> ALL (x.columns)) AS other_list
  FROM readable x)
SELECT 'table', pg_catalog.format('%s for role %I', d.qualified, d.rolname),
       pg_catalog.format('reporting role %I can read PII column(s) %s of %s in clear',
                         d.rolname, d.pii_list, d.qualified),
       CASE WHEN pg_catalog.has_table_privilege(d.role_oid, d.relid, 'SELECT')
            THEN pg_catalog.format('REVOKE SELECT ON TABLE %s FROM %I;', d.qualified, d.rolname)
                 || COALESCE(pg_catalog.format(' GRANT SELECT (%s) ON TABLE %s TO %I;',
                                               d.other_list, d.qualified, d.rolname), '')
            ELSE pg_catalog.format('REVOKE SELECT (%s) ON TABLE %s FROM %I;',
                                   d.pii_list, d.qualified, d.rolname) END
       || ' -- if the privilege comes from PUBLIC or a group role, revoke it there',
       pg_catalog.jsonb_build_object('table', d.qualified, 'role', d.rolname,
                                     'columns', pg_catalog.to_jsonb(d.columns))
FROM described d"#
        ),
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
