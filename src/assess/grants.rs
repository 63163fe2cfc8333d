//! Grant checks: privileges given to PUBLIC, too-broad privileges and grant options held by
//! app roles, CREATE on schemas, default privileges, and database-level TEMP/CONNECT.
use super::registry::{Check, Severity};

/// Privileges on data objects (CIS PostgreSQL 15 v1.2.0, 4.6: excessive DML privileges).
const DATA_PRIVILEGES: &[&str] = &["ISO27001:A.8.3", "ISO27001:A.5.15", "SOC2:CC6.3", "CIS:4.6"];

pub const CHECKS: &[Check] = &[
    Check {
        id: "table_privileges_to_public",
        severity: Severity::High,
        category: "grants",
        title: "Privileges on a table, view or sequence granted to PUBLIC",
        controls: DATA_PRIVILEGES,
        description: "Every role, including ones created later, holds these privileges.",
        requires: None,
        finder: r#"
SELECT CASE r.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized_view'
                      WHEN 'S' THEN 'sequence' ELSE 'table' END, r.qualified,
       pg_catalog.format('PUBLIC holds %s on %s', pg_catalog.string_agg(DISTINCT a.privilege_type, ', '), r.qualified),
       pg_catalog.format('REVOKE ALL ON %s %s FROM PUBLIC;',
                         CASE r.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.qualified),
       pg_catalog.jsonb_build_object('object', r.qualified,
         'privileges', pg_catalog.jsonb_agg(DISTINCT a.privilege_type))
FROM user_relation r CROSS JOIN LATERAL pg_catalog.aclexplode(r.relacl) a
WHERE a.grantee = 0
GROUP BY r.relkind, r.qualified"#,
    },
    Check {
        id: "schema_create_to_public",
        severity: Severity::High,
        category: "grants",
        title: "CREATE on a schema granted to PUBLIC",
        controls: &["ISO27001:A.8.9", "ISO27001:A.5.15", "SOC2:CC6.3"],
        description: "Any role can create objects there, shadowing names that other roles and \
                      definer functions resolve through search_path.",
        requires: None,
        finder: "SELECT 'schema', pg_catalog.quote_ident(s.nspname), \
                 pg_catalog.format('PUBLIC may CREATE in schema %I', s.nspname), \
                 pg_catalog.format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC;', s.nspname), \
                 pg_catalog.jsonb_build_object('schema', s.nspname) \
                 FROM user_schema s JOIN pg_catalog.pg_namespace n ON n.oid = s.oid \
                 CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a \
                 WHERE a.grantee = 0 AND a.privilege_type = 'CREATE'",
    },
    Check {
        id: "app_role_schema_create",
        severity: Severity::Medium,
        category: "grants",
        title: "Application role may create objects in a schema",
        controls: &["ISO27001:A.5.3", "ISO27001:A.5.15", "SOC2:CC6.3", "CIS:4.3"],
        description: "An app role with CREATE can add tables, functions and operators that change \
                      what other code resolves; schema changes belong to the owner role.",
        requires: None,
        finder: "SELECT 'schema', pg_catalog.quote_ident(s.nspname), \
                 pg_catalog.format('app role %I may CREATE in schema %I', ar.rolname, s.nspname), \
                 pg_catalog.format('REVOKE CREATE ON SCHEMA %I FROM %I;', s.nspname, ar.rolname), \
                 pg_catalog.jsonb_build_object('schema', s.nspname, 'role', ar.rolname) \
                 FROM user_schema s JOIN pg_catalog.pg_namespace n ON n.oid = s.oid \
                 CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a \
                 JOIN app_role ar ON ar.oid = a.grantee \
                 WHERE a.privilege_type = 'CREATE'",
    },
    Check {
        id: "app_role_broad_table_privileges",
        severity: Severity::Medium,
        category: "grants",
        title: "Application role holds TRUNCATE, TRIGGER or REFERENCES",
        controls: DATA_PRIVILEGES,
        description:
            "TRUNCATE empties a table without row triggers or RLS; TRIGGER and REFERENCES \
                      change behaviour for everyone. Applications need SELECT/INSERT/UPDATE/DELETE \
                      (usually from GRANT ALL).",
        requires: None,
        finder: r#"
SELECT 'table', r.qualified,
       pg_catalog.format('app role %I holds %s on %s', ar.rolname,
                         pg_catalog.string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type), r.qualified),
       pg_catalog.format('REVOKE TRUNCATE, TRIGGER, REFERENCES ON TABLE %s FROM %I;', r.qualified, ar.rolname),
       pg_catalog.jsonb_build_object('table', r.qualified, 'role', ar.rolname,
         'privileges', pg_catalog.jsonb_agg(a.privilege_type ORDER BY a.privilege_type))
FROM user_relation r CROSS JOIN LATERAL pg_catalog.aclexplode(r.relacl) a
JOIN app_role ar ON ar.oid = a.grantee
WHERE r.relkind IN ('r', 'p', 'f') AND a.privilege_type IN ('TRUNCATE', 'TRIGGER', 'REFERENCES')
  AND r.relowner <> ar.oid
GROUP BY r.qualified, ar.rolname"#,
    },
    Check {
        id: "app_role_grant_option",
        severity: Severity::Medium,
        category: "grants",
        title: "Application role may pass its privileges on",
        controls: &["ISO27001:A.5.18", "ISO27001:A.8.3", "SOC2:CC6.3", "CIS:4.6"],
        description: "WITH GRANT OPTION lets the application hand its access to any other role.",
        requires: None,
        finder: r#"
SELECT 'table', r.qualified,
       pg_catalog.format('app role %I holds %s on %s WITH GRANT OPTION', ar.rolname,
                         pg_catalog.string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type), r.qualified),
       pg_catalog.format('REVOKE GRANT OPTION FOR ALL ON %s %s FROM %I;',
                         CASE r.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.qualified, ar.rolname),
       pg_catalog.jsonb_build_object('object', r.qualified, 'role', ar.rolname)
