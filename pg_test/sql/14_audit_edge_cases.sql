-- Edge cases of the audit trigger found in review: misuse of the trigger function, values stored
-- differently but equal, json jsonb cannot hold, session output settings, renamed schemas,
-- deferrable keys, partitions and inheritance children, and an id sequence that caches.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
\set VERBOSITY terse

-- The trigger function attached by hand in a way it cannot work is refused, never run: a
-- statement-level INSERT has no row (this crashed the server), a BEFORE trigger would cancel rows.
CREATE TABLE ec_misuse (id int PRIMARY KEY);
CREATE TRIGGER by_statement AFTER INSERT ON ec_misuse
  FOR EACH STATEMENT EXECUTE FUNCTION ge_security.audit_trigger();
SELECT pg_temp.error_of('INSERT INTO ec_misuse VALUES (1)');
DROP TRIGGER by_statement ON ec_misuse;
CREATE TRIGGER before_row BEFORE INSERT ON ec_misuse
  FOR EACH ROW EXECUTE FUNCTION ge_security.audit_trigger();
SELECT pg_temp.error_of('INSERT INTO ec_misuse VALUES (2)');
DROP TRIGGER before_row ON ec_misuse;
CREATE TRIGGER truncate_before BEFORE TRUNCATE ON ec_misuse
  FOR EACH STATEMENT EXECUTE FUNCTION ge_security.audit_trigger();
SELECT pg_temp.error_of('TRUNCATE ec_misuse');
DROP TRIGGER truncate_before ON ec_misuse;
-- the same by an unprivileged role on its own table (this is how the crash was reachable)
CREATE ROLE ec_nobody NOLOGIN;
CREATE SCHEMA ec_nobody_schema AUTHORIZATION ec_nobody;
SET ROLE ec_nobody;
CREATE TABLE ec_nobody_schema.mine (id int PRIMARY KEY);
CREATE TRIGGER by_statement AFTER INSERT ON ec_nobody_schema.mine
  FOR EACH STATEMENT EXECUTE FUNCTION ge_security.audit_trigger();
SELECT pg_temp.error_of('INSERT INTO ec_nobody_schema.mine VALUES (1)');
RESET ROLE;
DROP SCHEMA ec_nobody_schema CASCADE;
DROP ROLE ec_nobody;
SELECT count(*) AS misuse_rows FROM ge_security.audit_log WHERE table_name = 'public.ec_misuse';
SELECT count(*) AS misuse_table_rows FROM ec_misuse;

-- changed_columns names only columns whose value changed: not a column added with a default
-- (stored with another header), not one the toaster compressed, not one given a new TOAST pointer.
CREATE TABLE ec_equal (id int PRIMARY KEY, amt numeric, b text, c text);
SELECT ge_security.enable_audit('ec_equal') IS NOT NULL AS audited;
INSERT INTO ec_equal VALUES (1, 1.5, repeat('ab', 700), 'small');
ALTER TABLE ec_equal ADD COLUMN e text DEFAULT 'dflt', ADD COLUMN g numeric DEFAULT 2.50,
  ADD COLUMN arr int[] DEFAULT '{1,2}';
UPDATE ec_equal SET amt = 1.6;
UPDATE ec_equal SET c = repeat('xy', 700);
INSERT INTO ec_equal (id, b, c) VALUES (2, repeat(md5('q'), 100000), 'x');
UPDATE ec_equal SET b = b || '' WHERE id = 2;
UPDATE ec_equal SET b = b || '!' WHERE id = 2;
SELECT op, changed_columns FROM ge_security.audit_log
 WHERE table_name = 'public.ec_equal' AND op = 'UPDATE' ORDER BY id;

-- json that jsonb cannot hold (a \u0000 escape) is recorded as the text of each column instead
-- of failing the write; the table stays writable.
CREATE TABLE ec_json (id int PRIMARY KEY, js json, n int);
INSERT INTO ec_json VALUES (1, '{"a": "\u0000"}', 1);
SELECT ge_security.enable_audit('ec_json') IS NOT NULL AS audited;
INSERT INTO ec_json VALUES (2, '{"a": "\u0000"}', 2), (3, '{"b": [1, 2]}', 3);
UPDATE ec_json SET n = n + 10 WHERE id = 1;
DELETE FROM ec_json WHERE id = 2;
SELECT op, row_key, old_row, new_row FROM ge_security.audit_log
 WHERE table_name = 'public.ec_json' AND op <> 'DDL' ORDER BY id;

