//! Checks of the server's TLS files while `ssl` is on: the certificate's validity, issuer and
//! key strength, and the private key's permissions. An unreadable file gives `not_assessed`.
use super::registry::{Check, Requirement, Severity};

/// The server certificate clients verify in transit (CIS PostgreSQL 15 v1.2.0, 6.8). The private
/// key's permissions protect a key at rest (SOC 2 CC6.1), not the network.
const TLS_FILES: &[&str] = &["ISO27001:A.8.24", "SOC2:CC6.7", "CIS:6.8"];

/// The caller must be allowed to call the fact functions (ge_security_auditor or superuser).
macro_rules! may_call {
    ($function:literal) => {
        Some(Requirement {
            probe: concat!(
                "pg_catalog.has_function_privilege('ge_security.",
                $function,
                "()', 'EXECUTE')"
            ),
            needs: concat!(
                "EXECUTE on ge_security.",
                $function,
                "() (ge_security_auditor)"
            ),
        })
    };
}

/// A finder over `server_certificate()`: reports the certificate when `$bad` holds (an SQL
/// condition on `c`), and reports `not_assessed` when the file cannot be read or parsed.
macro_rules! certificate_finder {
    ($bad:literal, $message:literal) => {
        concat!(
            "SELECT 'file', 'ssl_cert_file ' || c.path, ",
            "CASE WHEN c.error IS NULL THEN pg_catalog.format(",
            $message,
            ") ELSE pg_catalog.format('server certificate %s: %s', c.path, c.error) END, ",
            "CASE WHEN c.error IS NULL THEN pg_catalog.format('-- install a certificate from your CA ",
            "with a 2048-bit or larger RSA key or a P-256 or larger EC key at %s ",
            "(or point ssl_cert_file at it), then: SELECT pg_catalog.pg_reload_conf();', ",
            "pg_catalog.regexp_replace(c.path, '[[:cntrl:]]', '?', 'g')) END, ",
            "pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('path', c.path, ",
            "'error', c.error, 'subject', c.subject, 'issuer', c.issuer, 'not_after', c.not_after, ",
            "'key_algorithm', c.key_algorithm, 'key_bits', c.key_bits, ",
            "'signature_algorithm', c.signature_algorithm, 'signature_hash', c.signature_hash)), ",
            "c.error IS NOT NULL ",
            "FROM ge_security.server_certificate() c ",
            "WHERE pg_catalog.current_setting('ssl') = 'on' AND (c.error IS NOT NULL OR (",
            $bad,
            "))"
        )
    };
}

pub const CHECKS: &[Check] = &[
    Check {
        id: "ssl_certificate_expired",
        severity: Severity::High,
        category: "settings",
        title: "Server certificate has expired",
        controls: TLS_FILES,
        description: "Clients that verify the server (sslmode=verify-full) refuse to connect; \
                      clients that do not have no assurance of whom they talk to.",
        requires: may_call!("server_certificate"),
        finder: certificate_finder!(
            "c.not_after < pg_catalog.now() OR c.not_before > pg_catalog.now()",
            "'server certificate %s is outside its validity period (%s to %s)', \
             c.path, c.not_before, c.not_after"
        ),
    },
    Check {
        id: "ssl_certificate_expiring",
        severity: Severity::Medium,
        category: "settings",
        title: "Server certificate expires within 30 days",
        controls: TLS_FILES,
        description: "Renew it before clients that verify the server start refusing to connect.",
        requires: may_call!("server_certificate"),
        finder: certificate_finder!(
            "c.not_after >= pg_catalog.now() \
             AND c.not_after < pg_catalog.now() + interval '30 days'",
            "'server certificate %s expires at %s', c.path, c.not_after"
        ),
    },
    Check {
        id: "ssl_certificate_self_signed",
        severity: Severity::Medium,
        category: "settings",
        title: "Server certificate is self-signed",
        controls: TLS_FILES,
        description: "No CA vouches for the server, so clients cannot verify it without pinning \
                      this very certificate; a man in the middle can present his own.",
        requires: may_call!("server_certificate"),
        finder: certificate_finder!(
            "c.self_signed",
            "'server certificate %s is self-signed (subject and issuer are %s)', c.path, c.subject"
        ),
    },
    Check {
        id: "ssl_certificate_weak_key",
        severity: Severity::High,
        category: "settings",
        title: "Server certificate has a weak key or signature",
        controls: TLS_FILES,
        description: "RSA keys below 2048 bits, EC keys below 256 bits, DSA keys and MD5 or \
                      SHA-1 signatures (RSASSA-PSS included) can be broken or forged.",
        requires: may_call!("server_certificate"),
        finder: certificate_finder!(
            "(c.key_algorithm IN ('rsa', 'rsa-pss') AND c.key_bits < 2048) \
             OR (c.key_algorithm = 'ec' AND c.key_bits < 256) \
             OR c.key_algorithm = 'dsa' \
             OR c.signature_hash IN ('md2', 'md4', 'md5', 'sha1')",
            "'server certificate %s has a %s %s-bit key and is signed with %s (%s)', \
             c.path, c.key_algorithm, c.key_bits, c.signature_algorithm, c.signature_hash"
        ),
    },
    Check {
        id: "ssl_key_file_exposed",
        severity: Severity::High,
        category: "settings",
        title: "Server private key readable beyond its owner",
        controls: &["ISO27001:A.8.24", "SOC2:CC6.1", "CIS:6.8"],
        description: "Whoever reads the key can impersonate the server. Like the server itself, \
                      this accepts mode 0600 (owned by the server's OS user) or 0640 (owned by \
                      root, for a group such as ssl-cert); the server only checks at start and \
                      reload.",
        requires: may_call!("server_key_file"),
        finder: "SELECT 'file', 'ssl_key_file ' || k.path, \
                 CASE WHEN k.error IS NULL \
                      THEN pg_catalog.format('server private key %s has mode %s', k.path, k.mode) \
                      ELSE pg_catalog.format('server private key %s: %s', k.path, k.error) END, \
                 CASE WHEN k.error IS NOT NULL THEN NULL \
                      WHEN k.owned_by_root THEN pg_catalog.format( \
                        '-- on the server: chmod 0640 %s (root-owned: readable only by root and \
                        the group the server''s OS user is in, e.g. ssl-cert)', k.safe_path) \
                      WHEN k.owned_by_server THEN pg_catalog.format( \
                        '-- on the server: chmod 0600 %s', k.safe_path) \
                      ELSE pg_catalog.format('-- on the server: chown the server''s OS user \
                        (e.g. postgres) %s, then chmod 0600 it', k.safe_path) END, \
                 pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('path', k.path, \
                   'error', k.error, 'mode', k.mode, \
                   'owned_by_server', k.owned_by_server, 'owned_by_root', k.owned_by_root)), \
                 k.error IS NOT NULL \
                 FROM (SELECT f.*, pg_catalog.regexp_replace(f.path, '[[:cntrl:]]', '?', 'g') \
                              AS safe_path FROM ge_security.server_key_file() f) k \
                 WHERE pg_catalog.current_setting('ssl') = 'on' AND (k.error IS NOT NULL \
                   OR NOT (k.owned_by_server OR k.owned_by_root) \
                   OR (k.owned_by_root AND k.mode_bits & 31 <> 0) \
                   OR (NOT k.owned_by_root AND k.mode_bits & 63 <> 0))",
    },
];
