-- Batched audit writes: a statement's audit rows are buffered while its AFTER triggers run and
-- written when it ends. Bulk statements are audited exactly as the same changes made one row per
-- statement; rolled-back savepoints and failed statements write nothing; nested statements,
-- cascades and deferred triggers write their rows; a statement sees the rows of the one before.
\set VERBOSITY terse
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- the audit rows of the tables whose names start with prefix, in id order, without what
-- differs by design (id, time, transaction, hash) and with the prefix taken out of the name
CREATE FUNCTION pg_temp.trail_of(prefix text)
RETURNS TABLE (op text, table_name text, row_key jsonb, old_row jsonb, new_row jsonb,
               changed_columns text[], current_user_name text)
LANGUAGE sql AS $$
  SELECT op, replace(table_name, prefix, '*'), row_key, old_row, new_row, changed_columns,
         current_user_name
    FROM ge_security.audit_log
   WHERE table_name LIKE 'public.' || prefix || '%'
   ORDER BY id
$$;
-- the rows each trail has that the other lacks (as multisets); none when they agree
CREATE FUNCTION pg_temp.differences(a text, b text) RETURNS bigint LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM (SELECT * FROM pg_temp.trail_of(a) EXCEPT ALL
                                SELECT * FROM pg_temp.trail_of(b)) x)
       + (SELECT count(*) FROM (SELECT * FROM pg_temp.trail_of(b) EXCEPT ALL
                                SELECT * FROM pg_temp.trail_of(a)) y)
$$;

-- Twin tables: one changed by bulk statements, one by the same changes one row per statement.
CREATE TABLE ab_bulk (id int PRIMARY KEY, v text, n numeric, at timestamptz, tags text[]);
CREATE TABLE ab_rows (LIKE ab_bulk INCLUDING ALL);
SELECT ge_security.enable_audit('ab_bulk') IS NOT NULL AS bulk_audited,
       ge_security.enable_audit('ab_rows') IS NOT NULL AS rows_audited;

-- INSERT ... SELECT of more rows than one flush holds
INSERT INTO ab_bulk SELECT g, 'v' || g, g / 7.0, '2024-01-01'::timestamptz + g * interval '1 min',
                           ARRAY['t' || g % 3]
  FROM generate_series(1, 2500) g;
DO $$ BEGIN FOR g IN 1..2500 LOOP
  INSERT INTO ab_rows VALUES (g, 'v' || g, g / 7.0, '2024-01-01'::timestamptz + g * interval '1 min',
                              ARRAY['t' || g % 3]);
END LOOP; END $$;
-- UPDATE of some rows, some of them to the same value (no changed column)
UPDATE ab_bulk SET v = CASE WHEN id % 2 = 0 THEN v ELSE v || '!' END WHERE id % 3 = 0;
DO $$ DECLARE r record; BEGIN FOR r IN SELECT id FROM ab_rows WHERE id % 3 = 0 LOOP
  UPDATE ab_rows SET v = CASE WHEN id % 2 = 0 THEN v ELSE v || '!' END WHERE id = r.id;
END LOOP; END $$;
-- INSERT ... ON CONFLICT: half the rows exist
INSERT INTO ab_bulk SELECT g, 'upsert ' || g FROM generate_series(2400, 2600) g
  ON CONFLICT (id) DO UPDATE SET v = excluded.v, n = NULL;
DO $$ BEGIN FOR g IN 2400..2600 LOOP
  INSERT INTO ab_rows VALUES (g, 'upsert ' || g) ON CONFLICT (id) DO UPDATE SET v = excluded.v, n = NULL;
END LOOP; END $$;
-- MERGE: delete, update and insert in one statement
MERGE INTO ab_bulk t USING (SELECT g AS id FROM generate_series(2550, 2700) g) s ON t.id = s.id
  WHEN MATCHED AND t.id % 2 = 0 THEN DELETE
  WHEN MATCHED THEN UPDATE SET tags = ARRAY['merged']
  WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, 'merged ' || s.id);
DO $$ BEGIN FOR g IN 2550..2700 LOOP
  MERGE INTO ab_rows t USING (SELECT g AS id) s ON t.id = s.id
    WHEN MATCHED AND t.id % 2 = 0 THEN DELETE
    WHEN MATCHED THEN UPDATE SET tags = ARRAY['merged']
    WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, 'merged ' || s.id);
