//! Facts about the files the server's TLS settings name: the certificate (parsed as X.509)
//! and the private key's permissions. Read by the backend, so relative paths are from PGDATA.
use pgrx::prelude::*;
use std::ffi::CStr;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::objects::{oid2sn, oid_registry};
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::{PublicKey, RSAPublicKey};
use x509_parser::signature_algorithm::SignatureAlgorithm;

/// Seconds between the Unix epoch and PostgreSQL's (2000-01-01).
const POSTGRES_EPOCH_UNIX_SECONDS: i64 = 946_684_800;

/// The current value of a server setting, as the server itself uses it.
fn setting(name: &CStr) -> String {
    // SAFETY: GetConfigOption returns a pointer into the GUC table (or NULL); we copy it at once.
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    if value.is_null() {
        return String::new();
    }
    // SAFETY: non-NULL, so the setting's NUL-terminated value, copied at once.
    unsafe { CStr::from_ptr(value) }
        .to_string_lossy()
        .into_owned()
}

/// What the first certificate of a PEM file says about itself.
#[derive(Debug, PartialEq)]
struct CertificateFacts {
    subject: String,
    issuer: String,
    self_signed: bool,
    not_before_unix: i64,
    not_after_unix: i64,
    key_algorithm: String,
    key_bits: Option<i32>,
    signature_algorithm: String,
    signature_hash: Option<String>,
}

fn algorithm_name(oid: &x509_parser::der_parser::oid::Oid) -> String {
    oid2sn(oid, oid_registry())
        .map(str::to_owned)
        .unwrap_or_else(|_| oid.to_id_string())
}

/// Issued by itself: issuer and subject names match and the authority key, when named, is
/// the certificate's own key (a CA may share the server's name).
fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    let (mut own_key, mut authority_key) = (None, None);
    for extension in cert.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => own_key = Some(id.0),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key = aki.key_identifier.as_ref().map(|id| id.0)
            }
            _ => {}
        }
    }
    cert.subject().as_raw() == cert.issuer().as_raw()
        && match (own_key, authority_key) {
            (_, None) => true,
            (Some(own), Some(authority)) => own == authority,
            (None, Some(_)) => false,
        }
}

const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";

/// Key family of a SubjectPublicKeyInfo algorithm OID.
fn key_family(oid: &str) -> Option<&'static str> {
    match oid {
        "1.2.840.113549.1.1.1" => Some("rsa"),
        RSASSA_PSS => Some("rsa-pss"),
        "1.2.840.10045.2.1" => Some("ec"),
        "1.2.840.10040.4.1" => Some("dsa"),
        "1.3.101.112" => Some("ed25519"),
        "1.3.101.113" => Some("ed448"),
        _ => None,
    }
}

/// The digest a signature algorithm OID signs with (EdDSA signs the message itself).
fn signature_digest(oid: &str) -> Option<&'static str> {
    match oid {
        "1.2.840.113549.1.1.2" => Some("md2"),
        "1.2.840.113549.1.1.3" => Some("md4"),
        "1.2.840.113549.1.1.4" => Some("md5"),
        "1.2.840.113549.1.1.5"
        | "1.3.14.3.2.29"
        | "1.2.840.10040.4.3"
        | "1.2.840.10045.4.1"
        | "1.3.14.3.2.26" => Some("sha1"),
        "1.2.840.113549.1.1.14" | "1.2.840.10045.4.3.1" | "2.16.840.1.101.3.4.3.1" => {
            Some("sha224")
        }
        "1.2.840.113549.1.1.11"
        | "1.2.840.10045.4.3.2"
        | "2.16.840.1.101.3.4.3.2"
        | "2.16.840.1.101.3.4.2.1" => Some("sha256"),
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" | "2.16.840.1.101.3.4.2.2" => {
            Some("sha384")
        }
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" | "2.16.840.1.101.3.4.2.3" => {
            Some("sha512")
        }
        "1.3.101.112" => Some("ed25519"),
        "1.3.101.113" => Some("ed448"),
        _ => None,
    }
}

