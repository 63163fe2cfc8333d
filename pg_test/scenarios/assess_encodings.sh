#!/usr/bin/env bash
# assess() in databases that are not UTF8: names outside ASCII (a table, a column, a
# view) come back in the database's encoding, in findings, remediation SQL that runs as it is
# and details, a waiver on such a name applies; no internal error (XX000) in LATIN1 or
# SQL_ASCII.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
scratch_dir assess_encodings
port=54470
cluster_create "$dir/c" $port
cluster_start "$dir/c"
cluster_psql "$dir/c" $port postgres -q \
  -c "CREATE DATABASE latin TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'" \
  -c "CREATE DATABASE plain_ascii TEMPLATE template0 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'"
latin() { PGCLIENTENCODING=UTF8 cluster_psql "$dir/c" $port latin -qtA -v ON_ERROR_STOP=1 "$@"; }
latin >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE ROLE rt_app LOGIN;
SET ge_security.app_roles = 'rt_app';
CREATE TABLE "café" (id int PRIMARY KEY, "e_mail_prénom" text, email text);
GRANT SELECT ON "café" TO rt_app;
CREATE VIEW "vue_café" AS SELECT id, email FROM "café";
GRANT SELECT ON "vue_café" TO rt_app;
SQL
run() { latin -c "SET ge_security.app_roles = 'rt_app'" -c "$1" 2>&1; }
got=$(run "SELECT check_id || ' | ' || object_name FROM ge_security.assess()
           WHERE check_id IN ('pii_table_readable_without_rls', 'owner_rights_view_reads_pii', 'pii_column_plaintext')
           ORDER BY 1")
expected='owner_rights_view_reads_pii | public."vue_café"
pii_column_plaintext | public."café"."e_mail_prénom"
pii_column_plaintext | public."café".email
pii_table_readable_without_rls | public."café"'
[ "$got" = "$expected" ] || { echo "LATIN1 findings:"; echo "$got"; exit 1; }
echo "  LATIN1: findings on names outside ASCII, no internal error"
details=$(run "SELECT details->>'table' || ' ' || (details->'readers'->0->>'role') FROM ge_security.assess()
               WHERE check_id = 'pii_table_readable_without_rls'")
[ "$details" = 'public."café" rt_app' ] || { echo "LATIN1 details: $details"; exit 1; }
message=$(run "SELECT message FROM ge_security.assess() WHERE check_id = 'pii_table_readable_without_rls'")
case "$message" in *'public."café"'*'rt_app'*) ;; *) echo "LATIN1 message: $message"; exit 1 ;; esac
# the remediation runs as it is in the LATIN1 database
latin -c "SET ge_security.app_roles = 'rt_app'" -At \
  -c "SELECT split_part(remediation, ' -- ', 1) FROM ge_security.assess() WHERE check_id = 'pii_table_readable_without_rls'" \
  | latin >/dev/null
rls=$(latin -c "SELECT relrowsecurity FROM pg_class WHERE relname = 'café'")
[ "$rls" = t ] || { echo "remediation did not enable RLS on café: $rls"; exit 1; }
echo "  LATIN1: details and message name café and rt_app; the remediation runs"
got=$(latin -c "SELECT ge_security.waive('pii_column_plaintext', 'public.\"café\".email', 'test data', now() + interval '1 day')")
case "$got" in 'waived pii_column_plaintext on public."café".email until '*) ;; *) echo "waive() in LATIN1: $got"; exit 1 ;; esac
status=$(run "SELECT string_agg(object_name || ' ' || status, ', ' ORDER BY object_name)
              FROM ge_security.assess('info', true) WHERE check_id = 'pii_column_plaintext'")
[ "$status" = 'public."café"."e_mail_prénom" fail, public."café".email waived' ] || { echo "waiver on a LATIN1 name: $status"; exit 1; }
run "SELECT count(*) FROM ge_security.assess()" | grep -qx '[0-9]*' || { echo "assess() in LATIN1 failed"; exit 1; }
run "SELECT score FROM ge_security.posture()" | grep -qx '[0-9]*' || { echo "posture() in LATIN1 failed"; exit 1; }
echo "  LATIN1: a waiver on café applies; assess() and posture() complete"

ascii() { cluster_psql "$dir/c" $port plain_ascii -qtA -v ON_ERROR_STOP=1 "$@"; }
ascii >/dev/null <<'SQL'
CREATE EXTENSION ge_security;
CREATE TABLE "thé" (id int PRIMARY KEY, email text);
SQL
got=$(ascii -c "SELECT object_name FROM ge_security.assess() WHERE check_id = 'pii_column_plaintext'" 2>&1)
[ "$got" = 'public."thé".email' ] || { echo "SQL_ASCII finding: $got"; exit 1; }
echo "  SQL_ASCII: bytes outside ASCII in names come back as they are stored"
