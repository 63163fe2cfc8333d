#!/usr/bin/env bash
# A superuser with every switch tampers with the sealed trail; audit_verify() names each act.
# Each tampering runs in a transaction that is rolled back after verification.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
port=54393
cluster_scratch tamper "$port" "listen_addresses = '127.0.0.1'"
q() { cluster_psql "$dir" "$port" postgres -qtA "$@"; }

q >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE ledger (id int PRIMARY KEY, amount numeric NOT NULL);
SELECT ge_security.enable_audit('ledger');
INSERT INTO ledger SELECT g, g * 10 FROM generate_series(1, 20) g;
BEGIN; INSERT INTO ledger VALUES (999, 0); ROLLBACK;          -- leaves a gap of ids
UPDATE ledger SET amount = amount + 1 WHERE id <= 5;
SELECT ge_security.audit_seal();
ALTER ROLE postgres PASSWORD 'tamper-scenario';
SQL
# a write over TCP records the client's address (hashed as its text)
as_postgres env PGPASSWORD=tamper-scenario "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres \
  -qtA -c "UPDATE ledger SET amount = amount + 1 WHERE id = 6" postgres >/dev/null
addr=$(q -c "SELECT client_addr FROM ge_security.audit_log WHERE row_key = '{\"id\": 6}' AND op = 'UPDATE'
             ORDER BY id DESC LIMIT 1")
[ "$addr" = "127.0.0.1" ] || { echo "client_addr of a TCP write: '$addr'"; exit 1; }
q >/dev/null <<'SQL'
INSERT INTO ledger SELECT g, g FROM generate_series(21, 25) g;
SELECT ge_security.audit_seal();
SQL
digest=$(q -c "SELECT ge_security.audit_digest()")
clean=$(q -c "SELECT string_agg(ok::text, ',') FROM ge_security.audit_verify('$digest')")
[ "$clean" = "true" ] || { echo "trail not clean before tampering: $clean"; exit 1; }
gap=$(q -c "SELECT min(g) FROM generate_series(1, (SELECT max(id) FROM ge_security.audit_log)) g
            WHERE g NOT IN (SELECT id FROM ge_security.audit_log)")

# expect NAME SQL: run SQL as a superuser in maintenance mode, verify, roll back.
expect() {
  local name=$1 sql=$2 got
  got=$(q -c "BEGIN" -c "SET LOCAL ge_security.maintenance = on" \
          -c "SET LOCAL session_replication_role = replica" -c "$sql" \
          -c "SELECT string_agg(DISTINCT problem, ',') FROM ge_security.audit_verify('$digest') WHERE NOT ok" \
          -c "ROLLBACK" | tail -n 1)
  case ",$got," in
    *",$name,"*) echo "  caught $name: $got" ;;
    *) echo "NOT caught: expected $name, verify said '$got' after: $sql"; exit 1 ;;
  esac
}
expect row_hash_mismatch "UPDATE ge_security.audit_log SET new_row = '{\"id\": 3, \"amount\": 1}' WHERE id = 5"
expect row_hash_mismatch "UPDATE ge_security.audit_log SET client_addr = '10.0.0.9' WHERE client_addr IS NOT NULL"
expect row_missing "DELETE FROM ge_security.audit_log WHERE id = 7"
expect tail_truncated "DELETE FROM ge_security.audit_log WHERE id > (SELECT last_id FROM ge_security.audit_block WHERE block_no = 1);
                       DELETE FROM ge_security.audit_block WHERE block_no = 2"
expect row_inserted "INSERT INTO ge_security.audit_log SELECT $gap, at, txid, actor, session_user_name, current_user_name,
                       client_addr, application_name, op, table_name, row_key, old_row, new_row, changed_columns,
                       statement, row_hash, hash_version, redacted FROM ge_security.audit_log WHERE id = 4"
expect block_link_broken "UPDATE ge_security.audit_block SET sealed_at = sealed_at - interval '1 day' WHERE block_no = 1"
expect row_hash_mismatch "UPDATE ge_security.audit_log l SET row_hash = s.other FROM
                           (SELECT 3 AS id, (SELECT row_hash FROM ge_security.audit_log WHERE id = 4) AS other UNION ALL
                            SELECT 4, (SELECT row_hash FROM ge_security.audit_log WHERE id = 3)) s WHERE l.id = s.id"
expect block_link_broken "UPDATE ge_security.audit_block SET rows_root = rows_root WHERE block_no = 2;
                          UPDATE ge_security.audit_block SET prev_hash = '\\x00' WHERE block_no = 2"

# without maintenance mode even the superuser in replica mode is refused
if q -c "SET session_replication_role = replica" -c "DELETE FROM ge_security.audit_log" 2>/dev/null; then
  echo "superuser DELETE in replica mode was allowed"; exit 1
fi
# nothing survived: the trail verifies clean against the digest
clean=$(q -c "SELECT string_agg(ok::text, ',') FROM ge_security.audit_verify('$digest')")
[ "$clean" = "true" ] || { echo "trail not clean after rollbacks: $clean"; exit 1; }
# an inclusion proof checks outside the database, and a forged one does not
proof=$(q -c "SELECT ge_security.audit_proof(6)")
python3 "$(dirname "$0")/../check_proof.py" "$proof" "$digest" >/dev/null
forged=$(python3 -c 'import json, sys
p = json.loads(sys.argv[1]); p["row_hash"] = ("f" if p["row_hash"][0] != "f" else "e") + p["row_hash"][1:]
print(json.dumps(p))' "$proof")
if python3 "$(dirname "$0")/../check_proof.py" "$forged" 2>/dev/null; then echo "forged proof accepted"; exit 1; fi
echo "  inclusion proof of row 6 checked outside the database; a forged one is refused"