/// The digest behind a certificate's signature; RSASSA-PSS names it in its parameters
/// (SHA-1 when they are absent).
fn certificate_signature_digest(cert: &X509Certificate<'_>) -> Option<String> {
    let algorithm = &cert.signature_algorithm;
    let oid = algorithm.algorithm.to_id_string();
    if oid == RSASSA_PSS {
        return match SignatureAlgorithm::try_from(algorithm) {
            Ok(SignatureAlgorithm::RSASSA_PSS(params)) => {
                signature_digest(&params.hash_algorithm_oid().to_id_string()).map(str::to_owned)
            }
            _ => None,
        };
    }
    signature_digest(&oid).map(str::to_owned)
}

/// Parse the first CERTIFICATE block of a PEM file (the server certificate; a chain follows it).
fn parse_certificate(pem_bytes: &[u8]) -> Result<CertificateFacts, String> {
    let pem = Pem::iter_from_buffer(pem_bytes)
        .map(|block| block.map_err(|e| format!("invalid PEM: {e}")))
        .find(|block| !matches!(block, Ok(p) if p.label != "CERTIFICATE"))
        .ok_or_else(|| "no PEM CERTIFICATE block".to_owned())??;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("invalid X.509 certificate: {e}"))?;
    let spki = cert.public_key();
    let key_oid = spki.algorithm.algorithm.to_id_string();
    let key_bits = match spki.parsed() {
        Ok(key @ (PublicKey::RSA(_) | PublicKey::EC(_) | PublicKey::DSA(_))) => {
            Some(key.key_size())
        }
        // An RSASSA-PSS key is an RSA key with usage restrictions.
        _ if key_oid == RSASSA_PSS => RSAPublicKey::from_der(&spki.subject_public_key.data)
            .ok()
            .map(|(_, key)| key.key_size()),
        _ => None,
    };
    Ok(CertificateFacts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        self_signed: is_self_signed(&cert),
        not_before_unix: cert.validity().not_before.timestamp(),
        not_after_unix: cert.validity().not_after.timestamp(),
        key_algorithm: key_family(&key_oid)
            .map(str::to_owned)
            .unwrap_or_else(|| algorithm_name(&spki.algorithm.algorithm)),
        key_bits: key_bits
            .filter(|bits| *bits > 0)
            .and_then(|b| i32::try_from(b).ok()),
        signature_algorithm: algorithm_name(&cert.signature_algorithm.algorithm),
        signature_hash: certificate_signature_digest(&cert),
    })
}

/// A certificate chain is a few kilobytes; refuse to read more than this.
const MAX_CERTIFICATE_FILE_BYTES: u64 = 1 << 20;

