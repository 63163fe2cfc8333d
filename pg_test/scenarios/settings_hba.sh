#!/usr/bin/env bash
# Connection, logging and durability checks against two real configurations: a weak one
# (trust, md5, password, ident, 0.0.0.0/0, ssl off, lax logging, fsync off...) raises each
# finding; a hardened one (TLS 1.3 with a certificate from a test CA made here, scram, hostssl only,
# reject last, strict logging, pgaudit, archiving) raises none of them.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir settings
findings() { # DIR PORT: the settings and connection check ids that fire, sorted
  cluster_psql "$1" "$2" postgres -qtA -c "SELECT DISTINCT check_id FROM ge_security.assess()
    WHERE category IN ('settings', 'connections') ORDER BY 1"
}

# weak
# PostgreSQL 18's TLS 1.3 suite list, with one truncated-tag suite (the setting is read with ssl off)
tls13=()
[ "$PG_MAJOR" -ge 18 ] && tls13=("ssl_tls13_ciphers = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_CCM_8_SHA256'")
cluster_create "$dir/weak" 54383 "password_encryption = 'md5'" "ssl_min_protocol_version = 'TLSv1'" \
  "log_min_error_statement = 'panic'" "log_file_mode = 0644" "authentication_timeout = '120s'" \
  "full_page_writes = off" "synchronous_commit = off" "log_line_prefix = '%m '" ${tls13[@]+"${tls13[@]}"}
as_postgres tee "$dir/weak/data/pg_hba.conf" >/dev/null <<'HBA'
local   all          all                      trust
local   replication  all                      peer
host    all          all        0.0.0.0/0     md5
host    all          postgres   127.0.0.1/32  trust
host    all          all        ::/0          password
host    all          all        10.1.0.0/16   ident
HBA
cluster_start "$dir/weak"
cluster_psql "$dir/weak" 54383 postgres -q -c "CREATE EXTENSION ge_security"
# a line that does not parse, written after start (a restart would refuse it)
echo "host all all 10.0.0.0/33 scram-sha-256" | as_postgres tee -a "$dir/weak/data/pg_hba.conf" >/dev/null
got=$(findings "$dir/weak" 54383 | tr '\n' ' ')
# a build without TLS defaults ssl_ciphers to 'none', which is not weak: the check stays quiet there
if pg_has_ssl; then ciphers=ssl_ciphers_weak; else
  case " $got " in *" ssl_ciphers_weak "*) echo "ssl_ciphers_weak reported without TLS support"; exit 1 ;; esac
  ciphers=ssl_off
fi
for id in ssl_off ssl_min_protocol_below_tls12 $ciphers ssl_tls13_ciphers_weak password_encryption_not_scram \
          authentication_timeout_long log_connections_off log_disconnections_off log_statement_none \
          log_line_prefix_incomplete log_min_error_statement_high logging_collector_off \
          log_file_mode_loose pgaudit_not_loaded fsync_off full_page_writes_off synchronous_commit_off \
          archive_mode_off hba_trust hba_md5 hba_password_plain hba_ident hba_host_without_tls \
          hba_open_to_world hba_all_all hba_superuser_network hba_parse_error; do
  case " $got " in *" $id "*) ;; *) echo "weak configuration: $id not reported (got: $got)"; exit 1 ;; esac
