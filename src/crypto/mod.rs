//! Column encryption (DESIGN §5): AES-256-GCM envelopes bound to context and aad, keys from a
//! server-side keyring, blind indexes for equality search, rotation and column re-encryption.
mod envelope;
mod keyring;

use crate::error::{GeError, Kind};
use envelope::OpenError;
use hmac::{Hmac, Mac};
use pgrx::prelude::*;
use sha2::Sha256;
use std::ffi::CStr;

fn envelope_error(e: OpenError) -> ! {
    let not_envelope = |detail: String| {
        GeError::new(
            Kind::InvalidBinaryRepresentation,
            "value is not a ge_security ciphertext",
        )
        .detail(detail)
        .hint("Only values produced by ge_security.encrypt() or rotate() can be decrypted.")
    };
    match e {
        OpenError::TooShort(n) => {
            not_envelope(format!("{n} bytes is shorter than the 33-byte minimum envelope."))
        }
        OpenError::UnknownVersion(v) => {
            not_envelope(format!("Envelope version {v} is unknown (expected 1)."))
        }
        OpenError::DoesNotAuthenticate => {
            GeError::new(Kind::InvalidBinaryRepresentation, "ciphertext does not authenticate")
                .detail("Wrong context or aad (it was moved from another column or row), or the value was altered.")
                .hint("Decrypt with the context and aad it was encrypted with.")
        }
    }
    .raise()
}

fn open(value: &[u8], context: &str, aad: &str) -> Vec<u8> {
    let key_id = envelope::key_id(value).unwrap_or_else(|e| envelope_error(e));
    keyring::with_cipher(key_id, context, |cipher| {
        envelope::open(cipher, context, aad, value)
    })
    .unwrap_or_else(|e| envelope_error(e))
}

fn seal(plaintext: &[u8], context: &str, aad: &str) -> Vec<u8> {
    let key_id = keyring::active_key_id();
    keyring::with_cipher(key_id, context, |cipher| {
        envelope::seal(cipher, key_id, context, aad, plaintext)
    })
}

/// Encrypt text under the active key, bound to `context` and `aad`.
#[pg_extern(volatile, parallel_safe, strict, name = "encrypt")]
fn encrypt_text(value: &str, context: &str, aad: default!(&str, "''")) -> Vec<u8> {
    seal(value.as_bytes(), context, aad)
}

/// Encrypt bytes under the active key, bound to `context` and `aad`.
#[pg_extern(volatile, parallel_safe, strict, name = "encrypt")]
fn encrypt_bytea(value: &[u8], context: &str, aad: default!(&str, "''")) -> Vec<u8> {
    seal(value, context, aad)
}

/// Decrypt to text; the key id in the envelope picks the key.
#[pg_extern(stable, parallel_safe, strict)]
fn decrypt(value: &[u8], context: &str, aad: default!(&str, "''")) -> String {
    String::from_utf8(open(value, context, aad)).unwrap_or_else(|_| {
        GeError::new(
            Kind::InvalidBinaryRepresentation,
            "decrypted value is not valid UTF-8 text",
        )
        .hint("It was encrypted from bytea: use ge_security.decrypt_bytea().")
        .raise()
    })
}

/// Decrypt to bytes.
#[pg_extern(stable, parallel_safe, strict)]
fn decrypt_bytea(value: &[u8], context: &str, aad: default!(&str, "''")) -> Vec<u8> {
    open(value, context, aad)
}

/// Re-encrypt a ciphertext under the active key (fresh nonce), without returning plaintext.
#[pg_extern(volatile, parallel_safe, strict)]
fn rotate(value: &[u8], context: &str, aad: default!(&str, "''")) -> Vec<u8> {
    let plaintext = zeroize::Zeroizing::new(open(value, context, aad));
    seal(&plaintext, context, aad)
}

/// HMAC-SHA256 of the value under the active key's index subkey for `context`, for equality
/// search on encrypted columns (recompute after switching the active key).
#[pg_extern(stable, parallel_safe, strict)]
fn blind_index(value: &str, context: &str) -> Vec<u8> {
    keyring::with_index_key(keyring::active_key_id(), context, |key| {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    })
}

/// Key ids in the keyring, which one is active, and a fingerprint that is not the key.
#[pg_extern(stable, parallel_safe)]
fn keyring_status() -> TableIterator<
    'static,
    (
        name!(key_id, i64),
        name!(active, bool),
        name!(fingerprint, String),
    ),
> {
    let active = keyring::active_key_id();
    TableIterator::new(
        keyring::fingerprints()
            .into_iter()
            .map(move |(id, fp)| (i64::from(id), id == active, fp)),
    )
}

fn name_arg<'a>(value: Option<&'a CStr>, what: &str) -> &'a str {
    let value = value.unwrap_or_else(|| {
        GeError::new(Kind::NullValue, format!("{what} must not be NULL")).raise()
    });
    value.to_str().unwrap_or_else(|_| {
        GeError::new(Kind::InvalidParameter, format!("{what} is not valid UTF-8")).raise()
    })
}

/// Quoted name of a column of `tbl`, or an ERROR naming what is missing.
fn column(tbl: pg_sys::Oid, col: &str) -> String {
    let exists = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = $1 AND attname = $2 \
         AND attnum > 0 AND NOT attisdropped)",
        &[tbl.into(), col.into()],
    )
    .ok()
    .flatten()
    .unwrap_or(false);
    if !exists {
        GeError::new(
            Kind::UndefinedColumn,
            format!("column \"{col}\" does not exist in the table"),
        )
        .raise();
    }
    pgrx::spi::quote_identifier(col)
}

