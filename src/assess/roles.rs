//! Role checks: superusers, risky attributes held directly or reachable through membership,
//! password storage and expiry, app roles that own objects, server file and program access.
use super::registry::{Check, Requirement, Severity};

/// A LOGIN role (not allow-listed, not superuser) that holds `$attr` itself.
macro_rules! login_attribute_finder {
    ($column:literal, $attr:literal) => {
        concat!(
            "SELECT 'role', 'role ' || pg_catalog.quote_ident(r.rolname), ",
            "pg_catalog.format('LOGIN role %I has ",
            $attr,
            "', r.rolname), ",
            "pg_catalog.format('ALTER ROLE %I NO",
            $attr,
            ";', r.rolname), ",
            "pg_catalog.jsonb_build_object('role', r.rolname, 'attribute', '",
            $attr,
            "') ",
            "FROM login_role r WHERE NOT r.rolsuper AND r.",
            $column
        )
    };
}

/// A role from `$members` that reaches a role from `$targets` through membership
/// (so it can SET ROLE to it); the remediation revokes its direct grants on that path.
macro_rules! reach_finder {
    ($members:literal, $targets:literal, $message:literal) => {
        concat!(
            "SELECT 'role', 'role ' || pg_catalog.quote_ident(l.rolname), ",
            "pg_catalog.format('",
            $message,
            "', l.rolname, t.rolname), ",
            "(SELECT pg_catalog.string_agg(pg_catalog.format('REVOKE %I FROM %I;', g.rolname, ",
            "l.rolname), ' ' ORDER BY g.rolname) FROM pg_catalog.pg_auth_members m ",
            "JOIN pg_catalog.pg_roles g ON g.oid = m.roleid WHERE m.member = l.oid ",
            "AND pg_catalog.pg_has_role(m.roleid, t.oid, 'MEMBER')), ",
            "pg_catalog.jsonb_build_object('role', l.rolname, 'reaches', t.rolname) ",
            "FROM ",
            $members,
            " l JOIN ",
            $targets,
            " t ON t.oid <> l.oid ",
            "WHERE NOT l.rolsuper AND pg_catalog.pg_has_role(l.oid, t.oid, 'MEMBER')"
        )
    };
}

const READS_AUTHID: Option<Requirement> = Some(Requirement {
    probe: "pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT')",
    needs: "SELECT on pg_catalog.pg_authid (superuser)",
});

/// Privileged role attributes and memberships (CIS PostgreSQL 15 v1.2.0, 4.3: excessive
/// administrative privileges).
const PRIVILEGED: &[&str] = &["ISO27001:A.8.2", "SOC2:CC6.3", "CIS:4.3"];
/// How passwords are stored (no CIS PostgreSQL 15 v1.2.0 recommendation covers pg_authid's
/// hashes: 5.6 is password complexity).
const AUTHENTICATION: &[&str] = &["ISO27001:A.5.17", "ISO27001:A.8.5", "SOC2:CC6.1"];

