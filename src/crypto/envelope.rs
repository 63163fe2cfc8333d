//! The ciphertext envelope (DESIGN §5): 0x01 ‖ key_id u32 BE ‖ nonce(12) ‖ ciphertext ‖ tag(16),
//! AES-256-GCM with associated data binding the header, the label, the context and the aad.
use aes_gcm::aead::{Aead, AeadCore, OsRng, Payload};
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

/// Length-prefixed concatenation, so ("ab", "c") and ("a", "bc") never collide.
fn associated_data(header: &[u8], context: &str, aad: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + header.len() + LABEL.len() + context.len() + aad.len());
    for part in [header, LABEL, context.as_bytes(), aad.as_bytes()] {
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

/// Encrypt under `cipher` (the subkey of `key_id` for `context`) with a fresh random nonce.
pub fn seal(
    cipher: &Aes256Gcm,
    key_id: u32,
    context: &str,
    aad: &str,
    plaintext: &[u8],
) -> Vec<u8> {
    let mut header = [0u8; HEADER];
    header[0] = VERSION;
    header[1..].copy_from_slice(&key_id.to_be_bytes());
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ad = associated_data(&header, context, aad);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &ad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(HEADER + NONCE + sealed.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Decrypt an envelope whose key id was already resolved to `cipher`.
pub fn open(
    cipher: &Aes256Gcm,
    context: &str,
    aad: &str,
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
        let env = seal(&c, 3, "ctx", "row-1", b"secret");
        assert_eq!(key_id(&env), Ok(3));
        assert_eq!(
            open(&c, "ctx", "row-1", &env).as_deref(),
            Ok(&b"secret"[..])
        );
        assert_eq!(
            open(&c, "ctx", "row-2", &env),
            Err(OpenError::DoesNotAuthenticate)
        );
        assert_eq!(
            open(&c, "ctx2", "row-1", &env),
            Err(OpenError::DoesNotAuthenticate)
        );
        assert_eq!(
            open(&cipher(8), "ctx", "row-1", &env),
            Err(OpenError::DoesNotAuthenticate)
        );
        // the ambiguous split of context and aad does not authenticate
        let env = seal(&c, 3, "ab", "c", b"x");
        assert_eq!(
            open(&c, "a", "bc", &env),
            Err(OpenError::DoesNotAuthenticate)
        );
    }

    #[pg_test]
    fn every_flipped_bit_is_refused() {
        let c = cipher(1);
        let env = seal(&c, 9, "ctx", "", b"hello world");
        for i in 0..env.len() * 8 {
            let mut bad = env.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                open(&c, "ctx", "", &bad).is_err(),
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
            assert!(open(&c, "ctx", "", &bytes).is_err());
        }
        assert_eq!(key_id(&[1, 0, 0]), Err(OpenError::TooShort(3)));
        assert_eq!(key_id(&[2; 40]), Err(OpenError::UnknownVersion(2)));
    }
}
