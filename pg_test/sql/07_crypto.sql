-- Column encryption: envelope, binding to context and aad, hostile input, grants, rotation.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
SELECT key_id, active, fingerprint ~ '^[0-9a-f]{16}$' AS fingerprint_shape FROM ge_security.keyring_status();
-- key material is nowhere in the settings
SELECT count(*) AS settings_with_key_material FROM pg_settings WHERE setting ~ '[0-9a-f]{64}';

-- envelope shape: version 1, key id 1, 12-byte nonce, 16-byte tag
SELECT get_byte(c, 0) AS version, substring(c FROM 2 FOR 4) AS key_id, length(c) AS len
  FROM (SELECT ge_security.encrypt('abc', 'ctx') AS c) s;

-- round trips: text, empty, unicode, 1 MB, bytea; NULL in, NULL out
SELECT ge_security.decrypt(ge_security.encrypt('hello', 'ctx'), 'ctx') AS text_rt,
       ge_security.decrypt(ge_security.encrypt('', 'ctx'), 'ctx') = '' AS empty_rt,
       ge_security.decrypt(ge_security.encrypt('zażółć 🐘 ñ', 'ctx', 'row 7'), 'ctx', 'row 7') AS unicode_rt,
       ge_security.decrypt(ge_security.encrypt(repeat('x', 1048576), 'ctx'), 'ctx') = repeat('x', 1048576) AS mb_rt,
       ge_security.decrypt_bytea(ge_security.encrypt('\x00ff00'::bytea, 'ctx'), 'ctx') AS bytea_rt;
SELECT ge_security.encrypt(NULL::text, 'ctx') IS NULL AS null_enc,
       ge_security.decrypt(NULL, 'ctx') IS NULL AS null_dec,
       ge_security.blind_index(NULL, 'ctx') IS NULL AS null_idx;

-- a fresh nonce every call: 20,000 encryptions of one value in one statement
SELECT count(DISTINCT substring(c FROM 6 FOR 12)) AS distinct_nonces, count(DISTINCT c) AS distinct_ciphertexts
  FROM (SELECT ge_security.encrypt('same value', 'ctx') AS c FROM generate_series(1, 20000)) s;

-- bound to context and aad; hostile envelopes are clean errors that echo nothing
CREATE TEMP TABLE samples AS SELECT ge_security.encrypt('top secret', 'clients.email', '42') AS c;
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(c, 'clients.phone', '42') FROM samples$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(c, 'clients.email', '43') FROM samples$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(c, 'clients.email') FROM samples$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(ge_security.encrypt('x', 'ab', 'c'), 'a', 'bc')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(''::bytea, 'ctx')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt('\x01'::bytea, 'ctx')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(set_byte(c, 0, 2), 'clients.email', '42') FROM samples$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(overlay(c PLACING '\x00000063'::bytea FROM 2 FOR 4), 'clients.email', '42') FROM samples$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(substring(c FROM 1 FOR length(c) - 1), 'clients.email', '42') FROM samples$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(set_byte(c, 20, get_byte(c, 20) # 1), 'clients.email', '42') FROM samples$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(ge_security.encrypt('\xff'::bytea, 'ctx'), 'ctx')$$);
-- thousands of random byte strings: every one refused, the backend survives
SELECT count(*) AS refused_random_inputs FROM generate_series(1, 3000) g,
  LATERAL pg_temp.refused(format('SELECT ge_security.decrypt(%L::bytea, %L)',
          (SELECT string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), '')
             FROM generate_series(0, g % 90)), 'ctx')) r
 WHERE r.code = '22P03';

-- blind index: deterministic per context, 32 bytes
SELECT ge_security.blind_index('a@b.example', 'email') = ge_security.blind_index('a@b.example', 'email') AS stable,
       ge_security.blind_index('a@b.example', 'email') <> ge_security.blind_index('a@b.example', 'phone') AS per_context,
       length(ge_security.blind_index('a@b.example', 'email')) AS len;

