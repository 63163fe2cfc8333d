//! Every `ge_security.*` setting: one documented static each, registered by `init()`.
//! Readers call the small accessors below instead of touching the statics.
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::{CStr, CString};
use std::sync::OnceLock;

/// Superusers that are expected (comma-separated role names). Others are findings.
pub static SUPERUSER_ALLOWLIST: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"postgres"));

/// Application roles (comma-separated). Empty: every LOGIN role that is not a superuser.
pub static APP_ROLES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// Reporting (read-only) roles that must not read PII in clear (comma-separated).
pub static READONLY_ROLES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// Column names that carry a tenant id (comma-separated).
pub static TENANT_COLUMNS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"tenant_id"));

/// Case-insensitive regular expression for column names that hold PII (empty: PII checks off).
/// A term matches whole segments of the name (between `_` or the ends), never when a segment
/// that describes it follows (`token_count`, `password_policy_id`, `email_verified`) or when
/// it is a flag (`has_password`, `is_email_set`).
pub static PII_PATTERNS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(
    c"(^|_)(?<!(^|_)(has|is|num|n)_)(e?mail|email_?address|phone|mobile|ssn|social_security|tax_id|tin|nin|iban|passport|birth_?date|date_of_birth|dob|address|national_id|password|passwd|secret|token|api_?key|access_?key|private_?key|credit_?card|card_?number|cvv|cvc)(?!_(ids?|counts?|cnt|policy|policies|types?|kind|length|len|min|max|at|on|date|time|expires|expiry|expiration|changed|change|updated|created|reset|hint|required|enabled|verified|confirmed|status|attempts|rules?|format|mask|masked|last4|flag|set|valid|strength|version|ttl|scopes?|prefix)($|_))($|_)",
));

/// Name of the setting that carries the application-level actor (e.g. `app.current_actor`).
pub static ACTOR_SETTING: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"app.current_actor"));

/// Superuser-only switch for documented maintenance of the audit trail.
pub static MAINTENANCE: GucSetting<bool> = GucSetting::<bool>::new(false);

/// The canonical encoding new audit rows are hashed under: 2 (redactable, the default) or 1
/// (the 0.1.0 encoding, kept for comparison benchmarks; its rows cannot be redacted).
pub static ROW_ENCODING: GucSetting<i32> = GucSetting::<i32>::new(2);

/// How often the audit trail should be sealed (milliseconds); verification uses it to tell
/// a normal unsealed tail from a stalled sealer.
pub static SEAL_INTERVAL_MS: GucSetting<i32> = GucSetting::<i32>::new(1000);

/// Path of the keyring file (superuser-only; hidden from other roles).
pub static KEYRING_PATH: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// Key id that encrypt(), rotate() and blind_index() use.
pub static ACTIVE_KEY_ID: GucSetting<i32> = GucSetting::<i32>::new(1);

/// Maximum age of a LOGIN role's password, as the audit trail knows it (seconds).
pub static PASSWORD_MAX_AGE_S: GucSetting<i32> = GucSetting::<i32>::new(90 * 24 * 3600);

/// Databases the background worker seals and watches (comma-separated; followed on reload).
pub static DATABASES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// How often each database's worker compares the security posture with the approved baseline
/// (seconds).
pub static DRIFT_INTERVAL_S: GucSetting<i32> = GucSetting::<i32>::new(60);

/// How often each database's worker verifies the audit trail and records the result for the
/// metrics view (seconds; 0 turns it off).
pub static VERIFY_INTERVAL_S: GucSetting<i32> = GucSetting::<i32>::new(3600);

/// Minimum age of a sealed audit block before audit_prune() may delete its rows (an interval).
/// Never below the value the server was started with (`capture_retention_floor`).
pub static AUDIT_RETENTION: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"365 days"));

/// The retention the server was started with, as (length in microseconds, text): captured in
/// the postmaster while the library is preloaded, inherited by every backend it forks.
static RETENTION_FLOOR: OnceLock<(i128, String)> = OnceLock::new();