FROM user_relation r CROSS JOIN LATERAL pg_catalog.aclexplode(r.relacl) a
JOIN app_role ar ON ar.oid = a.grantee
WHERE a.is_grantable AND r.relowner <> ar.oid
GROUP BY r.relkind, r.qualified, ar.rolname"#,
    },
    Check {
        id: "default_privileges_to_public",
        severity: Severity::Medium,
        category: "grants",
        title: "Default privileges grant future objects to PUBLIC",
        controls: &["ISO27001:A.8.3", "ISO27001:A.8.9", "SOC2:CC6.3", "CIS:4.6"],
        description: "ALTER DEFAULT PRIVILEGES gives every role access to tables or sequences not \
                      yet created.",
        requires: None,
        finder: r#"
SELECT 'role', 'role ' || pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(d.defaclrole)),
       pg_catalog.format('default privileges of %I%s grant %s on new %s to PUBLIC',
                         pg_catalog.pg_get_userbyid(d.defaclrole),
                         CASE WHEN d.defaclnamespace <> 0
                              THEN pg_catalog.format(' in schema %s', d.defaclnamespace::pg_catalog.regnamespace) ELSE '' END,
                         pg_catalog.string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type),
                         CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' END),
       pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I%s REVOKE ALL ON %s FROM PUBLIC;',
                         pg_catalog.pg_get_userbyid(d.defaclrole),
                         CASE WHEN d.defaclnamespace <> 0
                              THEN pg_catalog.format(' IN SCHEMA %s', d.defaclnamespace::pg_catalog.regnamespace) ELSE '' END,
                         CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' END),
       pg_catalog.jsonb_build_object('role', pg_catalog.pg_get_userbyid(d.defaclrole),
                                     'object_type', d.defaclobjtype::text)
FROM pg_catalog.pg_default_acl d CROSS JOIN LATERAL pg_catalog.aclexplode(d.defaclacl) a
WHERE a.grantee = 0 AND d.defaclobjtype IN ('r', 'S')
GROUP BY d.defaclrole, d.defaclnamespace, d.defaclobjtype"#,
    },
    Check {
        id: "database_temp_connect_public",
        severity: Severity::Info,
        category: "grants",
        title: "PUBLIC may connect to the database and create temporary tables",
        controls: &["ISO27001:A.8.3", "ISO27001:A.8.9", "SOC2:CC6.3"],
        description:
            "The default: every role may CONNECT and create TEMP tables. Restrict CONNECT to \
                      the roles that need it where pg_hba.conf alone is not enough.",
        requires: None,
        finder: r#"
SELECT 'database', pg_catalog.quote_ident(db.datname),
       pg_catalog.format('PUBLIC holds %s on database %I',
                         pg_catalog.string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type), db.datname),
       pg_catalog.format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC;', db.datname),
       pg_catalog.jsonb_build_object('database', db.datname)
FROM pg_catalog.pg_database db
CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(db.datacl, pg_catalog.acldefault('d', db.datdba))) a
WHERE db.datname = pg_catalog.current_database() AND a.grantee = 0
  AND a.privilege_type IN ('CONNECT', 'TEMPORARY')
GROUP BY db.datname"#,
    },
];
