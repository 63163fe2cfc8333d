#!/usr/bin/env bash
# Crypto benchmark (README, Benchmarks): 100,000 short values in one run; encrypt, decrypt and blind_index
# against sha256(convert_to(v, 'UTF8')) over the same rows and against pgcrypto
# pgp_sym_encrypt (a 10,000-row sample, scaled). Medians of BENCH_ROUNDS runs.
set -euo pipefail
source "$(dirname "$0")/../pg_test/cluster.sh"
ROUNDS=${BENCH_ROUNDS:-3}
scratch_dir bench_crypto
port=54386
printf '1:%s\n' "$(openssl rand -hex 32)" >"$dir/keyring"
chown postgres: "$dir/keyring"; chmod 600 "$dir/keyring"
cluster_create "$dir/c" "$port" "ge_security.keyring_path = '$dir/keyring'" "shared_buffers = 256MB"
cluster_start "$dir/c"
q() { cluster_psql "$dir/c" "$port" postgres -qtA "$@"; }
q >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE v AS SELECT g AS id, 'user' || g || '@example.com' AS v FROM generate_series(1, 100000) g;
CREATE TABLE c AS SELECT id, ge_security.encrypt(v, 'bench') AS c FROM v;
VACUUM ANALYZE v, c;
SQL
grep -q -m1 -w aes /proc/cpuinfo && aesni=yes || aesni=no
grep -q -m1 -w pclmulqdq /proc/cpuinfo && clmul=yes || clmul=no

time_ms() { q -c "\\timing on" -c "$1" | awk '/^Time:/ {print $2}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
measure() { local i out=""; for i in $(seq 1 "$ROUNDS"); do out+="$(time_ms "$1") "; done; echo "$out" | tr ' ' '\n' | grep . | median; }

sha=$(measure "SELECT count(sha256(convert_to(v, 'UTF8'))) FROM v")
enc=$(measure "SELECT count(ge_security.encrypt(v, 'bench')) FROM v")
dec=$(measure "SELECT count(ge_security.decrypt(c, 'bench')) FROM c")
idx=$(measure "SELECT count(ge_security.blind_index(v, 'bench')) FROM v")
# pgcrypto needs a server built with OpenSSL (the wheel's PostgreSQL 18 is not)
pgcrypto=$(q -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pgcrypto'")
if [ "$pgcrypto" = 1 ]; then
  q -c "CREATE EXTENSION pgcrypto" >/dev/null
  pgp=$(measure "SELECT count(pgp_sym_encrypt(v, 'a passphrase in SQL text')) FROM v WHERE id <= 10000")
  pgp100k=$(awk -v p="$pgp" 'BEGIN {print p * 10}')
fi
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

printf '\n%-34s %10s %10s\n' "100,000 short values" "ms" "ratio"
printf '%-34s %10.0f %10s\n' "sha256(convert_to(v))" "$sha" "1.00"
printf '%-34s %10.0f %10s  target <= 2.0 x sha256\n' "ge_security.encrypt" "$enc" "$(ratio "$enc" "$sha")"
printf '%-34s %10.0f %10s  target <= 2.0 x sha256\n' "ge_security.decrypt" "$dec" "$(ratio "$dec" "$sha")"
printf '%-34s %10.0f %10s\n' "ge_security.blind_index" "$idx" "$(ratio "$idx" "$sha")"
if [ "$pgcrypto" = 1 ]; then
  printf '%-34s %10.0f %10s  (10,000-row sample x 10)\n' "pgcrypto pgp_sym_encrypt" "$pgp100k" "$(ratio "$pgp100k" "$sha")"
  printf '%-34s %10s  target >= 50\n' "pgp_sym_encrypt / encrypt" "$(ratio "$pgp100k" "$enc")"
else
  printf '%-34s %10s\n' "pgcrypto pgp_sym_encrypt" "skipped: pgcrypto is not available on PostgreSQL $PG_MAJOR here"
fi
printf '%-34s %10s\n' "CPU AES-NI / CLMUL" "$aesni / $clmul"
