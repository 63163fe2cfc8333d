//! Data protection checks: PII-looking columns (ge_security.pii_patterns) kept as plain text,
//! readable by reporting roles, or in tables without a working audit trail; registered encrypted
//! columns that do not hold envelopes.
use super::registry::{Check, Severity};

/// `plain_pii`: columns of user tables whose names match the PII pattern ($4), stored as
/// plain text and not registered with protect_column(). Continues the prelude's WITH list;
/// `$tables`, when given, is an SQL condition on `r` that narrows the tables looked at.
macro_rules! plain_pii {
    () => {
        plain_pii!("true")
    };
    ($tables:literal) => {
        concat!(
            r#",
plain_pii AS (
  SELECT r.oid AS relid, r.qualified, r.relnamespace, a.attname, a.attnum, a.attacl,
         pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
  FROM user_relation r
  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE r.relkind IN ('r', 'p')
    AND a.atttypid IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype,
                       'pg_catalog.bpchar'::pg_catalog.regtype)
    AND a.attname IN (SELECT n.attname FROM pii_name n)
    AND NOT EXISTS (SELECT 1 FROM ge_security.protected_column pc
                     WHERE pc.table_name = r.oid AND pc.column_name = a.attname)
    AND "#,
            $tables,
            ")"
        )
    };
}

/// Plain-text PII columns a reporting role ($5) may SELECT, one finding per table and role,
/// with what row-level security leaves it: one query for two checks, each row naming its check
/// in `check_id` (pii_readable_by_readonly_role_rls_hidden where RLS lets the role see no row,
/// pii_readable_by_readonly_role for the others), so the reach is computed once per call.
const READONLY_PII_FINDER: &str = concat!(
    r#",
reader AS (
  SELECT r.oid, r.rolname, r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = ANY ($5::text[])),
reader_reach(role_oid, oid) AS (
  SELECT rd.oid, rd.oid FROM reader rd
  UNION
  SELECT x.role_oid, m.roleid FROM pg_catalog.pg_auth_members m JOIN reader_reach x ON m.member = x.oid),
reader_table AS (
  -- SELECT on the table through its ACL (PUBLIC, the role or a group role) or as its owner
  SELECT c.oid AS relid, h.role_oid FROM pg_catalog.pg_class c
  CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) x JOIN reader_reach h ON h.oid = x.grantee
  WHERE c.relacl IS NOT NULL AND c.relkind IN ('r', 'p') AND x.privilege_type = 'SELECT'
  UNION
  SELECT c.oid, rd.oid FROM pg_catalog.pg_class c
  CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) x CROSS JOIN reader rd
  WHERE c.relacl IS NOT NULL AND c.relkind IN ('r', 'p') AND x.grantee = 0 AND x.privilege_type = 'SELECT'
  UNION
  SELECT c.oid, h.role_oid FROM pg_catalog.pg_class c JOIN reader_reach h ON h.oid = c.relowner
  WHERE c.relkind IN ('r', 'p')),
candidate AS (
  -- the tables a reader may read at all: granted, with a column grant, or any for a superuser
  SELECT t.relid FROM reader_table t
  UNION
  SELECT a.attrelid FROM pg_catalog.pg_attribute a WHERE a.attacl IS NOT NULL
  UNION
  SELECT c.oid FROM pg_catalog.pg_class c WHERE EXISTS (SELECT 1 FROM reader WHERE rolsuper))"#,
    plain_pii!("r.oid IN (SELECT relid FROM candidate)"),
    r#",
readable AS (
  -- SELECT on the table or on the column, in a schema the role may use; set-based, not one
  -- privilege call per column
  SELECT p.relid, p.qualified, rd.oid AS role_oid, rd.rolname,
         pg_catalog.array_agg(p.attname ORDER BY p.attnum) AS columns
  FROM plain_pii p CROSS JOIN reader rd
  -- CASE keeps the schema test for the pairs that have a privilege at all
  WHERE CASE WHEN rd.rolsuper
                  OR EXISTS (SELECT 1 FROM reader_table t WHERE t.relid = p.relid AND t.role_oid = rd.oid)
                  OR (p.attacl IS NOT NULL
                      AND pg_catalog.has_column_privilege(rd.oid, p.relid, p.attnum, 'SELECT'))
             THEN pg_catalog.has_schema_privilege(rd.oid, p.relnamespace, 'USAGE') ELSE false END
  GROUP BY p.relid, p.qualified, rd.oid, rd.rolname),
