-- Reporting roles reading PII, pgaudit classes, the archiver and the TLS files of this
-- (hardened) cluster: weak twins are reported, remediation runs, hardened twins are not.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
CREATE ROLE rt_reporting LOGIN;
CREATE ROLE rt_reporting2 LOGIN;
CREATE ROLE rt_auditor LOGIN IN ROLE ge_security_auditor;
CREATE ROLE rt_nobody LOGIN;
SET ge_security.readonly_roles = 'rt_reporting, rt_reporting2, rt_not_a_role';
CREATE SCHEMA "rp Report";
-- (without USAGE on the schema no grant below could be used: that is not reported)
GRANT USAGE ON SCHEMA "rp Report" TO rt_reporting, rt_reporting2;
-- weak: a table-level grant and a column-level grant that both reach plain PII
CREATE TABLE "rp Report"."client list" (id int PRIMARY KEY, "Email" text, phone varchar(20),
                                        full_name text, email_sealed bytea);
GRANT SELECT ON "rp Report"."client list" TO rt_reporting;
GRANT SELECT (id, phone) ON "rp Report"."client list" TO rt_reporting2;
-- hardened twins: PII columns not granted, and granted PII that is encrypted
CREATE TABLE "rp Report".orders (id int PRIMARY KEY, customer_email text, total numeric);
GRANT SELECT (id, total) ON "rp Report".orders TO rt_reporting;
CREATE TABLE "rp Report".sealed (id int PRIMARY KEY, email bytea);
GRANT SELECT ON "rp Report".sealed TO rt_reporting;

SELECT object_name, message, remediation, details->>'role' AS role
  FROM ge_security.assess() WHERE check_id = 'pii_readable_by_readonly_role'
 ORDER BY role;
-- (the unknown rt_not_a_role is reported as a not_assessed row naming the setting)
SELECT remediation FROM ge_security.assess()
 WHERE check_id = 'pii_readable_by_readonly_role' AND status = 'fail' \gexec
SELECT count(*) AS pii_still_readable FROM ge_security.assess()
 WHERE check_id = 'pii_readable_by_readonly_role' AND status = 'fail';
-- the reports keep what they may read, and lose the PII
SELECT has_column_privilege('rt_reporting', '"rp Report"."client list"', 'full_name', 'SELECT') AS name_ok,
       has_column_privilege('rt_reporting', '"rp Report"."client list"', 'email_sealed', 'SELECT') AS sealed_ok,
       has_column_privilege('rt_reporting', '"rp Report"."client list"', 'Email', 'SELECT') AS email_readable,
       has_column_privilege('rt_reporting2', '"rp Report"."client list"', 'id', 'SELECT') AS id2_ok,
       has_column_privilege('rt_reporting2', '"rp Report"."client list"', 'phone', 'SELECT') AS phone2_readable;
-- without reporting roles configured the check has nothing to look at
RESET ge_security.readonly_roles;
GRANT SELECT ON "rp Report"."client list" TO rt_reporting;
SELECT count(*) AS reported_without_setting FROM ge_security.assess()
 WHERE check_id = 'pii_readable_by_readonly_role';

-- pgaudit: this cluster logs ddl, role and write; classes left out (as the session sees them)
SELECT count(*) AS pgaudit_findings FROM ge_security.assess() WHERE check_id LIKE 'pgaudit%';
SET pgaudit.log = 'ddl, read';
SELECT message, remediation FROM ge_security.assess() WHERE check_id = 'pgaudit_log_incomplete';
SET pgaudit.log = 'all, -write';
SELECT message, remediation FROM ge_security.assess() WHERE check_id = 'pgaudit_log_incomplete';
SET pgaudit.log = 'none';
SELECT message, remediation FROM ge_security.assess() WHERE check_id = 'pgaudit_log_incomplete';
-- look-alike functions planted ahead of pg_catalog on the caller's search_path change nothing
CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql
  AS $$BEGIN RAISE EXCEPTION 'hijacked unnest'; END$$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql
  AS $$BEGIN RAISE EXCEPTION 'hijacked now'; END$$;
SET search_path = public, pg_catalog;
SELECT message FROM ge_security.assess() WHERE check_id = 'pgaudit_log_incomplete';
RESET search_path;
DROP FUNCTION public.unnest(text[]), public.now();
SET pgaudit.log = '-all, ROLE ,  write,ddl';
SELECT count(*) AS reported_when_complete FROM ge_security.assess() WHERE check_id = 'pgaudit_log_incomplete';
RESET pgaudit.log;

-- the archiver of this cluster works, and its TLS files are sound
SELECT count(*) AS archive_findings FROM ge_security.assess() WHERE check_id LIKE 'archive%';
SELECT count(*) AS tls_file_findings FROM ge_security.assess() WHERE check_id ~ '^ssl_(certificate|key)';
SELECT error IS NULL AS parsed, self_signed, key_algorithm, key_bits, signature_algorithm, signature_hash,
       not_after > now() + interval '300 days' AS valid_for_long
  FROM ge_security.server_certificate();
SELECT path, error, mode, owned_by_server, owned_by_root FROM ge_security.server_key_file();

-- who may look at the server's files: auditors, not PUBLIC
SET ROLE rt_auditor;
SELECT key_bits FROM ge_security.server_certificate();
SELECT mode FROM ge_security.server_key_file();
RESET ROLE;
SET ROLE rt_nobody;
SELECT key_bits FROM ge_security.server_certificate();
SELECT mode FROM ge_security.server_key_file();
RESET ROLE;

DROP SCHEMA "rp Report" CASCADE;
DROP ROLE rt_reporting, rt_reporting2, rt_auditor, rt_nobody;
