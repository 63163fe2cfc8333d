//! Column encryption: AES-256-GCM envelopes bound to context and aad, keys from a server-side
//! keyring, blind indexes for equality search, rotation and column re-encryption. Envelopes and
//! blind indexes hold UTF-8 whatever the database encoding.
mod columns;
pub(crate) mod encoding;
mod envelope;
mod keyring;

use crate::error::{GeError, Kind};
use envelope::OpenError;
use hmac::{Hmac, Mac};
use pgrx::prelude::*;
use sha2::Sha256;

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

/// The largest bytea pgrx returns: its header included, one byte under PostgreSQL's
/// MaxAllocSize (0x3fffffff, utils/memutils.h; pgrx asserts `len < MaxAllocSize`).
const MAX_BYTEA_SIZE: usize = 0x3fff_ffff - 1;

/// Largest plaintext whose envelope still fits a bytea (1 GB less the headers).
const MAX_PLAINTEXT: usize = MAX_BYTEA_SIZE - pg_sys::VARHDRSZ - envelope::OVERHEAD;

fn open(value: &[u8], context: &[u8], aad: &[u8]) -> Vec<u8> {
    let context = encoding::to_utf8(context, "context");
    let aad = encoding::to_utf8(aad, "aad");
    let key_id = envelope::key_id(value).unwrap_or_else(|e| envelope_error(e));
    keyring::with_cipher(key_id, &context, |cipher| {
        envelope::open(cipher, &context, &aad, value)
    })
    .unwrap_or_else(|e| envelope_error(e))
}

fn seal(plaintext: &[u8], context: &[u8], aad: &[u8]) -> Vec<u8> {
    if plaintext.len() > MAX_PLAINTEXT {
        GeError::new(Kind::ProgramLimit, "value is too large to encrypt")
            .detail(format!(
                "{} bytes of plaintext make an envelope of {} bytes; a bytea holds at most {} bytes.",
                plaintext.len(),
                plaintext.len() + envelope::OVERHEAD,
                MAX_PLAINTEXT + envelope::OVERHEAD
            ))
            .hint("Split the value, or keep large objects encrypted outside the database.")
            .raise();
    }
    let context = encoding::to_utf8(context, "context");
    let aad = encoding::to_utf8(aad, "aad");
    let key_id = keyring::active_key_id();
    keyring::with_cipher(key_id, &context, |cipher| {
        envelope::seal(cipher, key_id, &context, &aad, plaintext)
    })
}

// The text arguments below are taken as their bytes in the database encoding (the CREATE
// FUNCTION statements give their SQL types) and converted to UTF-8 here, so that non-UTF-8
// databases neither fail nor produce envelopes other databases read differently.

/// Encrypt text under the active key, bound to `context` and `aad`.
#[pg_extern(
    sql = "CREATE FUNCTION encrypt(value text, context text, aad text DEFAULT '') \
    RETURNS bytea VOLATILE STRICT PARALLEL SAFE \
    LANGUAGE c AS 'MODULE_PATHNAME', 'encrypt_text_wrapper';"
)]
fn encrypt_text(value: &[u8], context: &[u8], aad: &[u8]) -> Vec<u8> {
    seal(&encoding::to_utf8(value, "value"), context, aad)
}

/// Encrypt bytes under the active key, bound to `context` and `aad`.
#[pg_extern(
    sql = "CREATE FUNCTION encrypt(value bytea, context text, aad text DEFAULT '') \
    RETURNS bytea VOLATILE STRICT PARALLEL SAFE \
    LANGUAGE c AS 'MODULE_PATHNAME', 'encrypt_bytea_wrapper';"
)]
fn encrypt_bytea(value: &[u8], context: &[u8], aad: &[u8]) -> Vec<u8> {
    seal(value, context, aad)
}

/// Decrypt to text in the database encoding; the key id in the envelope picks the key.
#[pg_extern(
    sql = "CREATE FUNCTION decrypt(value bytea, context text, aad text DEFAULT '') \
    RETURNS text STABLE STRICT PARALLEL SAFE \
    LANGUAGE c AS 'MODULE_PATHNAME', 'decrypt_wrapper';"
)]
fn decrypt(value: &[u8], context: &[u8], aad: &[u8]) -> Vec<u8> {
    encoding::to_server(open(value, context, aad))
}

/// Decrypt to bytes.
#[pg_extern(
    sql = "CREATE FUNCTION decrypt_bytea(value bytea, context text, aad text DEFAULT '') \
    RETURNS bytea STABLE STRICT PARALLEL SAFE \
    LANGUAGE c AS 'MODULE_PATHNAME', 'decrypt_bytea_wrapper';"
)]
fn decrypt_bytea(value: &[u8], context: &[u8], aad: &[u8]) -> Vec<u8> {
    open(value, context, aad)
}

/// Re-encrypt a ciphertext under the active key (fresh nonce), without returning plaintext.
#[pg_extern(
    sql = "CREATE FUNCTION rotate(value bytea, context text, aad text DEFAULT '') \
    RETURNS bytea VOLATILE STRICT PARALLEL SAFE \
    LANGUAGE c AS 'MODULE_PATHNAME', 'rotate_wrapper';"
)]
fn rotate(value: &[u8], context: &[u8], aad: &[u8]) -> Vec<u8> {
    let plaintext = zeroize::Zeroizing::new(open(value, context, aad));
    seal(&plaintext, context, aad)
}

/// HMAC-SHA256 of the value's UTF-8 under the active key's index subkey for `context`, for
/// equality search on encrypted columns (recompute after switching the active key).
#[pg_extern(sql = "CREATE FUNCTION blind_index(value text, context text) \
    RETURNS bytea STABLE STRICT PARALLEL SAFE \
    LANGUAGE c AS 'MODULE_PATHNAME', 'blind_index_wrapper';")]
fn blind_index(value: &[u8], context: &[u8]) -> Vec<u8> {
    let value = encoding::to_utf8(value, "value");
    let context = encoding::to_utf8(context, "context");
    keyring::with_index_key(keyring::active_key_id(), &context, |key| {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(&value);
        mac.finalize().into_bytes().to_vec()
    })
}

/// Key ids in the keyring, which one is active, and a fingerprint that is not the key.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
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
