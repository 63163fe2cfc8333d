//! The server-side keyring: keys read from the file named by `ge_security.keyring_path`
//! (re-checked once per transaction, so a SIGHUP or a new file takes effect), held zeroed on
//! drop, with per-context subkeys derived by HKDF-SHA256 and cached per backend.
use super::envelope::LABEL;
use crate::error::{GeError, Kind};
use crate::gucs;
use aes_gcm::{Aes256Gcm, KeyInit};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use zeroize::Zeroizing;

type Key = Zeroizing<[u8; 32]>;

/// What identifies one version of the keyring file.
#[derive(PartialEq, Eq, Clone)]
struct Stamp {
    path: String,
    inode: u64,
    modified_ns: i128,
    size: u64,
}

struct Keyring {
    stamp: Stamp,
    keys: BTreeMap<u32, Key>,
    ciphers: HashMap<u32, HashMap<Vec<u8>, Aes256Gcm>>,
    index_keys: HashMap<u32, HashMap<Vec<u8>, Key>>,
}

/// Subkeys cached per key id: beyond this many contexts the cache starts over, so a session
/// cycling through endless contexts cannot grow the backend without bound.
const CACHED_CONTEXTS: usize = 1024;

thread_local! {
    static KEYRING: RefCell<Option<Keyring>> = const { RefCell::new(None) };
    /// Start time of the transaction that last validated the keyring file.
    static CHECKED_IN: Cell<i64> = const { Cell::new(i64::MIN) };
}

fn keyring_error(path: &str, problem: String) -> GeError {
    GeError::new(Kind::ConfigFile, format!("keyring file \"{path}\" {problem}"))
        .hint("Set ge_security.keyring_path to a file of KEY_ID:64-hex-chars lines, owned by the server's OS user, mode 0600, then reload.")
}

fn stamp_of(path: &str) -> Result<Stamp, GeError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| keyring_error(path, format!("cannot be read: {}", e.kind())))?;
    if !meta.is_file() {
        return Err(keyring_error(path, "is not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(keyring_error(
            path,
            format!("is readable or writable by group or others (mode {mode:04o})"),
        ));
    }
    Ok(Stamp {
        path: path.to_owned(),
        inode: meta.ino(),
        modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        size: meta.size(),
    })
}

/// Parse `KEY_ID:64 hex chars` lines; `#` comments and blank lines are allowed. Messages name
/// line numbers, never content.
fn parse(path: &str, text: &str) -> Result<BTreeMap<u32, Key>, GeError> {
    let mut keys = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| keyring_error(path, format!("line {}: {what}", n + 1));
        let (id, hex) = line
            .split_once(':')
            .ok_or_else(|| bad("expected KEY_ID:HEX"))?;
        let id: u32 = id
            .trim()
            .parse()
            .map_err(|_| bad("key id is not an unsigned 32-bit integer"))?;
        let hex = hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("key is not 64 hexadecimal characters"));
        }
        let mut key: Key = Zeroizing::new([0u8; 32]);
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad("bad hex"))?;
        }
        if keys.insert(id, key).is_some() {
            return Err(bad("duplicate key id"));
        }
    }
    if keys.is_empty() {
        return Err(keyring_error(path, "holds no key".into()));
    }
    Ok(keys)
}

/// Load or re-validate the keyring (once per transaction) and run `f` on it.
fn with_keyring<R>(f: impl FnOnce(&mut Keyring) -> Result<R, GeError>) -> R {
    // SAFETY: reads a field of the current transaction state; the crypto functions only run
    // inside a transaction.
    let txn = unsafe { pgrx::pg_sys::GetCurrentTransactionStartTimestamp() };
    let result = KEYRING.with(|cell| {
        let mut slot = cell.borrow_mut();
        if CHECKED_IN.get() != txn || slot.is_none() {
            let path = gucs::text(&gucs::KEYRING_PATH);
            if path.is_empty() {
                return Err(
                    GeError::new(Kind::ConfigFile, "ge_security.keyring_path is not set").hint(
                        "A superuser sets it in postgresql.conf to the keyring file and reloads.",
                    ),
                );
            }
            let stamp = stamp_of(&path)?;
            if slot.as_ref().map(|k| &k.stamp) != Some(&stamp) {
                let text =
                    Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
                        keyring_error(&path, format!("cannot be read: {}", e.kind()))
                    })?);
                let keys = parse(&path, &text)?;
                *slot = Some(Keyring {
                    stamp,
                    keys,
                    ciphers: HashMap::new(),
                    index_keys: HashMap::new(),
                });
            }
            CHECKED_IN.set(txn);
        }
        f(slot.as_mut().expect("loaded above"))
    });
    result.unwrap_or_else(|e| e.raise())
}