pub fn init() {
    GucRegistry::define_string_guc(
        c"ge_security.databases",
        c"Databases in which ge_security background workers seal the audit trail and watch drift.",
        c"Comma-separated database names; one worker each, started and stopped on reload.",
        &DATABASES,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ge_security.password_max_age",
        c"Maximum age of a LOGIN role's password before assess() reports it.",
        c"The age comes from the audit trail's role rows (PostgreSQL keeps no date); 0 turns the check off.",
        &PASSWORD_MAX_AGE_S,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"ge_security.keyring_path",
        c"File holding the column encryption keys (KEY_ID:64 hex chars per line).",
        c"Must be mode 0600 and owned by the server's OS user. Keys never reach SQL or logs.",
        &KEYRING_PATH,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_int_guc(
        c"ge_security.active_key_id",
        c"Key id used to encrypt new values.",
        c"Decryption picks the key named in each ciphertext, so switching it needs no downtime.",
        &ACTIVE_KEY_ID,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    define_checked_string(
        c"ge_security.actor_setting",
        c"Setting whose value is recorded as the actor of audited changes.",
        c"Applications set it per transaction, e.g. SET LOCAL app.current_actor = 'user:42'.",
        &ACTOR_SETTING,
        Some(check_setting_name),
    );
    GucRegistry::define_bool_guc(
        c"ge_security.maintenance",
        c"Allow documented maintenance of the audit trail (superuser only).",
        c"While off, UPDATE, DELETE, TRUNCATE and SQL INSERT on the audit tables are refused for everyone.",
        &MAINTENANCE,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SAFETY: check_retention is a #[pg_guard] function and the strings are static.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"ge_security.audit_retention",
            c"Minimum age of a sealed audit block before audit_prune() may delete its rows.",
            c"An interval; it cannot be set below the value the server was started with.",
            &AUDIT_RETENTION,
            GucContext::Suset,
            GucFlags::default(),
            Some(check_retention),
            None,
            None,
        )
    };
    GucRegistry::define_int_guc(
        c"ge_security.row_encoding",
        c"Canonical encoding new audit rows are hashed under (superuser only).",
        c"2 (default) hashes each image value through its own digest, so values can be redacted later; 1 is the 0.1.0 encoding, whose rows cannot be redacted.",
        &ROW_ENCODING,
        1,
        2,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ge_security.seal_interval",
        c"Interval between seals of the audit trail.",
        c"audit_verify() reports unsealed rows older than five intervals as unsealed_backlog.",
        &SEAL_INTERVAL_MS,
        10,
        3_600_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    define_checked_string(
        c"ge_security.superuser_allowlist",
        c"Superuser roles that assess() accepts (comma-separated).",
        c"Any other role with SUPERUSER is reported as superuser_not_allowlisted.",
        &SUPERUSER_ALLOWLIST,
        Some(check_name_list),
    );
    define_checked_string(
        c"ge_security.app_roles",
        c"Application roles checked for least privilege (comma-separated).",
        c"When empty, every LOGIN role that is not a superuser counts as an application role.",
        &APP_ROLES,
        Some(check_name_list),
    );
    define_checked_string(
        c"ge_security.readonly_roles",
        c"Reporting roles that must not read PII columns in clear (comma-separated).",
        c"assess() reports plain-text PII columns these roles can SELECT (pii_readable_by_readonly_role).",
        &READONLY_ROLES,
        Some(check_name_list),
    );
    define_checked_string(
        c"ge_security.tenant_columns",
        c"Column names that identify the tenant of a row (comma-separated).",
        c"Tables with such a column are expected to be isolated by row-level security.",
        &TENANT_COLUMNS,
        Some(check_name_list),
    );
    define_checked_string(
        c"ge_security.pii_patterns",
        c"Case-insensitive regular expression matching names of PII columns.",
        c"Matching columns stored as plain text are reported unless registered as protected.",
        &PII_PATTERNS,
        Some(check_pattern),
    );
    GucRegistry::define_int_guc(
        c"ge_security.drift_interval",
        c"Interval between drift checks against the approved security baseline.",
        c"Each database worker records new drift in ge_security.drift_event, logs a WARNING and sends NOTIFY ge_security_drift.",
        &DRIFT_INTERVAL_S,
        1,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"ge_security.verify_interval",
        c"Interval between verifications of the audit trail by the database workers (0: never).",
        c"The result is recorded in ge_security.worker_status and shown by the ge_security.metrics view.",
        &VERIFY_INTERVAL_S,
        0,
        604_800,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
}

/// A superuser-set string setting whose values `check` validates whenever it is set.
fn define_checked_string(
    name: &'static CStr,
    short_description: &'static CStr,
    long_description: &'static CStr,
    setting: &'static GucSetting<Option<CString>>,
    check: pg_sys::GucStringCheckHook,
) {
    // SAFETY: the check hooks are #[pg_guard] functions (errors and panics become PostgreSQL
    // errors), and the names and descriptions are static.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            name,
            short_description,
            long_description,
            setting,
            GucContext::Suset,
            GucFlags::default(),
            check,
            None,
            None,
        )
    }
}

/// Remember the retention in force now as the floor no later setting may go below. Called by
/// `_PG_init` in the postmaster (preloaded), after `init()` applied postgresql.conf's value.
pub fn capture_retention_floor() {
    let text = self::text(&AUDIT_RETENTION);
    if let Ok(length) = interval_length(&text) {
        let _ = RETENTION_FLOOR.set((length, text));
    }
}

/// The retention the server was started with; None when the library was not preloaded.
pub fn retention_floor() -> Option<&'static str> {
    RETENTION_FLOOR.get().map(|(_, text)| text.as_str())
}