weighed AS (
  -- what row-level security leaves the role: off, bypassed (superuser, BYPASSRLS, or the owner
  -- of a table that does not force it), rows some permissive SELECT policy for it lets
  -- through, or no row at all
  SELECT x.*, CASE
           WHEN NOT c.relrowsecurity THEN 'off'
           WHEN o.rolsuper OR o.rolbypassrls
             OR (NOT c.relforcerowsecurity AND pg_catalog.pg_has_role(x.role_oid, c.relowner, 'USAGE'))
             THEN 'bypassed'
           WHEN EXISTS (SELECT 1 FROM policy_verdict v
                         WHERE v.polrelid = x.relid AND v.polpermissive AND v.lets_through <> 'nothing'
                           AND v.polcmd IN ('r', '*')
                           AND (v.polroles = '{0}'::pg_catalog.oid[]
                                OR EXISTS (SELECT 1 FROM pg_catalog.unnest(v.polroles) pr(oid)
                                            WHERE pg_catalog.pg_has_role(x.role_oid, pr.oid, 'USAGE'))))
             THEN 'filters rows'
           ELSE 'hides every row' END AS row_level_security
  FROM readable x
  JOIN pg_catalog.pg_class c ON c.oid = x.relid
  JOIN pg_catalog.pg_roles o ON o.oid = x.role_oid),
described AS (
  SELECT x.*,
         (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
          FROM pg_catalog.unnest(x.columns) c(name) JOIN pg_catalog.pg_attribute a
            ON a.attrelid = x.relid AND a.attname = c.name) AS pii_list,
         (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = x.relid AND a.attnum > 0 AND NOT a.attisdropped
            AND a.attname <> ALL (x.columns)) AS other_list
  FROM weighed x)
SELECT 'table', pg_catalog.format('%s for role %I', d.qualified, d.rolname),
       pg_catalog.format('reporting role %I can read PII column(s) %s of %s in clear%s',
                         d.rolname, d.pii_list, d.qualified,
                         CASE d.row_level_security
                           WHEN 'hides every row' THEN ', but row-level security lets it see no row'
                           WHEN 'filters rows' THEN ' (in the rows row-level security lets it see)'
                           WHEN 'bypassed' THEN ' (it bypasses row-level security)' ELSE '' END),
       CASE WHEN pg_catalog.has_table_privilege(d.role_oid, d.relid, 'SELECT')
            THEN CASE WHEN d.other_list IS NULL
                      THEN pg_catalog.format('REVOKE SELECT ON TABLE %s FROM %I;', d.qualified, d.rolname)
                      ELSE pg_catalog.format('BEGIN; REVOKE SELECT ON TABLE %s FROM %I; '
                                             'GRANT SELECT (%s) ON TABLE %s TO %I; COMMIT;',
                                             d.qualified, d.rolname, d.other_list, d.qualified,
                                             d.rolname) END
            ELSE pg_catalog.format('REVOKE SELECT (%s) ON TABLE %s FROM %I;',
                                   d.pii_list, d.qualified, d.rolname) END
       || ' -- if the privilege comes from PUBLIC or a group role, revoke it there',
       pg_catalog.jsonb_build_object('table', d.qualified, 'role', d.rolname,
                                     'columns', pg_catalog.to_jsonb(d.columns),
                                     'row_level_security', d.row_level_security),
       CASE WHEN d.row_level_security = 'hides every row' THEN 'pii_readable_by_readonly_role_rls_hidden'
            ELSE 'pii_readable_by_readonly_role' END AS check_id
FROM described d"#
);

/// PII that reporting roles can read: access restriction and confidentiality of PII.
const READONLY_PII: &[&str] = &[
    "ISO27001:A.8.3",
    "ISO27001:A.5.34",
    "SOC2:C1.1",
    "SOC2:CC6.3",
];