fn read_bounded(path: &str) -> Result<Vec<u8>, String> {
    // Only regular files: opening a FIFO or a device could block where no cancel reaches.
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !metadata.is_file() {
        return Err("not a regular file".to_owned());
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_CERTIFICATE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_CERTIFICATE_FILE_BYTES {
        return Err(format!(
            "larger than {MAX_CERTIFICATE_FILE_BYTES} bytes: not a certificate file"
        ));
    }
    Ok(bytes)
}

fn timestamptz(unix_seconds: i64) -> Option<TimestampWithTimeZone> {
    let micros = unix_seconds
        .checked_sub(POSTGRES_EPOCH_UNIX_SECONDS)?
        .checked_mul(1_000_000)?;
    TimestampWithTimeZone::try_from(micros).ok()
}

/// The certificate named by `ssl_cert_file`: one row, with `error` set when it cannot be read
/// or parsed (the other columns are then NULL).
#[pg_extern(volatile, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn server_certificate() -> TableIterator<
    'static,
    (
        name!(path, String),
        name!(error, Option<String>),
        name!(subject, Option<String>),
        name!(issuer, Option<String>),
        name!(self_signed, Option<bool>),
        name!(not_before, Option<TimestampWithTimeZone>),
        name!(not_after, Option<TimestampWithTimeZone>),
        name!(key_algorithm, Option<String>),
        name!(key_bits, Option<i32>),
        name!(signature_algorithm, Option<String>),
        name!(signature_hash, Option<String>),
    ),
> {
    let path = setting(c"ssl_cert_file");
    let (facts, error) = match read_bounded(&path).and_then(|bytes| parse_certificate(&bytes)) {
        Ok(facts) => (Some(facts), None),
        Err(error) => (None, Some(error)),
    };
    let f = facts.as_ref();
    let row = (
        path,
        error,
        f.map(|f| f.subject.clone()),
        f.map(|f| f.issuer.clone()),
        f.map(|f| f.self_signed),
        f.and_then(|f| timestamptz(f.not_before_unix)),
        f.and_then(|f| timestamptz(f.not_after_unix)),
        f.map(|f| f.key_algorithm.clone()),
        f.and_then(|f| f.key_bits),
        f.map(|f| f.signature_algorithm.clone()),
        f.and_then(|f| f.signature_hash.clone()),
    );
    TableIterator::once(row)
}

/// The private key named by `ssl_key_file`: its permission bits (octal text, and as an integer
/// for bit tests) and whether the server's OS user or root owns it. `error` is set when it
/// cannot be examined.
#[pg_extern(volatile, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn server_key_file() -> TableIterator<
    'static,
    (
        name!(path, String),
        name!(error, Option<String>),
        name!(mode, Option<String>),
        name!(mode_bits, Option<i32>),
        name!(owned_by_server, Option<bool>),
        name!(owned_by_root, Option<bool>),
    ),
> {
    let path = setting(c"ssl_key_file");
    // The data directory is owned by the server's OS user (the postmaster insists on it) and
    // is the backend's working directory.
    let facts = std::fs::metadata(".")
        .and_then(|data_dir| Ok((data_dir.uid(), std::fs::metadata(&path)?)))
        .map_err(|e| format!("cannot examine: {e}"));
    let row = match facts {
        Ok((server_uid, key)) => (
            path,
            None,
            Some(format!("{:04o}", key.mode() & 0o7777)),
            Some((key.mode() & 0o7777) as i32),
            Some(key.uid() == server_uid),
            Some(key.uid() == 0),
        ),
        Err(error) => (path, Some(error), None, None, None, None),
    };
    TableIterator::once(row)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::parse_certificate;
    use pgrx::prelude::*;

    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 36500
    /// -subj /CN=ge-security-test`, preceded by a stray line as PEM files often are.
    const SELF_SIGNED_P256: &str = "subject=CN = ge-security-test
-----BEGIN CERTIFICATE-----
MIIBjTCCATOgAwIBAgIUI74y+9hsBKjV6APCtWxyook7R70wCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQZ2Utc2VjdXJpdHktdGVzdDAgFw0yNjExMjgwNzIzNDRaGA8y
MTI2MTEwNDA3MjM0NFowGzEZMBcGA1UEAwwQZ2Utc2VjdXJpdHktdGVzdDBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABLYm2RUNHcL57ASO/8/gxmk2/H3x7NiDFjaX
5QYESPJPx/cl+olh0Ypk0xUzfDa44PsfGeorMGd9f/oiQukCniSjUzBRMB0GA1Ud
DgQWBBQ0DSzU/wqgMrobebCqR6hpuyIZwjAfBgNVHSMEGDAWgBQ0DSzU/wqgMrob
ebCqR6hpuyIZwjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQDK
E5hYvUxpZhE9AeL0jqLSi0iuyoyf/KlqYOR67c+4cgIgWwBnSCkmKkufk58OGF/s
U7Mi4y85FaeS9i/9PTaX2t0=
-----END CERTIFICATE-----
";

    #[pg_test]
    fn a_certificate_reports_issuer_validity_and_key() {
        let facts = parse_certificate(SELF_SIGNED_P256.as_bytes()).expect("parses");
        assert_eq!(facts.subject, "CN=ge-security-test");
        assert!(facts.self_signed);
        assert_eq!(facts.not_after_unix, 4_949_450_624);
        assert_eq!(
            facts.not_after_unix - facts.not_before_unix,
            36_500 * 86_400
        );
        assert_eq!(facts.key_algorithm, "ec");
        assert_eq!(facts.key_bits, Some(256));
        assert_eq!(facts.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(facts.signature_hash.as_deref(), Some("sha256"));
    }

    #[pg_test]
    fn malformed_certificates_are_errors_not_panics() {
        for input in [
            &b""[..],
            b"not a certificate",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n",
        ] {
            assert!(parse_certificate(input).is_err(), "{input:?} parsed");
        }
    }
}
