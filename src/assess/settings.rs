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

const TLS: &[&str] = &[
    "ISO27001:A.8.24",
    "ISO27001:A.8.20",
    "SOC2:CC6.7",
    "CIS:6.7",
];
const AUTH: &[&str] = &["ISO27001:A.8.5", "SOC2:CC6.1", "CIS:5.3"];
const LOGGING: &[&str] = &["ISO27001:A.8.15", "SOC2:CC7.2", "CIS:3.1"];
const DURABILITY: &[&str] = &["ISO27001:A.8.13", "SOC2:A1.2", "CIS:8.2"];
const BACKUP: &[&str] = &["ISO27001:A.8.13", "SOC2:A1.2", "SOC2:A1.3", "CIS:8.3"];

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
        // ssl = on with a missing or unreadable certificate or key keeps the server from
        // starting: the fix is offered as SQL only when both files are usable as they are.
        finder: r#"
SELECT 'setting', 'setting ' || s.name, 'ssl is off',
       CASE WHEN u.problem IS NULL
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
    setting_check!("ssl_min_protocol_below_tls12", High, "TLS below 1.2 accepted", TLS,
        "TLS 1.0 and 1.1 are deprecated (RFC 8996) and accepted by this server.",
        "ssl_min_protocol_version", "s.setting IN ('', 'TLSv1', 'TLSv1.1')", "TLSv1.3"),
    setting_check!("ssl_min_protocol_below_tls13", Low, "TLS 1.2 accepted", TLS,
        "TLS 1.2 is still sound with good ciphers, but TLS 1.3 removes legacy negotiation.",
        "ssl_min_protocol_version", "s.setting = 'TLSv1.2'", "TLSv1.3"),
    setting_check!("ssl_ciphers_weak", Medium, "Weak TLS cipher classes allowed", TLS,
        "The cipher list enables MEDIUM/LOW/export/NULL/RC4/3DES/MD5 classes for TLS 1.2 and below.",
        "ssl_ciphers",
        "s.setting ~* '(^|[:,+ ])(ALL|MEDIUM|LOW|EXP|EXPORT|RC4|MD5|3DES|DES|NULL|eNULL|aNULL|DEFAULT)([:, ]|$)'",
        "HIGH:!aNULL:!eNULL:!MD5:!3DES:!RC4"),
    setting_check!("password_encryption_not_scram", High, "New passwords are not hashed with SCRAM", AUTH,
        "password_encryption is not scram-sha-256, so new and changed passwords are stored as MD5.",
        "password_encryption", "s.setting <> 'scram-sha-256'", "scram-sha-256"),
    setting_check!("listen_addresses_all", Low, "Server listens on every interface",
        &["ISO27001:A.8.20", "SOC2:CC6.6", "CIS:5.2"],
        "listen_addresses accepts connections on all interfaces; bind only those clients use.",
        "listen_addresses", "s.setting IN ('*', '0.0.0.0', '::')", "localhost"),
    setting_check!("authentication_timeout_long", Low, "Authentication timeout above 60 s", AUTH,
        "Slow or stalled authentications hold connection slots for long.",
        "authentication_timeout", "s.setting::int > 60", "30s"),
    setting_check!("idle_in_transaction_timeout_off", Low, "Idle open transactions are never ended",
        &["ISO27001:A.8.15", "SOC2:CC7.2"],
        "A transaction left open and idle after an audited write keeps the ids of its audit rows below the sealing horizon: nothing newer in its database is sealed until it ends. idle_in_transaction_session_timeout ends such sessions.",
        "idle_in_transaction_session_timeout", "s.setting = '0'", "10min"),
    setting_check!("log_connections_off", Medium, "Connections are not logged", LOGGING,
        "Without log_connections there is no record of who connected from where.",
        "log_connections", "s.setting = 'off'", "on"),
    setting_check!("log_disconnections_off", Low, "Disconnections are not logged", LOGGING,
        "Session ends and durations are not recorded.",
        "log_disconnections", "s.setting = 'off'", "on"),
    setting_check!("log_statement_none", Low, "DDL is not logged", LOGGING,
        "log_statement = none leaves schema and role changes out of the server log.",
        "log_statement", "s.setting = 'none'", "ddl"),
    setting_check!("log_line_prefix_incomplete", Low, "Log lines lack time, user, database or client", LOGGING,
        "Each log line should say when (%m/%t/%n), who (%u), in which database (%d) and from where (%h/%r).",
        "log_line_prefix", "NOT (s.setting ~ '%[mtn]' AND s.setting ~ '%u' AND s.setting ~ '%d' AND s.setting ~ '%[hr]')",
        "%m [%p] %q%u@%d %r "),
    setting_check!("log_min_error_statement_high", Low, "Failing statements are not logged", LOGGING,
        "log_min_error_statement above error drops the text of statements that failed.",
        "log_min_error_statement", "s.setting IN ('log', 'fatal', 'panic')", "error"),
    setting_check!("logging_collector_off", Low, "Logging collector is off", LOGGING,
        "Server messages go to stderr only, where they are easily lost or mixed with other output.",
        "logging_collector", "s.setting = 'off'", "on"),
    setting_check!("log_file_mode_loose", Medium, "Log files readable by others", LOGGING,
        "Log files can hold statement text with personal data; others should not read them.",
        "log_file_mode", "pg_catalog.right(s.setting, 1) <> '0'", "0600"),
    Check {
        id: "pgaudit_not_loaded",
        severity: Severity::Medium,
        category: "settings",
        title: "pgaudit is not loaded",
        controls: LOGGING,
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
                   Install it (Debian: apt install postgresql-15-pgaudit), then run: \
                   ALTER SYSTEM SET shared_preload_libraries = %L; \
                   ALTER SYSTEM SET pgaudit.log = ''ddl, role, write''; -- and restart the server', \
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
        controls: LOGGING,
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
        controls: DURABILITY,
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
    setting_check!("archive_mode_off", Medium, "WAL archiving is off", DURABILITY,
        "Without archiving there is no point-in-time recovery between base backups.",
        "archive_mode", "s.setting = 'off'", "on"),
    Check {
        id: "archive_failing",
        severity: Severity::High,
        category: "settings",
        title: "WAL archiving is failing",
        controls: BACKUP,
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
        controls: BACKUP,
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
];
