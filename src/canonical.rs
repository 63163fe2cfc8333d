//! Canonical, versioned, length-prefixed encoding of a row for hashing (shared core).
//! The same bytes come out of the audit trigger and of verification, so hashes reproduce.
use sha2::{Digest, Sha256};

/// Version byte of the row encoding; bump it (and keep the old decoder) if fields change.
pub const ROW_ENCODING_V1: u8 = 1;
/// Version 2: row images and statements enter through their own digests (redactable).
pub const ROW_ENCODING_V2: u8 = 2;

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
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

    #[test]
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

    /// One field of the encoding.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Field {
        Null,
        Int(i64),
        Text(Vec<u8>),
    }

    /// The bytes docs/architecture.md ("Canonical row encoding") says are hashed.
    fn documented_bytes(version: u8, fields: &[Field]) -> Vec<u8> {
        let mut out = b"ge_security/audit_row".to_vec();
        out.push(version);
        for field in fields {
            match field {
                Field::Null => out.push(0),
                Field::Int(n) => {
                    out.push(1);
                    out.extend_from_slice(&n.to_be_bytes());
                }
                Field::Text(t) => {
                    out.push(2);
                    out.extend_from_slice(&(t.len() as u32).to_be_bytes());
                    out.extend_from_slice(t);
                }
            }
        }
        out
    }

    /// Reads the documented bytes back: the encoding is unambiguous if this always returns
    /// what was encoded.
    fn decode(bytes: &[u8]) -> Option<(u8, Vec<Field>)> {
        let rest = bytes.strip_prefix(b"ge_security/audit_row")?;
        let (&version, mut rest) = rest.split_first()?;
        let mut fields = Vec::new();
        while let Some((&tag, tail)) = rest.split_first() {
            rest = match tag {
                0 => {
                    fields.push(Field::Null);
                    tail
                }
                1 => {
                    let (n, tail) = tail.split_at_checked(8)?;
                    fields.push(Field::Int(i64::from_be_bytes(n.try_into().ok()?)));
                    tail
                }
                2 => {
                    let (len, tail) = tail.split_at_checked(4)?;
                    let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
                    let (text, tail) = tail.split_at_checked(len)?;
                    fields.push(Field::Text(text.to_vec()));
                    tail
                }
                _ => return None,
            };
        }
        Some((version, fields))
    }

    fn hash(version: u8, fields: &[Field]) -> [u8; 32] {
        let mut hasher = RowHasher::new(version);
        for field in fields {
            match field {
                Field::Null => hasher.null(),
                Field::Int(n) => hasher.int(*n),
                Field::Text(t) => hasher.text(Some(t)),
            };
        }
        hasher.finish()
    }

    fn field() -> impl Strategy<Value = Field> {
        prop_oneof![
            Just(Field::Null),
            any::<i64>().prop_map(Field::Int),
            prop::collection::vec(any::<u8>(), 0..48).prop_map(Field::Text),
            // short texts of few distinct bytes, so that near misses are common
            prop::collection::vec(0u8..3, 0..4).prop_map(Field::Text),
        ]
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let fields = [
            Field::Int(42),
            Field::Int(-1),
            Field::Null,
            Field::Text(b"".to_vec()),
            Field::Text("caf\u{e9}".as_bytes().to_vec()),
        ];
        let mut expected = b"ge_security/audit_row\x01".to_vec();
        expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 42]);
        expected.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        expected.push(0);
        expected.extend_from_slice(&[2, 0, 0, 0, 0]);
        expected.extend_from_slice(&[2, 0, 0, 0, 5, b'c', b'a', b'f', 0xc3, 0xa9]);
        assert_eq!(documented_bytes(ROW_ENCODING_V1, &fields), expected);
        let digest: [u8; 32] = Sha256::digest(&expected).into();
        assert_eq!(hash(ROW_ENCODING_V1, &fields), digest);
        // NULL through text(None) is the NULL tag
        let mut hasher = RowHasher::new(ROW_ENCODING_V1);
        hasher.text(None);
        assert_eq!(hasher.finish(), hash(ROW_ENCODING_V1, &[Field::Null]));
    }

    proptest! {
        /// RowHasher hashes exactly the documented bytes, and those bytes decode back to the
        /// fields they encode (so no two field lists share an encoding).
        #[test]
        fn hashes_the_documented_bytes_which_round_trip(
            version in any::<u8>(),
            fields in prop::collection::vec(field(), 0..16),
        ) {
            let bytes = documented_bytes(version, &fields);
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            prop_assert_eq!(hash(version, &fields), digest);
            prop_assert_eq!(decode(&bytes), Some((version, fields)));
        }

        /// Different field lists (or versions) hash differently: NULL against empty, split
        /// points, integers against texts of the same bytes, one field more or less.
        #[test]
        fn different_rows_hash_differently(
            a in prop::collection::vec(field(), 0..8),
            b in prop::collection::vec(field(), 0..8),
            va in 1u8..3,
            vb in 1u8..3,
        ) {
            prop_assert_eq!(hash(va, &a) == hash(vb, &b), va == vb && a == b);
        }
    }
}