-- the fallback runs in its own subtransaction: savepoints and exception blocks around the write
-- roll back the row and its audit row together, and find their own subtransactions intact
BEGIN;
SAVEPOINT before_write;
INSERT INTO ec_json VALUES (4, '{"a": "\u0000"}', 4);
ROLLBACK TO SAVEPOINT before_write;
INSERT INTO ec_json VALUES (5, '{"a": "\u0000"}', 5);
COMMIT;
DO $$
BEGIN
  INSERT INTO ec_json VALUES (6, '{"a": "\u0000"}', 6);
  RAISE EXCEPTION 'undo';
EXCEPTION WHEN raise_exception THEN
  INSERT INTO ec_json VALUES (7, '{"a": "\u0000"}', 7);
END $$;
SELECT array_agg(id ORDER BY id) AS rows FROM ec_json;
SELECT array_agg((row_key ->> 'id')::int ORDER BY id) AS audited_inserts FROM ge_security.audit_log
 WHERE table_name = 'public.ec_json' AND op = 'INSERT';

-- a composite type that gains a json attribute after this session cached the table's image
-- path: the table is looked at again, and a value jsonb cannot hold still falls back
CREATE TYPE ec_pair AS (a int);
CREATE TABLE ec_composite (id int PRIMARY KEY, p ec_pair, at timestamptz);
SELECT ge_security.enable_audit('ec_composite') IS NOT NULL AS audited;
INSERT INTO ec_composite VALUES (1, ROW(1), NULL);
ALTER TYPE ec_pair ADD ATTRIBUTE j json;
INSERT INTO ec_composite VALUES (2, ROW(2, '"\u0000"'), NULL);
SELECT new_row FROM ge_security.audit_log
 WHERE table_name = 'public.ec_composite' AND op = 'INSERT' ORDER BY id;

-- The session's output settings do not change what is recorded: floats exact whatever
-- extra_float_digits, keys printed with ISO dates and hex bytea whatever DateStyle and bytea_output.
CREATE TABLE ec_settings (at timestamp, tag bytea, price float8, r real, PRIMARY KEY (at, tag));
SELECT ge_security.enable_audit('ec_settings') IS NOT NULL AS audited;
INSERT INTO ec_settings VALUES ('2026-01-02 03:04:05', '\x01ff', 1234.5678, 9.87654);
SET extra_float_digits = -15;
SET DateStyle = 'SQL, DMY';
SET bytea_output = 'escape';
SET IntervalStyle = 'sql_standard';
UPDATE ec_settings SET price = 1234.9999;
SHOW extra_float_digits;
SHOW DateStyle;
RESET extra_float_digits;
RESET DateStyle;
RESET bytea_output;
RESET IntervalStyle;
SELECT op, row_key, new_row, changed_columns FROM ge_security.audit_log
 WHERE table_name = 'public.ec_settings' AND op <> 'DDL' ORDER BY id;

-- a key of a domain over an integer is a number, as in the row image
CREATE DOMAIN ec_uid AS int8;
CREATE TABLE ec_domain_key (id ec_uid PRIMARY KEY, at timestamptz);
SELECT ge_security.enable_audit('ec_domain_key') IS NOT NULL AS audited;
INSERT INTO ec_domain_key VALUES (42, NULL);
SELECT row_key, new_row FROM ge_security.audit_log
 WHERE table_name = 'public.ec_domain_key' AND op = 'INSERT';

-- a renamed schema shows at once in the table name recorded, in the same session
CREATE SCHEMA ec_s1;
CREATE TABLE ec_s1.r (id int PRIMARY KEY, v text);
SELECT ge_security.enable_audit('ec_s1.r') IS NOT NULL AS audited;
INSERT INTO ec_s1.r VALUES (1, 'a');
ALTER SCHEMA ec_s1 RENAME TO ec_s2;
INSERT INTO ec_s2.r VALUES (2, 'b');
SELECT op, table_name, row_key FROM ge_security.audit_log
 WHERE table_name IN ('ec_s1.r', 'ec_s2.r') AND op <> 'DDL' ORDER BY id;

