//! Text in the database encoding on one side, UTF-8 inside envelopes and blind indexes on the
//! other: the same text encrypts, decrypts and indexes alike in databases of any encoding.
//! SQL_ASCII stores bytes of no known encoding, so only ASCII crosses it.
use crate::error::{GeError, Kind};
use pgrx::pg_sys;
use pgrx::{PgSqlErrorCode, PgTryBuilder};
use std::borrow::Cow;
use std::ffi::{c_char, CStr};

fn database_encoding() -> u32 {
    // SAFETY: reads the backend's database encoding, set before any function can run.
    unsafe { pg_sys::GetDatabaseEncoding() as u32 }
}

fn database_encoding_name() -> String {
    // SAFETY: returns a pointer to a static encoding name.
    unsafe { CStr::from_ptr(pg_sys::GetDatabaseEncodingName()) }
        .to_string_lossy()
        .into_owned()
}

/// Which way a conversion goes.
#[derive(Clone, Copy)]
pub(crate) enum Direction {
    ToUtf8,
    ToServer,
}

/// Convert with PostgreSQL's conversion routines. Their own error for a character without an
/// equivalent quotes its bytes (plaintext, on the way out of decrypt): it is replaced by `refusal`.
pub(crate) fn convert(
    bytes: &[u8],
    direction: Direction,
    refusal: impl Fn() -> GeError + std::panic::RefUnwindSafe,
) -> Vec<u8> {
    // Text and bytea hold less than 1 GB, so the length fits an int.
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    let utf8 = pg_sys::pg_enc::PG_UTF8 as i32;
    let refuse = |_| -> Vec<u8> { refusal().raise() };
    PgTryBuilder::new(|| {
        let input = bytes.as_ptr() as *const c_char;
        // SAFETY: `input` points at `len` readable bytes; the routines read exactly `len` bytes
        // and return either `input` itself (nothing to convert) or a new NUL-terminated palloc'd
        // string, which holds no NUL inside since the input holds none.
        unsafe {
            let output = match direction {
                Direction::ToUtf8 => pg_sys::pg_server_to_any(input, len, utf8),
                Direction::ToServer => pg_sys::pg_any_to_server(input, len, utf8),
            };
            if std::ptr::eq(output, input) {
                bytes.to_vec()
            } else {
                let converted = CStr::from_ptr(output).to_bytes().to_vec();
                pg_sys::pfree(output.cast());
                converted
            }
        }
    })
    .catch_when(PgSqlErrorCode::ERRCODE_UNTRANSLATABLE_CHARACTER, refuse)
    .catch_when(PgSqlErrorCode::ERRCODE_CHARACTER_NOT_IN_REPERTOIRE, refuse)
    .execute()
}

/// A text argument (`what`: value, context or aad) as UTF-8 bytes.
pub fn to_utf8<'a>(text: &'a [u8], what: &str) -> Cow<'a, [u8]> {
    let encoding = database_encoding();
    // Every server encoding is a superset of ASCII.
    if encoding == pg_sys::pg_enc::PG_UTF8 || text.is_ascii() {
        return Cow::Borrowed(text);
    }
    if encoding == pg_sys::pg_enc::PG_SQL_ASCII {
        GeError::new(
            Kind::CharacterNotInRepertoire,
            format!("{what} holds bytes outside ASCII in a SQL_ASCII database"),
        )
        .detail("SQL_ASCII stores bytes of no known encoding, so they cannot be converted to the UTF-8 that envelopes and blind indexes hold.")
        .hint("Keep such text in a database with a real encoding (UTF8, LATIN1, ...), or encrypt bytes whose encoding you know with the bytea variant of ge_security.encrypt().")
        .raise();
    }
    Cow::Owned(convert(text, Direction::ToUtf8, || {
        GeError::new(
            Kind::UntranslatableCharacter,
            format!(
                "{what} holds a character that has no equivalent in UTF-8 (database encoding {})",
                database_encoding_name()
            ),
        )
    }))
}

/// Decrypted UTF-8 text in the database encoding, refusing what a text value of this database
/// cannot hold: invalid UTF-8, a NUL byte, characters the encoding lacks. Messages never quote
/// the plaintext.
pub fn to_server(plaintext: Vec<u8>) -> Vec<u8> {
    if std::str::from_utf8(&plaintext).is_err() {
        GeError::new(
            Kind::InvalidBinaryRepresentation,
            "decrypted value is not valid UTF-8 text",
        )
        .hint("It was encrypted from bytea: use ge_security.decrypt_bytea().")
        .raise();
    }
    if plaintext.contains(&0) {
        GeError::new(
            Kind::CharacterNotInRepertoire,
            "decrypted value holds a NUL byte, which text cannot hold",
        )
        .detail(
            "It was encrypted from bytea; as text it would compare wrong and be cut short by COPY.",
        )
        .hint("Use ge_security.decrypt_bytea().")
        .raise();
    }
    let encoding = database_encoding();
    if encoding == pg_sys::pg_enc::PG_UTF8 || plaintext.is_ascii() {
        return plaintext;
    }
    if encoding == pg_sys::pg_enc::PG_SQL_ASCII {
        GeError::new(
            Kind::UntranslatableCharacter,
            "decrypted text holds characters outside ASCII, which a SQL_ASCII database cannot hold as text",
        )
        .detail("SQL_ASCII stores bytes of no known encoding; the envelope holds UTF-8.")
        .hint("Use ge_security.decrypt_bytea() for the UTF-8 bytes, or decrypt in a database with a real encoding.")
        .raise();
    }
    convert(&plaintext, Direction::ToServer, || {
        GeError::new(
            Kind::UntranslatableCharacter,
            format!(
                "decrypted text holds a character that has no equivalent in the database encoding {}",
                database_encoding_name()
            ),
        )
        .hint("Use ge_security.decrypt_bytea() for the UTF-8 bytes, or decrypt in a UTF8 database.")
    })
}