pub const CHECKS: &[Check] = &[
    Check {
        id: "pii_column_plaintext",
        severity: Severity::Medium,
        category: "data_protection",
        title: "PII-looking column stored as plain text",
        controls: &[
            "ISO27001:A.8.24",
            "ISO27001:A.5.34",
            "SOC2:C1.1",
            "SOC2:CC6.1",
        ],
        description:
            "A column whose name matches ge_security.pii_patterns holds plain text and is not \
             registered as an encrypted column: disks, backups, dumps and every role with \
             SELECT see it in clear.",
        requires: None,
        // One DO block, so that the ALTER and the registration apply together or not at all
        // (run as two statements, a failed ALTER left the column registered and the finding
        // silenced). The body is dollar-quoted unless it holds the tag (a crafted name), then
        // quoted as a literal.
        finder: concat!(
            plain_pii!(),
            r#",
fix AS (
  SELECT p.*, pg_catalog.format(
           'BEGIN ALTER TABLE %1$s ALTER COLUMN %2$I TYPE bytea USING ge_security.encrypt(%2$I, %3$L); '
           'PERFORM ge_security.protect_column(%4$L, %5$L, %3$L); END',
           p.qualified, p.attname, p.qualified || '.' || p.attname, p.qualified, p.attname) AS body
  FROM plain_pii p)
SELECT 'column', pg_catalog.format('%s.%I', f.qualified, f.attname),
       pg_catalog.format('column %s.%I looks like PII and is stored as plain %s',
                         f.qualified, f.attname, f.type),
       CASE WHEN pg_catalog.strpos(f.body, '$ge$') = 0 THEN 'DO $ge$' || f.body || '$ge$;'
            ELSE pg_catalog.format('DO %L;', f.body) END
       || ' -- row images already in the audit trail keep this column''s plaintext',
       pg_catalog.jsonb_build_object('table', f.qualified, 'column', f.attname, 'type', f.type)
FROM fix f"#
        ),
    },
    Check {
        id: "pii_readable_by_readonly_role",
        severity: Severity::Medium,
        category: "data_protection",
        title: "Reporting role reads PII in clear",
        controls: READONLY_PII,
        description:
            "A role named in ge_security.readonly_roles may SELECT plain-text PII columns; \
             reporting rarely needs them. Grant it the other columns only. `details` says what \
             row-level security leaves it (off, bypassed, filters rows); where RLS lets it see \
             no row the finding is pii_readable_by_readonly_role_rls_hidden instead.",
        requires: None,
        finder: READONLY_PII_FINDER,
    },
    Check {
        id: "pii_readable_by_readonly_role_rls_hidden",
        severity: Severity::Low,
        category: "data_protection",
        title: "Reporting role holds SELECT on PII that row-level security hides from it",
        controls: READONLY_PII,
        description:
            "A role named in ge_security.readonly_roles may SELECT plain-text PII columns, but \
             the table forces no bypass and no permissive SELECT policy lets the role see a \
             row: nothing leaks today, and one policy added later would expose the columns. \
             Revoke the privilege it does not use.",
        requires: None,
        finder: READONLY_PII_FINDER,
    },
    Check {
        id: "pii_table_not_audited",
        severity: Severity::Medium,
        category: "data_protection",
        title: "Table holding PII without a ge_security audit trail",
        controls: &["ISO27001:A.8.15", "ISO27001:A.5.34", "SOC2:CC7.2"],
        description:
            "Changes to personal data leave no tamper-evident record of who changed what: \
             the table lacks an AFTER INSERT OR UPDATE OR DELETE row trigger or an AFTER TRUNCATE \
             trigger that calls ge_security.audit_trigger(), enabled ALWAYS, without a WHEN \
             condition or column list (a trigger of the right name is not enough).",
        requires: None,
        // Real state, not names: the extension's own function (a member of the extension),
        // the firing shape from tgtype (1 row, 2 before, 4 insert, 8 delete, 16 update,
        // 32 truncate, 64 instead), tgenabled 'A', no WHEN and no UPDATE OF list.
        finder: r#",
audit_fn AS (
  SELECT p.oid FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'ge_security'
  WHERE p.proname = 'audit_trigger' AND p.pronamespace = e.extnamespace AND p.pronargs = 0),
pii_table AS (
  SELECT r.oid, r.qualified,
         pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) AS column_list,
         pg_catalog.jsonb_agg(a.attname ORDER BY a.attnum) AS columns
  FROM user_relation r
  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE r.relkind IN ('r', 'p') AND a.attname IN (SELECT n.attname FROM pii_name n)
  GROUP BY r.oid, r.qualified),
candidate AS (
  SELECT t.tgrelid AS relid, t.tgname, t.tgenabled,
         t.tgfoid IN (SELECT oid FROM audit_fn) AS ours,
         t.tgfoid::pg_catalog.regprocedure::pg_catalog.text AS function,
         t.tgtype::integer & 67 = 1 AND t.tgtype::integer & 28 = 28 AS row_shape,
         t.tgtype::integer & 67 = 0 AND t.tgtype::integer & 32 = 32 AS truncate_shape,
         t.tgqual IS NULL AND pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) = 0 AS unconditional
  FROM pg_catalog.pg_trigger t
  WHERE t.tgrelid IN (SELECT oid FROM pii_table)
    AND (t.tgfoid IN (SELECT oid FROM audit_fn) OR t.tgname LIKE 'ge\_security\_audit\_%')),
