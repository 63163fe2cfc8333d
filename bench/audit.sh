#!/usr/bin/env bash
# DESIGN §9 audit benchmark: pgbench single-row UPDATE, 4 clients, on the same table shape
# unaudited, with the seed's PL/pgSQL to_jsonb trigger, and with ge_security's native trigger;
# synchronous_commit off and on, alternating rounds, medians; then audit_verify() against a
# plain SHA-256 scan of the same rows. Prints a table of ratios. BENCH_SECONDS, BENCH_ROUNDS.
# Each run starts after a CHECKPOINT (no checkpoint lands inside one run only), and the order
# of the variants rotates from round to round.
set -euo pipefail
source "$(dirname "$0")/../pg_test/cluster.sh"
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-5}
scratch_dir bench
port=54396
cluster_create "$dir" "$port" "fsync = on" "shared_buffers = 512MB" "max_wal_size = 4GB" \
  "checkpoint_timeout = 30min"
cluster_start "$dir"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }

q >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE plain_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
INSERT INTO plain_accounts SELECT g, 1, 0, '' FROM generate_series(1, 100000) g;
CREATE TABLE plpgsql_accounts (LIKE plain_accounts INCLUDING ALL);
INSERT INTO plpgsql_accounts SELECT * FROM plain_accounts;
CREATE TABLE native_accounts (LIKE plain_accounts INCLUDING ALL);
INSERT INTO native_accounts SELECT * FROM plain_accounts;
-- the seed standard's trigger, unchained
CREATE TABLE seed_audit_log (
  id bigserial PRIMARY KEY, table_name text NOT NULL, record_id bigint NOT NULL, action text NOT NULL,
  old_values jsonb, new_values jsonb, changed_by text, changed_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION seed_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO seed_audit_log (table_name, record_id, action, old_values, new_values, changed_by)
  VALUES (TG_TABLE_NAME, NEW.aid, TG_OP, to_jsonb(OLD), to_jsonb(NEW),
          current_setting('app.current_actor', true));
  RETURN NEW;
END $$;
CREATE TRIGGER seed_audit AFTER UPDATE ON plpgsql_accounts FOR EACH ROW EXECUTE FUNCTION seed_audit();
SELECT ge_security.enable_audit('native_accounts');
VACUUM ANALYZE;
SQL
for v in plain plpgsql native; do
  printf '\\set aid random(1, 100000)\nUPDATE %s_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n' "$v" >"$dir/$v.sql"
done
chown postgres: "$dir"/*.sql

tps() { # variant sync -> tps
  q -c "CHECKPOINT" >/dev/null
  as_postgres env -u RUST_BACKTRACE PGOPTIONS="-c synchronous_commit=$2" "$PG_BIN/pgbench" -h "$dir" \
    -p "$port" -n -c 4 -j 2 -T "$SECONDS_PER_RUN" -f "$dir/$1.sql" postgres 2>/dev/null \
    | awk '/^tps = / {print $3}'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# a sealer running throughout, as the worker would (every 1 s); it records the largest backlog
( while true; do
    q -c "SELECT (SELECT count(*) FROM ge_security.audit_log WHERE id > coalesce((SELECT max(last_id) FROM ge_security.audit_block), 0)), ge_security.audit_seal()" 2>/dev/null \
      | cut -d'|' -f1 >>"$dir/backlog.txt" || true
    sleep 1
  done ) &
sealer=$!

declare -A results
variants=(plain plpgsql native)
for round in $(seq 1 "$ROUNDS"); do
  for sync in off on; do
    for k in 0 1 2; do
      v=${variants[$(((round + k) % 3))]}
      results[$v.$sync]+="$(tps "$v" "$sync") "
    done
  done
done
kill $sealer; wait $sealer 2>/dev/null || true
q -c "SELECT ge_security.audit_seal()" >/dev/null

printf '\n%-28s %12s %12s\n' "audit trigger (4 clients)" "sync off" "sync on"
declare -A med
for v in plain plpgsql native; do
  for sync in off on; do med[$v.$sync]=$(echo "${results[$v.$sync]}" | tr ' ' '\n' | grep . | median); done
  printf '%-28s %12.0f %12.0f  tps (median of %s)\n' "$v" "${med[$v.off]}" "${med[$v.on]}" "$ROUNDS"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf '%-28s %12s %12s  target >= 0.75 (off), >= 0.90 (on)\n' "native / unaudited" \
  "$(ratio "${med[native.off]}" "${med[plain.off]}")" "$(ratio "${med[native.on]}" "${med[plain.on]}")"
printf '%-28s %12s %12s  target >= 1.3 (off)\n' "native / PL/pgSQL" \
  "$(ratio "${med[native.off]}" "${med[plpgsql.off]}")" "$(ratio "${med[native.on]}" "${med[plpgsql.on]}")"
printf '%-28s %12s %12s\n' "plpgsql / unaudited" "$(ratio "${med[plpgsql.off]}" "${med[plain.off]}")" \
  "$(ratio "${med[plpgsql.on]}" "${med[plain.on]}")"
# What each trigger adds to a transaction (1/tps minus unaudited 1/tps), native over PL/pgSQL.
# Machine-independent reading of the 1.3 target: it was set where PL/pgSQL ran at 0.57 of
# unaudited, where 1.3 means native adds at most 0.44 of what PL/pgSQL adds. A free trigger
# reaches unaudited/PL/pgSQL, the ceiling of native/PL/pgSQL on this machine.
share() { awk -v n="$1" -v p="$2" -v u="$3" 'BEGIN {printf "%.2f", (1/n - 1/u) / (1/p - 1/u)}'; }
printf '%-28s %12s %12s  equivalent target <= 0.44 (off)\n' "added time, native / PL" \
  "$(share "${med[native.off]}" "${med[plpgsql.off]}" "${med[plain.off]}")" \
  "$(share "${med[native.on]}" "${med[plpgsql.on]}" "${med[plain.on]}")"
printf '%-28s %12s %12s  (native / PL/pgSQL of a zero-cost trigger)\n' "ceiling here" \
  "$(ratio "${med[plain.off]}" "${med[plpgsql.off]}")" "$(ratio "${med[plain.on]}" "${med[plpgsql.on]}")"
max_backlog=$(sort -g "$dir/backlog.txt" | tail -1)
native_total=$(q -c "SELECT count(*) FROM ge_security.audit_log WHERE op = 'UPDATE'")
committed=$(q -c "SELECT sum(abalance) FROM native_accounts")
printf '%-28s %12s rows = %s s of writes at the native sync-off rate (target < 2 s)\n' \
  "max unsealed backlog" "$max_backlog" "$(awk -v b="$max_backlog" -v t="${med[native.off]}" 'BEGIN {printf "%.2f", b / t}')"
printf '%-28s %12s audit rows for %s committed updates\n' "audit rows = writes" "$native_total" "$committed"

# verification against the floor of reading and hashing the same rows
time_ms() { q -c "\\timing on" -c "$1" | awk '/^Time:/ {print $2}'; }
verify_ms=""; scan_ms=""
for _ in 1 2 3; do
  verify_ms+="$(time_ms "SELECT count(*) FROM ge_security.audit_verify()") "
  scan_ms+="$(time_ms "SELECT count(sha256(convert_to(t::text, 'UTF8'))) FROM ge_security.audit_log t") "
done
v=$(echo "$verify_ms" | tr ' ' '\n' | grep . | median); s=$(echo "$scan_ms" | tr ' ' '\n' | grep . | median)
printf '%-28s %12.0f ms  (%s rows)\n' "audit_verify()" "$v" "$(q -c "SELECT count(*) FROM ge_security.audit_log")"
printf '%-28s %12.0f ms\n' "sha256 scan" "$s"
printf '%-28s %12s  target <= 1.5\n' "verify / sha256 scan" "$(ratio "$v" "$s")"
clean=$(q -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM ge_security.audit_verify()")
printf '%-28s %12s\n' "audit_verify() after load" "$clean"
[ "$native_total" = "$committed" ] && [ "$clean" = ok ]
