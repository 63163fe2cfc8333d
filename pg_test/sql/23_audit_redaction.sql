\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
-- Encoding v2 and redaction (docs/architecture.md, "Canonical row encoding (version 2)" and
-- "Redaction"): new rows are hashed under v2; a data subject's values, one column's values or
-- one row's images leave the trail while its digests keep verification whole; each redaction is
-- a row of the trail; v1 rows keep verifying and cannot be redacted; enable_audit's exclude
-- records digests only; protected columns are recorded as their ciphertext.
\set VERBOSITY terse
-- audit rows holding the text in a column that can hold a value (the others are numbers, times
-- and hex digests, where a short needle of digits could appear by chance)
CREATE FUNCTION pg_temp.trail_mentions(needle text) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM ge_security.audit_log l
   WHERE strpos(concat_ws(' ', l.actor, l.table_name, l.row_key, l.old_row, l.new_row,
                          l.changed_columns, l.statement), needle) > 0
$$;
-- refused(), with the ids (which depend on what ran before) masked
CREATE FUNCTION pg_temp.refused_n(statement text, OUT code text, OUT message text, OUT hint text)
LANGUAGE sql AS $$
  SELECT r.code, regexp_replace(r.message, 'row \d+', 'row N', 'g'), r.hint FROM pg_temp.refused(statement) r
$$;
CREATE FUNCTION pg_temp.verdict() RETURNS TABLE (ok boolean, problem text, detail text)
LANGUAGE sql AS $$
  SELECT v.ok, v.problem,
         CASE WHEN v.ok THEN regexp_replace(v.detail, '^\d+ rows in \d+ blocks verified, \d+ not yet sealed', 'verified')
              ELSE v.detail END
    FROM ge_security.audit_verify() v
$$;

CREATE TABLE r23_person (id int PRIMARY KEY, name text, email text, score numeric);
SELECT ge_security.enable_audit('r23_person');
INSERT INTO r23_person VALUES (1, 'Alice Liddell', 'alice@example.org', 1.50),
                              (2, 'Bob Builder', 'bob@example.org', 2);
UPDATE r23_person SET email = 'alice@wonderland.example' WHERE id = 1;
-- new rows are hashed under v2
SELECT count(*) AS rows, min(hash_version) AS min_v, max(hash_version) AS max_v,
       count(redacted) AS redacted
  FROM ge_security.audit_log WHERE table_name = 'public.r23_person' AND op <> 'DDL';

-- v1 rows, as 0.1.0 wrote them (the setting is for comparison benchmarks and is superuser-only)
SET ge_security.row_encoding = 1;
INSERT INTO r23_person VALUES (3, 'Carol Oldrow', 'carol@example.org', 3);
RESET ge_security.row_encoding;
SELECT hash_version, new_row->>'name' AS name FROM ge_security.audit_log
 WHERE table_name = 'public.r23_person' AND row_key = '{"id": 3}';
SELECT ge_security.audit_seal() >= 0 AS sealed;
SELECT * FROM pg_temp.verdict();

-- unsealed rows are refused (seal first); nothing is redacted
UPDATE r23_person SET name = 'Alice L.' WHERE id = 1;
SELECT * FROM pg_temp.refused_n($$SELECT ge_security.audit_redact_subject('r23_person', '{"id": 1}', 'GDPR art. 17, request 2026-041')$$);
SELECT count(*) AS still_redacted FROM ge_security.audit_log WHERE redacted IS NOT NULL;
SELECT ge_security.audit_seal() >= 0 AS sealed;

-- reason, arguments
SELECT pg_temp.error_of($$SELECT ge_security.audit_redact_subject('r23_person', '{"id": 1}', '  ')$$);
SELECT pg_temp.error_of($$SELECT ge_security.audit_redact_subject('r23_person', '{"id": 1}', NULL)$$);
SELECT pg_temp.error_of($$SELECT ge_security.audit_redact(NULL, 'x')$$);
SELECT pg_temp.error_of($$SELECT ge_security.audit_redact(-5, 'x')$$);

-- a v1 row cannot be redacted value-wise
SELECT * FROM pg_temp.refused_n($$SELECT ge_security.audit_redact_subject('r23_person', '{"id": 3}', 'request 2026-042')$$);

-- the data subject's rows, by key: every image goes, the digests stay
SELECT ge_security.audit_redact_subject('r23_person', '{"id": 1}', 'GDPR art. 17, request 2026-041') AS redacted_rows;
SELECT op, old_row, new_row, changed_columns, row_key,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(redacted) k) AS redacted_keys,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(redacted->'new_row') k) AS new_row_digests
  FROM ge_security.audit_log WHERE table_name = 'public.r23_person' AND row_key = '{"id": 1}'
 ORDER BY id;
SELECT pg_temp.trail_mentions('Alice') AS alice, pg_temp.trail_mentions('alice@') AS alice_mail,
       pg_temp.trail_mentions('wonderland') AS wonderland, pg_temp.trail_mentions('Bob Builder') AS bob;
