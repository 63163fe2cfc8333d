//! The one error type of the extension: every failure maps to a SQLSTATE a client can branch on.
//! Messages never carry secrets; facts go to DETAIL and the fix to HINT.
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// What went wrong, which decides the SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 22023: an argument is out of its domain.
    InvalidParameter,
    /// 22004: an argument that must not be NULL is NULL.
    NullValue,
    /// 42704: a named check, role or object does not exist.
    UndefinedObject,
    /// 42P01: a table (relation) does not exist.
    UndefinedTable,
    /// 23514: the security posture is below the bar the caller asked for.
    PostureViolation,
    /// 0A000: the request needs something this configuration cannot do.
    FeatureNotSupported,
    /// 55000: the server or object is not in the state the request needs.
    PrerequisiteState,
    /// 42501: the caller may not do this.
    InsufficientPrivilege,
    /// 42809: the object is of a kind the function cannot work on.
    WrongObjectType,
    /// 42703: a named column does not exist.
    UndefinedColumn,
    /// F0000: a configuration file (the keyring) is missing, unsafe or malformed.
    ConfigFile,
    /// 22P03: a value is not a valid ciphertext, or does not authenticate.
    InvalidBinaryRepresentation,
    /// 54000: a value is larger than PostgreSQL can represent or print.
    ProgramLimit,
    /// 39P01: a trigger function was attached in a way it cannot work (timing, level, event).
    TriggerProtocol,
    /// XX000: the extension's own SQL failed in a way no argument or setting explains (a bug to
    /// report, never a condition a user can cause).
    Internal,
    /// 42804: a column or value is of a type the function cannot work on.
    DatatypeMismatch,
    /// 22021: text holds a character (or byte) the operation cannot represent.
    CharacterNotInRepertoire,
    /// 22P05: a character has no equivalent in the database encoding.
    UntranslatableCharacter,
}

impl Kind {
    fn sqlstate(self) -> PgSqlErrorCode {
        match self {
            Kind::InvalidParameter => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            Kind::NullValue => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            Kind::UndefinedObject => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            Kind::UndefinedTable => PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            Kind::PostureViolation => PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
            Kind::FeatureNotSupported => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            Kind::PrerequisiteState => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            Kind::InsufficientPrivilege => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            Kind::WrongObjectType => PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            Kind::UndefinedColumn => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            Kind::ConfigFile => PgSqlErrorCode::ERRCODE_CONFIG_FILE_ERROR,
            Kind::InvalidBinaryRepresentation => {
                PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION
            }
            Kind::ProgramLimit => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            Kind::TriggerProtocol => PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            Kind::Internal => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            Kind::DatatypeMismatch => PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            Kind::CharacterNotInRepertoire => PgSqlErrorCode::ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
            Kind::UntranslatableCharacter => PgSqlErrorCode::ERRCODE_UNTRANSLATABLE_CHARACTER,
        }
    }
}

/// An error on its way to `ereport(ERROR)`.
#[derive(Debug, Clone)]
pub struct GeError {
    kind: Kind,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
}

impl GeError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        GeError {
            kind,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Raise the error as a PostgreSQL ERROR; never returns.
    #[track_caller]
    pub fn raise(self) -> ! {
        let mut report = ErrorReport::new(self.kind.sqlstate(), self.message, "ge_security");
        if let Some(detail) = self.detail {
            report = report.set_detail(detail);
        }
        if let Some(hint) = self.hint {
            report = report.set_hint(hint);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ereport(ERROR) returned")
    }
}

/// What server-free tests look at.
#[cfg(test)]
impl GeError {
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The message, DETAIL and HINT, one per line.
    pub fn text(&self) -> String {
        [
            Some(&self.message),
            self.detail.as_ref(),
            self.hint.as_ref(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
    }
}

/// An SPI call of the extension's own SQL failed without a PostgreSQL error (errors raised by
/// the statement itself propagate with their own SQLSTATE before this is reached).
pub fn spi_failed(what: &str, e: pgrx::spi::Error) -> ! {
    GeError::new(Kind::Internal, format!("ge_security: {what} failed"))
        .detail(e.to_string())
        .hint("This is a bug in ge_security: please report it with the server log.")
        .raise()
}

/// At most `max` characters of a user-supplied value, for messages (a 100 MB argument must not
/// come back in an error).
pub fn shown(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        None => value.to_owned(),
        Some((end, _)) => format!("{}...", &value[..end]),
    }
}

/// `text` made safe for one log line: control characters escaped, at most `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
