//! Server setting checks (pg_settings): TLS and password hashing, logging, durability and
//! backups. A setting the caller cannot see gives `not_assessed`, never a pass.
use super::registry::{Check, Requirement, Severity};

/// A finder for one setting: reports it when `$bad` holds (an SQL condition on `s.setting`),
/// with the ALTER SYSTEM line that sets `$fix` and how to apply it.
macro_rules! setting_finder {
    ($name:literal, $bad:literal, $fix:literal) => {
        concat!(
            "SELECT 'setting', 'setting ' || s.name, ",
            "pg_catalog.format('%s is %L', s.name, s.setting), ",
            "pg_catalog.format('ALTER SYSTEM SET %I = %L; ', s.name, '",
            $fix,
            "') || ",
            "CASE WHEN s.context = 'postmaster' THEN '-- then restart the server' ",
            "ELSE 'SELECT pg_catalog.pg_reload_conf();' END, ",
            "pg_catalog.jsonb_build_object('setting', s.name, 'value', s.setting, ",
            "'source', s.source, 'context', s.context) ",
            "FROM pg_catalog.pg_settings s WHERE s.name = '",
            $name,
            "' AND (",
            $bad,
            ")"
        )
    };
}

/// The setting must be visible to the caller, or the check says so.
macro_rules! visible {
    ($name:literal) => {
        Some(Requirement {
            probe: concat!(
                "EXISTS (SELECT 1 FROM pg_catalog.pg_settings WHERE name = '",
                $name,
                "')"
            ),
            needs: "the privilege to read this setting (pg_read_all_settings)",
        })
    };
}

/// For a setting that exists from PostgreSQL 18 on: visible to the caller, or an older server
/// (where `since_pg18_row!` says why the check is not_assessed).
macro_rules! visible_since_pg18 {
    ($name:literal) => {
        Some(Requirement {
            probe: concat!(
                "pg_catalog.current_setting('server_version_num')::integer < 180000 ",
                "OR EXISTS (SELECT 1 FROM pg_catalog.pg_settings WHERE name = '",
                $name,
                "')"
            ),
            needs: "the privilege to read this setting (pg_read_all_settings)",
        })
    };
}

/// The finder's branch for a server before 18, which lacks the setting: one not_assessed row
/// saying so, never a pass; `$before` is the remediation text, a comment on what applies there.
macro_rules! since_pg18_row {
    ($name:literal, $before:literal) => {
        concat!(
            "SELECT 'setting', 'setting ",
            $name,
            "', pg_catalog.format('",
            $name,
            " exists from PostgreSQL 18 on; this server runs %s', ",
            "pg_catalog.current_setting('server_version_num')::integer / 10000), '",
            $before,
            "', pg_catalog.jsonb_build_object('setting', '",
            $name,
            "', 'server_version_num', pg_catalog.current_setting('server_version_num')::integer), ",
            "true WHERE pg_catalog.current_setting('server_version_num')::integer < 180000"
        )
    };
}

macro_rules! setting_check {
    ($id:literal, $sev:ident, $title:literal, $controls:expr, $desc:literal,
     $name:literal, $bad:literal, $fix:literal) => {
        Check {
            id: $id,
            severity: Severity::$sev,
            category: "settings",
            title: $title,
            controls: $controls,
            description: $desc,
            requires: visible!($name),
            finder: setting_finder!($name, $bad, $fix),
        }
    };
}

/// Encryption in transit (CIS PostgreSQL 15 v1.2.0, 6.8: TLS enabled and configured).
const TLS: &[&str] = &[
    "ISO27001:A.8.24",
    "ISO27001:A.8.20",
    "ISO27001:A.8.9",
    "SOC2:CC6.7",
    "CIS:6.8",
];
/// The TLS protocol floor: no recommendation of CIS PostgreSQL 15 v1.2.0 could be confirmed
/// for it, so no CIS id.
const TLS_PROTOCOL: &[&str] = &["ISO27001:A.8.24", "ISO27001:A.8.9", "SOC2:CC6.7"];
/// Crash safety of committed data: configuration and recovery infrastructure, not backup.
const DURABILITY: &[&str] = &["ISO27001:A.8.9", "SOC2:A1.2", "SOC2:PI1.5"];
/// Monitoring that WAL archiving (point-in-time recovery) works (CIS 7.4).
const ARCHIVING: &[&str] = &["ISO27001:A.8.13", "ISO27001:A.8.16", "SOC2:A1.2", "CIS:7.4"];

