//! Client authentication checks (pg_hba_file_rules): weak methods, non-TLS and world-open
//! rules, catch-alls, superusers reachable over the network, and lines that do not parse.
use super::registry::{Check, Requirement, Severity};

const READS_HBA: Option<Requirement> = Some(Requirement {
    probe: "pg_catalog.has_function_privilege('pg_catalog.pg_hba_file_rules()', 'EXECUTE')",
    needs: "EXECUTE on pg_hba_file_rules() (superuser)",
});

/// Authentication methods of local and host rules (CIS PostgreSQL 15 v1.2.0, 5.3 and 5.4).
const AUTHN: &[&str] = &[
    "ISO27001:A.8.5",
    "ISO27001:A.8.9",
    "SOC2:CC6.1",
    "CIS:5.3",
    "CIS:5.4",
];
/// Which clients may reach the server over the network.
const NETWORK: &[&str] = &["ISO27001:A.8.20", "ISO27001:A.8.9", "SOC2:CC6.6"];

/// Rules matching `$bad` (SQL on `h`, a row of pg_hba_file_rules); the remediation is the
/// replacement line with type `$new_type` and method `$new_method` (SQL expressions).
macro_rules! hba_check {
    ($id:literal, $sev:ident, $title:literal, $controls:expr, $desc:literal,
     $bad:literal, $what:literal, $new_type:literal, $new_method:literal) => {
        Check {
            id: $id,
            severity: Severity::$sev,
            category: "connections",
            title: $title,
            controls: $controls,
            description: $desc,
            requires: READS_HBA,
            finder: concat!(
                "SELECT 'hba_rule', 'hba line ' || h.line_number, ",
                "pg_catalog.format('pg_hba.conf line %s (%s %s %s %s %s): ", $what, "', h.line_number, ",
                "h.type, r.databases, r.users, r.address, h.auth_method), ",
                "pg_catalog.format('# pg_hba.conf line %s, replace with: %s %s %s %s %s', h.line_number, ",
                $new_type, ", r.databases, r.users, r.address, ", $new_method, "), ",
                "pg_catalog.jsonb_build_object('line', h.line_number, 'type', h.type, 'database', h.database, ",
                "'user_name', h.user_name, 'address', h.address, 'netmask', h.netmask, ",
                "'auth_method', h.auth_method) ",
                "FROM pg_catalog.pg_hba_file_rules h CROSS JOIN LATERAL (SELECT ",
                "pg_catalog.array_to_string(h.database, ',') AS databases, ",
                "pg_catalog.array_to_string(h.user_name, ',') AS users, ",
                "pg_catalog.btrim(coalesce(h.address, '') || ' ' || coalesce(h.netmask, '')) AS address) r ",
                "WHERE h.error IS NULL AND (", $bad, ")"
            ),
        }
    };
}

