#!/usr/bin/env bash
# The server's TLS files as assess() sees them while ssl is on: a CA-signed certificate and a
# 0600 key raise nothing; certificates that are self-signed, expiring, expired, weakly keyed,
# unparsable or not regular files, and keys readable by others, each raise their finding; ssl off skips them.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
skip_unless_tls tls_files
scratch_dir tls
port=54380
data="$dir/c/data"
cluster_create "$dir/c" $port
cluster_harden "$dir/c"
cluster_start "$dir/c"
cluster_psql "$dir/c" $port postgres -q -c "CREATE EXTENSION ge_security"

tls_findings() { # the TLS file check ids that fire, as id:status, space separated
  cluster_psql "$dir/c" $port postgres -qtA -c "SELECT check_id || ':' || status
    FROM ge_security.assess() WHERE check_id ~ '^ssl_(certificate|key)' ORDER BY 1" | tr '\n' ' '
}
expect() { # CASE EXPECTED
  local got
  got=$(tls_findings)
  [ "$got" = "$2" ] || { echo "$1: expected '$2', got '$got'"; exit 1; }
  echo "  $1: ${2:-nothing}"
}
install_certificate() { # NAME: make $dir/c/NAME.crt the server certificate (read in place, no reload)
  cp "$dir/c/$1.crt" "$data/server.crt"
  chown postgres: "$data/server.crt" && chmod 644 "$data/server.crt"
}

expect "certificate from a CA, key 0600" ""
facts=$(cluster_psql "$dir/c" $port postgres -qtA -c "SELECT self_signed, key_algorithm, key_bits,
  not_after > now() + interval '364 days', error IS NULL FROM ge_security.server_certificate()")
[ "$facts" = "f|rsa|2048|t|t" ] || { echo "server_certificate() says: $facts"; exit 1; }

make_certificate "$dir/c" short_lived 10
install_certificate short_lived
expect "self-signed, 10 days left" "ssl_certificate_expiring:fail ssl_certificate_self_signed:fail "

make_certificate "$dir/c" expired -1 test_ca
install_certificate expired
expect "expired yesterday" "ssl_certificate_expired:fail "

openssl req -x509 -newkey rsa:1024 -sha1 -nodes -days 365 -subj "/CN=localhost" \
  -keyout "$dir/c/weak.key" -out "$dir/c/weak.crt" >/dev/null 2>&1
install_certificate weak
expect "RSA 1024 signed with SHA-1" "ssl_certificate_self_signed:fail ssl_certificate_weak_key:fail "
detail=$(cluster_psql "$dir/c" $port postgres -qtA -c "SELECT details->>'signature_algorithm'
  FROM ge_security.assess() WHERE check_id = 'ssl_certificate_weak_key'")
[ "$detail" = sha1WithRSAEncryption ] || { echo "weak key details: $detail"; exit 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha1 -nodes -days 365 \
  -subj "/CN=localhost" -keyout "$dir/c/ec_sha1.key" -out "$dir/c/ec_sha1.crt" >/dev/null 2>&1
install_certificate ec_sha1
expect "P-256 signed with ecdsa-with-SHA1" "ssl_certificate_self_signed:fail ssl_certificate_weak_key:fail "
openssl req -x509 -newkey rsa-pss -pkeyopt rsa_keygen_bits:1024 -sha256 -nodes -days 365 \
  -subj "/CN=localhost" -keyout "$dir/c/pss.key" -out "$dir/c/pss.crt" >/dev/null 2>&1
install_certificate pss
expect "RSASSA-PSS 1024-bit key" "ssl_certificate_self_signed:fail ssl_certificate_weak_key:fail "
facts=$(cluster_psql "$dir/c" $port postgres -qtA -c "SELECT key_algorithm, key_bits, signature_hash
  FROM ge_security.server_certificate()")
[ "$facts" = "rsa-pss|1024|sha256" ] || { echo "RSASSA-PSS certificate read as: $facts"; exit 1; }

printf -- '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n' \
  | as_postgres tee "$data/server.crt" >/dev/null
expect "unparsable certificate" "ssl_certificate_expired:not_assessed ssl_certificate_expiring:not_assessed ssl_certificate_self_signed:not_assessed ssl_certificate_weak_key:not_assessed "
chmod 000 "$data/server.crt"
message=$(cluster_psql "$dir/c" $port postgres -qtA -c "SELECT message FROM ge_security.assess()
  WHERE check_id = 'ssl_certificate_expired'")
case "$message" in *"cannot read: Permission denied"*) ;; *) echo "unreadable certificate: $message"; exit 1 ;; esac
echo "  unreadable certificate: not_assessed, saying why"
rm -f "$data/server.crt"
ln -s /dev/zero "$data/server.crt"
message=$(cluster_psql "$dir/c" $port postgres -qtA -c "SELECT message FROM ge_security.assess()
  WHERE check_id = 'ssl_certificate_expired'")
case "$message" in *"not a regular file"*) ;; *) echo "endless certificate file: $message"; exit 1 ;; esac
rm -f "$data/server.crt"
echo "  certificate path naming /dev/zero: not_assessed, never read"

make_certificate "$dir/c" renewed 365 test_ca
install_certificate renewed
chmod 644 "$data/server.key"
expect "key readable by others" "ssl_key_file_exposed:fail "
chmod 640 "$data/server.key"
expect "key readable by the server user's group" "ssl_key_file_exposed:fail "
chown root: "$data/server.key"
expect "key 0640 owned by root (what the server accepts)" ""
chown postgres: "$data/server.key"
chmod 600 "$data/server.key"
mv "$data/server.key" "$data/server.key.moved"
expect "key file missing" "ssl_key_file_exposed:not_assessed "
mv "$data/server.key.moved" "$data/server.key"
expect "key back at 0600" ""

# ssl off: the files are not in use and ssl_off says what matters
cp "$dir/c/weak.crt" "$data/server.crt"
chmod 644 "$data/server.key"
cluster_psql "$dir/c" $port postgres -qtA -c "ALTER SYSTEM SET ssl = off" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
expect "ssl off, weak files left behind" ""
[ "$(cluster_psql "$dir/c" $port postgres -qtA -c "SELECT count(*) FROM ge_security.assess() WHERE check_id = 'ssl_off'")" = 1 ] \
  || { echo "ssl off not reported"; exit 1; }
