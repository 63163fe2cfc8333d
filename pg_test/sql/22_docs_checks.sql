-- The check table of docs/sql_reference.md ("Check catalogue") says what checks() says: the same
-- check ids, each once, with its severity, category and controls in order, and the counts in the
-- sentence above the table. Every difference is listed below (none is expected); after adding or
-- changing a check, `make docs-checks` rewrites the table from checks(), keeping the "what it
-- finds" text of the checks it already lists. (run_regress.sh copies the page beside sql/.)
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
\set reference :abs_srcdir '/sql_reference.md'
CREATE TEMP TABLE doc_section AS
  SELECT substring(pg_read_file(:'reference') FROM '\n## Check catalogue\n(.*?)\n## ') AS body;
CREATE TEMP TABLE doc_check AS
  SELECT m[1] AS check_id, m[2] AS severity, m[3] AS category, string_to_array(m[4], ', ') AS controls
    FROM doc_section, regexp_split_to_table(body, '\n') AS line,
         regexp_match(line, '^\| `([a-z0-9_]+)` \| ([a-z]+) \| ([a-z_]+) \| .* \| ([^|]*) \|$') AS m
   WHERE m IS NOT NULL;

SELECT count(*) > 0 AS table_found FROM doc_check;
-- checks missing from the table, rows for no check, and rows that differ
SELECT coalesce(c.check_id, d.check_id) AS check_id,
       CASE WHEN d.check_id IS NULL THEN 'missing from the table'
            WHEN c.check_id IS NULL THEN 'not a check'
            ELSE 'differs' END AS problem,
       d.severity AS table_severity, c.severity, d.category AS table_category, c.category,
       d.controls AS table_controls, c.controls
  FROM ge_security.checks() c FULL JOIN doc_check d ON d.check_id = c.check_id
 WHERE c.check_id IS NULL OR d.check_id IS NULL OR d.severity <> c.severity
    OR d.category <> c.category OR d.controls <> c.controls
 ORDER BY 1;
SELECT check_id, count(*) AS rows_in_table FROM doc_check GROUP BY 1 HAVING count(*) > 1;
-- "N checks (M outside row-level security)"
SELECT (regexp_match(body, '(\d+) checks \((\d+) outside row-level security\)'))::int[] AS table_says,
       ARRAY[count(*), count(*) FILTER (WHERE category <> 'rls')]::int[] AS checks_says
  FROM doc_section, ge_security.checks()
 GROUP BY body
HAVING (regexp_match(body, '(\d+) checks \((\d+) outside row-level security\)'))::int[]
       IS DISTINCT FROM ARRAY[count(*), count(*) FILTER (WHERE category <> 'rls')]::int[];
