//! The ciphertext envelope: 0x01 ‖ key_id u32 BE ‖ nonce(12) ‖ ciphertext ‖ tag(16), AES-256-GCM
//! with associated data binding the header, the label, the context and the aad
//! (docs/architecture.md, "Envelope (version 1)").
use aes_gcm::aead::{Aead, AeadCore, AeadInPlace, OsRng, Payload};
use aes_gcm::Aes256Gcm;

pub const VERSION: u8 = 1;
pub const LABEL: &[u8] = b"ge_security/v1";
const HEADER: usize = 5;
const NONCE: usize = 12;
const TAG: usize = 16;

/// Why an envelope could not be opened. Never carries plaintext or key material.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    TooShort(usize),
    UnknownVersion(u8),
    DoesNotAuthenticate,
}

/// Length-prefixed concatenation, so ("ab", "c") and ("a", "bc") never collide. Context and aad
/// are UTF-8 whatever the database encoding.
fn associated_data(header: &[u8], context: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + header.len() + LABEL.len() + context.len() + aad.len());
    for part in [header, LABEL, context, aad] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The key id named by an envelope's header, after checking its length and version.
pub fn key_id(envelope: &[u8]) -> Result<u32, OpenError> {
    if envelope.len() < HEADER + NONCE + TAG {
        return Err(OpenError::TooShort(envelope.len()));
    }
    if envelope[0] != VERSION {
        return Err(OpenError::UnknownVersion(envelope[0]));
    }
    Ok(u32::from_be_bytes([
        envelope[1],
        envelope[2],
        envelope[3],
        envelope[4],
    ]))
}

/// Bytes an envelope adds to its plaintext.
pub const OVERHEAD: usize = HEADER + NONCE + TAG;

/// Encrypt under `cipher` (the subkey of `key_id` for `context`) with a fresh random nonce. The
/// envelope is built in one buffer and encrypted in place (no copy of the plaintext).
pub fn seal(
    cipher: &Aes256Gcm,
    key_id: u32,
    context: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(VERSION);
    out.extend_from_slice(&key_id.to_be_bytes());
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let ad = associated_data(&out[..HEADER], context, aad);
    let tag = cipher
        .encrypt_in_place_detached(&nonce, &ad, &mut out[HEADER + NONCE..])
        .expect("AES-GCM encrypts any buffer under 64 GiB");
    out.extend_from_slice(&tag);
    out
}

/// Decrypt an envelope whose key id was already resolved to `cipher`.
pub fn open(
    cipher: &Aes256Gcm,
    context: &[u8],
    aad: &[u8],
    envelope: &[u8],
) -> Result<Vec<u8>, OpenError> {
    key_id(envelope)?;
    let (header, rest) = envelope.split_at(HEADER);
    let (nonce, sealed) = rest.split_at(NONCE);
    let ad = associated_data(header, context, aad);
    cipher
        .decrypt(
            nonce.into(),
            Payload {
                msg: sealed,
                aad: &ad,
            },
        )
        .map_err(|_| OpenError::DoesNotAuthenticate)
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use aes_gcm::KeyInit;
    use pgrx::prelude::*;

    fn cipher(byte: u8) -> Aes256Gcm {
        Aes256Gcm::new(&[byte; 32].into())
    }

    #[pg_test]
    fn round_trip_and_binding() {
        let c = cipher(7);
        let env = seal(&c, 3, b"ctx", b"row-1", b"secret");
        assert_eq!(key_id(&env), Ok(3));
        assert_eq!(
            open(&c, b"ctx", b"row-1", &env).as_deref(),
            Ok(&b"secret"[..])
        );
        assert_eq!(
            open(&c, b"ctx", b"row-2", &env),
            Err(OpenError::DoesNotAuthenticate)
        );
        assert_eq!(
            open(&c, b"ctx2", b"row-1", &env),
            Err(OpenError::DoesNotAuthenticate)
        );
        assert_eq!(
            open(&cipher(8), b"ctx", b"row-1", &env),
            Err(OpenError::DoesNotAuthenticate)
        );
        // the ambiguous split of context and aad does not authenticate
        let env = seal(&c, 3, b"ab", b"c", b"x");
        assert_eq!(
            open(&c, b"a", b"bc", &env),
            Err(OpenError::DoesNotAuthenticate)
        );
    }

    #[pg_test]
    fn every_flipped_bit_is_refused() {
        let c = cipher(1);
        let env = seal(&c, 9, b"ctx", b"", b"hello world");
        for i in 0..env.len() * 8 {
            let mut bad = env.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                open(&c, b"ctx", b"", &bad).is_err(),
                "bit {i} flipped was accepted"
            );
        }
    }

    #[pg_test]
    fn random_bytes_never_open_or_panic() {
        let c = cipher(2);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for n in 0..5000usize {
            let len = n % 80;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            assert!(open(&c, b"ctx", b"", &bytes).is_err());
        }
        assert_eq!(key_id(&[1, 0, 0]), Err(OpenError::TooShort(3)));
        assert_eq!(key_id(&[2; 40]), Err(OpenError::UnknownVersion(2)));
    }
}
