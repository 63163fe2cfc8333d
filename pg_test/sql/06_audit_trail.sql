-- The audit trail: native trigger rows, append-only guard, sealing, verification, proofs.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
CREATE ROLE rt_app LOGIN;
CREATE ROLE rt_reader LOGIN;
GRANT ge_security_auditor TO rt_reader;
CREATE SCHEMA "rt ""audited""";
GRANT USAGE ON SCHEMA "rt ""audited""" TO rt_app;
CREATE TABLE "rt ""audited""".accounts (
  id      bigint PRIMARY KEY,
  tenant  text NOT NULL,
  balance numeric,
  active  boolean,
  profile jsonb,
  note    text
);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON "rt ""audited""".accounts TO rt_app;
CREATE TABLE public.rt_nokey (v int);

-- refusals: no key, not a table, NULL, the trail itself
SELECT * FROM pg_temp.refused($$SELECT ge_security.enable_audit('public.rt_nokey')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.enable_audit('pg_class')$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.enable_audit(NULL)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.enable_audit('ge_security.audit_log')$$);

SELECT ge_security.enable_audit('"rt ""audited"""."accounts"');
SELECT ge_security.enable_audit('"rt ""audited""".accounts');  -- idempotent
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = '"rt ""audited""".accounts'::regclass ORDER BY 1;

-- the app role writes the audited table without any privilege on the trail
SET ROLE rt_app;
SET app.current_actor = 'user:42';
INSERT INTO "rt ""audited""".accounts VALUES
  (1, 'acme', 10.5, true, '{"b": 1, "a": [1, 2]}', 'first'),
  (2, 'globex', NULL, false, NULL, '');
UPDATE "rt ""audited""".accounts SET balance = 11, note = 'it''s "quoted"' WHERE id = 1;
DELETE FROM "rt ""audited""".accounts WHERE id = 2;
SELECT * FROM pg_temp.refused($$INSERT INTO ge_security.audit_log (id, at, txid, session_user_name, current_user_name, op, row_hash) VALUES (999, now(), '1', 'x', 'x', 'DDL', '\x00')$$);
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.audit_log$$);
RESET app.current_actor;
RESET ROLE;

-- a rolled-back change leaves no audit row; a subtransaction rollback neither
BEGIN;
INSERT INTO "rt ""audited""".accounts VALUES (3, 'initech', 1, true, NULL, NULL);
ROLLBACK;
BEGIN;
SAVEPOINT s;
INSERT INTO "rt ""audited""".accounts VALUES (4, 'initech', 1, true, NULL, NULL);
ROLLBACK TO SAVEPOINT s;
COMMIT;

SELECT op, actor, session_user_name, current_user_name, table_name, row_key, old_row, new_row,
       changed_columns, statement IS NOT NULL AS has_statement, length(row_hash) AS hash_len
  FROM ge_security.audit_log WHERE table_name = '"rt ""audited""".accounts' ORDER BY id;

-- append-only for everyone, the superuser and replica mode included
SELECT * FROM pg_temp.refused($$UPDATE ge_security.audit_log SET actor = 'someone else'$$);
SELECT * FROM pg_temp.refused($$DELETE FROM ge_security.audit_log$$);
SELECT * FROM pg_temp.refused($$TRUNCATE ge_security.audit_log$$);
SET session_replication_role = replica;
SELECT * FROM pg_temp.refused($$DELETE FROM ge_security.audit_log$$);
SELECT * FROM pg_temp.refused($$DELETE FROM ge_security.audit_block$$);
RESET session_replication_role;

-- sealing, verification, digest and proof
-- (earlier regress files' security DDL is in the trail too: counts are compared with the trail)
SELECT ge_security.audit_seal() = (SELECT count(*) FROM ge_security.audit_log) AS sealed_every_row;
SELECT ge_security.audit_seal() AS sealed_again;
SELECT block_no, row_count = (SELECT count(*) FROM ge_security.audit_log) AS every_row,
       first_id <= last_id AS ordered, length(rows_root) AS root_len,
       prev_hash = '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea AS genesis
  FROM ge_security.audit_block;
SELECT ok, problem FROM ge_security.audit_verify();
SELECT (ge_security.audit_digest() ->> 'block_no')::int AS digest_block;
SELECT (p ->> 'tree_size')::bigint = (SELECT count(*) FROM ge_security.audit_log) AS whole_tree,
       jsonb_array_length(p -> 'path') = ceil(log(2, (p ->> 'tree_size')::numeric)) AS path_len_log2
  FROM (SELECT ge_security.audit_proof(min(id)) AS p FROM ge_security.audit_log) s;
SELECT * FROM pg_temp.refused($$SELECT ge_security.audit_proof(-1)$$);
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.audit_verify('[1]')$$);