-- a DEFERRABLE primary key is a key (PostgreSQL's key bitmap leaves it out)
CREATE TABLE ec_deferrable (id int PRIMARY KEY DEFERRABLE, v text);
SELECT ge_security.enable_audit('ec_deferrable') IS NOT NULL AS audited;
INSERT INTO ec_deferrable VALUES (7, 'x');
SELECT op, row_key FROM ge_security.audit_log
 WHERE table_name = 'public.ec_deferrable' AND op <> 'DDL' ORDER BY id;

-- partitions: TRUNCATE of one partition is recorded too; inheritance children: rows changed
-- through the parent are recorded; disable_audit removes every trigger it added.
CREATE TABLE ec_part (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE ec_part_eu PARTITION OF ec_part FOR VALUES IN ('eu');
CREATE TABLE ec_part_us PARTITION OF ec_part FOR VALUES IN ('us');
SELECT ge_security.enable_audit('ec_part');
INSERT INTO ec_part VALUES (1, 'eu'), (2, 'us');
TRUNCATE ec_part_eu;
TRUNCATE ec_part;
CREATE TABLE ec_parent (id int PRIMARY KEY, v text);
CREATE TABLE ec_child (extra int) INHERITS (ec_parent);
ALTER TABLE ec_child ADD PRIMARY KEY (id);
SELECT ge_security.enable_audit('ec_parent');
INSERT INTO ec_parent VALUES (1, 'p');
INSERT INTO ec_child VALUES (2, 'c', 0);
UPDATE ec_parent SET v = v || '!';
SELECT op, table_name, row_key FROM ge_security.audit_log
 WHERE table_name ~ 'ec_(part|parent|child)' AND op <> 'DDL' ORDER BY id;
SELECT ge_security.disable_audit('ec_part');
SELECT ge_security.disable_audit('ec_parent');
SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relname ~ '^ec_(part|parent|child)' AND t.tgname LIKE 'ge_security%' ORDER BY 1, 2;
-- a partition whose parent is keyed only by its replica identity (which partitions do not
-- inherit) has no key of its own: refused up front rather than failing every write
CREATE TABLE ec_ri (id int NOT NULL, v text) PARTITION BY LIST (id);
CREATE UNIQUE INDEX ec_ri_id ON ec_ri (id);
ALTER TABLE ec_ri REPLICA IDENTITY USING INDEX ec_ri_id;
CREATE TABLE ec_ri_1 PARTITION OF ec_ri FOR VALUES IN (1);
SELECT pg_temp.error_of($$SELECT ge_security.enable_audit('ec_ri')$$);
-- a child without a key cannot be audited through its parent
CREATE TABLE ec_keyless_child () INHERITS (ec_parent);
SELECT pg_temp.error_of($$SELECT ge_security.enable_audit('ec_parent')$$);

-- an id sequence that caches or cycles would break the sealing horizon: writes and sealing are
-- refused until it is back to its definition. (The DDL guard refuses to alter it outside
-- maintenance; a superuser in maintenance mode can, and this is what then happens.)
SELECT pg_temp.error_of('ALTER SEQUENCE ge_security.audit_log_id_seq CACHE 20');
SET ge_security.maintenance = on;
ALTER SEQUENCE ge_security.audit_log_id_seq CACHE 20;
RESET ge_security.maintenance;
SELECT pg_temp.error_of($$INSERT INTO ec_deferrable VALUES (8, 'refused')$$);
SELECT pg_temp.error_of('SELECT ge_security.audit_seal()');
SET ge_security.maintenance = on;
ALTER SEQUENCE ge_security.audit_log_id_seq CACHE 1;
RESET ge_security.maintenance;
INSERT INTO ec_deferrable VALUES (8, 'accepted');
SELECT count(*) AS rows_for_8 FROM ge_security.audit_log
 WHERE table_name = 'public.ec_deferrable' AND row_key = '{"id": 8}';

-- all of it verifies clean once sealed
SELECT ge_security.audit_seal() > 0 AS sealed;
SELECT ok, problem FROM ge_security.audit_verify();
