-- Column encryption hardening: protect_column() takes only bytea columns of tables, assess()
-- tests real state (envelopes in registered columns, audit triggers that work), the plaintext
-- remediation applies whole or not at all, decrypt refuses NUL, reencrypt_column() checks
-- ownership before locking and is immune to the caller's search_path.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;

-- findings of one check about the schema rh
CREATE FUNCTION pg_temp.findings(check_name text)
RETURNS TABLE (object_name text, status text, message text)
LANGUAGE sql AS $fn$
  SELECT object_name, status, message FROM ge_security.assess()
   WHERE check_id = check_name AND object_name LIKE 'rh.%' ORDER BY object_name
$fn$;

CREATE ROLE rh_owner LOGIN;
CREATE ROLE rh_other LOGIN;
CREATE ROLE rh_auditor LOGIN;
GRANT ge_security_auditor TO rh_auditor;
CREATE SCHEMA rh AUTHORIZATION rh_owner;
GRANT USAGE ON SCHEMA rh TO rh_other, rh_auditor;

-- ============================================================================================
-- 1. protect_column(): only bytea columns (or domains over bytea) of ordinary or partitioned
--    tables; views, sequences, materialized views, composite types and text columns refused.
-- ============================================================================================
SET ROLE rh_owner;
CREATE DOMAIN rh.ciphertext AS bytea;
CREATE TABLE rh.clients (id int PRIMARY KEY, contact_email text, email_enc bytea, phone_enc rh.ciphertext);
CREATE VIEW rh.clients_v AS SELECT id, email_enc FROM rh.clients;
CREATE MATERIALIZED VIEW rh.clients_m AS SELECT id, email_enc FROM rh.clients;
CREATE SEQUENCE rh.seq;
CREATE TYPE rh.pair AS (a int, b bytea);
CREATE TABLE rh.parted (id int, region text, email_enc bytea) PARTITION BY LIST (region);
CREATE TABLE rh.parted_eu PARTITION OF rh.parted FOR VALUES IN ('eu');
CREATE TABLE rh.parted_us PARTITION OF rh.parted FOR VALUES IN ('us');

SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'contact_email', 'rh.clients.email')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'contact_email', 'rh.clients.email', 'id')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'id', 'rh.clients.id')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients_v', 'email_enc', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients_m', 'email_enc', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.seq', 'last_value', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.pair', 'b', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'nope', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'ctid', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'email_enc', 'x', 'nope')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'email_enc', 'x', 'email_enc')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column(NULL, 'email_enc', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', NULL, 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'email_enc', NULL)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'email_enc', '')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column(4294967295::oid::regclass, 'email_enc', 'x')$$);
-- a 100 MB context and a 1 MB column name are not echoed back
SELECT code, length(message) < 200 AS short_message, length(hint) < 400 AS short_hint,
       hint LIKE '%''<context>''%' AS placeholder
  FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'contact_email', repeat('c', 100000000))$$);
SELECT code, length(message) < 200 AS short_message
  FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', repeat('n', 1000000)::name, 'x')$$);
RESET ROLE;
SELECT count(*) AS registered_after_refusals FROM ge_security.protected_column
 WHERE table_name::oid IN (SELECT oid FROM pg_class WHERE relnamespace = 'rh'::regnamespace);

-- accepted: a bytea column, a domain over bytea, a partitioned table
SET ROLE rh_owner;
SELECT ge_security.protect_column('rh.clients', 'email_enc', 'rh.clients.email', 'id');
SELECT ge_security.protect_column('rh.clients', 'phone_enc', 'rh.clients.phone');
SELECT ge_security.protect_column('rh.parted', 'email_enc', 'rh.parted.email', 'id');
RESET ROLE;
SELECT table_name, column_name, context, aad_column, registered_by FROM ge_security.protected_column
 WHERE context LIKE 'rh.%' ORDER BY 1, 2;

-- not the owner (even with every table privilege): 42501, before the kind of relation is looked at
GRANT SELECT, INSERT, UPDATE, DELETE ON rh.clients, rh.clients_v TO rh_other;
SET ROLE rh_other;
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'email_enc', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients_v', 'email_enc', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'contact_email', 'x')$$);
RESET ROLE;

