//! Row images under encoding v2 (docs/architecture.md, "Canonical row encoding (version 2)"):
//! the (column, SHA-256 of value) pairs of a jsonb image read from the text jsonb_out prints.
use sha2::{Digest as _, Sha256};
use std::borrow::Cow;

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// One member of a jsonb object as jsonb_out prints it.
pub struct Member<'a> {
    /// The key, decoded from its JSON string (bytes in the server encoding).
    pub key: Cow<'a, [u8]>,
    /// The key exactly as printed, quotes included.
    pub printed_key: &'a [u8],
    /// The value exactly as printed (`(image -> key)::text`).
    pub value: &'a [u8],
}

/// The members of a jsonb object from the text jsonb_out prints for it (`{"a": 1, "b": "x"}`),
/// in printed order; None if the text is not such an object.
pub fn members(text: &[u8]) -> Option<Vec<Member<'_>>> {
    let mut rest = text.strip_prefix(b"{")?;
    let mut out = Vec::new();
    if rest == b"}" {
        return Some(out);
    }
    loop {
        let key_len = string_len(rest)?;
        let printed_key = &rest[..key_len];
        rest = rest[key_len..].strip_prefix(b": ")?;
        let value_len = value_len(rest)?;
        out.push(Member {
            key: decode_string(printed_key)?,
            printed_key,
            value: &rest[..value_len],
        });
        rest = &rest[value_len..];
        if rest == b"}" {
            return Some(out);
        }
        rest = rest.strip_prefix(b", ")?;
    }
}

/// The length of the JSON string at the start of `text`, quotes included.
fn string_len(text: &[u8]) -> Option<usize> {
    if text.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The length of the JSON value at the start of `text` (a string, a container, or a scalar that
/// ends at the next `,`, `}` or `]`).
fn value_len(text: &[u8]) -> Option<usize> {
    match text.first()? {
        b'"' => string_len(text),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = 0;
            while i < text.len() {
                match text[i] {
                    b'"' => {
                        i += string_len(&text[i..])?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let len = text
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']'))
                .unwrap_or(text.len());
            (len > 0).then_some(len)
        }
    }
}

/// A printed JSON string's contents with its escapes decoded (jsonb_out escapes `"`, `\`, and
/// control characters; other bytes are printed as they are).
fn decode_string(printed: &[u8]) -> Option<Cow<'_, [u8]>> {
    let inner = printed.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if !inner.contains(&b'\\') {
        return Some(Cow::Borrowed(inner));
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] != b'\\' {
            out.push(inner[i]);
            i += 1;
            continue;
        }
        let escaped = *inner.get(i + 1)?;
        i += 2;
        match escaped {
            b'"' | b'\\' | b'/' => out.push(escaped),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let hex = std::str::from_utf8(inner.get(i..i + 4)?).ok()?;
                let code = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                let mut buffer = [0u8; 4];
                out.extend_from_slice(code.encode_utf8(&mut buffer).as_bytes());
                i += 4;
            }
            _ => return None,
        }
    }
    Some(Cow::Owned(out))
}

/// The digest of one value: SHA-256 of its printed text.
pub fn value_digest(value: &[u8]) -> Digest {
    Sha256::digest(value).into()
}

/// The digest of a statement (a DDL row's text): SHA-256 of its bytes.
pub fn statement_digest(statement: &[u8]) -> Digest {
    Sha256::digest(statement).into()
}

/// The digest of an image from its (key, value digest) pairs: SHA-256 of
/// `"ge_security/image" 0x02`, then per pair in key order (bytewise) `u32 BE key length ‖ key ‖
/// 32-byte digest`. None if a key appears twice (a value both present and redacted).
pub fn image_digest(mut pairs: Vec<(Cow<'_, [u8]>, Digest)>) -> Option<Digest> {
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(b"ge_security/image\x02");
    for (key, digest) in &pairs {
        hasher.update((key.len() as u32).to_be_bytes());
        hasher.update(key);
        hasher.update(digest);
    }
    Some(hasher.finalize().into())
}

/// The digest of an image printed by jsonb_out whose values are all present (what the tests
/// hold the writer's digests to).
#[cfg(test)]
pub fn digest_of_text(text: &[u8]) -> Option<Digest> {
    digest_of_members(&digested_members(text, &[])?)
}

/// One member of an image with the digest of its value.
pub struct Digested<'a> {
    pub key: Cow<'a, [u8]>,
    pub value: &'a [u8],
    pub digest: Digest,
}