fn table_name(tbl: Option<pg_sys::Oid>) -> (pg_sys::Oid, String) {
    let oid = tbl.unwrap_or_else(|| GeError::new(Kind::NullValue, "tbl must not be NULL").raise());
    let name = Spi::get_one_with_args::<String>(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
        &[oid.into()],
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| GeError::new(Kind::UndefinedObject, "table does not exist").raise());
    (oid, name)
}

/// Re-encrypt every value of a column that is not under the active key, in batches that lock
/// their rows first (FOR UPDATE SKIP LOCKED), so concurrent writers are neither overwritten nor
/// blocked for long. Returns rows changed; run it again to pick up rows that were locked.
#[pg_extern(
    sql = "CREATE FUNCTION reencrypt_column(tbl regclass, col name, context text, \
    aad_col name DEFAULT NULL, batch integer DEFAULT 1000) RETURNS bigint VOLATILE PARALLEL UNSAFE \
    LANGUAGE c AS 'MODULE_PATHNAME', 'reencrypt_column_wrapper';"
)]
fn reencrypt_column(
    tbl: Option<pg_sys::Oid>,
    col: Option<&CStr>,
    context: Option<&str>,
    aad_col: Option<&CStr>,
    batch: Option<i32>,
) -> i64 {
    let (oid, table) = table_name(tbl);
    let col = column(oid, name_arg(col, "col"));
    let context = context
        .unwrap_or_else(|| GeError::new(Kind::NullValue, "context must not be NULL").raise());
    let aad = match aad_col {
        Some(c) => format!("t.{}::text", column(oid, name_arg(Some(c), "aad_col"))),
        None => "''".to_owned(),
    };
    let batch = batch.unwrap_or(1000);
    if batch < 1 {
        GeError::new(Kind::InvalidParameter, "batch must be at least 1").raise();
    }
    let active = keyring::active_key_id().to_be_bytes().to_vec();
    let statement = format!(
        "UPDATE {table} t SET {col} = ge_security.rotate(t.{col}, $1, {aad}) \
         WHERE t.ctid = ANY (ARRAY(SELECT s.ctid FROM {table} s WHERE s.{col} IS NOT NULL \
           AND pg_catalog.substr(s.{col}, 2, 4) <> $2 LIMIT $3 FOR UPDATE SKIP LOCKED))"
    );
    let mut total = 0i64;
    Spi::connect_mut(|client| loop {
        let changed = client
            .update(
                &statement,
                None,
                &[
                    context.into(),
                    active.clone().into(),
                    i64::from(batch).into(),
                ],
            )
            .map(|t| t.len() as i64)
            .unwrap_or_else(|e| pgrx::error!("ge_security: re-encryption failed: {e}"));
        total += changed;
        if changed == 0 {
            break total;
        }
    })
}

/// Register an encrypted column (context and aad column) for evidence, assess() and rotation.
/// SECURITY DEFINER (to write the registry) and refused unless the caller owns the table.
#[pg_extern(
    sql = "CREATE FUNCTION protect_column(tbl regclass, col name, context text, \
    aad_col name DEFAULT NULL) RETURNS text VOLATILE PARALLEL UNSAFE SECURITY DEFINER \
    SET search_path = pg_catalog, pg_temp \
    LANGUAGE c AS 'MODULE_PATHNAME', 'protect_column_wrapper';"
)]
fn protect_column(
    tbl: Option<pg_sys::Oid>,
    col: Option<&CStr>,
    context: Option<&str>,
    aad_col: Option<&CStr>,
) -> String {
    let (oid, table) = table_name(tbl);
    let caller = unsafe { pg_sys::GetOuterUserId() };
    let owns = Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.pg_has_role($2, c.relowner, 'USAGE') FROM pg_catalog.pg_class c WHERE c.oid = $1",
        &[oid.into(), caller.into()],
    )
    .ok()
    .flatten()
    .unwrap_or(false);
    if !owns {
        GeError::new(
            Kind::InsufficientPrivilege,
            format!("must own table {table} to protect its columns"),
        )
        .raise();
    }
    let col = name_arg(col, "col");
    column(oid, col);
    let aad_col = aad_col.map(|c| name_arg(Some(c), "aad_col"));
    if let Some(a) = aad_col {
        column(oid, a);
    }
    let context = context
        .unwrap_or_else(|| GeError::new(Kind::NullValue, "context must not be NULL").raise());
    if context.is_empty() {
        GeError::new(Kind::InvalidParameter, "context must not be empty")
            .hint("Use a stable name such as 'schema.table.column'.")
            .raise();
    }
    Spi::run_with_args(
        "INSERT INTO ge_security.protected_column (table_name, column_name, context, aad_column) \
         VALUES ($1::regclass, $2, $3, $4) ON CONFLICT (table_name, column_name) DO UPDATE \
         SET context = EXCLUDED.context, aad_column = EXCLUDED.aad_column, \
             registered_by = EXCLUDED.registered_by, registered_at = EXCLUDED.registered_at",
        &[oid.into(), col.into(), context.into(), aad_col.into()],
    )
    .unwrap_or_else(|e| pgrx::error!("ge_security: {e}"));
    format!(
        "{table}.{} is protected (context {context})",
        pgrx::spi::quote_identifier(col)
    )
}
