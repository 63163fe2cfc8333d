//! Every `ge_security.*` setting: one documented static each, registered by `init()`.
//! Readers call the small accessors below instead of touching the statics.
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

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

/// Case-insensitive regular expression for column names that hold PII.
pub static PII_PATTERNS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(
    c"(^|_)(e?mail|phone|mobile|ssn|social_security|tax_id|tin|iban|passport|birth_?date|dob|address|national_id)($|_)",
));

/// Name of the setting that carries the application-level actor (e.g. `app.current_actor`).
pub static ACTOR_SETTING: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"app.current_actor"));

/// Superuser-only switch for documented maintenance of the audit trail.
pub static MAINTENANCE: GucSetting<bool> = GucSetting::<bool>::new(false);

/// How often the audit trail should be sealed (milliseconds); verification uses it to tell
/// a normal unsealed tail from a stalled sealer.
pub static SEAL_INTERVAL_MS: GucSetting<i32> = GucSetting::<i32>::new(1000);

/// Path of the keyring file (superuser-only; hidden from other roles).
pub static KEYRING_PATH: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// Key id that encrypt(), rotate() and blind_index() use.
pub static ACTIVE_KEY_ID: GucSetting<i32> = GucSetting::<i32>::new(1);

/// Databases the background worker seals and watches (comma-separated; followed on reload).
pub static DATABASES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// How often each database's worker compares the security posture with the approved baseline
/// (seconds).
pub static DRIFT_INTERVAL_S: GucSetting<i32> = GucSetting::<i32>::new(60);

/// How often each database's worker verifies the audit trail and records the result for the
/// metrics view (seconds; 0 turns it off).
pub static VERIFY_INTERVAL_S: GucSetting<i32> = GucSetting::<i32>::new(3600);

pub fn init() {
    GucRegistry::define_string_guc(
        c"ge_security.databases",
        c"Databases in which ge_security background workers seal the audit trail and watch drift.",
        c"Comma-separated database names; one worker each, started and stopped on reload.",
        &DATABASES,
        GucContext::Sighup,
        GucFlags::default(),
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
    GucRegistry::define_string_guc(
        c"ge_security.actor_setting",
        c"Setting whose value is recorded as the actor of audited changes.",
        c"Applications set it per transaction, e.g. SET LOCAL app.current_actor = 'user:42'.",
        &ACTOR_SETTING,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"ge_security.maintenance",
        c"Allow documented maintenance of the audit trail (superuser only).",
        c"While off, UPDATE, DELETE, TRUNCATE and SQL INSERT on the audit tables are refused for everyone.",
        &MAINTENANCE,
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
    GucRegistry::define_string_guc(
        c"ge_security.superuser_allowlist",
        c"Superuser roles that assess() accepts (comma-separated).",
        c"Any other role with SUPERUSER is reported as superuser_not_allowlisted.",
        &SUPERUSER_ALLOWLIST,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ge_security.app_roles",
        c"Application roles checked for least privilege (comma-separated).",
        c"When empty, every LOGIN role that is not a superuser counts as an application role.",
        &APP_ROLES,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ge_security.readonly_roles",
        c"Reporting roles that must not read PII columns in clear (comma-separated).",
        c"assess() reports plain-text PII columns these roles can SELECT (pii_readable_by_readonly_role).",
        &READONLY_ROLES,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ge_security.tenant_columns",
        c"Column names that identify the tenant of a row (comma-separated).",
        c"Tables with such a column are expected to be isolated by row-level security.",
        &TENANT_COLUMNS,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ge_security.pii_patterns",
        c"Case-insensitive regular expression matching names of PII columns.",
        c"Matching columns stored as plain text are reported unless registered as protected.",
        &PII_PATTERNS,
        GucContext::Suset,
        GucFlags::default(),
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