-- ============================================================================================
-- 2. decrypt(): plaintext holding a NUL byte (encrypted from bytea) is refused as text
-- ============================================================================================
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(ge_security.encrypt('\x610062'::bytea, 'ctx'), 'ctx')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(ge_security.encrypt('\x00'::bytea, 'ctx', 'r1'), 'ctx', 'r1')$$);
SELECT ge_security.decrypt_bytea(ge_security.encrypt('\x610062'::bytea, 'ctx'), 'ctx') AS bytes_still_readable;
-- text round trips are untouched (UTF8 database): the envelope holds the UTF-8 bytes
SELECT ge_security.decrypt(ge_security.encrypt('zażółć', 'ctx'), 'ctx') AS text_rt,
       ge_security.decrypt_bytea(ge_security.encrypt('zażółć', 'ctx'), 'ctx') = convert_to('zażółć', 'UTF8') AS utf8_inside;

-- ============================================================================================
-- 3. reencrypt_column(): bytea columns of tables only, NULL arguments, owner only
-- ============================================================================================
SET ROLE rh_owner;
INSERT INTO rh.clients
SELECT g, 'c' || g || '@example.com', ge_security.encrypt('c' || g || '@example.com', 'rh.clients.email', g::text),
       ge_security.encrypt('+33 ' || g, 'rh.clients.phone')
  FROM generate_series(1, 40) g;
INSERT INTO rh.parted
SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END,
       ge_security.encrypt('p' || g || '@example.com', 'rh.parted.email', g::text)
  FROM generate_series(1, 40) g;
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients', 'contact_email', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients', 'id', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients_v', 'email_enc', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients_m', 'email_enc', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.seq', 'last_value', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column(NULL, 'email_enc', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients', NULL, 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients', 'email_enc', NULL)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients', 'email_enc', 'x', NULL, NULL)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients', 'email_enc', 'x', 'nope')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column(4294967295::oid::regclass, 'email_enc', 'x')$$);
SELECT code, length(message) < 200 AS short_message
  FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients', repeat('n', 100000000)::name, 'x')$$);
RESET ROLE;
SET ge_security.active_key_id = 2;
SET ROLE rh_owner;
SELECT code, length(message) < 200 AS short_message, length(coalesce(hint, '')) < 400 AS short_hint
  FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients', 'email_enc', repeat('c', 100000000), 'id')$$);
RESET ROLE;
RESET ge_security.active_key_id;
SET ROLE rh_other;
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients', 'email_enc', 'rh.clients.email', 'id')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients_v', 'email_enc', 'x')$$);
RESET ROLE;

-- a non-owner is refused at once while a writer holds the table; the owner really waits
SELECT dblink_connect('rh_writer', format('host=%s port=%s dbname=%s user=postgres',
       current_setting('unix_socket_directories'), current_setting('port'), current_database()));
SELECT dblink_exec('rh_writer', 'BEGIN');
SELECT dblink_exec('rh_writer', 'LOCK TABLE rh.clients IN ACCESS EXCLUSIVE MODE');
SET lock_timeout = '2s';
SET ROLE rh_other;
SELECT code FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients', 'email_enc', 'rh.clients.email', 'id')$$);
SELECT code FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'email_enc', 'x')$$);
RESET ROLE;
SET ROLE rh_owner;
SELECT code FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rh.clients', 'email_enc', 'rh.clients.email', 'id')$$);
SELECT code FROM pg_temp.refused($$SELECT ge_security.protect_column('rh.clients', 'email_enc', 'rh.clients.email', 'id')$$);
RESET ROLE;
RESET lock_timeout;
SELECT dblink_exec('rh_writer', 'ROLLBACK');
SELECT dblink_disconnect('rh_writer');