-- the kept digest is SHA-256 of the value as the image printed it
SELECT redacted->'old_row'->>'email' = encode(sha256(convert_to('"alice@example.org"', 'UTF8')), 'hex') AS digest_is_documented
  FROM ge_security.audit_log WHERE table_name = 'public.r23_person' AND row_key = '{"id": 1}' AND op = 'UPDATE'
 ORDER BY id LIMIT 1;
-- the redaction is a row of the trail: who, what, why
SELECT op, table_name, current_user_name, new_row - 'ids' AS record, jsonb_array_length(new_row->'ids') AS ids,
       statement, hash_version
  FROM ge_security.audit_log WHERE op = 'DDL' AND new_row ? 'redaction' ORDER BY id;
-- every redacted row cites it
SELECT count(*) AS citing FROM ge_security.audit_log r, ge_security.audit_log rec
 WHERE rec.op = 'DDL' AND rec.new_row ? 'redaction'
   AND r.redacted->'by' @> to_jsonb(rec.id) AND rec.new_row->'ids' @> to_jsonb(r.id);
SELECT ge_security.audit_seal() >= 0 AS sealed;
SELECT * FROM pg_temp.verdict();
-- nothing left to redact: no new record
SELECT ge_security.audit_redact_subject('r23_person', '{"id": 1}', 'again') AS redacted_again;
-- the redaction record itself cannot be redacted
SELECT code, message FROM pg_temp.refused_n(format('SELECT ge_security.audit_redact(%s, %L)',
  (SELECT max(id) FROM ge_security.audit_log WHERE op = 'DDL' AND new_row ? 'redaction'), 'x'));

-- tampering is still caught: an edited digest, a removed redaction record, a redaction
-- without its record, a value both present and redacted
BEGIN;
SET LOCAL ge_security.maintenance = on;
SET LOCAL client_min_messages = warning;
UPDATE ge_security.audit_log SET redacted = jsonb_set(redacted, '{new_row,name}', to_jsonb(repeat('0', 64)))
 WHERE table_name = 'public.r23_person' AND row_key = '{"id": 1}' AND op = 'INSERT';
SELECT ok, problem FROM pg_temp.verdict();
ROLLBACK;
BEGIN;
SET LOCAL ge_security.maintenance = on;
SET LOCAL client_min_messages = warning;
DELETE FROM ge_security.audit_log WHERE op = 'DDL' AND new_row ? 'redaction';
SELECT ok, problem FROM pg_temp.verdict();
ROLLBACK;
BEGIN;
SET LOCAL ge_security.maintenance = on;
SET LOCAL client_min_messages = warning;
UPDATE ge_security.audit_log SET new_row = new_row || jsonb_build_object('name', 'Mallory')
 WHERE table_name = 'public.r23_person' AND row_key = '{"id": 1}' AND op = 'INSERT';
SELECT ok, problem FROM pg_temp.verdict();
ROLLBACK;
-- a plain UPDATE of the trail is still refused: redaction is not a general bypass
SELECT pg_temp.error_of($$UPDATE ge_security.audit_log SET redacted = NULL WHERE false$$);

-- who may redact: superusers and ge_security_redactor members; not an application role
CREATE ROLE r23_dpo NOLOGIN IN ROLE ge_security_redactor;
CREATE ROLE r23_app NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON r23_person TO r23_app;
SET ROLE r23_app;
SELECT pg_temp.error_of($$SELECT ge_security.audit_redact_subject('r23_person', '{"id": 2}', 'x')$$);
UPDATE r23_person SET score = 5 WHERE id = 2;
RESET ROLE;
SELECT ge_security.audit_seal() >= 0 AS sealed;
SET ROLE r23_dpo;
-- a column of a table with v1 rows: refused as a whole (those rows would keep the value)
SELECT code, message, hint FROM pg_temp.refused_n($$SELECT ge_security.audit_redact_column('r23_person', 'email', 'email addresses leave the trail')$$);
SELECT ge_security.audit_redact_subject('r23_person', '{"id": 2}', 'GDPR art. 17, request 2026-043') AS bob_rows;
RESET ROLE;
SELECT current_user_name, session_user_name = current_user AS session_kept, new_row->>'redaction' AS kind,
       new_row->>'reason' AS reason, new_row->>'count' AS count
  FROM ge_security.audit_log WHERE op = 'DDL' AND new_row ? 'redaction' ORDER BY id DESC LIMIT 1;
SELECT pg_temp.trail_mentions('bob@example.org') AS bob_mail, pg_temp.trail_mentions('Bob Builder') AS bob_name,
       pg_temp.trail_mentions('carol@example.org') AS carol_v1_kept;
SELECT ge_security.audit_seal() >= 0 AS sealed;
SELECT * FROM pg_temp.verdict();

-- one row by id: a DDL row's statement goes too
CREATE TABLE r23_ddl (id int PRIMARY KEY);
SELECT ge_security.enable_audit('r23_ddl') IS NOT NULL AS audited;
SELECT ge_security.audit_seal() >= 0 AS sealed;
SELECT ge_security.audit_redact((SELECT max(id) FROM ge_security.audit_log WHERE op = 'DDL' AND table_name = 'public.r23_ddl'),
                                'statement named a person') AS rows;