fn derive(key: &[u8; 32], purpose: &[u8], context: &[u8]) -> Key {
    let mut info = Vec::with_capacity(purpose.len() + context.len());
    info.extend_from_slice(purpose);
    info.extend_from_slice(context);
    let mut okm: Key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(LABEL), key)
        .expand(&info, okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

impl Keyring {
    fn key(&self, id: u32) -> Result<&Key, GeError> {
        self.keys.get(&id).ok_or_else(|| {
            GeError::new(Kind::UndefinedObject, format!("key id {id} is not in the keyring"))
                .hint("Restore the retired key to the keyring file, or re-encrypt with a key that is present.")
        })
    }
}

/// The active key id (`ge_security.active_key_id`).
pub fn active_key_id() -> u32 {
    gucs::ACTIVE_KEY_ID.get() as u32
}

/// Run `f` with the AES-256-GCM cipher for (`key_id`, `context`); `context` is UTF-8.
pub fn with_cipher<R>(key_id: u32, context: &[u8], f: impl FnOnce(&Aes256Gcm) -> R) -> R {
    with_keyring(|ring| {
        if let Some(cipher) = ring.ciphers.get(&key_id).and_then(|m| m.get(context)) {
            return Ok(f(cipher));
        }
        let subkey = derive(ring.key(key_id)?, b"enc\0", context);
        let cipher = Aes256Gcm::new(subkey.as_ref().into());
        let per_key = ring.ciphers.entry(key_id).or_default();
        if per_key.len() >= CACHED_CONTEXTS {
            per_key.clear();
        }
        Ok(f(per_key.entry(context.to_vec()).or_insert(cipher)))
    })
}

/// Run `f` with the blind-index key for (`key_id`, `context`); `context` is UTF-8.
pub fn with_index_key<R>(key_id: u32, context: &[u8], f: impl FnOnce(&[u8; 32]) -> R) -> R {
    with_keyring(|ring| {
        if let Some(key) = ring.index_keys.get(&key_id).and_then(|m| m.get(context)) {
            return Ok(f(key));
        }
        let subkey = derive(ring.key(key_id)?, b"idx\0", context);
        let per_key = ring.index_keys.entry(key_id).or_default();
        if per_key.len() >= CACHED_CONTEXTS {
            per_key.clear();
        }
        Ok(f(per_key.entry(context.to_vec()).or_insert(subkey)))
    })
}

/// (key id, fingerprint) of every key: the first 8 bytes of a domain-separated SHA-256, hex.
pub fn fingerprints() -> Vec<(u32, String)> {
    with_keyring(|ring| {
        Ok(ring
            .keys
            .iter()
            .map(|(id, key)| {
                let digest = Sha256::new()
                    .chain_update(b"ge_security/fingerprint")
                    .chain_update(key.as_ref())
                    .finalize();
                (
                    *id,
                    digest[..8].iter().map(|b| format!("{b:02x}")).collect(),
                )
            })
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(key: &[u8; 32]) -> String {
        key.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn refused(text: &str) -> GeError {
        match parse("/etc/ge.keyring", text) {
            Ok(keys) => panic!("accepted {} keys from {text:?}", keys.len()),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_ids_keys_comments_and_blank_lines() {
        let text = format!(
            "# keyring\n\n1:{}\n  7 : {}  \r\n# retired below\n4294967295:{}\n",
            "00".repeat(32),
            "Ab".repeat(32),
            "ff".repeat(32)
        );
        let keys = parse("/k", &text).expect("parses");
        assert_eq!(keys.keys().copied().collect::<Vec<_>>(), [1, 7, 4294967295]);
        assert_eq!(*keys[&1], [0u8; 32]);
        assert_eq!(*keys[&7], [0xab; 32]);
        assert_eq!(*keys[&4294967295], [0xff; 32]);
    }

    /// Each malformed line is refused (F0000) naming the path and the line number, and the
    /// message never repeats the line, so a near-miss key never reaches a log.
    #[test]
    fn malformed_files_are_refused_by_line_without_content() {
        let key = "5ec2e7".repeat(10) + "abcd";
        let cases = [
            (format!("1{key}"), 1, "expected KEY_ID:HEX"),
            (format!("one:{key}"), 1, "key id"),
            (format!("-1:{key}"), 1, "key id"),
            (format!("4294967296:{key}"), 1, "key id"),
            (format!("1:{key}0"), 1, "64 hexadecimal"),
            (format!("1:{}", &key[1..]), 1, "64 hexadecimal"),
            (format!("1:{}zz", &key[2..]), 1, "64 hexadecimal"),
            (
                format!("# c\n1:{key}\n\n2:{key}\n1:{key}"),
                5,
                "duplicate key id",
            ),
            (
                format!("1:{key}\n2:{}\u{e9}", &key[1..]),
                2,
                "64 hexadecimal",
            ),
        ];
        for (text, line, problem) in cases {
            let e = refused(&text);
            let shown = e.text();
            assert_eq!(e.kind(), Kind::ConfigFile, "{text:?}");
            assert!(shown.contains("/etc/ge.keyring"), "{shown}");
            assert!(
                shown.contains(&format!("line {line}: ")),
                "{text:?}: {shown}"
            );
            assert!(shown.contains(problem), "{text:?}: {shown}");
            assert!(!shown.contains("5ec2e7"), "{shown}");
        }
        for empty in ["", "\n\n", "# only a comment\n  # another\n"] {
            assert!(refused(empty).text().contains("holds no key"));
        }
    }

    /// The file is refused when group or others may read or write it, or when it is not a
    /// regular file; mode 0600 and 0400 pass.
    #[test]
    fn loose_permissions_and_directories_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ge_keyring_test_{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("keyring");
        std::fs::write(&file, format!("1:{}\n", "00".repeat(32))).expect("write");
        let path = file.to_str().expect("UTF-8 path");
        for (mode, ok) in [
            (0o600, true),
            (0o400, true),
            (0o640, false),
            (0o604, false),
            (0o620, false),
        ] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            match stamp_of(path) {
                Ok(_) => assert!(ok, "mode {mode:o} accepted"),
                Err(e) => {
                    assert!(!ok, "mode {mode:o} refused: {}", e.text());
                    assert!(
                        e.text().contains(&format!("(mode {mode:04o})")),
                        "{}",
                        e.text()
                    );
                }
            }
        }
        let refusal = |path: &std::path::Path| match stamp_of(path.to_str().expect("UTF-8")) {
            Ok(_) => panic!("{} accepted", path.display()),
            Err(e) => e.text(),
        };
        assert!(refusal(&dir).contains("not a regular file"));
        assert!(refusal(&dir.join("missing")).contains("cannot be read"));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn subkeys_differ_by_purpose_context_and_key() {
        let key = [9u8; 32];
        let enc = derive(&key, b"enc\0", b"ctx");
        assert_ne!(*enc, *derive(&key, b"idx\0", b"ctx"));
        assert_ne!(*enc, *derive(&key, b"enc\0", b"ctx2"));
        assert_ne!(*enc, *derive(&[8u8; 32], b"enc\0", b"ctx"));
        assert_eq!(*enc, *derive(&key, b"enc\0", b"ctx"));
        assert_ne!(*enc, key);
    }

    proptest! {
        /// Any set of ids and keys, written as a keyring file (with comments, blank lines and
        /// stray spaces), reads back as exactly those keys.
        #[test]
        fn written_keyrings_read_back(
            entries in prop::collection::btree_map(any::<u32>(), any::<[u8; 32]>(), 1..8),
            padding in prop::collection::vec(0usize..3, 8),
        ) {
            let mut text = String::from("# generated\n");
            for (n, (id, key)) in entries.iter().enumerate() {
                let pad = " ".repeat(padding[n % padding.len()]);
                text.push_str(&format!("{pad}{id}{pad}:{pad}{}{pad}\n\n", hex(key)));
            }
            let keys = parse("/k", &text).expect("parses");
            prop_assert_eq!(keys.len(), entries.len());
            for (id, key) in &entries {
                prop_assert_eq!(&*keys[id], key);
            }
        }

        /// Arbitrary text never panics, and a refusal never quotes any of it.
        #[test]
        fn arbitrary_text_is_parsed_or_refused_without_echo(text in "[0-9a-fA-F:#\\n xyz\u{e9}]{0,200}") {
            if let Err(e) = parse("/k", &text) {
                prop_assert_eq!(e.kind(), Kind::ConfigFile);
                let shown = e.text();
                for line in text.lines().map(str::trim).filter(|l| l.len() >= 8) {
                    prop_assert!(!shown.contains(line), "{} quotes {:?}", shown, line);
                }
            }
        }
    }
}
