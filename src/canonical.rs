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

/// The canonical text of a JSON value, used wherever a JSON document is hashed (baseline
/// snapshots, evidence): object keys sorted by their UTF-8 bytes, no whitespace, strings and
/// numbers written as serde_json writes them (strings escape only `"`, `\\` and control
/// characters; integers in decimal). The same value always gives the same bytes.
pub fn json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (n, key) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_json(&map[key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// SHA-256 of `bytes` as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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

    #[pg_test]
    fn canonical_json_sorts_keys_by_bytes_and_drops_whitespace() {
        let value: serde_json::Value = serde_json::from_str(
            r#"{ "b": [1, {"z": null, "a": true}], "a": "x\"y", "B": 2.5, "é": "\u0001" }"#,
        )
        .unwrap();
        assert_eq!(
            super::json(&value),
            r#"{"B":2.5,"a":"x\"y","b":[1,{"a":true,"z":null}],"é":"\u0001"}"#
        );
        assert_eq!(
            super::sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