/// The newest minor release of each major version that this release of ge_security knows of,
/// as the rows `(major, minor)` of a VALUES list, and the date of that list. Only the majors
/// the extension is built for are listed: on another major the check is not_assessed.
macro_rules! newest_minor_releases {
    () => {
        "(15, 20), (18, 6)"
    };
}
macro_rules! newest_minor_releases_as_of {
    () => {
        "2026-12-02"
    };
}

/// The minor-release finder over `$version`, an SQL integer expression in the form of
/// server_version_num (the server's own, or a fixed one in tests).
macro_rules! minor_release_finder {
    ($version:literal) => {
        concat!(
            r#"
SELECT 'setting', 'setting server_version',
       CASE WHEN k.major IS NULL
            THEN pg_catalog.format('this release of ge_security knows no newest minor release for PostgreSQL %s (list as of %s)',
                                   v.major, '"#,
            newest_minor_releases_as_of!(),
            r#"')
            ELSE pg_catalog.format('PostgreSQL %s.%s is older than %s.%s, the newest %s minor release this release of ge_security knows of (list as of %s)',
                                   v.major, v.minor, k.major, k.minor, k.major, '"#,
            newest_minor_releases_as_of!(),
            r#"') END,
       CASE WHEN k.major IS NULL
            THEN '-- compare server_version with the newest minor release of its major version in the PostgreSQL versioning policy'
            ELSE pg_catalog.format('-- install PostgreSQL %s.%s or newer from your distribution''s packages (a minor upgrade keeps the data directory as it is), then restart the server',
                                   k.major, k.minor) END,
       pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
         'server_version_num', v.num, 'running', v.major || '.' || v.minor,
         'newest_known', k.major || '.' || k.minor, 'list_as_of', '"#,
            newest_minor_releases_as_of!(),
            r#"',
         'note', 'the newest minor releases are those known when this release of ge_security was built; a newer one may exist since')),
       k.major IS NULL
FROM (SELECT x.n AS num, x.n / 10000 AS major, x.n % 10000 AS minor
        FROM (SELECT ("#,
            $version,
            r#")::integer AS n) x) v
LEFT JOIN (VALUES "#,
            newest_minor_releases!(),
            r#") k(major, minor) ON k.major = v.major
WHERE k.major IS NULL OR v.minor < k.minor"#
        )
    };
}

pub const CHECKS: &[Check] = &[
    Check {
        id: "ssl_off",
        severity: Severity::High,
        category: "settings",
        title: "TLS is off",
        controls: TLS,
        description: "Connections cannot be encrypted: passwords, queries and results cross the \
                      network in clear.",
        requires: visible!("ssl"),
        // ssl = on with a missing or unreadable certificate or key, or on a server built
        // without TLS support (ssl_library is empty), keeps the server from starting: the fix is
        // offered as SQL only when the build has TLS and both files are usable as they are.
        finder: r#"
SELECT 'setting', 'setting ' || s.name, 'ssl is off',
       CASE WHEN pg_catalog.current_setting('ssl_library') = ''
            THEN '-- Not runnable: this PostgreSQL was built without TLS support (ssl_library is empty), '
                 'so ssl = on would keep it from starting. Install a build with TLS (your distribution''s '
                 'packages), then run: ALTER SYSTEM SET ssl = ''on''; SELECT pg_catalog.pg_reload_conf();'
            WHEN u.problem IS NULL
            THEN 'ALTER SYSTEM SET ssl = ''on''; SELECT pg_catalog.pg_reload_conf();'
            ELSE pg_catalog.format('-- Not runnable yet: with ssl = on the server would refuse to start, '
                                   'because %s. Install the certificate and key (key mode 0600, owned by '
                                   'the server''s OS user), then run: ALTER SYSTEM SET ssl = ''on''; '
                                   'SELECT pg_catalog.pg_reload_conf();', u.problem) END,
       pg_catalog.jsonb_build_object('setting', s.name, 'value', s.setting, 'source', s.source,
                                     'certificate', c.path, 'key', k.path, 'blocker', u.problem)
FROM pg_catalog.pg_settings s
CROSS JOIN ge_security.server_certificate() c
CROSS JOIN ge_security.server_key_file() k
CROSS JOIN LATERAL (SELECT CASE
    WHEN c.error IS NOT NULL THEN pg_catalog.format('the certificate %s cannot be used (%s)', c.path, c.error)
    WHEN k.error IS NOT NULL THEN pg_catalog.format('the key %s cannot be used (%s)', k.path, k.error)
    WHEN NOT (k.owned_by_server OR k.owned_by_root) THEN pg_catalog.format('the key %s is owned by another user', k.path)
    WHEN (k.owned_by_root AND k.mode_bits & 31 <> 0) OR (NOT k.owned_by_root AND k.mode_bits & 63 <> 0)
      THEN pg_catalog.format('the key %s has mode %s (group or world access)', k.path, k.mode)
    END AS problem) u
WHERE s.name = 'ssl' AND s.setting = 'off'"#,
    },
    setting_check!("ssl_min_protocol_below_tls12", High, "TLS below 1.2 accepted", TLS_PROTOCOL,
        "TLS 1.0 and 1.1 are deprecated (RFC 8996) and accepted by this server.",
        "ssl_min_protocol_version", "s.setting IN ('', 'TLSv1', 'TLSv1.1')", "TLSv1.3"),
    setting_check!("ssl_min_protocol_below_tls13", Low, "TLS 1.2 accepted", TLS_PROTOCOL,
        "TLS 1.2 is still sound with good ciphers, but TLS 1.3 removes legacy negotiation.",
        "ssl_min_protocol_version", "s.setting = 'TLSv1.2'", "TLSv1.3"),
    setting_check!("ssl_ciphers_weak", Medium, "Weak TLS cipher classes allowed", &["ISO27001:A.8.24", "ISO27001:A.8.9", "SOC2:CC6.7", "CIS:6.10"],
        "The cipher list enables MEDIUM/LOW/export/NULL/RC4/3DES/MD5 classes for TLS 1.2 and below.",
        "ssl_ciphers",
        "s.setting ~* '(^|[:,+ ])(ALL|MEDIUM|LOW|EXP|EXPORT|RC4|MD5|3DES|DES|NULL|eNULL|aNULL|DEFAULT)([:, ]|$)'",
        "HIGH:!aNULL:!eNULL:!MD5:!3DES:!RC4"),
    Check {
        id: "ssl_tls13_ciphers_weak",
        severity: Severity::Medium,
        category: "settings",
        title: "Weak TLS 1.3 cipher suites allowed",
        controls: &["ISO27001:A.8.24", "ISO27001:A.8.9", "SOC2:CC6.7", "CIS:6.10"],
        description: "PostgreSQL 18's ssl_tls13_ciphers enables a TLS 1.3 suite outside the four \
                      AEAD suites with full-length tags (AES-GCM, ChaCha20-Poly1305, AES-CCM): \
                      TLS_AES_128_CCM_8_SHA256 truncates the tag to 8 bytes, and the \
                      integrity-only suites (TLS_SHA256_SHA256, TLS_SHA384_SHA384) do not \
                      encrypt at all. Empty means OpenSSL's default, which is sound. The setting \
                      is read even while ssl is off, since it applies once TLS is turned on. It \
                      exists from 18 on: on an older server the check is not_assessed.",
        requires: visible_since_pg18!("ssl_tls13_ciphers"),
        finder: concat!(r#"
SELECT 'setting', 'setting ' || s.name,
       pg_catalog.format('%s is %L: %s not recommended for TLS 1.3', s.name, s.setting, w.weak),
       'ALTER SYSTEM SET ssl_tls13_ciphers = ''TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256''; SELECT pg_catalog.pg_reload_conf();',
       pg_catalog.jsonb_build_object('setting', s.name, 'value', s.setting, 'source', s.source,
                                     'context', s.context, 'weak', w.suites),
       false
FROM pg_catalog.pg_settings s
CROSS JOIN LATERAL (
    SELECT pg_catalog.string_agg(suite, ', ' ORDER BY n) AS weak,
           pg_catalog.jsonb_agg(suite ORDER BY n) AS suites
    FROM pg_catalog.unnest(pg_catalog.string_to_array(s.setting, ':')) WITH ORDINALITY AS l(item, n)
    CROSS JOIN LATERAL (SELECT pg_catalog.btrim(l.item) AS suite) t
    WHERE t.suite <> ''
      AND pg_catalog.upper(t.suite) NOT IN ('TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256',
                                            'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_CCM_SHA256')) w
WHERE s.name = 'ssl_tls13_ciphers' AND w.weak IS NOT NULL
UNION ALL
"#, since_pg18_row!("ssl_tls13_ciphers",
            "-- nothing to set before PostgreSQL 18: TLS 1.3 uses OpenSSL''s default suites here")),
    },
    setting_check!("password_encryption_not_scram", High, "New passwords are not hashed with SCRAM", &["ISO27001:A.5.17", "ISO27001:A.8.9", "SOC2:CC6.1"],
        "password_encryption is not scram-sha-256, so new and changed passwords are stored as MD5.",
        "password_encryption", "s.setting <> 'scram-sha-256'", "scram-sha-256"),
    Check {
        id: "md5_password_warnings_off",
        severity: Severity::Low,
        category: "settings",
        title: "MD5 password deprecation warnings are off",
        controls: &["ISO27001:A.5.17", "ISO27001:A.8.9", "SOC2:CC6.1"],
        description: "PostgreSQL 18 warns when an MD5 password is set or used for a login \
                      (md5_password_warnings); with the warnings off, MD5 passwords go unnoticed \
                      until the method is removed. The setting exists from 18 on: on an older \
                      server the check is not_assessed.",
        requires: visible_since_pg18!("md5_password_warnings"),
        finder: concat!(r#"
SELECT 'setting', 'setting ' || s.name, pg_catalog.format('%s is %L', s.name, s.setting),
       'ALTER SYSTEM SET md5_password_warnings = on; SELECT pg_catalog.pg_reload_conf();',
       pg_catalog.jsonb_build_object('setting', s.name, 'value', s.setting, 'source', s.source,
                                     'context', s.context),
       false
FROM pg_catalog.pg_settings s
WHERE s.name = 'md5_password_warnings' AND s.setting = 'off'
UNION ALL
"#, since_pg18_row!("md5_password_warnings",
            "-- nothing to set before PostgreSQL 18: password_md5 and password_encryption_not_scram cover MD5 passwords here")),
    },
    setting_check!("listen_addresses_all", Low, "Server listens on every interface",
        &["ISO27001:A.8.20", "ISO27001:A.8.9", "SOC2:CC6.6", "CIS:5.2"],
        "listen_addresses accepts connections on all interfaces; bind only those clients use.",
        "listen_addresses", "s.setting IN ('*', '0.0.0.0', '::')", "localhost"),
    setting_check!("authentication_timeout_long", Low, "Authentication timeout above 60 s", &["ISO27001:A.8.5", "ISO27001:A.8.9", "SOC2:CC6.1"],
        "Slow or stalled authentications hold connection slots for long.",
        "authentication_timeout", "s.setting::int > 60", "30s"),
    setting_check!("idle_in_transaction_timeout_off", Low, "Idle open transactions are never ended",
        &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2"],
        "A transaction left open and idle after an audited write keeps the ids of its audit rows below the sealing horizon: nothing newer in its database is sealed until it ends. idle_in_transaction_session_timeout ends such sessions.",
        "idle_in_transaction_session_timeout", "s.setting = '0'", "10min"),
    setting_check!("log_connections_off", Medium, "Connections are not logged", &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.20"],
        "Without log_connections there is no record of who connected from where.",
        // off (15); on 18 a list of aspects, empty by default: anything short of what on means
        // there (receipt, authentication and authorization) or all
        "log_connections",
        "NOT (pg_catalog.lower(s.setting) IN ('on', 'true', 'yes', '1') \
           OR pg_catalog.string_to_array(pg_catalog.replace(pg_catalog.lower(s.setting), ' ', ''), ',') \
              && ARRAY['all'] \
           OR pg_catalog.string_to_array(pg_catalog.replace(pg_catalog.lower(s.setting), ' ', ''), ',') \
              @> ARRAY['receipt', 'authentication', 'authorization'])",
        "on"),
    setting_check!("log_disconnections_off", Low, "Disconnections are not logged", &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.21"],
        "Session ends and durations are not recorded.",
        "log_disconnections", "s.setting = 'off'", "on"),
    setting_check!("log_statement_none", Low, "DDL is not logged", &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.25"],
        "log_statement = none leaves schema and role changes out of the server log.",
        "log_statement", "s.setting = 'none'", "ddl"),
    setting_check!("log_line_prefix_incomplete", Low, "Log lines lack time, user, database or client", &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.24"],
        "Each log line should say when (%m/%t/%n), who (%u), in which database (%d) and from where (%h/%r).",
        "log_line_prefix", "NOT (s.setting ~ '%[mtn]' AND s.setting ~ '%u' AND s.setting ~ '%d' AND s.setting ~ '%[hr]')",
        "%m [%p] %q%u@%d %r "),
    setting_check!("log_min_error_statement_high", Low, "Failing statements are not logged", &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.15"],
        "log_min_error_statement above error drops the text of statements that failed.",
        "log_min_error_statement", "s.setting IN ('log', 'fatal', 'panic')", "error"),
    setting_check!("logging_collector_off", Low, "Logging collector is off", &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.3"],
        "Server messages go to stderr only, where they are easily lost or mixed with other output.",
        "logging_collector", "s.setting = 'off'", "on"),
    setting_check!("log_file_mode_loose", Medium, "Log files readable by others", &["ISO27001:A.8.15", "SOC2:CC6.1", "CIS:3.1.6"],
        "Log files can hold statement text with personal data; others should not read them.",
        "log_file_mode", "pg_catalog.right(s.setting, 1) <> '0'", "0600"),
    Check {
        id: "pgaudit_not_loaded",
        severity: Severity::Medium,
        category: "settings",
        title: "pgaudit is not loaded",
        controls: &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.2"],
        description: "Without pgaudit, reads and session-level activity are not in the log \
                      (ge_security audits row changes and security DDL).",
        requires: visible!("shared_preload_libraries"),
        finder: "SELECT 'setting', 'setting ' || s.name, \
                 pg_catalog.format('shared_preload_libraries is %L: pgaudit is not loaded', s.setting), \
                 CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions a WHERE a.name = 'pgaudit') \
                 THEN pg_catalog.format('ALTER SYSTEM SET shared_preload_libraries = %L; \
                   ALTER SYSTEM SET pgaudit.log = ''ddl, role, write''; -- then restart the server', \
                   pg_catalog.concat_ws(',', NULLIF(s.setting, ''), 'pgaudit')) \
                 ELSE pg_catalog.format('-- Not runnable yet: pgaudit is not installed on this server, and a \
                   library in shared_preload_libraries that is missing keeps the server from starting. \
                   Install it (Debian: apt install postgresql-%s-pgaudit), then run: \
                   ALTER SYSTEM SET shared_preload_libraries = %L; \
                   ALTER SYSTEM SET pgaudit.log = ''ddl, role, write''; -- and restart the server', \
                   pg_catalog.current_setting('server_version_num')::integer / 10000, \
                   pg_catalog.concat_ws(',', NULLIF(s.setting, ''), 'pgaudit')) END, \
                 pg_catalog.jsonb_build_object('setting', s.name, 'value', s.setting) \
                 FROM pg_catalog.pg_settings s WHERE s.name = 'shared_preload_libraries' \
                   AND s.setting !~ '(^|[ ,])pgaudit([ ,]|$)'",
    },
    Check {
        id: "pgaudit_log_incomplete",
        severity: Severity::Medium,
        category: "settings",
        title: "pgaudit does not log DDL, role changes and writes",
        controls: &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.2"],
        description: "pgaudit is loaded but pgaudit.log (as this session sees it) leaves out one \
                      of the ddl, role or write classes, so those statements leave no audit line.",
        requires: visible!("shared_preload_libraries"),
        finder: r#"
SELECT 'setting', 'setting pgaudit.log',
       pg_catalog.format('pgaudit.log is %L: %s not logged', s.setting,
                         pg_catalog.array_to_string(m.missing, ', ')),
       pg_catalog.format('ALTER SYSTEM SET pgaudit.log = %L; SELECT pg_catalog.pg_reload_conf();',
                         pg_catalog.concat_ws(', ', NULLIF(NULLIF(pg_catalog.btrim(s.setting), ''), 'none'),
                                              pg_catalog.array_to_string(m.missing, ', '))),
       pg_catalog.jsonb_build_object('setting', s.name, 'value', s.setting,
                                     'missing', pg_catalog.to_jsonb(m.missing))
FROM pg_catalog.pg_settings s
CROSS JOIN LATERAL (
  -- pgaudit reads the list left to right: 'all' sets every class, '-class' clears one.
  SELECT pg_catalog.array_agg(c.class ORDER BY c.n) AS missing
  FROM pg_catalog.unnest(ARRAY['ddl', 'role', 'write']) WITH ORDINALITY c(class, n)
  WHERE NOT COALESCE((
    SELECT t.item !~ '^-'
    FROM pg_catalog.regexp_split_to_table(pg_catalog.lower(s.setting), ',') WITH ORDINALITY t0(raw, n)
    CROSS JOIN LATERAL (SELECT pg_catalog.btrim(t0.raw) AS item) t
    WHERE pg_catalog.ltrim(t.item, '-') IN (c.class, 'all')
    ORDER BY t0.n DESC LIMIT 1), false)) m
WHERE s.name = 'pgaudit.log' AND m.missing IS NOT NULL
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_settings p WHERE p.name = 'shared_preload_libraries'
                AND p.setting ~ '(^|[ ,])pgaudit([ ,]|$)')"#,
    },
    Check {
        id: "data_checksums_off",
        severity: Severity::Medium,
        category: "settings",
        title: "Data checksums are off",
        controls: &["ISO27001:A.8.9", "SOC2:PI1.5"],
        description: "Silent storage corruption is not detected when pages are read.",
        requires: visible!("data_checksums"),
        finder: "SELECT 'setting', 'setting ' || s.name, 'data_checksums is off', \
                 '-- stop the server, then: pg_checksums --enable -D \"$PGDATA\"', \
                 pg_catalog.jsonb_build_object('setting', s.name, 'value', s.setting) \
                 FROM pg_catalog.pg_settings s WHERE s.name = 'data_checksums' AND s.setting = 'off'",
    },
    setting_check!("fsync_off", Critical, "fsync is off", DURABILITY,
        "A crash or power loss can corrupt the whole cluster.",
        "fsync", "s.setting = 'off'", "on"),
    setting_check!("full_page_writes_off", Critical, "full_page_writes is off", DURABILITY,
        "Torn pages after a crash cannot be repaired from the WAL.",
        "full_page_writes", "s.setting = 'off'", "on"),
    setting_check!("synchronous_commit_off", Medium, "synchronous_commit is off server-wide", DURABILITY,
        "Recently committed transactions can be lost on a crash; set it off per transaction where that is acceptable.",
        "synchronous_commit", "s.setting = 'off'", "on"),
    setting_check!("archive_mode_off", Medium, "WAL archiving is off", &["ISO27001:A.8.13", "ISO27001:A.8.9", "SOC2:A1.2", "CIS:7.4"],
        "Without archiving there is no point-in-time recovery between base backups.",
        "archive_mode", "s.setting = 'off'", "on"),
    Check {
        id: "archive_failing",
        severity: Severity::High,
        category: "settings",
        title: "WAL archiving is failing",
        controls: ARCHIVING,
        description: "The last attempt to archive a WAL segment failed (pg_stat_archiver): \
                      point-in-time recovery stops at the last archived segment and pg_wal grows.",
        requires: visible!("archive_mode"),
        finder: "SELECT 'archiver', 'pg_stat_archiver', \
                 pg_catalog.format('archiving has failed %s times, last for %s at %s; last success: %s', \
                   a.failed_count, a.last_failed_wal, a.last_failed_time, \
                   COALESCE(a.last_archived_time::text, 'never')), \
                 '-- the server log has the archive_command error; once fixed, check: \
                   SELECT * FROM pg_catalog.pg_stat_archiver;', \
                 pg_catalog.jsonb_build_object('failed_count', a.failed_count, \
                   'last_failed_wal', a.last_failed_wal, 'last_failed_time', a.last_failed_time, \
                   'last_archived_wal', a.last_archived_wal, 'last_archived_time', a.last_archived_time) \
                 FROM pg_catalog.pg_stat_archiver a, pg_catalog.pg_settings s \
                 WHERE s.name = 'archive_mode' AND s.setting <> 'off' \
                   AND a.last_failed_time > COALESCE(a.last_archived_time, '-infinity')",
    },
    Check {
        id: "archive_stale",
        severity: Severity::Medium,
        category: "settings",
        title: "WAL segments wait too long to be archived",
        controls: ARCHIVING,
        description: "A completed WAL segment has waited longer than three archive_timeout \
                      periods (at least 15 minutes) to be archived: the newest recoverable point \
                      is older than the recovery point objective assumes.",
        requires: Some(Requirement {
            probe: "pg_catalog.has_function_privilege('pg_catalog.pg_ls_archive_statusdir()', 'EXECUTE')",
            needs: "EXECUTE on pg_ls_archive_statusdir() (pg_monitor)",
        }),
        finder: "SELECT 'archiver', 'pg_stat_archiver', \
                 pg_catalog.format('%s WAL segment(s) wait to be archived, the oldest since %s', \
                   pg_catalog.count(*), pg_catalog.min(f.modification)), \
                 '-- check archive_command and the archive destination; then: \
                   SELECT * FROM pg_catalog.pg_stat_archiver;', \
                 pg_catalog.jsonb_build_object('waiting', pg_catalog.count(*), \
                   'oldest', pg_catalog.min(f.modification), \
                   'limit_seconds', pg_catalog.max(w.limit_seconds)) \
                 FROM pg_catalog.pg_ls_archive_statusdir() f \
                 CROSS JOIN (SELECT GREATEST(3 * t.setting::bigint, 900) AS limit_seconds \
                             FROM pg_catalog.pg_settings t WHERE t.name = 'archive_timeout') w \
                 WHERE f.name ~ '\\.ready$' \
                   AND pg_catalog.current_setting('archive_mode') <> 'off' \
                 HAVING pg_catalog.min(f.modification) \
                   < pg_catalog.now() - pg_catalog.make_interval(secs => pg_catalog.max(w.limit_seconds))",
    },
    Check {
        id: "server_minor_version_outdated",
        severity: Severity::Medium,
        category: "settings",
        title: "Server runs an older minor release than the newest known",
        controls: &["ISO27001:A.8.8", "SOC2:CC7.1", "CIS:1.5"],
        description: "Minor releases of PostgreSQL carry only bug and security fixes and keep the \
                      data directory as it is. The server's version is compared with the newest \
                      minor release of its major version that this release of ge_security knows \
                      of; that list is as of the extension's release, so a newer minor may exist. \
                      A major version the list does not cover is not_assessed.",
        requires: None,
        finder: minor_release_finder!("pg_catalog.current_setting('server_version_num')"),
    },
    setting_check!("log_replication_commands_off", Low, "Replication commands are not logged",
        &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:7.2"],
        "A replication connection can copy the whole cluster to another host; without \
         log_replication_commands the commands it runs (IDENTIFY_SYSTEM, BASE_BACKUP, \
         START_REPLICATION) leave no line in the server log.",
        "log_replication_commands", "s.setting = 'off'", "on"),
    Check {
        id: "log_rotation_off",
        severity: Severity::Low,
        category: "settings",
        title: "Server log files are never rotated",
        controls: &[
            "ISO27001:A.8.15",
            "ISO27001:A.8.9",
            "SOC2:CC7.2",
            "CIS:3.1.8",
            "CIS:3.1.9",
        ],
        description: "The logging collector writes one file that neither log_rotation_age nor \
                      log_rotation_size ever closes: it grows until the disk is full, and a \
                      retention period cannot be applied by removing old files.",
        requires: visible!("logging_collector"),
        finder: r#"
SELECT 'setting', 'setting log_rotation_age',
       'log_rotation_age and log_rotation_size are both 0: log files are never rotated',
       'ALTER SYSTEM SET log_rotation_age = ''1d''; SELECT pg_catalog.pg_reload_conf();',
       pg_catalog.jsonb_build_object('log_rotation_age', a.setting, 'log_rotation_size', z.setting,
                                     'logging_collector', c.setting)
FROM pg_catalog.pg_settings a
JOIN pg_catalog.pg_settings z ON z.name = 'log_rotation_size'
JOIN pg_catalog.pg_settings c ON c.name = 'logging_collector'
WHERE a.name = 'log_rotation_age' AND a.setting = '0' AND z.setting = '0' AND c.setting = 'on'"#,
    },
    Check {
        id: "log_truncate_on_rotation_off",
        severity: Severity::Low,
        category: "settings",
        title: "Recurring log file names are appended to instead of truncated",
        controls: &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.7"],
        description: "log_filename repeats (it holds no year, as postgresql-%a.log) and time-based \
                      rotation is on, but log_truncate_on_rotation is off: each reused file keeps \
                      the lines of every earlier cycle, so what the files hold no longer matches \
                      the retention period the names suggest. With names that never repeat the \
                      setting has no effect, and old files are removed outside the server.",
        requires: visible!("log_truncate_on_rotation"),
        finder: r#"
SELECT 'setting', 'setting log_truncate_on_rotation',
       pg_catalog.format('log_truncate_on_rotation is off while log_filename %L reuses file names', f.setting),
       'ALTER SYSTEM SET log_truncate_on_rotation = ''on''; SELECT pg_catalog.pg_reload_conf();',
       pg_catalog.jsonb_build_object('setting', t.name, 'value', t.setting, 'log_filename', f.setting,
                                     'log_rotation_age', a.setting)
FROM pg_catalog.pg_settings t
JOIN pg_catalog.pg_settings f ON f.name = 'log_filename'
JOIN pg_catalog.pg_settings a ON a.name = 'log_rotation_age'
JOIN pg_catalog.pg_settings c ON c.name = 'logging_collector'
WHERE t.name = 'log_truncate_on_rotation' AND t.setting = 'off' AND c.setting = 'on'
  AND a.setting <> '0' AND f.setting !~ '%[YyGgFDcx]'"#,
    },
    setting_check!("log_min_messages_high", Low, "Warnings are not written to the server log",
        &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.14"],
        "log_min_messages above warning drops warnings (and, above error, errors) from the \
         server log, where failed logins, refused privileges and other anomalies are reported.",
        "log_min_messages", "s.setting IN ('error', 'log', 'fatal', 'panic')", "warning"),
    setting_check!("log_error_verbosity_terse", Low, "Log entries leave out DETAIL, HINT and CONTEXT",
        &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.22"],
        "log_error_verbosity = terse keeps only the primary message of each log entry: the \
         detail, hint, query and context that explain a failure are lost.",
        "log_error_verbosity", "s.setting = 'terse'", "verbose"),
    setting_check!("debug_print_parse_on", Low, "Parse trees are written to the server log",
        &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.16"],
        "debug_print_parse logs the parse tree of every query, constants (personal data, \
         passwords) included, and floods the log.",
        "debug_print_parse", "s.setting = 'on'", "off"),
    setting_check!("debug_print_rewritten_on", Low, "Rewritten query trees are written to the server log",
        &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.17"],
        "debug_print_rewritten logs the rewritten tree of every query, constants included, and \
         floods the log.",
        "debug_print_rewritten", "s.setting = 'on'", "off"),
    setting_check!("debug_print_plan_on", Low, "Execution plans are written to the server log",
        &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.18"],
        "debug_print_plan logs the plan tree of every query, constants included, and floods the \
         log.",
        "debug_print_plan", "s.setting = 'on'", "off"),
    setting_check!("debug_pretty_print_off", Info, "Debug trees in the log are not indented",
        &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.19"],
        "When a debug_print setting is used, debug_pretty_print keeps its output readable.",
        "debug_pretty_print", "s.setting = 'off'", "on"),
    setting_check!("log_hostname_on", Low, "Client host names are looked up for every connection",
        &["ISO27001:A.8.15", "ISO27001:A.8.9", "SOC2:CC7.2", "CIS:3.1.23"],
        "log_hostname makes every connection wait for a reverse DNS lookup, and the name logged \
         is whatever the DNS answers; the client address (%h/%r with log_hostname off) is what \
         identifies a client.",
        "log_hostname", "s.setting = 'on'", "off"),
    setting_check!("track_activities_off", Low, "Sessions' current commands are not tracked",
        &["ISO27001:A.8.16", "ISO27001:A.8.9", "SOC2:CC7.2"],
        "track_activities = off leaves pg_stat_activity without the query each session runs, \
         so monitoring cannot see what a session is doing.",
        "track_activities", "s.setting = 'off'", "on"),
    setting_check!("log_timezone_not_utc", Low, "Log timestamps are not in UTC",
        &[
            "ISO27001:A.8.15",
            "ISO27001:A.8.17",
            "ISO27001:A.8.9",
            "SOC2:CC7.2",
            "CIS:3.1.26",
        ],
        "Log lines are stamped in a local time zone: daylight-saving changes repeat or skip an \
         hour, and correlating them with other systems' logs needs the offset of each line.",
        "log_timezone",
        "s.setting !~* '^(Etc/)?(UTC|UCT|GMT|GMT0|GMT[+-]0|Universal|Zulu|Greenwich)$'",
        "UTC"),
];

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::super::engine::{self, Status};
    use super::super::registry::{Check, Severity};
    use pgrx::prelude::*;

    /// server_minor_version_outdated with the server version fixed to `$version`.
    macro_rules! at_version {
        ($version:literal) => {
            Check {
                id: "server_minor_version_outdated",
                severity: Severity::Medium,
                category: "settings",
                title: "",
                controls: &[],
                description: "",
                requires: None,
                finder: minor_release_finder!($version),
            }
        };
    }
    static OLDER: Check = at_version!("150003");
    static NEWEST: Check = at_version!("150020");
    static NEWER: Check = at_version!("150021");
    static UNLISTED_MAJOR: Check = at_version!("190001");

    #[pg_test]
    fn minor_release_older_is_reported_newest_and_newer_are_not() {
        let older = engine::run(std::iter::once(&OLDER));
        assert_eq!(older.len(), 1);
        assert_eq!(older[0].status, Status::Fail);
        assert_eq!(
            older[0].message,
            concat!(
                "PostgreSQL 15.3 is older than 15.20, the newest 15 minor release this release ",
                "of ge_security knows of (list as of ",
                newest_minor_releases_as_of!(),
                ")"
            )
        );
        assert_eq!(older[0].details["newest_known"], "15.20");
        assert_eq!(
            older[0].details["list_as_of"],
            newest_minor_releases_as_of!()
        );
        assert!(older[0].details["note"]
            .as_str()
            .is_some_and(|n| n.contains("known when this release of ge_security was built")));
        assert!(engine::run(std::iter::once(&NEWEST)).is_empty());
        assert!(engine::run(std::iter::once(&NEWER)).is_empty());
        let unlisted = engine::run(std::iter::once(&UNLISTED_MAJOR));
        assert_eq!(unlisted.len(), 1);
        assert_eq!(unlisted[0].status, Status::NotAssessed);
        assert!(unlisted[0].message.contains("PostgreSQL 19"));
    }
}