/// An interval's length in microseconds, ordered as PostgreSQL orders intervals (a month is 30
/// days, a day 24 hours), or interval_in's complaint. interval_in reads no catalog, so this
/// works outside a transaction too (the postmaster checks the setting on reload).
pub fn interval_length(text: &str) -> Result<i128, String> {
    let text = CString::new(text).map_err(|_| "it contains a NUL byte".to_owned())?;
    PgTryBuilder::new(move || {
        // SAFETY: interval_in gets a NUL-terminated string, the type's own OID and typmod -1,
        // and returns a palloc'd Interval (or raises an ERROR, caught below: parsing holds no
        // lock, buffer or other resource an error could leak).
        unsafe {
            let datum = pgrx::direct_function_call_as_datum(
                pg_sys::interval_in,
                &[
                    Some(pg_sys::Datum::from(text.as_ptr())),
                    Some(pg_sys::Datum::from(pg_sys::INTERVALOID)),
                    Some(pg_sys::Datum::from(-1i32)),
                ],
            )
            .ok_or_else(|| "it is not an interval".to_owned())?;
            let interval = &*datum.cast_mut_ptr::<pg_sys::Interval>();
            const DAY: i128 = 86_400_000_000;
            Ok(i128::from(interval.time)
                + i128::from(interval.day) * DAY
                + i128::from(interval.month) * 30 * DAY)
        }
    })
    .catch_others(|error| match error {
        pg_sys::panic::CaughtError::PostgresError(report)
        | pg_sys::panic::CaughtError::ErrorReport(report) => Err(report.message().to_owned()),
        other => other.rethrow(),
    })
    .execute()
}

/// What is wrong with a retention, if anything: not an interval, negative, or shorter than
/// the retention the server was started with.
pub fn retention_problem(value: &str) -> Option<String> {
    let length = match interval_length(value) {
        Ok(length) => length,
        Err(why) => {
            return Some(format!(
                "\"{}\" is not an interval: {why}",
                crate::error::shown(value, 32)
            ))
        }
    };
    if length < 0 {
        return Some("A retention cannot be negative.".to_owned());
    }
    match RETENTION_FLOOR.get() {
        Some((floor, text)) if length < *floor => Some(format!(
            "ge_security.audit_retention cannot be lowered below {text}, the value the server was started with; a shorter retention needs a server restart with it in postgresql.conf."
        )),
        _ => None,
    }
}

/// What is wrong with a comma-separated list of role or column names, if anything: an
/// element no name can be (longer than NAMEDATALEN - 1 bytes, or holding control characters).
pub fn name_list_problem(value: &str) -> Option<String> {
    value.split(',').map(str::trim).find_map(|name| {
        if name.len() >= pg_sys::NAMEDATALEN as usize {
            Some(format!(
                "\"{}\" is longer than {} bytes, so it cannot name a role or column.",
                crate::error::shown(name, 32),
                pg_sys::NAMEDATALEN - 1
            ))
        } else if name.chars().any(char::is_control) {
            Some(format!(
                "\"{}\" holds control characters.",
                crate::error::shown(&name.escape_debug().to_string(), 32)
            ))
        } else {
            None
        }
    })
}