-- the auditor may verify, the app role may not
SET ROLE rt_reader;
SELECT ok FROM ge_security.audit_verify();
SELECT * FROM pg_temp.refused($$SELECT ge_security.audit_seal()$$);
RESET ROLE;
SET ROLE rt_app;
SELECT * FROM pg_temp.refused($$SELECT * FROM ge_security.audit_verify()$$);
RESET ROLE;

-- TRUNCATE and disable_audit are recorded
TRUNCATE "rt ""audited""".accounts;
SELECT ge_security.disable_audit('"rt ""audited""".accounts');
SELECT op, table_name, statement FROM ge_security.audit_log WHERE op IN ('TRUNCATE', 'DDL')
   AND table_name = '"rt ""audited""".accounts' ORDER BY id;
INSERT INTO "rt ""audited""".accounts VALUES (5, 'after', 1, true, NULL, NULL);
SELECT count(*) AS rows_after_disable FROM ge_security.audit_log WHERE row_key = '{"id": 5}';

-- two-phase commit of audited changes is refused
SELECT ge_security.enable_audit('"rt ""audited""".accounts') IS NOT NULL AS enabled;
BEGIN;
UPDATE "rt ""audited""".accounts SET note = '2pc' WHERE id = 5;
PREPARE TRANSACTION 'rt_2pc';
SELECT count(*) AS prepared FROM pg_prepared_xacts;
SELECT ge_security.audit_seal() >= 0 AS sealed;
ROLLBACK PREPARED 'rt_2pc';
SELECT ok, problem FROM ge_security.audit_verify();

-- a role renamed in the middle of a session is recorded under its new name at once
SET ROLE rt_app;
UPDATE "rt ""audited""".accounts SET note = 'before rename' WHERE id = 5;
RESET ROLE;
ALTER ROLE rt_app RENAME TO rt_app_renamed;
SET ROLE rt_app_renamed;
UPDATE "rt ""audited""".accounts SET note = 'after rename' WHERE id = 5;
RESET ROLE;
ALTER ROLE rt_app_renamed RENAME TO rt_app;
SELECT new_row ->> 'note' AS note, current_user_name FROM ge_security.audit_log
 WHERE new_row ->> 'note' LIKE '%rename' ORDER BY id;

-- the writer checks the trail's shape: with a column added, audited writes are refused
-- with a clear error; once it is dropped again they resume (the dropped column stays in tuples)
-- (the DDL guard refuses the change outside maintenance; in maintenance a superuser can make it)
SELECT code FROM pg_temp.refused('ALTER TABLE ge_security.audit_log ADD COLUMN rt_extra int');
SET ge_security.maintenance = on;
ALTER TABLE ge_security.audit_log ADD COLUMN rt_extra int;
RESET ge_security.maintenance;
SELECT * FROM pg_temp.refused($$UPDATE "rt ""audited""".accounts SET note = 'misaligned' WHERE id = 5$$);
SET ge_security.maintenance = on;
ALTER TABLE ge_security.audit_log DROP COLUMN rt_extra;
RESET ge_security.maintenance;
UPDATE "rt ""audited""".accounts SET note = 'after shape change' WHERE id = 5;
SELECT new_row ->> 'note' AS note, op FROM ge_security.audit_log
 WHERE new_row ->> 'note' IN ('misaligned', 'after shape change') ORDER BY id;
SELECT ok, problem FROM ge_security.audit_verify();

-- indexes a DBA adds to the trail for queries are maintained, expression and partial ones too
CREATE INDEX rt_audit_actor ON ge_security.audit_log ((lower(actor)));
CREATE INDEX rt_audit_deletes ON ge_security.audit_log (id) WHERE op = 'DELETE';
SET ROLE rt_app;
SET app.current_actor = 'User:IDX';
UPDATE "rt ""audited""".accounts SET note = 'indexed' WHERE id = 5;
DELETE FROM "rt ""audited""".accounts WHERE id = 5;
RESET app.current_actor;
RESET ROLE;
SET enable_seqscan = off;
SELECT op, actor FROM ge_security.audit_log WHERE lower(actor) = 'user:idx' ORDER BY id;
SELECT count(*) AS deletes_found_through_partial_index FROM ge_security.audit_log
 WHERE op = 'DELETE' AND id > 0;
RESET enable_seqscan;
SELECT count(*) AS deletes_by_scan FROM ge_security.audit_log WHERE op = 'DELETE';
DROP INDEX ge_security.rt_audit_actor, ge_security.rt_audit_deletes;

DROP SCHEMA "rt ""audited""" CASCADE;
DROP TABLE public.rt_nokey;
DROP ROLE rt_app, rt_reader;