END LOOP; END $$;
-- COPY FROM
COPY ab_bulk (id, v, n) FROM STDIN;
3001	copied	1.5
3002	\N	2.5
3003	tab\there	\N
\.
INSERT INTO ab_rows (id, v, n) VALUES (3001, 'copied', 1.5);
INSERT INTO ab_rows (id, v, n) VALUES (3002, NULL, 2.5);
INSERT INTO ab_rows (id, v, n) VALUES (3003, E'tab\there', NULL);
-- DELETE
DELETE FROM ab_bulk WHERE id BETWEEN 100 AND 1300;
DO $$ BEGIN FOR g IN 100..1300 LOOP DELETE FROM ab_rows WHERE id = g; END LOOP; END $$;
SELECT count(*) AS bulk_rows FROM pg_temp.trail_of('ab_bulk');
SELECT pg_temp.differences('ab_bulk', 'ab_rows') AS differences;

-- Partitioned targets: rows routed to partitions, and moved between them by an UPDATE.
CREATE TABLE ab_pbulk (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE ab_pbulk_low PARTITION OF ab_pbulk FOR VALUES FROM (0) TO (1000);
CREATE TABLE ab_pbulk_high PARTITION OF ab_pbulk FOR VALUES FROM (1000) TO (3000);
CREATE TABLE ab_prows (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE ab_prows_low PARTITION OF ab_prows FOR VALUES FROM (0) TO (1000);
CREATE TABLE ab_prows_high PARTITION OF ab_prows FOR VALUES FROM (1000) TO (3000);
SELECT ge_security.enable_audit('ab_pbulk') IS NOT NULL AS pbulk_audited,
       ge_security.enable_audit('ab_prows') IS NOT NULL AS prows_audited;
INSERT INTO ab_pbulk SELECT g, 'p' || g FROM generate_series(900, 1100) g;
DO $$ BEGIN FOR g IN 900..1100 LOOP INSERT INTO ab_prows VALUES (g, 'p' || g); END LOOP; END $$;
UPDATE ab_pbulk SET id = id + 1000 WHERE id BETWEEN 900 AND 950;
DO $$ BEGIN FOR g IN 900..950 LOOP UPDATE ab_prows SET id = id + 1000 WHERE id = g; END LOOP; END $$;
SELECT count(*) AS partition_rows FROM pg_temp.trail_of('ab_pbulk');
SELECT pg_temp.differences('ab_pbulk', 'ab_prows') AS partition_differences;

-- A statement sees the audit rows of the statement before it in the same transaction.
BEGIN;
UPDATE ab_bulk SET v = 'seen' WHERE id <= 10;
SELECT count(*) AS seen_rows FROM ge_security.audit_log
 WHERE table_name = 'public.ab_bulk' AND new_row ->> 'v' = 'seen';
COMMIT;

-- A savepoint rolled back writes none of its rows, whether flushed in chunks or still buffered;
-- the rest of the transaction keeps its own.
BEGIN;
UPDATE ab_bulk SET v = 'kept' WHERE id <= 5;
SAVEPOINT s;
UPDATE ab_bulk SET v = 'gone' WHERE id <= 2000;
UPDATE ab_bulk SET v = 'gone too' WHERE id <= 3;
ROLLBACK TO s;
UPDATE ab_bulk SET v = 'kept again' WHERE id <= 3;
COMMIT;
SELECT count(*) FILTER (WHERE new_row ->> 'v' LIKE 'gone%') AS gone,
       count(*) FILTER (WHERE new_row ->> 'v' LIKE 'kept%') AS kept
  FROM ge_security.audit_log WHERE table_name = 'public.ab_bulk';

-- Inside a bulk statement, a function whose exception block rolls back its subtransaction for
-- every other row: only the rows of the subtransactions that committed are audited.
CREATE TABLE ab_side (id int PRIMARY KEY, k int);
SELECT ge_security.enable_audit('ab_side') IS NOT NULL AS side_audited;
CREATE FUNCTION ab_touch(i int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    INSERT INTO ab_side VALUES (i, 1);
    IF i % 2 = 0 THEN RAISE EXCEPTION 'refused'; END IF;
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  RETURN i;
END $$;
UPDATE ab_bulk SET n = ab_touch(id) WHERE id <= 20;
SELECT (SELECT count(*) FROM ge_security.audit_log WHERE table_name = 'public.ab_side'
          AND op = 'INSERT') AS side_rows,
       (SELECT count(*) FROM ab_side) AS side_committed;

-- An error half-way through a statement (after more rows than one flush holds) writes nothing,
-- and so does an error raised by a later AFTER trigger of the same statement.
SELECT count(*) AS trail_before FROM ge_security.audit_log WHERE op <> 'DDL' \gset
SELECT pg_temp.error_of('UPDATE ab_bulk SET n = 1 / (2500 - id)');
-- the 1,200th row's later trigger fails, after a chunk of 1,000 rows was written
CREATE FUNCTION ab_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('ab.fired', (coalesce(nullif(current_setting('ab.fired', true), ''), '0')::int + 1)::text, true);
  IF current_setting('ab.fired')::int = 1200 THEN RAISE EXCEPTION 'refused by a later trigger'; END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER zz_refuse AFTER UPDATE ON ab_rows FOR EACH ROW EXECUTE FUNCTION ab_refuse();
SELECT count(*) >= 1200 AS enough_rows FROM ab_rows;
SELECT pg_temp.error_of('UPDATE ab_rows SET n = 0');
DROP TRIGGER zz_refuse ON ab_rows;
SELECT count(*) - :trail_before AS rows_written_by_failures FROM ge_security.audit_log
 WHERE op <> 'DDL';

-- Triggers that fire triggers: every row of the outer and the inner statements is audited.
CREATE FUNCTION ab_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ab_side VALUES (NEW.id + 10000, NEW.id) ON CONFLICT (id) DO UPDATE SET k = excluded.k + 1;
  RETURN NULL;
END $$;
CREATE TRIGGER ab_cascade AFTER UPDATE ON ab_bulk FOR EACH ROW EXECUTE FUNCTION ab_cascade();
UPDATE ab_bulk SET n = -1 WHERE id BETWEEN 2000 AND 2099;
DROP TRIGGER ab_cascade ON ab_bulk;
SELECT (SELECT count(*) FROM ge_security.audit_log
         WHERE table_name = 'public.ab_bulk' AND new_row ->> 'n' = '-1') AS outer_rows,
       (SELECT count(*) FROM ge_security.audit_log
         WHERE table_name = 'public.ab_side' AND (row_key ->> 'id')::int > 10000) AS inner_rows;

-- A foreign key's cascade is audited row by row (a cascade runs at once, even when its
-- constraint is deferrable: only its checks wait for COMMIT).
CREATE TABLE ab_child (id int PRIMARY KEY, parent int REFERENCES ab_bulk ON DELETE CASCADE);
CREATE TABLE ab_late (id int PRIMARY KEY,
  parent int REFERENCES ab_bulk ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
SELECT ge_security.enable_audit('ab_child') IS NOT NULL AS child_audited,
       ge_security.enable_audit('ab_late') IS NOT NULL AS late_audited;
INSERT INTO ab_child SELECT g, g FROM generate_series(2000, 2049) g;
INSERT INTO ab_late SELECT g, g FROM generate_series(2050, 2099) g;
BEGIN;
DELETE FROM ab_bulk WHERE id BETWEEN 2000 AND 2099;
SELECT count(*) AS late_rows_in_the_statement FROM ge_security.audit_log
 WHERE table_name = 'public.ab_late' AND op = 'DELETE';
COMMIT;
SELECT (SELECT count(*) FROM ge_security.audit_log
         WHERE table_name = 'public.ab_child' AND op = 'DELETE') AS child_deletes,
       (SELECT count(*) FROM ge_security.audit_log
         WHERE table_name = 'public.ab_late' AND op = 'DELETE') AS late_deletes;

-- A deferred constraint trigger changing an audited table at COMMIT is audited.
CREATE FUNCTION ab_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ab_side SET k = -1 WHERE id = NEW.id;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ab_at_commit AFTER UPDATE ON ab_bulk DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION ab_at_commit();
UPDATE ab_bulk SET v = 'deferred' WHERE id IN (1, 3, 5);
DROP TRIGGER ab_at_commit ON ab_bulk;
SELECT count(*) AS deferred_rows FROM ge_security.audit_log
 WHERE table_name = 'public.ab_side' AND new_row ->> 'k' = '-1';

-- Every audited change has exactly one row, and all of it verifies clean once sealed.
SELECT (SELECT count(*) FROM ge_security.audit_log WHERE table_name = 'public.ab_side'
          AND op = 'INSERT') = (SELECT count(*) FROM ab_side) AS side_inserts_match;
SELECT ge_security.audit_seal() > 0 AS sealed;
SELECT ok, problem FROM ge_security.audit_verify();
DROP TABLE ab_child, ab_late, ab_bulk, ab_rows, ab_pbulk, ab_prows, ab_side;
DROP FUNCTION ab_touch(int), ab_refuse(), ab_cascade(), ab_at_commit();
