//! Canonical, versioned, length-prefixed encoding of a row for hashing (shared core).
//! The same bytes come out of the audit trigger and of verification, so hashes reproduce.
use sha2::{Digest, Sha256};

/// Version byte of the row encoding; bump it (and keep the old decoder) if fields change.
pub const ROW_ENCODING_V1: u8 = 1;

/// Feeds fields into SHA-256: each field is a tag byte (0 NULL, 1 integer, 2 text)
/// followed by 8 big-endian bytes for integers, or a u32 big-endian length and the bytes.
pub struct RowHasher(Sha256);

impl RowHasher {
    pub fn new(version: u8) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"ge_security/audit_row");
        hasher.update([version]);
        RowHasher(hasher)
    }

    pub fn null(&mut self) -> &mut Self {
        self.0.update([0u8]);
        self
    }

    pub fn int(&mut self, value: i64) -> &mut Self {
        self.0.update([1u8]);
        self.0.update(value.to_be_bytes());
        self
    }

    /// A text value (its UTF-8 bytes) or NULL.
    pub fn text(&mut self, value: Option<&[u8]>) -> &mut Self {
        match value {
            None => self.null(),
            Some(text) => {
                self.0.update([2u8]);
                self.0.update((text.len() as u32).to_be_bytes());
                self.0.update(text);
                self
            }
        }
    }

    pub fn finish(&mut self) -> [u8; 32] {
        std::mem::take(&mut self.0).finalize().into()
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn null_empty_and_split_texts_hash_differently() {
        let h = |f: &dyn Fn(&mut RowHasher)| {
            let mut r = RowHasher::new(ROW_ENCODING_V1);
            f(&mut r);
            r.finish()
        };
        assert_ne!(
            h(&|r| {
                r.text(None);
            }),
            h(&|r| {
                r.text(Some(b""));
            })
        );
        assert_ne!(
            h(&|r| {
                r.text(Some(b"ab")).text(Some(b"c"));
            }),
            h(&|r| {
                r.text(Some(b"a")).text(Some(b"bc"));
            })
        );
        assert_ne!(
            h(&|r| {
                r.int(1);
            }),
            h(&|r| {
                r.text(Some(b"1"));
            })
        );
        assert_eq!(
            h(&|r| {
                r.int(7).text(Some(b"x"));
            }),
            h(&|r| {
                r.int(7).text(Some(b"x"));
            })
        );
    }
}