state AS (
  SELECT p.*,
         EXISTS (SELECT 1 FROM candidate c WHERE c.relid = p.oid AND c.ours AND c.row_shape
                   AND c.unconditional AND c.tgenabled = 'A') AS row_ok,
         EXISTS (SELECT 1 FROM candidate c WHERE c.relid = p.oid AND c.ours AND c.truncate_shape
                   AND c.tgenabled = 'A') AS truncate_ok,
         EXISTS (SELECT 1 FROM candidate c WHERE c.relid = p.oid) AS has_candidates,
         (SELECT pg_catalog.array_agg(pg_catalog.format('trigger %I %s', c.tgname, CASE
                   WHEN NOT c.ours THEN 'calls ' || c.function || ', not ge_security.audit_trigger()'
                   WHEN c.tgenabled = 'D' THEN 'is disabled'
                   WHEN c.tgenabled = 'O' THEN 'is skipped when session_replication_role is replica (not ENABLE ALWAYS)'
                   WHEN c.tgenabled = 'R' THEN 'fires only when session_replication_role is replica'
                   WHEN NOT (c.row_shape OR c.truncate_shape) THEN 'does not fire AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW or AFTER TRUNCATE'
                   ELSE 'has a WHEN condition or an UPDATE OF column list' END) ORDER BY c.tgname)
          FROM candidate c WHERE c.relid = p.oid
            AND NOT (c.ours AND c.tgenabled = 'A' AND c.unconditional
                     AND (c.row_shape OR c.truncate_shape))) AS trigger_problems
  FROM pii_table p)
SELECT 'table', s.qualified,
       CASE WHEN s.has_candidates
            THEN pg_catalog.format('table %s holds PII-looking columns (%s) and its audit trail does not work: %s',
                   s.qualified, s.column_list, pg_catalog.array_to_string(x.problems, '; '))
            ELSE pg_catalog.format('table %s holds PII-looking columns (%s) and is not audited',
                   s.qualified, s.column_list) END,
       pg_catalog.format('SELECT ge_security.enable_audit(%L);', s.qualified),
       pg_catalog.jsonb_build_object('table', s.qualified, 'columns', s.columns)
       || CASE WHEN s.has_candidates THEN pg_catalog.jsonb_build_object('problems', x.problems)
               ELSE '{}'::pg_catalog.jsonb END
FROM state s
CROSS JOIN LATERAL (SELECT COALESCE(s.trigger_problems, '{}'::text[])
       || CASE WHEN s.row_ok THEN '{}'::text[]
               ELSE ARRAY['no working AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW trigger calls ge_security.audit_trigger()'] END
       || CASE WHEN s.truncate_ok THEN '{}'::text[]
               ELSE ARRAY['no working AFTER TRUNCATE trigger calls ge_security.audit_trigger()'] END AS problems) x