pub const CHECKS: &[Check] = &[
    Check {
        id: "superuser_not_allowlisted",
        severity: Severity::Critical,
        category: "roles",
        title: "Superuser outside the allow-list",
        controls: PRIVILEGED,
        description: "A role has SUPERUSER but is not named in ge_security.superuser_allowlist. \
                      Superusers bypass every control, including row-level security and the audit trail's grants.",
        requires: None,
        finder: "SELECT 'role', 'role ' || pg_catalog.quote_ident(r.rolname), \
                 pg_catalog.format('role %I has SUPERUSER but is not in ge_security.superuser_allowlist', r.rolname), \
                 pg_catalog.format('ALTER ROLE %I NOSUPERUSER;', r.rolname), \
                 pg_catalog.jsonb_build_object('role', r.rolname, 'can_login', r.rolcanlogin) \
                 FROM pg_catalog.pg_roles r WHERE r.rolsuper AND r.rolname <> ALL ($1::text[])",
    },
    Check {
        id: "login_role_createrole",
        severity: Severity::High,
        category: "roles",
        title: "LOGIN role with CREATEROLE",
        controls: PRIVILEGED,
        description: "A role that logs in can create, alter and grant roles, which on PostgreSQL 15 \
                      is close to superuser.",
        requires: None,
        finder: login_attribute_finder!("rolcreaterole", "CREATEROLE"),
    },
    Check {
        id: "login_role_createdb",
        severity: Severity::Medium,
        category: "roles",
        title: "LOGIN role with CREATEDB",
        controls: PRIVILEGED,
        description: "A role that logs in can create databases it then owns outside any review.",
        requires: None,
        finder: login_attribute_finder!("rolcreatedb", "CREATEDB"),
    },
    Check {
        id: "login_role_replication",
        severity: Severity::High,
        category: "roles",
        title: "LOGIN role with REPLICATION",
        controls: PRIVILEGED,
        description: "A role that logs in can stream the WAL of every database, reading all data. \
                      Keep REPLICATION for a dedicated, network-restricted replication role and waive it.",
        requires: None,
        finder: login_attribute_finder!("rolreplication", "REPLICATION"),
    },
    Check {
        id: "login_role_bypassrls",
        severity: Severity::High,
        category: "roles",
        title: "LOGIN role with BYPASSRLS",
        controls: &[
            "ISO27001:A.8.2",
            "ISO27001:A.8.3",
            "SOC2:CC6.3",
            "CIS:4.3",
            "CIS:4.7",
        ],
        description: "A role that logs in ignores every row-level security policy, so tenant isolation \
                      does not apply to it.",
        requires: None,
        finder: login_attribute_finder!("rolbypassrls", "BYPASSRLS"),
    },
    Check {
        id: "login_role_inherits_superuser",
        severity: Severity::Critical,
        category: "roles",
        title: "LOGIN role can become a superuser through membership",
        controls: PRIVILEGED,
        description: "A LOGIN role is a member (directly or through other roles) of a superuser role, \
                      so it can SET ROLE to it.",
        requires: None,
        finder: reach_finder!(
            "login_role",
            "(SELECT oid, rolname FROM pg_catalog.pg_roles WHERE rolsuper)",
            "LOGIN role %I can act as superuser %I through role membership"
        ),
    },
    Check {
        id: "login_role_inherits_risky_attribute",
        severity: Severity::High,
        category: "roles",
        title: "LOGIN role reaches CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS through membership",
        controls: PRIVILEGED,
        description: "A LOGIN role is a member (directly or through other roles) of a role holding a risky \
                      attribute, which it can use after SET ROLE.",
        requires: None,
        finder: reach_finder!(
            "login_role",
            "(SELECT oid, rolname FROM pg_catalog.pg_roles WHERE NOT rolsuper \
              AND (rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls))",
            "LOGIN role %I can SET ROLE to %I, which has CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS"
        ),
    },
    Check {
        id: "password_plaintext",
        severity: Severity::Critical,
        category: "roles",
        title: "Password stored in plain text",
        controls: AUTHENTICATION,
        description: "A LOGIN role's password is stored unhashed in pg_authid.",
        requires: READS_AUTHID,
        finder: "SELECT 'role', 'role ' || pg_catalog.quote_ident(r.rolname), \
                 pg_catalog.format('LOGIN role %I has a password stored in plain text', r.rolname), \
                 pg_catalog.format('SET password_encryption = ''scram-sha-256''; \\password %I', r.rolname), \
                 pg_catalog.jsonb_build_object('role', r.rolname, 'password_type', 'plaintext') \
                 FROM pg_catalog.pg_authid r WHERE r.rolcanlogin AND r.rolname !~ '^pg_' \
                 AND r.rolpassword IS NOT NULL AND r.rolpassword !~ '^(md5[0-9a-f]{32}$|SCRAM-SHA-256\\$)'",
    },
    Check {
        id: "password_md5",
        severity: Severity::High,
        category: "roles",
        title: "Password stored as MD5",
        controls: AUTHENTICATION,
        description: "A LOGIN role's password is an MD5 hash, which is replayable and fast to brute-force; \
                      SCRAM-SHA-256 is the supported method.",
        requires: READS_AUTHID,
        finder: "SELECT 'role', 'role ' || pg_catalog.quote_ident(r.rolname), \
                 pg_catalog.format('LOGIN role %I has an MD5 password', r.rolname), \
                 pg_catalog.format('SET password_encryption = ''scram-sha-256''; \\password %I', r.rolname), \
                 pg_catalog.jsonb_build_object('role', r.rolname, 'password_type', 'md5') \
                 FROM pg_catalog.pg_authid r WHERE r.rolcanlogin AND r.rolname !~ '^pg_' \
                 AND r.rolpassword ~ '^md5[0-9a-f]{32}$'",
    },
    Check {
        id: "password_missing",
        severity: Severity::Medium,
        category: "roles",
        title: "LOGIN role without a password",
        controls: AUTHENTICATION,
        description: "A LOGIN role outside the superuser allow-list has no password, so it can only log in \
                      through trust, peer, ident or certificate rules; make sure that is intended.",
        requires: READS_AUTHID,
        finder: "SELECT 'role', 'role ' || pg_catalog.quote_ident(r.rolname), \
                 pg_catalog.format('LOGIN role %I has no password', r.rolname), \
                 pg_catalog.format('ALTER ROLE %I NOLOGIN; -- or set one in psql: \\password %I', r.rolname, r.rolname), \
                 pg_catalog.jsonb_build_object('role', r.rolname, 'password_type', 'none') \
                 FROM pg_catalog.pg_authid r WHERE r.rolcanlogin AND r.rolname !~ '^pg_' \
                 AND r.rolname <> ALL ($1::text[]) AND r.rolpassword IS NULL",
    },
    Check {
        id: "login_role_no_expiry",
        severity: Severity::Low,
        category: "roles",
        title: "LOGIN role whose password never expires",
        controls: &["ISO27001:A.5.17", "SOC2:CC6.1"],
        description: "A LOGIN role outside the superuser allow-list has no VALID UNTIL, so a leaked password \
                      works forever.",
        requires: None,
        finder: "SELECT 'role', 'role ' || pg_catalog.quote_ident(r.rolname), \
                 pg_catalog.format('LOGIN role %I has no password expiry (VALID UNTIL)', r.rolname), \
                 pg_catalog.format('ALTER ROLE %I VALID UNTIL %L;', r.rolname, \
                   pg_catalog.to_char(pg_catalog.now() + interval '90 days', 'YYYY-MM-DD')), \
                 pg_catalog.jsonb_build_object('role', r.rolname) \
                 FROM login_role r WHERE r.rolvaliduntil IS NULL OR r.rolvaliduntil = 'infinity'",
    },
    Check {
        id: "app_role_owns_objects",
        severity: Severity::Medium,
        category: "roles",
        title: "Application role owns database objects",
        controls: &["ISO27001:A.5.3", "ISO27001:A.8.2", "SOC2:CC6.3", "CIS:4.3"],
        description: "An owner can ALTER, DROP, disable triggers and RLS on what it owns: application \
                      roles should own nothing (NOLOGIN owner role model).",
        requires: None,
        finder: r#"
SELECT o.object_type, o.object_name,
       pg_catalog.format('app role %I owns %s %s', a.rolname,
                         pg_catalog.replace(o.object_type, '_', ' '), o.object_name),
       pg_catalog.format('ALTER %s %s OWNER TO %I;', o.kind_sql, o.object_name,
         (SELECT d.rolname FROM pg_catalog.pg_database db
            JOIN pg_catalog.pg_roles d ON d.oid = db.datdba
           WHERE db.datname = pg_catalog.current_database())),
       pg_catalog.jsonb_build_object('role', a.rolname, 'object', o.object_name)
FROM app_role a
JOIN (
  SELECT r.relowner AS owner,
         CASE r.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized_view'
                        WHEN 'S' THEN 'sequence' ELSE 'table' END AS object_type,
         CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                        WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                        ELSE 'TABLE' END AS kind_sql,
         r.qualified AS object_name
    FROM user_relation r
   WHERE r.relowner IN (SELECT oid FROM app_role)
     AND (r.relkind <> 'S' OR NOT EXISTS (
         SELECT 1 FROM pg_catalog.pg_depend d
          WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
            AND d.objid = r.oid AND d.deptype IN ('a', 'i')))
  UNION ALL
  SELECT s.nspowner, 'schema', 'SCHEMA', pg_catalog.quote_ident(s.nspname) FROM user_schema s
   WHERE s.nspowner IN (SELECT oid FROM app_role)
  UNION ALL
  SELECT f.proowner, 'function',
         CASE f.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
         f.qualified
    FROM user_function f
   WHERE f.proowner IN (SELECT oid FROM app_role)
) o ON o.owner = a.oid"#,
    },
    Check {
        id: "server_program_role_member",
        severity: Severity::Critical,
        category: "roles",
        title: "Role can run programs on the server",
        controls: &["ISO27001:A.8.2", "ISO27001:A.8.18", "SOC2:CC6.3", "CIS:4.3"],
        description: "A role is a member of pg_execute_server_program, so COPY ... PROGRAM runs shell \
                      commands as the postgres OS user.",
        requires: None,
        finder: reach_finder!(
            "(SELECT * FROM pg_catalog.pg_roles WHERE rolname !~ '^pg_' AND rolname <> ALL ($1::text[]))",
            "(SELECT oid, rolname FROM pg_catalog.pg_roles WHERE rolname = 'pg_execute_server_program')",
            "role %I can run programs on the database server through membership of %I"
        ),
    },
    Check {
        id: "server_files_role_member",
        severity: Severity::High,
        category: "roles",
        title: "Role can read or write files on the server",
        controls: &["ISO27001:A.8.2", "SOC2:CC6.3", "CIS:4.3"],
        description: "A role is a member of pg_read_server_files or pg_write_server_files, so it can read \
                      or overwrite any file the postgres OS user can (configuration, keys, data files).",
        requires: None,
        finder: reach_finder!(
            "(SELECT * FROM pg_catalog.pg_roles WHERE rolname !~ '^pg_' AND rolname <> ALL ($1::text[]))",
            "(SELECT oid, rolname FROM pg_catalog.pg_roles \
              WHERE rolname IN ('pg_read_server_files', 'pg_write_server_files'))",
            "role %I can access server files through membership of %I"
        ),
    },
    Check {
        id: "replication_role_not_dedicated",
        severity: Severity::Medium,
        category: "roles",
        title: "Replication runs as a superuser or a role that is not replication-only",
        controls: &["ISO27001:A.8.2", "SOC2:CC6.3", "CIS:7.1"],
        description: "Streaming replication needs only the REPLICATION attribute. A LOGIN role \
                      that has it besides CREATEROLE, CREATEDB or BYPASSRLS, is a member of other roles, is \
                      a configured application role or owns objects here gives whoever holds the \
                      standby's credentials more than a copy of the WAL; a replication connection \
                      made as a superuser (pg_stat_replication, whose role every caller may \
                      see) gives them everything.",
        requires: None,
        finder: r#"
SELECT 'role', 'role ' || pg_catalog.quote_ident(r.rolname),
       pg_catalog.format('replication role %I is not replication-only: %s', r.rolname,
                         pg_catalog.array_to_string(x.attributes || x.other, ', ')),
       pg_catalog.concat_ws(' ',
         CASE WHEN pg_catalog.cardinality(x.attributes) > 0
              THEN pg_catalog.format('ALTER ROLE %I %s;', r.rolname,
                     (SELECT pg_catalog.string_agg('NO' || a, ' ' ORDER BY a) FROM pg_catalog.unnest(x.attributes) a)) END,
         CASE WHEN pg_catalog.cardinality(x.other) > 0
              THEN pg_catalog.format('-- replicate as a role of its own: CREATE ROLE %I LOGIN REPLICATION; '
                                     'then point the standby''s primary_conninfo at it and ALTER ROLE %I NOREPLICATION;',
                                     r.rolname || '_replication', r.rolname) END),
       pg_catalog.jsonb_build_object('role', r.rolname,
         'attributes', pg_catalog.to_jsonb(x.attributes), 'other', pg_catalog.to_jsonb(x.other))
FROM pg_catalog.pg_roles r
CROSS JOIN LATERAL (SELECT
  pg_catalog.array_remove(ARRAY[
    CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
    CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
    CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL) AS attributes,
  pg_catalog.array_remove(ARRAY[
    CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m WHERE m.member = r.oid)
         THEN 'member of other roles' END,
    CASE WHEN pg_catalog.cardinality($2::text[]) > 0 AND r.rolname = ANY ($2::text[])
         THEN 'an application role' END,
    CASE WHEN EXISTS (SELECT 1 FROM user_relation u WHERE u.relowner = r.oid)
           OR EXISTS (SELECT 1 FROM user_schema u WHERE u.nspowner = r.oid)
           OR EXISTS (SELECT 1 FROM user_function u WHERE u.proowner = r.oid)
         THEN 'owns objects in this database' END], NULL) AS other) x
WHERE r.rolreplication AND r.rolcanlogin AND NOT r.rolsuper AND r.rolname !~ '^pg_'
  AND r.rolname <> ALL ($1::text[]) AND pg_catalog.cardinality(x.attributes || x.other) > 0
UNION ALL
SELECT 'role', 'role ' || pg_catalog.quote_ident(r.rolname),
       pg_catalog.format('replication connection (pid %s, application %L) runs as superuser %I',
                         w.pid, w.application_name, r.rolname),
       pg_catalog.format('-- replicate as a role of its own: CREATE ROLE %I LOGIN REPLICATION; then point '
                         'the standby''s primary_conninfo at it', 'replicator'),
       pg_catalog.jsonb_build_object('role', r.rolname, 'pid', w.pid, 'application_name', w.application_name,
                                     'client_addr', w.client_addr, 'state', w.state)
FROM pg_catalog.pg_stat_replication w JOIN pg_catalog.pg_roles r ON r.oid = w.usesysid
WHERE r.rolsuper"#,
    },
];