-- who may decrypt: not PUBLIC, a member of ge_security_decryptor yes; everyone may encrypt
CREATE ROLE rt_app LOGIN;
CREATE ROLE rt_support LOGIN;
GRANT ge_security_decryptor TO rt_support;
GRANT SELECT ON samples TO rt_app, rt_support;
SET ROLE rt_app;
SELECT length(ge_security.encrypt('from the app', 'ctx')) > 0 AS app_encrypts;
SELECT * FROM pg_temp.refused($$SELECT ge_security.decrypt(c, 'clients.email', '42') FROM samples$$);
-- (the message words differ between versions; both end naming the setting)
SELECT code, message LIKE '%to examine "ge_security.keyring_path"' AS refused_to_examine, hint
  FROM pg_temp.refused($$SHOW ge_security.keyring_path$$);
SELECT * FROM pg_temp.refused($$SET ge_security.active_key_id = 2$$);
RESET ROLE;
SET ROLE rt_support;
SELECT ge_security.decrypt(c, 'clients.email', '42') AS support_reads FROM samples;
RESET ROLE;

-- rotation: switch the active key, rotate() and reencrypt_column() move values to it
CREATE TABLE rt_clients (id int PRIMARY KEY, email bytea);
INSERT INTO rt_clients SELECT g, ge_security.encrypt('user' || g || '@example.com', 'rt_clients.email', g::text)
  FROM generate_series(1, 250) g;
SET ge_security.active_key_id = 2;
SELECT substring(ge_security.rotate(c, 'clients.email', '42') FROM 2 FOR 4) AS rotated_key FROM samples;
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rt_clients', 'email', 'rt_clients.email', NULL, 100)$$);
SELECT ge_security.reencrypt_column('rt_clients', 'email', 'rt_clients.email', 'id', 100) AS reencrypted;
SELECT ge_security.reencrypt_column('rt_clients', 'email', 'rt_clients.email', 'id', 100) AS again;
SELECT substring(email FROM 2 FOR 4) AS key_id, count(*) FROM rt_clients GROUP BY 1;
SELECT count(*) AS readable FROM rt_clients
 WHERE ge_security.decrypt(email, 'rt_clients.email', id::text) = 'user' || id || '@example.com';
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rt_clients', 'nope', 'x')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('rt_clients', 'email', 'x', NULL, 0)$$);
SET ge_security.active_key_id = 99;
SELECT * FROM pg_temp.refused($$SELECT ge_security.encrypt('x', 'ctx')$$);
RESET ge_security.active_key_id;

-- protect_column registers a column; only the table owner may
SELECT ge_security.protect_column('rt_clients', 'email', 'rt_clients.email', 'id');
SELECT table_name, column_name, context, aad_column FROM ge_security.protected_column;
SET ROLE rt_app;
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rt_clients', 'email', 'x')$$);
RESET ROLE;
SELECT * FROM pg_temp.refused($$SELECT ge_security.protect_column('rt_clients', 'email', '')$$);

DROP TABLE rt_clients, samples;
DELETE FROM ge_security.protected_column;
DROP ROLE rt_app, rt_support;

-- assess(): a plain PII column is a finding until it is encrypted and registered
CREATE TABLE rt_contacts (id int PRIMARY KEY, "contact_email" text, nickname text, phone varchar(20));
SELECT check_id, object_name, remediation FROM ge_security.assess()
 WHERE check_id = 'pii_column_plaintext' ORDER BY object_name;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT remediation FROM ge_security.assess() WHERE check_id = 'pii_column_plaintext' LOOP
    EXECUTE r.remediation;
  END LOOP;
END $$;
SELECT count(*) AS pii_findings_left FROM ge_security.assess() WHERE check_id = 'pii_column_plaintext';
SELECT column_name, context FROM ge_security.protected_column ORDER BY 1;
DROP TABLE rt_contacts;
DELETE FROM ge_security.protected_column;