pub const CHECKS: &[Check] = &[
    hba_check!("hba_trust", Critical, "pg_hba.conf rule with trust authentication", AUTHN,
        "trust lets anyone who reaches the rule connect as the listed roles without a password; \
         use peer for local maintenance and scram-sha-256 elsewhere.",
        "h.auth_method = 'trust'", "trust authentication",
        "h.type", "CASE WHEN h.type = 'local' THEN 'peer' ELSE 'scram-sha-256' END"),
    hba_check!("hba_password_plain", High, "pg_hba.conf rule with password (clear text) authentication", AUTHN,
        "The password crosses the connection in clear text.",
        "h.auth_method = 'password'", "clear-text password authentication",
        "h.type", "'scram-sha-256'"),
    hba_check!("hba_md5", Medium, "pg_hba.conf rule with md5 authentication", AUTHN,
        "md5 accepts MD5-hashed passwords, which are replayable and fast to brute-force.",
        "h.auth_method = 'md5'", "md5 authentication",
        "h.type", "'scram-sha-256'"),
    hba_check!("hba_ident", Medium, "pg_hba.conf rule with ident authentication", &["ISO27001:A.8.5", "ISO27001:A.8.9", "SOC2:CC6.1", "CIS:5.4"],
        "ident over TCP trusts whatever the client host's ident server says.",
        "h.auth_method = 'ident'", "ident authentication",
        "h.type", "'scram-sha-256'"),
    hba_check!("hba_host_without_tls", High, "pg_hba.conf rule accepts connections without TLS", &["ISO27001:A.8.24", "ISO27001:A.8.20", "ISO27001:A.8.9", "SOC2:CC6.7", "CIS:6.8"],
        "host and hostnossl rules accept unencrypted TCP connections from other hosts; use hostssl, and end with \
         'hostnossl all all 0.0.0.0/0 reject'.",
        "h.type IN ('host', 'hostnossl') AND h.auth_method <> 'reject' AND NOT coalesce(h.address ~ '^(127\\.|::1$|localhost$)', false)",
        "accepts connections without TLS",
        "'hostssl'", "CASE WHEN h.auth_method IN ('trust', 'password', 'md5', 'ident') THEN 'scram-sha-256' ELSE h.auth_method END"),
    hba_check!("hba_open_to_world", High, "pg_hba.conf rule open to any address", NETWORK,
        "The rule accepts clients from anywhere (all, 0.0.0.0/0, ::/0 or a very wide range).",
        "h.type LIKE 'host%' AND h.auth_method <> 'reject' AND (h.address = 'all' OR \
         (h.netmask IS NOT NULL AND ((pg_catalog.family(h.netmask::inet) = 4 AND h.netmask::inet < '255.0.0.0'::inet) \
           OR (pg_catalog.family(h.netmask::inet) = 6 AND h.netmask::inet < 'ffff::'::inet))))",
        "accepts clients from any address",
        "h.type", "'reject  # or narrow the address to the application hosts'"),
    hba_check!("hba_all_all", Medium, "pg_hba.conf rule for all databases and all users", &["ISO27001:A.5.15", "ISO27001:A.8.9", "SOC2:CC6.6"],
        "A catch-all rule for other hosts admits every role to every database; name the databases and roles.",
        "h.type LIKE 'host%' AND h.auth_method <> 'reject' AND 'all' = ANY (h.database) AND 'all' = ANY (h.user_name) \
         AND NOT coalesce(h.address ~ '^(127\\.|::1$|localhost$)', false)",
        "admits all users to all databases",
        "h.type", "h.auth_method || '  # with the database and role names instead of all all'"),
    hba_check!("hba_superuser_network", High, "Superusers can log in over the network", &["ISO27001:A.8.2", "ISO27001:A.8.20", "ISO27001:A.8.9", "SOC2:CC6.6"],
        "A network rule admits a superuser (by name or through all); keep superuser access local.",
        "h.type LIKE 'host%' AND h.auth_method <> 'reject' AND NOT coalesce(h.address ~ '^(127\\.|::1$|localhost$)', false) \
         AND ('all' = ANY (h.user_name) OR \
         EXISTS (SELECT 1 FROM pg_catalog.pg_roles s WHERE s.rolsuper AND s.rolcanlogin AND s.rolname = ANY (h.user_name)))",
        "superusers can log in over the network",
        "h.type", "h.auth_method || '  # preceded by: ' || h.type || ' all <superuser> ' || r.address || ' reject'"),
    Check {
        id: "hba_parse_error",
        severity: Severity::High,
        category: "connections",
        title: "pg_hba.conf line that does not parse",
        controls: &["ISO27001:A.8.9", "SOC2:CC7.1"],
        description: "The file on disk has an error: the next reload keeps the old rules, and a \
                      restart refuses to start.",
        requires: READS_HBA,
        finder: "SELECT 'hba_rule', 'hba line ' || h.line_number, \
                 pg_catalog.format('pg_hba.conf line %s does not parse: %s', h.line_number, h.error), \
                 pg_catalog.format('# fix pg_hba.conf line %s (%s), then: SELECT pg_catalog.pg_reload_conf();', \
                   h.line_number, h.error), \
                 pg_catalog.jsonb_build_object('line', h.line_number, 'error', h.error) \
                 FROM pg_catalog.pg_hba_file_rules h WHERE h.error IS NOT NULL",
    },
];