SELECT statement, redacted ? 'statement' AS digest_kept FROM ge_security.audit_log
 WHERE op = 'DDL' AND table_name = 'public.r23_ddl' AND new_row IS NULL;
SELECT ge_security.audit_seal() >= 0 AS sealed;
SELECT * FROM pg_temp.verdict();

-- enable_audit(exclude): those columns are recorded as digests only
CREATE TABLE r23_pay (id int PRIMARY KEY, salary numeric, note text);
SELECT pg_temp.error_of($$SELECT ge_security.enable_audit('r23_pay', exclude => ARRAY['nope'])$$);
SELECT pg_temp.error_of($$SELECT ge_security.enable_audit('r23_pay', exclude => ARRAY['id'])$$);
SELECT pg_temp.error_of($$SELECT ge_security.enable_audit('r23_pay', exclude => ARRAY[NULL])$$);
SELECT ge_security.enable_audit('r23_pay', exclude => ARRAY['salary']);
INSERT INTO r23_pay VALUES (1, 987654.32, 'hired');
UPDATE r23_pay SET salary = 60000, note = 'raise' WHERE id = 1;
SELECT op, old_row->>'salary' LIKE 'sha256:%' AS old_digest, new_row->>'salary' = 'sha256:' ||
       encode(sha256(convert_to(CASE op WHEN 'INSERT' THEN '987654.32' ELSE '60000' END, 'UTF8')), 'hex') AS new_digest,
       new_row->>'note' AS note, changed_columns
  FROM ge_security.audit_log WHERE table_name = 'public.r23_pay' AND op <> 'DDL' ORDER BY id;
SELECT statement FROM ge_security.audit_log WHERE table_name = 'public.r23_pay' AND op = 'DDL';
SELECT pg_temp.trail_mentions('987654') AS salary_mentions;

-- protected columns are recorded as their stored ciphertext; the plaintext recorded before the
-- column was encrypted is removed with audit_redact_column
CREATE TABLE r23_card (id int PRIMARY KEY, card text);
SELECT ge_security.enable_audit('r23_card') IS NOT NULL AS audited;
INSERT INTO r23_card VALUES (1, '4111-1111-1111-1111');
ALTER TABLE r23_card ALTER COLUMN card TYPE bytea USING ge_security.encrypt(card, 'r23.card', id::text);
SELECT ge_security.protect_column('r23_card', 'card', 'r23.card', 'id') IS NOT NULL AS protected;
UPDATE r23_card SET card = ge_security.encrypt('5500-0000-0000-0004', 'r23.card', '1') WHERE id = 1;
SELECT op, new_row->>'card' LIKE '\\x01%' AS ciphertext_recorded FROM ge_security.audit_log
 WHERE table_name = 'public.r23_card' AND op = 'UPDATE';
SELECT pg_temp.trail_mentions('4111-1111') AS old_plain, pg_temp.trail_mentions('5500-0000') AS new_plain;
SELECT ge_security.audit_seal() >= 0 AS sealed;
SELECT ge_security.audit_redact_column('r23_card', 'card', 'plaintext before protect_column') AS rows;
SELECT pg_temp.trail_mentions('4111-1111') AS old_plain;
SELECT ge_security.audit_seal() >= 0 AS sealed;
SELECT * FROM pg_temp.verdict();

-- images the v2 digests must read exactly as jsonb_out prints them: nested jsonb, json, arrays,
-- escapes, non-ASCII, numbers with trailing zeros, names that need quoting
CREATE TABLE r23_odd (id int PRIMARY KEY, "we""ird, {name}" text, doc jsonb, j json, tags text[], n numeric, f float8);
SELECT ge_security.enable_audit('r23_odd') IS NOT NULL AS audited;
INSERT INTO r23_odd VALUES
  (1, E'a "quoted", {braced} \\ back\tslash\n€ é', '{"b": [1, "x, y", {"c": null}], "a": {"}": "{"}}',
   '{"z": 1, "a": [true, false]}', ARRAY['x,y', '"q"', NULL], 1.500, -0.0),
  (2, '', '[]', '"str"', '{}', 0, 1.5e10);
UPDATE r23_odd SET n = n + 1, doc = doc || '{"k\"ey": "v\\u00e9"}';
SELECT ge_security.audit_seal() >= 0 AS sealed;
SELECT * FROM pg_temp.verdict();
SELECT ge_security.audit_redact_column('r23_odd', 'we"ird, {name}', 'an odd column') AS odd_rows;
SELECT ge_security.audit_redact_column('r23_odd', 'doc', 'nested documents') AS doc_rows;
SELECT op, old_row, new_row FROM ge_security.audit_log WHERE table_name = 'public.r23_odd' AND op <> 'DDL' ORDER BY id;
SELECT ge_security.audit_seal() >= 0 AS sealed;
SELECT * FROM pg_temp.verdict();
