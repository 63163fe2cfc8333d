-- Retention and archival of the trail: the retention setting, audit_export() and audit_prune()
-- arguments, privileges and refusals, and what an archive's lines hold. Pruning past the
-- retention, the archive script and the floor across restarts: scenario audit_retention.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
CREATE ROLE ret_app LOGIN;
CREATE ROLE ret_auditor LOGIN;
GRANT ge_security_auditor TO ret_auditor;
CREATE TABLE public.ret_t (id int PRIMARY KEY, v text, doc jsonb);
GRANT SELECT, INSERT ON public.ret_t TO ret_app;
SELECT ge_security.enable_audit('public.ret_t');
SELECT ge_security.audit_seal() >= 0 AS sealed_what_came_before;
SET ROLE ret_app;
INSERT INTO public.ret_t VALUES (1, 'plain', '{"n": 1.50, "a": [1, "x"]}'),
                                (2, E'caf\u00e9 "quoted" \\ \u0001 \U0001F600', NULL);
RESET ROLE;
SELECT ge_security.audit_seal() AS sealed;
SELECT max(block_no) AS b FROM ge_security.audit_block \gset

-- the retention: 365 days unless the server was started with another value; never lower
SHOW ge_security.audit_retention;
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.audit_retention = '364 days'$$);
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.audit_retention = '-1 year'$$);
SELECT code, message, detail FROM pg_temp.error_report($$SET ge_security.audit_retention = 'forever'$$);
SET ge_security.audit_retention = '2 years';
SHOW ge_security.audit_retention;
RESET ge_security.audit_retention;

-- audit_prune(): arguments, then blocks inside the retention, for a superuser in maintenance
-- mode and replica mode too
SELECT * FROM pg_temp.refused($$SELECT ge_security.audit_prune(NULL)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.audit_prune(0)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.audit_prune(-5)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.audit_prune(9223372036854775807)$$);
SELECT code, regexp_replace(message, '\d+', 'N', 'g') AS message,
       regexp_replace(detail, '^block \d+ was sealed at .+: its rows may leave the database from .+ \(',
                      'block N was sealed at T: its rows may leave the database from T + retention (') AS detail,
       hint
  FROM pg_temp.error_report(format('SELECT ge_security.audit_prune(%s)', :b));
SET ge_security.maintenance = on;
SET session_replication_role = replica;
SELECT code, regexp_replace(message, '\d+', 'N', 'g') AS message
  FROM pg_temp.error_report('SELECT ge_security.audit_prune(1)');
RESET session_replication_role;
RESET ge_security.maintenance;
SELECT count(*) AS prune_records FROM ge_security.audit_log WHERE row_key ? 'pruned_through_block';

-- audit_export(): arguments
SELECT * FROM pg_temp.refused($$SELECT ge_security.audit_export(NULL, 1)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.audit_export(1, NULL)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.audit_export(0, 1)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.audit_export(3, 2)$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.audit_export(1, 9223372036854775807)$$);

-- privileges: the application role may do neither; an auditor exports but never prunes, even
-- when granted the function
SET ROLE ret_app;
SELECT * FROM pg_temp.refused(format('SELECT ge_security.audit_export(%s, %s)', :b, :b));
SELECT * FROM pg_temp.refused(format('SELECT ge_security.audit_prune(%s)', :b));
RESET ROLE;
GRANT EXECUTE ON FUNCTION ge_security.audit_prune(bigint) TO ret_auditor;
SET ROLE ret_auditor;
SELECT count(*) > 0 AS auditor_exports FROM ge_security.audit_export(:b, :b);
SELECT * FROM pg_temp.refused(format('SELECT ge_security.audit_prune(%s)', :b));
RESET ROLE;
REVOKE EXECUTE ON FUNCTION ge_security.audit_prune(bigint) FROM ret_auditor;
SELECT has_function_privilege('public', 'ge_security.audit_export(bigint, bigint)', 'EXECUTE') AS public_exports,
       has_function_privilege('public', 'ge_security.audit_prune(bigint)', 'EXECUTE') AS public_prunes;

-- the archive of the newest block: a header, the block, its two rows; every line ASCII
CREATE TEMP TABLE archive AS
  SELECT n, line, line::jsonb AS j FROM ge_security.audit_export(:b, :b) WITH ORDINALITY AS a(line, n);
SELECT n, j->>'type' AS type, line ~ '^[ -~]*$' AS ascii FROM archive ORDER BY n;
SELECT j->'format', j->'format_version', j->'server_encoding', (j->>'from_block')::bigint = :b AS from_b,
       (j->>'to_block')::bigint = :b AS to_b, (j->>'last_block')::bigint = :b AS last_b,
       jsonb_path_query_array(j, '$.columns[*].name') AS columns,
       jsonb_path_query_array(j, '$.columns[*].form') AS forms
  FROM archive WHERE n = 1;
-- the block line holds the stored header
SELECT (a.j->>'block_no')::bigint = b.block_no AS block_no, (a.j->>'first_id')::bigint = b.first_id AS first_id,
       (a.j->>'last_id')::bigint = b.last_id AS last_id, (a.j->>'row_count')::bigint = b.row_count AS row_count,
       a.j->>'rows_root' = encode(b.rows_root, 'hex') AS rows_root, a.j->>'prev_hash' = encode(b.prev_hash, 'hex') AS prev_hash,
       a.j->>'block_hash' = encode(b.block_hash, 'hex') AS block_hash,
       (a.j->>'sealed_at_micros')::numeric = (extract(epoch FROM b.sealed_at) - 946684800) * 1000000 AS sealed_at,
       a.j->'rows_included' AS rows_included
  FROM archive a JOIN ge_security.audit_block b ON b.block_no = :b WHERE a.n = 2;
-- each row line holds every stored column in its canonical form: integers, and text as stored
-- or as printed (jsonb_out, array_out, inet_out)
SELECT a.j->'encoding' AS encoding, a.j->>'row_hash' = encode(l.row_hash, 'hex') AS row_hash,
       (a.j->'fields'->>'id')::bigint = l.id AS id_ok,
       (a.j->'fields'->>'at')::numeric = (extract(epoch FROM l.at) - 946684800) * 1000000 AS at_ok,
       (a.j->'fields'->>'txid')::text = l.txid::text AS txid_ok,
       a.j->'fields'->>'new_row' = l.new_row::text AS new_row_ok,
       a.j->'fields'->>'row_key' = l.row_key::text AS row_key_ok,
       a.j->'fields'->'old_row' AS old_row, a.j->'fields'->'client_addr' AS client_addr,
       a.j->'fields'->>'session_user_name' = l.session_user_name AS session_user_ok,
       a.j->'fields'->>'op' AS op, a.j->'fields'->>'table_name' AS table_name
  FROM archive a JOIN ge_security.audit_log l ON l.id = (a.j->'fields'->>'id')::bigint
 WHERE a.j->>'type' = 'row' ORDER BY l.id;
-- non-ASCII characters and control characters are \u escapes of the stored UTF-8
SELECT position('\u00e9' IN line) > 0 AS e_acute, position('\ud83d\ude00' IN line) > 0 AS surrogates,
       position('\u0001' IN line) > 0 AS control, position('\\\\' IN line) > 0 AS backslash
  FROM archive WHERE j->>'type' = 'row' AND line LIKE '%caf%';

DROP TABLE archive;
SELECT ge_security.disable_audit('public.ret_t');
DROP TABLE public.ret_t;
DROP ROLE ret_app;
DROP ROLE ret_auditor;