-- partitions share ctids: every row of every partition moves to the new key, values intact
SET ge_security.active_key_id = 2;
SET ROLE rh_owner;
SELECT ge_security.reencrypt_column('rh.parted', 'email_enc', 'rh.parted.email', 'id', 7) AS parted_rows;
RESET ROLE;
SELECT tableoid::regclass AS partition, substring(email_enc FROM 2 FOR 4) AS key_id, count(*),
       bool_and(ge_security.decrypt_bytea(email_enc, 'rh.parted.email', id::text)
                = convert_to('p' || id || '@example.com', 'UTF8')) AS intact
  FROM rh.parted GROUP BY 1, 2 ORDER BY 1;
RESET ge_security.active_key_id;

-- ============================================================================================
-- 4. The search_path attack, exactly: a role plants `<>` on bytea in a schema the superuser's
--    search_path starts with; reencrypt_column() (and the other crypto functions) never run it.
-- ============================================================================================
CREATE TABLE public.rh_canary (what text);
GRANT INSERT ON public.rh_canary TO PUBLIC;
CREATE SCHEMA evil AUTHORIZATION rh_other;
SET ROLE rh_other;
CREATE FUNCTION evil.ne(bytea, bytea) RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO public.rh_canary VALUES ('bytea <> ran as ' || current_user);
  RETURN true;
END $fn$;
CREATE OPERATOR evil.<> (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = evil.ne);
RESET ROLE;
-- weak twin: under this search_path an ordinary query does run the planted operator
SET search_path = evil, pg_catalog, public;
SELECT '\x01'::bytea <> '\x01'::bytea AS planted_operator_answers;
RESET search_path;
SELECT what FROM public.rh_canary;
DELETE FROM public.rh_canary;
-- hardened: the superuser re-encrypts under that search_path; the canary stays silent
SET search_path = evil, pg_catalog, public;
SET ge_security.active_key_id = 2;
SELECT ge_security.reencrypt_column('rh.clients', 'email_enc', 'rh.clients.email', 'id') AS reencrypted;
RESET ge_security.active_key_id;
RESET search_path;
SELECT count(*) AS canary_rows FROM public.rh_canary;
SELECT substring(email_enc FROM 2 FOR 4) AS key_id, count(*) FROM rh.clients GROUP BY 1;

-- every crypto function under a search_path full of planted operators and functions
SET ROLE rh_other;
DROP OPERATOR evil.<> (bytea, bytea);
DO $plant$
DECLARE
  t text;
  op text;