done
# the remediation names the replacement line
line=$(cluster_psql "$dir/weak" 54383 postgres -qtA -c "SELECT remediation FROM ge_security.assess()
        WHERE check_id = 'hba_md5' LIMIT 1")
[ "$line" = "# pg_hba.conf line 3, replace with: host all all 0.0.0.0 0.0.0.0 scram-sha-256" ] \
  || { echo "unexpected hba remediation: $line"; exit 1; }
echo "  weak configuration: $(echo "$got" | wc -w) settings and connection checks fire"
if [ "$PG_MAJOR" -ge 18 ]; then
  # ssl_tls13_ciphers: each suite outside the four full-tag AEAD suites is named; a sound list is quiet
  tls13_report() { # VALUE: set it, reload, and print the check's message (empty when quiet)
    cluster_psql "$dir/weak" 54383 postgres -qtA -c "ALTER SYSTEM SET ssl_tls13_ciphers = '$1'" \
      -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 50); do
      [ "$(cluster_psql "$dir/weak" 54383 postgres -qtA -c "SHOW ssl_tls13_ciphers")" = "$1" ] && break
      sleep 0.1
    done
    cluster_psql "$dir/weak" 54383 postgres -qtA -c "SELECT status || ': ' || message || ' / ' || remediation
      FROM ge_security.assess() WHERE check_id = 'ssl_tls13_ciphers_weak'"
  }
  fix="ALTER SYSTEM SET ssl_tls13_ciphers = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256'; SELECT pg_catalog.pg_reload_conf();"
  got=$(tls13_report 'TLS_AES_256_GCM_SHA384:TLS_AES_128_CCM_8_SHA256')
  [ "$got" = "fail: ssl_tls13_ciphers is 'TLS_AES_256_GCM_SHA384:TLS_AES_128_CCM_8_SHA256': TLS_AES_128_CCM_8_SHA256 not recommended for TLS 1.3 / $fix" ] \
    || { echo "ssl_tls13_ciphers with CCM_8: $got"; exit 1; }
  got=$(tls13_report 'TLS_SHA384_SHA384: TLS_AES_128_GCM_SHA256:TLS_SHA256_SHA256')
  case "$got" in *": TLS_SHA384_SHA384, TLS_SHA256_SHA256 not recommended for TLS 1.3 / "*) ;;
    *) echo "ssl_tls13_ciphers with integrity-only suites: $got"; exit 1 ;; esac
  for sound in 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256' ''; do
    got=$(tls13_report "$sound")
    [ -z "$got" ] || { echo "ssl_tls13_ciphers = '$sound' reported: $got"; exit 1; }
  done
  echo "  ssl_tls13_ciphers (PostgreSQL 18): CCM_8 and integrity-only suites reported, full-tag AEAD suites and the default quiet"
  # PostgreSQL 18's oauth method on a host rule: the bearer token crosses in clear; the fix keeps oauth
  cluster_psql "$dir/weak" 54383 postgres -qtA -c "ALTER SYSTEM SET oauth_validator_libraries = 'example_validator'" \
    -c "SELECT pg_reload_conf()" >/dev/null
  echo 'host appdb app_user 10.9.0.0/16 oauth issuer="https://issuer.example" scope="openid"' \
    | as_postgres tee -a "$dir/weak/data/pg_hba.conf" >/dev/null
  got=$(cluster_psql "$dir/weak" 54383 postgres -qtA -c "SELECT check_id || ': ' || remediation FROM ge_security.assess()
          WHERE object_name = 'hba line 8' ORDER BY 1")
  [ "$got" = "hba_host_without_tls: # pg_hba.conf line 8, replace with: hostssl appdb app_user 10.9.0.0 255.255.0.0 oauth" ] \
    || { echo "oauth over host: unexpected findings: $got"; exit 1; }
  echo "  oauth over a host rule (PostgreSQL 18): hba_host_without_tls, remediation keeps oauth on hostssl"
fi

# hardened
cluster_create "$dir/hard" 54384
cluster_harden "$dir/hard"
as_postgres tee "$dir/hard/data/pg_hba.conf" >/dev/null <<'HBA'
local     all          all                      peer
local     replication  all                      peer
hostssl   appdb        app_user   10.1.2.0/24   scram-sha-256
hostnossl all          all        0.0.0.0/0     reject
hostnossl all          all        ::/0          reject
HBA
cluster_start "$dir/hard"
cluster_psql "$dir/hard" 54384 postgres -q -c "CREATE EXTENSION ge_security"
# what a build without TLS or without pgaudit cannot avoid (the wheel's PostgreSQL 18 has neither)
# (without TLS, hostssl rules cannot match and pg_hba_file_rules says so: hba_parse_error)
left=""
pg_has_ssl || left="$left hba_parse_error"
# before 18 there is no md5_password_warnings to judge: that check reports one not_assessed row
[ "$PG_MAJOR" -lt 18 ] && left="$left md5_password_warnings_off"
pg_has_pgaudit || left="$left pgaudit_not_loaded"
if pg_has_ssl; then
  [ "$(cluster_psql "$dir/hard" 54384 postgres -qtA -c "SHOW ssl")" = on ] || { echo "TLS is not on"; exit 1; }
else
  left="$left ssl_off"
fi
# and no ssl_tls13_ciphers before 18: one not_assessed row for that check too
[ "$PG_MAJOR" -lt 18 ] && left="$left ssl_tls13_ciphers_weak"
got=$(findings "$dir/hard" 54384 | tr '\n' ' ')
[ "$(echo $got)" = "$(echo $left)" ] || { echo "hardened configuration reports: $got (expected only:$left)"; exit 1; }
echo "  hardened configuration (TLS 1.3, scram, hostssl only, reject last): no settings or connection finding${left:+ but$left (not in this build)}"
