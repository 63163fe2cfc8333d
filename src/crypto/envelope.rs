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

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::KeyInit;
    use proptest::prelude::*;

    fn cipher(byte: u8) -> Aes256Gcm {
        Aes256Gcm::new(&[byte; 32].into())
    }

    #[test]
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

    #[test]
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

    #[test]
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

    #[test]
    fn the_layout_is_the_documented_one() {
        let c = cipher(5);
        let env = seal(&c, 0x0102_0304, b"ctx", b"aad", b"plain");
        assert_eq!(env.len(), OVERHEAD + 5);
        assert_eq!(&env[..5], &[VERSION, 1, 2, 3, 4]);
        // the associated data is the length-prefixed header, label, context and aad
        let mut ad = Vec::new();
        for part in [&env[..5], LABEL, b"ctx", b"aad"] {
            ad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            ad.extend_from_slice(part);
        }
        let plain = c
            .decrypt(
                env[5..17].into(),
                Payload {
                    msg: &env[17..],
                    aad: &ad,
                },
            )
            .expect("decrypts with the documented associated data");
        assert_eq!(plain, b"plain");
        // the shortest envelope holds an empty plaintext
        let empty = seal(&c, 1, b"", b"", b"");
        assert_eq!(empty.len(), 33);
        assert_eq!(open(&c, b"", b"", &empty), Ok(Vec::new()));
        assert_eq!(key_id(&empty[..32]), Err(OpenError::TooShort(32)));
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..max)
    }

    proptest! {
        /// Whatever the plaintext, context, aad and key id, the envelope opens to the
        /// plaintext, names its key id, and every encryption draws a fresh nonce.
        #[test]
        fn round_trips(
            key in any::<u8>(),
            id in any::<u32>(),
            plaintext in bytes(300),
            context in bytes(40),
            aad in bytes(40),
        ) {
            let c = cipher(key);
            let env = seal(&c, id, &context, &aad, &plaintext);
            prop_assert_eq!(env.len(), plaintext.len() + OVERHEAD);
            prop_assert_eq!(key_id(&env), Ok(id));
            prop_assert_eq!(open(&c, &context, &aad, &env), Ok(plaintext.clone()));
            let again = seal(&c, id, &context, &aad, &plaintext);
            prop_assert_ne!(&env[5..17], &again[5..17]);
        }

        /// Any single flipped bit, anywhere in the envelope, is refused: in the header as an
        /// unknown version or a failed authentication, elsewhere as a failed authentication.
        #[test]
        fn any_flipped_bit_is_refused(
            plaintext in bytes(100),
            context in bytes(20),
            position in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let c = cipher(3);
            let env = seal(&c, 7, &context, b"", &plaintext);
            let mut bad = env.clone();
            let at = position.index(env.len());
            bad[at] ^= 1 << bit;
            let result = open(&c, &context, b"", &bad);
            if at == 0 {
                prop_assert_eq!(result, Err(OpenError::UnknownVersion(bad[0])));
            } else {
                prop_assert_eq!(result, Err(OpenError::DoesNotAuthenticate));
            }
        }

        /// Another context or aad, however close, does not authenticate; nor does moving bytes
        /// between the two.
        #[test]
        fn context_and_aad_are_bound(
            context in bytes(12),
            aad in bytes(12),
            other_context in bytes(12),
            other_aad in bytes(12),
        ) {
            prop_assume!((&context, &aad) != (&other_context, &other_aad));
            let c = cipher(4);
            let env = seal(&c, 1, &context, &aad, b"value");
            prop_assert_eq!(
                open(&c, &other_context, &other_aad, &env),
                Err(OpenError::DoesNotAuthenticate)
            );
            if !context.is_empty() {
                let (left, right) = context.split_at(context.len() / 2);
                let moved = [right, &aad].concat();
                if left != context.as_slice() {
                    prop_assert!(open(&c, left, &moved, &env).is_err());
                }
            }
        }

        /// Shorter than an envelope can be, or of another version: refused before any key is
        /// used, never a panic.
        #[test]
        fn short_and_unknown_versions_are_refused(
            short in bytes(OVERHEAD),
            version in 2u8..=255,
            rest in prop::collection::vec(any::<u8>(), OVERHEAD - 1..80),
        ) {
            prop_assert_eq!(key_id(&short), Err(OpenError::TooShort(short.len())));
            prop_assert_eq!(open(&cipher(1), b"", b"", &short), Err(OpenError::TooShort(short.len())));
            let mut other = vec![version];
            other.extend_from_slice(&rest);
            prop_assert_eq!(key_id(&other), Err(OpenError::UnknownVersion(version)));
            other[0] = 0;
            prop_assert_eq!(key_id(&other), Err(OpenError::UnknownVersion(0)));
        }
    }
}