/// What is wrong with a PII pattern, if anything: PostgreSQL's regular expression compiler's
/// complaint. Needs a transaction (None outside one: the value is checked again when used).
pub fn pattern_problem(pattern: &str) -> Option<String> {
    // SAFETY: only asks whether a transaction is open.
    if !unsafe { pg_sys::IsTransactionState() } {
        return None;
    }
    let pattern = pattern.to_owned();
    PgTryBuilder::new(move || {
        // SAFETY: inside a transaction; both arguments are freshly built text datums, and the
        // C collation needs no catalog lookup. A compile error is caught below: compiling a
        // regular expression holds no lock, buffer or other resource an error could leak.
        unsafe {
            pg_sys::DirectFunctionCall2Coll(
                Some(case_insensitive_match),
                pg_sys::C_COLLATION_OID,
                "".into_datum().unwrap_or(pg_sys::Datum::null()),
                pattern
                    .as_str()
                    .into_datum()
                    .unwrap_or(pg_sys::Datum::null()),
            );
        }
        None
    })
    .catch_others(|error| match error {
        pg_sys::panic::CaughtError::PostgresError(report)
        | pg_sys::panic::CaughtError::ErrorReport(report) => Some(report.message().to_owned()),
        other => other.rethrow(),
    })
    .execute()
}

/// PostgreSQL's `text ~* text`, callable through DirectFunctionCall.
///
/// # Safety
/// Called only through `DirectFunctionCall2Coll` by `pattern_problem`, whose call frame holds
/// two non-NULL text arguments and a collation.
#[pg_guard]
unsafe extern "C-unwind" fn case_insensitive_match(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: fcinfo is the call frame DirectFunctionCall2Coll built with two text arguments.
    unsafe { pg_sys::texticregexeq(fcinfo) }
}

/// What is wrong with the name of a setting to read the actor from, if anything.
pub fn setting_name_problem(value: &str) -> Option<String> {
    let valid_part = |part: &str| {
        part.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    (!value.is_empty() && !value.split('.').all(valid_part)).then(|| {
        format!(
            "\"{}\" is not a setting name (such as app.current_actor).",
            crate::error::shown(value, 32)
        )
    })
}

/// Report `problem` (if any) from a check hook: sets the DETAIL PostgreSQL prints with its
/// "invalid value for parameter" error, and says whether the value may stay.
fn accept_unless(problem: Option<String>) -> bool {
    match problem {
        None => true,
        Some(detail) => {
            let detail = CString::new(detail.replace('\0', "")).unwrap_or_default();
            // SAFETY: the GUC machinery reads and frees this palloc'd string right after the
            // hook returns; pstrdup copies the message into the current memory context.
            unsafe { pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(detail.as_ptr()) };
            false
        }
    }
}

/// The value a string check hook is asked about (NULL reads as empty).
///
/// # Safety
/// `newval` is the pointer PostgreSQL passes to a string check hook.
unsafe fn proposed<'a>(newval: *mut *mut std::ffi::c_char) -> std::borrow::Cow<'a, str> {
    // SAFETY: PostgreSQL passes a valid pointer to a NUL-terminated string or to NULL.
    unsafe {
        if newval.is_null() || (*newval).is_null() {
            return std::borrow::Cow::Borrowed("");
        }
        CStr::from_ptr(*newval).to_string_lossy()
    }
}

/// Check hook of the role and column name list settings.
///
/// # Safety
/// Called only by the GUC machinery as a string check hook, with a pointer to the proposed
/// value (a NUL-terminated string or NULL).
#[pg_guard]
unsafe extern "C-unwind" fn check_name_list(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: called by PostgreSQL as a string check hook.
    accept_unless(name_list_problem(&unsafe { proposed(newval) }))
}

/// Check hook of `ge_security.pii_patterns`.
///
/// # Safety
/// As for `check_name_list`.
#[pg_guard]
unsafe extern "C-unwind" fn check_pattern(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: called by PostgreSQL as a string check hook.
    accept_unless(pattern_problem(&unsafe { proposed(newval) }))
}

/// Check hook of `ge_security.audit_retention`.
///
/// # Safety
/// As for `check_name_list`.
#[pg_guard]
unsafe extern "C-unwind" fn check_retention(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: called by PostgreSQL as a string check hook.
    accept_unless(retention_problem(&unsafe { proposed(newval) }))
}

/// Check hook of `ge_security.actor_setting`.
///
/// # Safety
/// As for `check_name_list`.
#[pg_guard]
unsafe extern "C-unwind" fn check_setting_name(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: called by PostgreSQL as a string check hook.
    accept_unless(setting_name_problem(&unsafe { proposed(newval) }))
}

/// A comma-separated list setting as trimmed, non-empty names.
pub fn list(setting: &GucSetting<Option<CString>>) -> Vec<String> {
    text(setting)
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A string setting as text; unset reads as empty.
pub fn text(setting: &GucSetting<Option<CString>>) -> String {
    setting
        .get()
        .map(|value| value.to_string_lossy().into_owned())
        .unwrap_or_default()
}