BEGIN
  CREATE FUNCTION evil.canary() RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS $c$
    BEGIN INSERT INTO public.rh_canary VALUES ('planted code ran as ' || current_user); RETURN true; END $c$;
  FOREACH t IN ARRAY ARRAY['text', 'bytea', 'oid', 'integer', 'bigint', 'smallint', 'name', 'tid', 'regclass'] LOOP
    EXECUTE format('CREATE FUNCTION evil.cmp(%1$s, %1$s) RETURNS boolean LANGUAGE sql AS ''SELECT evil.canary()''', t);
    FOREACH op IN ARRAY ARRAY['=', '<>', '<', '<=', '>', '>='] LOOP
      EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.cmp)', op, t, t);
    END LOOP;
  END LOOP;
  CREATE FUNCTION evil.cat(text, text) RETURNS text LANGUAGE sql AS 'SELECT evil.canary()::text';
  CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.cat);
  CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS 'SELECT evil.canary(); SELECT NULL::timestamptz';
  CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE sql AS 'SELECT evil.canary()::text';
  CREATE FUNCTION evil.format(text) RETURNS text LANGUAGE sql AS 'SELECT evil.canary()::text';
  CREATE FUNCTION evil.format(text, text) RETURNS text LANGUAGE sql AS 'SELECT evil.canary()::text';
  CREATE FUNCTION evil.substr(bytea, integer, integer) RETURNS bytea LANGUAGE sql AS 'SELECT evil.canary()::text::bytea';
  CREATE FUNCTION evil.length(bytea) RETURNS integer LANGUAGE sql AS 'SELECT evil.canary()::integer';
  CREATE FUNCTION evil.get_byte(bytea, integer) RETURNS integer LANGUAGE sql AS 'SELECT evil.canary()::integer';
  CREATE FUNCTION evil.pg_has_role(oid, oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT evil.canary()';
  CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql AS 'SELECT $1[1] WHERE evil.canary()';
END $plant$;
RESET ROLE;
-- weak twin: the planted functions and operators answer ordinary queries under this path
SET search_path = evil, pg_catalog, public;
SELECT now() IS NULL AS planted_now, 'a'::text = 'b'::text AS planted_text_eq, lower('X') AS planted_lower;
RESET search_path;
SELECT what, count(*) FROM public.rh_canary GROUP BY 1;
DELETE FROM public.rh_canary;
SET search_path = evil, pg_catalog, public;
SET ge_security.active_key_id = 1;
CREATE TEMP TABLE rh_results AS
SELECT ge_security.encrypt('hostile path', 'ctx') AS text_envelope,
       ge_security.encrypt('\x00ff'::bytea, 'ctx', 'a') AS bytea_envelope,
       ge_security.blind_index('hostile path', 'ctx') AS blind,
       ge_security.rotate(ge_security.encrypt('r', 'ctx'), 'ctx') AS rotated,
       ge_security.decrypt(ge_security.encrypt('d', 'ctx'), 'ctx') AS decrypted,
       ge_security.decrypt_bytea(ge_security.encrypt('\x01'::bytea, 'ctx'), 'ctx') AS decrypted_bytes,
       (SELECT array_agg(key_id) FROM ge_security.keyring_status()) AS keys,
       ge_security.protect_column('rh.clients', 'email_enc', 'rh.clients.email', 'id') AS protected,
       ge_security.reencrypt_column('rh.clients', 'email_enc', 'rh.clients.email', 'id') AS moved_back;
RESET ge_security.active_key_id;
RESET search_path;
SELECT count(*) AS canary_rows FROM public.rh_canary;
SELECT ge_security.decrypt(text_envelope, 'ctx') AS text_rt, ge_security.decrypt_bytea(bytea_envelope, 'ctx', 'a') AS bytea_rt,
       blind = ge_security.blind_index('hostile path', 'ctx') AS blind_stable,
       ge_security.decrypt(rotated, 'ctx') AS rotated_rt, decrypted, decrypted_bytes, keys, protected, moved_back
  FROM rh_results;
-- assess() reads the protected columns' rows under that search_path too: nothing planted runs
SET search_path = evil, pg_catalog, public;
CREATE TEMP TABLE rh_assessed AS SELECT * FROM ge_security.assess();
RESET search_path;
SELECT count(*) AS canary_rows_after_assess FROM public.rh_canary;
SET client_min_messages = warning;
DROP SCHEMA evil CASCADE;
RESET client_min_messages;
DROP TABLE rh_results, rh_assessed;

-- ============================================================================================
-- 5. protected_column_not_encrypted: values that are not envelopes in a registered column
-- ============================================================================================
-- hardened twin: every registered column holds envelopes
SELECT * FROM pg_temp.findings('protected_column_not_encrypted');
-- weak: a writer stores plaintext bytes, a short value and an empty value in the protected column
INSERT INTO rh.clients VALUES (41, NULL, convert_to('carol@example.com', 'UTF8'), NULL),
                              (42, NULL, '\x01'::bytea, NULL), (43, NULL, ''::bytea, NULL);
INSERT INTO rh.parted VALUES (41, 'us', convert_to('dave@example.com', 'UTF8'));
SELECT check_id, severity, category, object_type, object_name, status, message, remediation, controls, details
  FROM ge_security.assess() WHERE check_id = 'protected_column_not_encrypted' ORDER BY object_name;
-- the finding counts; it never carries a value
SELECT count(*) AS findings_quoting_values FROM ge_security.assess() a
 WHERE a::text LIKE '%carol%' OR a::text LIKE '%dave%';
-- a column registered as encrypted but still text (a registration made before protect_column()
-- checked types) is a finding too
SET ROLE rh_owner;
CREATE TABLE rh.legacy (id int PRIMARY KEY, ssn text);
INSERT INTO rh.legacy VALUES (1, '078-05-1120'), (2, NULL);
RESET ROLE;
INSERT INTO ge_security.protected_column (table_name, column_name, context) VALUES ('rh.legacy', 'ssn', 'rh.legacy.ssn');
SELECT * FROM pg_temp.findings('protected_column_not_encrypted');
-- the remediations run as they are and the findings go
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT remediation FROM ge_security.assess()
            WHERE check_id = 'protected_column_not_encrypted' AND object_name LIKE 'rh.%' LOOP
    EXECUTE r.remediation;
  END LOOP;
END $$;
SELECT * FROM pg_temp.findings('protected_column_not_encrypted');
SELECT id, ge_security.decrypt_bytea(email_enc, 'rh.clients.email', id::text) AS plaintext
  FROM rh.clients WHERE id > 40 ORDER BY id;
SELECT ge_security.decrypt(email_enc, 'rh.parted.email', id::text) AS parted_plaintext FROM rh.parted WHERE id = 41;
SELECT id, ge_security.decrypt(ssn, 'rh.legacy.ssn') AS ssn FROM rh.legacy ORDER BY id;

-- an auditor who may not read the column gets not_assessed, not a pass
INSERT INTO rh.clients VALUES (44, NULL, convert_to('erin@example.com', 'UTF8'), NULL);
SET ROLE rh_auditor;
SELECT * FROM pg_temp.findings('protected_column_not_encrypted');
RESET ROLE;
GRANT SELECT (email_enc) ON rh.clients TO rh_auditor;
SET ROLE rh_auditor;
SELECT * FROM pg_temp.findings('protected_column_not_encrypted');
RESET ROLE;
-- row-level security hiding rows from the auditor: not_assessed; the superuser still sees them
ALTER TABLE rh.clients ENABLE ROW LEVEL SECURITY;
CREATE POLICY rh_first_ten ON rh.clients USING (id <= 10);
SET ROLE rh_auditor;
SELECT * FROM pg_temp.findings('protected_column_not_encrypted');
RESET ROLE;
SELECT * FROM pg_temp.findings('protected_column_not_encrypted');
ALTER TABLE rh.clients DISABLE ROW LEVEL SECURITY;
DROP POLICY rh_first_ten ON rh.clients;
UPDATE rh.clients SET email_enc = ge_security.encrypt(email_enc, 'rh.clients.email', id::text) WHERE id = 44;
-- a hostile table name reaches the sampling query quoted
SET ROLE rh_owner;
CREATE TABLE rh."x""; DROP TABLE rh.clients; --" (id int, secret bytea);
INSERT INTO rh."x""; DROP TABLE rh.clients; --" VALUES (1, '\x0102'::bytea);
SELECT ge_security.protect_column('rh."x""; DROP TABLE rh.clients; --"', 'secret', 'rh.x.secret');
RESET ROLE;
SELECT * FROM pg_temp.findings('protected_column_not_encrypted');
SELECT count(*) AS clients_table_survives FROM rh.clients;
DROP TABLE rh."x""; DROP TABLE rh.clients; --";

-- ============================================================================================
-- 6. pii_table_not_audited tests the triggers' real state, not their names
-- ============================================================================================
SET ROLE rh_owner;
CREATE TABLE rh.pii_none (id int PRIMARY KEY, email text);
CREATE TABLE rh.pii_noop (id int PRIMARY KEY, email text);
CREATE TABLE rh.pii_disabled (id int PRIMARY KEY, email text);
CREATE TABLE rh.pii_origin (id int PRIMARY KEY, email text);
CREATE TABLE rh.pii_notruncate (id int PRIMARY KEY, email text);
CREATE TABLE rh.pii_when (id int PRIMARY KEY, email text);
CREATE TABLE rh.pii_updateof (id int PRIMARY KEY, email text);
CREATE TABLE rh.pii_audited (id int PRIMARY KEY, email text);
CREATE TABLE rh.pii_parted (id int, region text, email text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE rh.pii_parted_eu PARTITION OF rh.pii_parted FOR VALUES IN ('eu');
CREATE FUNCTION rh.audit_trigger() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
SELECT ge_security.enable_audit('rh.pii_disabled');
SELECT ge_security.enable_audit('rh.pii_origin');
SELECT ge_security.enable_audit('rh.pii_notruncate');
SELECT ge_security.enable_audit('rh.pii_audited');
SELECT ge_security.enable_audit('rh.pii_parted');
-- the extension's function, but only for updates of one column
CREATE TRIGGER audit_id_changes AFTER INSERT OR UPDATE OF id OR DELETE ON rh.pii_updateof
  FOR EACH ROW EXECUTE FUNCTION ge_security.audit_trigger();
CREATE TRIGGER audit_truncate AFTER TRUNCATE ON rh.pii_updateof
  FOR EACH STATEMENT EXECUTE FUNCTION ge_security.audit_trigger();
ALTER TABLE rh.pii_updateof ENABLE ALWAYS TRIGGER audit_id_changes;
ALTER TABLE rh.pii_updateof ENABLE ALWAYS TRIGGER audit_truncate;
RESET ROLE;
-- the audit triggers' names are guarded; in maintenance a superuser can still leave these states
SET ge_security.maintenance = on;
-- a no-op function under the audit triggers' names, enabled ALWAYS
CREATE TRIGGER ge_security_audit_row AFTER INSERT OR UPDATE OR DELETE ON rh.pii_noop
  FOR EACH ROW EXECUTE FUNCTION rh.audit_trigger();
CREATE TRIGGER ge_security_audit_truncate AFTER TRUNCATE ON rh.pii_noop
  FOR EACH STATEMENT EXECUTE FUNCTION rh.audit_trigger();
ALTER TABLE rh.pii_noop ENABLE ALWAYS TRIGGER ge_security_audit_row;
ALTER TABLE rh.pii_noop ENABLE ALWAYS TRIGGER ge_security_audit_truncate;
-- the extension's function, but only for rows matching a WHEN condition
CREATE TRIGGER ge_security_audit_row AFTER INSERT OR UPDATE OR DELETE ON rh.pii_when
  FOR EACH ROW WHEN (pg_trigger_depth() < 0) EXECUTE FUNCTION ge_security.audit_trigger();
CREATE TRIGGER ge_security_audit_truncate AFTER TRUNCATE ON rh.pii_when
  FOR EACH STATEMENT EXECUTE FUNCTION ge_security.audit_trigger();
ALTER TABLE rh.pii_when ENABLE ALWAYS TRIGGER ge_security_audit_row;
ALTER TABLE rh.pii_when ENABLE ALWAYS TRIGGER ge_security_audit_truncate;
-- disabled, enabled for origin sessions only, TRUNCATE trigger dropped
ALTER TABLE rh.pii_disabled DISABLE TRIGGER ge_security_audit_row;
ALTER TABLE rh.pii_origin ENABLE TRIGGER ge_security_audit_row;
DROP TRIGGER ge_security_audit_truncate ON rh.pii_notruncate;
RESET ge_security.maintenance;
-- the origin-only trigger is really skipped in replica mode
SET session_replication_role = replica;
INSERT INTO rh.pii_origin VALUES (1, 'skipped@example.com');
INSERT INTO rh.pii_audited VALUES (1, 'recorded@example.com');
RESET session_replication_role;
SELECT table_name, count(*) AS trail_rows FROM ge_security.audit_log
 WHERE table_name IN ('rh.pii_origin', 'rh.pii_audited') AND op = 'INSERT' GROUP BY 1 ORDER BY 1;
-- every weak table is a finding naming what is wrong; the audited ones (and the partition) are not
SELECT object_name, message FROM ge_security.assess()
 WHERE check_id = 'pii_table_not_audited' AND object_name LIKE 'rh.pii%' ORDER BY object_name;
SELECT object_name, details -> 'problems' AS problems FROM ge_security.assess()
 WHERE check_id = 'pii_table_not_audited' AND object_name = 'rh.pii_noop';
-- the remediation (enable_audit) repairs each of them
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT remediation FROM ge_security.assess()
            WHERE check_id = 'pii_table_not_audited' AND object_name LIKE 'rh.pii%' LOOP
    EXECUTE r.remediation;
  END LOOP;
END $$;
SELECT count(*) AS unaudited_left FROM ge_security.assess()
 WHERE check_id = 'pii_table_not_audited' AND object_name LIKE 'rh.pii%';

-- ============================================================================================
-- 7. pii_column_plaintext: the remediation is one atomic statement, safe to paste into psql
-- ============================================================================================
SET ROLE rh_owner;
CREATE TABLE rh.leads (id int PRIMARY KEY, contact_email text);
INSERT INTO rh.leads VALUES (1, 'lead@example.com');
CREATE VIEW rh.leads_v AS SELECT id, contact_email FROM rh.leads;
CREATE TABLE rh."odd$ge$name" (id int PRIMARY KEY, email text);
INSERT INTO rh."odd$ge$name" VALUES (1, 'odd@example.com');
RESET ROLE;
SELECT object_name, remediation FROM ge_security.assess()
 WHERE check_id = 'pii_column_plaintext' AND object_name LIKE 'rh.%' ORDER BY object_name;
-- weak twin: the former two-statement remediation, pasted as psql runs it, half-applies no more
-- (the ALTER fails on the view, and protect_column() refuses the text column)
\set VERBOSITY terse
ALTER TABLE rh.leads ALTER COLUMN contact_email TYPE bytea USING ge_security.encrypt(contact_email, 'rh.leads.contact_email'); SELECT ge_security.protect_column('rh.leads', 'contact_email', 'rh.leads.contact_email');
\set VERBOSITY default
-- the remediation as it is now: the dependent view makes it fail as a whole
SELECT code, message FROM pg_temp.refused((SELECT remediation FROM ge_security.assess()
 WHERE check_id = 'pii_column_plaintext' AND object_name = 'rh.leads.contact_email'));
SELECT count(*) AS registered_after_failure FROM ge_security.protected_column WHERE table_name = 'rh.leads'::regclass;
SELECT format_type(atttypid, atttypmod) AS column_type FROM pg_attribute
 WHERE attrelid = 'rh.leads'::regclass AND attname = 'contact_email';
SELECT object_name FROM ge_security.assess() WHERE check_id = 'pii_column_plaintext' AND object_name LIKE 'rh.leads%';
-- without the view it applies whole, the crafted name included, run by psql as it is (\gexec
-- sends each text as its own statement, as pasting does); the findings go
DROP VIEW rh.leads_v;
SELECT remediation FROM ge_security.assess()
 WHERE check_id = 'pii_column_plaintext' AND (object_name LIKE 'rh.leads.%' OR object_name LIKE 'rh."odd%')
 ORDER BY object_name \gexec
SELECT object_name FROM ge_security.assess()
 WHERE check_id = 'pii_column_plaintext' AND (object_name LIKE 'rh.leads.%' OR object_name LIKE 'rh."odd%');
SELECT table_name, column_name, context FROM ge_security.protected_column
 WHERE table_name IN ('rh.leads'::regclass, 'rh."odd$ge$name"'::regclass) ORDER BY 1;
SELECT ge_security.decrypt(contact_email, 'rh.leads.contact_email') AS lead FROM rh.leads;
SELECT ge_security.decrypt(email, 'rh."odd$ge$name".email') AS odd FROM rh."odd$ge$name";

-- ============================================================================================
-- clean up (trail rows stay: the trail is append-only)
-- ============================================================================================
DELETE FROM ge_security.protected_column WHERE table_name::oid IN
  (SELECT oid FROM pg_class WHERE relnamespace = 'rh'::regnamespace);
SET ge_security.maintenance = on;
DROP SCHEMA rh CASCADE;
RESET ge_security.maintenance;
DROP TABLE public.rh_canary;
DROP EXTENSION dblink;
DROP ROLE rh_owner, rh_other, rh_auditor;