WHERE NOT (s.row_ok AND s.truncate_ok)"#,
    },
    Check {
        id: "protected_column_not_encrypted",
        severity: Severity::High,
        category: "data_protection",
        title: "Registered encrypted column holding values that are not envelopes",
        controls: &[
            "ISO27001:A.8.24",
            "ISO27001:A.5.34",
            "SOC2:C1.1",
            "SOC2:CC6.1",
        ],
        description:
            "A column registered with protect_column() is not bytea, or a sample of its values \
             (up to 200, from about 20 pages; every page of a small table) holds values that \
             are not ge_security envelopes (version byte 1, at least 33 bytes): the registry says \
             encrypted while the column holds plaintext. Only counts are reported, never values.",
        requires: None,
        // Reading rows needs dynamic SQL: ts_stat() runs the sample as the caller (column
        // privileges are enough: no system column is read) and counts the rows per word, one
        // word per row, 'plain' or 'envelope' (query_to_xml() would need a server built with
        // libxml). A column the caller may not read, or whose rows row-level security hides,
        // is not_assessed: its sample query is one that reads nothing.
        finder: r#",
protected AS (
  SELECT r.oid AS relid, r.qualified, r.relkind, a.attname, pc.context, pc.aad_column,
         pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
         (WITH RECURSIVE chain(typid) AS (
            SELECT a.atttypid
            UNION ALL
            SELECT ty.typbasetype FROM pg_catalog.pg_type ty JOIN chain ON ty.oid = chain.typid
            WHERE ty.typtype = 'd')
          SELECT pg_catalog.bool_or(chain.typid = 'pg_catalog.bytea'::pg_catalog.regtype) FROM chain) AS is_bytea,
         pg_catalog.has_column_privilege(r.oid, a.attnum, 'SELECT') AS readable,
         pg_catalog.row_security_active(r.oid::pg_catalog.regclass) AS rls_hides,
         pg_catalog.round(LEAST(100.0, 2000.0 / GREATEST(c.relpages, 1)), 4) AS percent
  FROM ge_security.protected_column pc
  JOIN user_relation r ON r.oid = pc.table_name
  JOIN pg_catalog.pg_class c ON c.oid = r.oid
  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attname = pc.column_name
   AND a.attnum > 0 AND NOT a.attisdropped
  WHERE r.relkind IN ('r', 'p')),
counted AS (
  SELECT p.*, t.n, t.plain,
         CASE WHEN p.aad_column IS NULL THEN ''
              ELSE pg_catalog.format(', %I::text', p.aad_column) END AS aad_arg
  FROM protected p
  CROSS JOIN LATERAL (
    SELECT COALESCE(pg_catalog.sum(w.ndoc), 0)::pg_catalog.int8 AS n,
           COALESCE(pg_catalog.sum(w.ndoc) FILTER (WHERE w.word = 'plain'), 0)::pg_catalog.int8 AS plain
    FROM pg_catalog.ts_stat(CASE WHEN p.is_bytea AND p.readable AND NOT p.rls_hides THEN pg_catalog.format(
           'SELECT CASE WHEN CASE WHEN pg_catalog.length(x.v) OPERATOR(pg_catalog.>=) 33 '
           'THEN pg_catalog.get_byte(x.v, 0) OPERATOR(pg_catalog.<>) 1 ELSE true END '
           'THEN ''plain''::pg_catalog.tsvector ELSE ''envelope''::pg_catalog.tsvector END '
           'FROM (SELECT s.%1$I AS v FROM %2$s s TABLESAMPLE SYSTEM (%3$s) '
           'WHERE s.%1$I IS NOT NULL LIMIT 200) x',
           p.attname, p.qualified, p.percent)
         ELSE 'SELECT NULL::pg_catalog.tsvector WHERE false' END) w) t)
SELECT 'column', pg_catalog.format('%s.%I', c.qualified, c.attname),
       CASE WHEN NOT c.is_bytea
              THEN pg_catalog.format('protected column %s.%I is of type %s and cannot hold ge_security envelopes',
                                     c.qualified, c.attname, c.type)
            WHEN NOT c.readable
              THEN pg_catalog.format('protected column %s.%I was not assessed: the caller may not read it',
                                     c.qualified, c.attname)
            WHEN c.rls_hides
              THEN pg_catalog.format('protected column %s.%I was not assessed: row-level security hides rows of %s from the caller',
                                     c.qualified, c.attname, c.qualified)
            ELSE pg_catalog.format('protected column %s.%I holds values that are not ge_security envelopes (%s of %s sampled)',
                                   c.qualified, c.attname, c.plain, c.n) END,
       CASE WHEN NOT c.is_bytea
              THEN pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I TYPE bytea USING ge_security.encrypt(%I::text, %L%s);',
                                     c.qualified, c.attname, c.attname, c.context, c.aad_arg)
                   || ' -- row images already in the audit trail keep this column''s plaintext'
            WHEN NOT c.readable OR c.rls_hides
              THEN pg_catalog.format('-- run ge_security.assess() as a role that may read every row of %s.%I',
                                     c.qualified, c.attname)
            ELSE pg_catalog.format('UPDATE %1$s SET %2$I = ge_security.encrypt(%2$I, %3$L%4$s) WHERE CASE '
                                   'WHEN pg_catalog.length(%2$I) >= 33 THEN pg_catalog.get_byte(%2$I, 0) <> 1 '
                                   'ELSE %2$I IS NOT NULL END;',
                                   c.qualified, c.attname, c.context, c.aad_arg)
                 || ' -- row images already in the audit trail keep this column''s plaintext' END,
       pg_catalog.jsonb_build_object('table', c.qualified, 'column', c.attname, 'type', c.type)
       || CASE WHEN c.is_bytea AND c.readable AND NOT c.rls_hides
               THEN pg_catalog.jsonb_build_object('sampled', c.n, 'not_envelopes', c.plain)
               WHEN c.is_bytea AND NOT c.readable
               THEN pg_catalog.jsonb_build_object('needs', 'SELECT on the column')
               WHEN c.is_bytea
               THEN pg_catalog.jsonb_build_object('needs', 'BYPASSRLS, or no row-level security policy hiding rows')
               ELSE '{}'::pg_catalog.jsonb END,
       c.is_bytea AND (NOT c.readable OR c.rls_hides)
FROM counted c
WHERE NOT c.is_bytea OR NOT c.readable OR c.rls_hides OR c.plain > 0"#,
    },
];