/// The members of an image printed by jsonb_out, each with the digest of its value. A member
/// printed exactly as the one at the same position of `known` (an UPDATE's old image, whose
/// columns come in the same order) takes that one's digest instead of hashing its value again:
/// most of an UPDATE's values are unchanged.
pub fn digested_members<'a>(text: &'a [u8], known: &[Digested<'_>]) -> Option<Vec<Digested<'a>>> {
    Some(
        members(text)?
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                let digest = match known.get(i) {
                    Some(k) if k.value == m.value && k.key == m.key => k.digest,
                    _ => value_digest(m.value),
                };
                Digested {
                    key: m.key,
                    value: m.value,
                    digest,
                }
            })
            .collect(),
    )
}

/// The digest of an image from its digested members (None if a key appears twice).
pub fn digest_of_members(members: &[Digested<'_>]) -> Option<Digest> {
    image_digest(
        members
            .iter()
            .map(|m| (Cow::Borrowed(&m.key[..]), m.digest))
            .collect(),
    )
}

/// Lowercase hex of a digest.
pub fn hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A digest from 64 hex digits.
pub fn from_hex(text: &str) -> Option<Digest> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The object text jsonb_out would print for these members (printed keys and values as given).
pub fn object_text<'a>(members: impl Iterator<Item = (&'a [u8], Cow<'a, [u8]>)>) -> Vec<u8> {
    let mut out = vec![b'{'];
    for (n, (key, value)) in members.enumerate() {
        if n > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(key);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&value);
    }
    out.push(b'}');
    out
}

/// What an image records for a column audited as a digest only (enable_audit's `exclude`):
/// the JSON string `"sha256:<hex of the value digest>"`.
pub fn excluded_value(value: &[u8]) -> Vec<u8> {
    format!("\"sha256:{}\"", hex(&value_digest(value))).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_read_what_jsonb_out_prints() {
        let text = br#"{"a": 1, "bb": "x, \"y\"}", "n\tm": {"k": [1, "]"]}, "z": null, "e": []}"#;
        let found = members(text).expect("an object");
        let pairs: Vec<(&[u8], &[u8])> = found.iter().map(|m| (&m.key[..], m.value)).collect();
        assert_eq!(
            pairs,
            vec![
                (&b"a"[..], &b"1"[..]),
                (b"bb", br#""x, \"y\"}""#),
                (b"n\tm", br#"{"k": [1, "]"]}"#),
                (b"z", b"null"),
                (b"e", b"[]"),
            ]
        );
        assert_eq!(found[2].printed_key, br#""n\tm""#);
        assert!(members(b"{}").expect("empty").is_empty());
        for bad in [
            &b""[..],
            b"[1]",
            b"{\"a\" 1}",
            b"{\"a\": 1",
            b"{\"a\": }",
            b"{\"a\": 1,}",
        ] {
            assert!(members(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
        let keys: Vec<Vec<u8>> = members(br#"{"\u0001\\": 1}"#)
            .expect("object")
            .into_iter()
            .map(|m| m.key.into_owned())
            .collect();
        assert_eq!(keys, vec![b"\x01\\".to_vec()]);
    }

    #[test]
    fn image_digest_is_the_documented_layout_and_order_free() {
        let a = value_digest(b"1");
        let b = value_digest(b"\"x\"");
        let mut expected = b"ge_security/image\x02".to_vec();
        for (key, digest) in [(&b"a"[..], a), (b"bb", b)] {
            expected.extend_from_slice(&(key.len() as u32).to_be_bytes());
            expected.extend_from_slice(key);
            expected.extend_from_slice(&digest);
        }
        let want: Digest = Sha256::digest(&expected).into();
        assert_eq!(digest_of_text(br#"{"a": 1, "bb": "x"}"#), Some(want));
        // a redacted value (its digest given instead) gives the same image digest
        assert_eq!(
            image_digest(vec![
                (Cow::Borrowed(&b"bb"[..]), b),
                (Cow::Borrowed(&b"a"[..]), a)
            ]),
            Some(want)
        );
        assert_eq!(
            image_digest(vec![
                (Cow::Borrowed(&b"a"[..]), a),
                (Cow::Borrowed(&b"a"[..]), a)
            ]),
            None
        );
        assert_ne!(digest_of_text(br#"{"a": 2, "bb": "x"}"#), Some(want));
        // an UPDATE's new image reuses the old one's digests for values printed the same, and
        // comes out exactly as if hashed on its own
        let old = digested_members(br#"{"a": 1, "bb": "x"}"#, &[]).expect("object");
        for new in [
            &br#"{"a": 1, "bb": "y"}"#[..],
            br#"{"a": 2, "bb": "x"}"#,
            br#"{"bb": "x", "c": 1}"#,
            br#"{"a": 1}"#,
            br#"{}"#,
        ] {
            let reused = digested_members(new, &old).expect("object");
            assert_eq!(digest_of_members(&reused), digest_of_text(new));
        }
        assert_eq!(from_hex(&hex(&want)), Some(want));
        assert_eq!(from_hex("zz"), None);
    }
}
