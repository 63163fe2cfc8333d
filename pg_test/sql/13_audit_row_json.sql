-- The audited rows are exactly to_jsonb(row), whether the trigger builds them directly (integer,
-- boolean and text columns) or through to_jsonb (any other type): hostile values included.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
CREATE TABLE rt_direct (
  id bigint PRIMARY KEY, small smallint, medium integer, flag boolean,
  body text, short varchar(12), padded char(6), "Odd ""Name""" text, gone int
);
ALTER TABLE rt_direct DROP COLUMN gone;
SELECT ge_security.enable_audit('rt_direct') IS NOT NULL AS audited;
INSERT INTO rt_direct VALUES
  (1, -32768, -2147483648, true, 'plain', 'v', 'ab', 'x'),
  (-9223372036854775808, 32767, 2147483647, false, '', '', '', ''),
  (9223372036854775807, 0, 0, NULL, NULL, NULL, NULL, NULL),
  (10000, 100, 1000000, true, E'quote " backslash \\ newline \n tab \t bell \x07 é ✓ 😀', 'ünïcødé', 'é', '{"not": "json"}'),
  (5, 1, 1, false, repeat('long and compressible ', 20000), 'x', 'y', 'z');
UPDATE rt_direct SET body = body || '!', flag = NOT flag WHERE id IN (1, 5);
DELETE FROM rt_direct WHERE id = 10000;
-- an incompressible value stored out of line (TOAST) is read back whole
INSERT INTO rt_direct (id, body)
  SELECT 6, string_agg(md5(g::text) || md5((g * 7)::text), '') FROM generate_series(1, 3000) g;

-- a text key, and column names that need escaping or sort by byte length (é is two bytes)
CREATE TABLE rt_textkey ("code ""k"" \ key" text PRIMARY KEY, "é" int, "a" text, "tab	name" bool);
SELECT ge_security.enable_audit('rt_textkey') IS NOT NULL AS audited;
INSERT INTO rt_textkey VALUES
  (E'ctl \x01 \x1f del \x7f ls \u2028 \\u0041 "', -1, E'\b\f\r', true),
  ('', NULL, '', NULL);
UPDATE rt_textkey SET "é" = 7, "tab	name" = false WHERE "code ""k"" \ key" = '';

CREATE TABLE rt_generic (
  id int PRIMARY KEY, at timestamptz, amount numeric, ratio float8, tags text[], doc jsonb,
  d date, addr inet
);
SELECT ge_security.enable_audit('rt_generic') IS NOT NULL AS audited;
INSERT INTO rt_generic VALUES
  (1, '2026-01-02 03:04:05.678901+00', 1.50, 'NaN', '{a,"b c",NULL}', '{"z": 1, "a": [true, null]}',
   '2026-11-28', '10.0.0.1/8'),
  (2, NULL, -0.000001, 1e308, '{}', 'null', 'infinity', NULL);

-- every image equals to_jsonb of the row as stored (text, hence hash input, included)
SELECT l.table_name, l.op, count(*) AS images,
       bool_and(coalesce(l.new_row, l.old_row) = to_jsonb(t) AND
                coalesce(l.new_row, l.old_row)::text = to_jsonb(t)::text) AS same_as_to_jsonb
  FROM ge_security.audit_log l
  JOIN LATERAL (SELECT * FROM jsonb_populate_record(NULL::rt_direct, coalesce(l.new_row, l.old_row))) t ON true
 WHERE l.table_name = 'public.rt_direct' AND l.op <> 'DDL'
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT l.table_name, l.op, count(*) AS images,
       bool_and(coalesce(l.new_row, l.old_row)::text = to_jsonb(t)::text) AS same_as_to_jsonb
  FROM ge_security.audit_log l
  JOIN LATERAL (SELECT * FROM jsonb_populate_record(NULL::rt_textkey, coalesce(l.new_row, l.old_row))) t ON true
 WHERE l.table_name = 'public.rt_textkey' AND l.op <> 'DDL'
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT row_key, new_row, changed_columns FROM ge_security.audit_log WHERE table_name = 'public.rt_textkey' AND op <> 'DDL'
 ORDER BY id;
SELECT l.table_name, l.op, count(*) AS images,
       bool_and(l.new_row::text = to_jsonb(t)::text) AS same_as_to_jsonb
  FROM ge_security.audit_log l
  JOIN LATERAL (SELECT * FROM jsonb_populate_record(NULL::rt_generic, l.new_row)) t ON true
 WHERE l.table_name = 'public.rt_generic' AND l.op <> 'DDL'
 GROUP BY 1, 2 ORDER BY 1, 2;
-- and against the live rows themselves
SELECT count(*) AS live_rows_matching FROM rt_direct d
  JOIN LATERAL (SELECT new_row FROM ge_security.audit_log
                 WHERE table_name = 'public.rt_direct' AND row_key = jsonb_build_object('id', d.id)
                 ORDER BY id DESC LIMIT 1) l ON true
 WHERE l.new_row::text = to_jsonb(d)::text;
SELECT new_row ->> 'Odd "Name"' AS odd, new_row -> 'small' AS small, new_row -> 'flag' AS flag,
       length(new_row ->> 'body') AS body_len
  FROM ge_security.audit_log WHERE table_name = 'public.rt_direct' AND op = 'UPDATE' ORDER BY id;
-- a column of another type added later: the table leaves the direct path at once
ALTER TABLE rt_direct ADD COLUMN touched timestamptz DEFAULT '2026-01-02 03:04:05+00';
UPDATE rt_direct SET small = 2 WHERE id = 6;
SELECT l.new_row::text = to_jsonb(d)::text AS same_as_to_jsonb, l.new_row ->> 'touched' AS touched
  FROM rt_direct d
  JOIN LATERAL (SELECT new_row FROM ge_security.audit_log
                 WHERE table_name = 'public.rt_direct' AND op = 'UPDATE'
                 ORDER BY id DESC LIMIT 1) l ON true
 WHERE d.id = 6;
-- changed_columns compares stored bytes: a same-length edit counts, rewriting a value does not
UPDATE rt_direct SET short = 'w', padded = padded, body = body, medium = medium, touched = touched
 WHERE id = 1;
SELECT changed_columns FROM ge_security.audit_log WHERE table_name = 'public.rt_direct'
 ORDER BY id DESC LIMIT 1;
UPDATE rt_direct SET small = 3 WHERE id = 6;
SELECT changed_columns FROM ge_security.audit_log WHERE table_name = 'public.rt_direct'
 ORDER BY id DESC LIMIT 1;
-- the session's application_name as set at the time of the write; an empty one is NULL
SET application_name = 'billing-api "v2"';
UPDATE rt_direct SET small = 4 WHERE id = 6;
SET application_name = '';
UPDATE rt_direct SET small = 5 WHERE id = 6;
RESET application_name;
SELECT new_row -> 'small' AS small, coalesce(application_name, '(null)') AS application_name
  FROM ge_security.audit_log
 WHERE table_name = 'public.rt_direct' ORDER BY id DESC LIMIT 2;
SELECT ge_security.audit_seal() > 0 AS sealed;
SELECT ok, problem FROM ge_security.audit_verify();

DROP TABLE rt_direct, rt_generic, rt_textkey;
