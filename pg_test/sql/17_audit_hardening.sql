-- Hardening of the audit functions, each attack performed as described and refused:
--   1. a superuser's hostile search_path (planted operators and functions) reaches nothing;
--   2. a role that does not own a table cannot lock it through enable_audit/disable_audit;
--   3. a cast to json the table owner creates does not decide what the trail records;
--   4. the actor setting cannot copy a setting hidden from ordinary roles into the trail;
--   5. digests: the empty trail and the genesis digest verify, malformed digests are refused;
--   6. every error a user can cause has its own SQLSTATE (never XX000) and a short message.
-- It runs in a database of its own, so that the trail starts empty, and drops it at the end.
\set VERBOSITY terse
CREATE DATABASE ah_audit;
\c ah_audit
SET client_min_messages = warning;
-- (dblink first: once ge_security is installed, CREATE EXTENSION is recorded in the trail)
CREATE EXTENSION dblink;
RESET client_min_messages;
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
-- ===== 5a. The empty trail and the genesis digest verify (both reported block_link_broken).
SELECT ge_security.audit_digest() AS empty_digest;
SELECT ok, problem, detail FROM ge_security.audit_verify(ge_security.audit_digest());
SELECT ok, problem, detail FROM ge_security.audit_verify('{"block_no": 0, "last_id": 0, "block_hash": null, "sealed_at": null}');
SELECT ok, problem FROM ge_security.audit_verify('{"block_no": 0, "last_id": 0, "block_hash": "0000000000000000000000000000000000000000000000000000000000000000"}');

-- ===== Roles and objects, made under a safe search_path.
CREATE ROLE ah_attacker NOLOGIN;    -- an ordinary role that can write a schema on the path
CREATE ROLE ah_owner NOLOGIN;       -- owns the audited tables and the user-defined types
CREATE ROLE ah_writer NOLOGIN;      -- the application role that writes them
CREATE ROLE ah_stranger NOLOGIN;    -- owns nothing, may do nothing
CREATE ROLE ah_other NOLOGIN;       -- owns a child table of ah_owner's table
CREATE ROLE ah_victim LOGIN;        -- locked down below
CREATE ROLE ah_creator NOLOGIN CREATEROLE;  -- may alter roles, is not a superuser
GRANT ah_writer TO ah_creator WITH ADMIN OPTION;  -- what CREATEROLE needs from PostgreSQL 16 on
GRANT ALL ON SCHEMA public TO ah_owner, ah_other;

-- ===== 1. The search_path attack. ah_attacker owns schema ah_evil and plants operators and
-- functions there that record a canary and make it superuser when a superuser runs them.
CREATE SCHEMA ah_evil AUTHORIZATION ah_attacker;
SET ROLE ah_attacker;
CREATE TABLE ah_evil.canary (fired_as text, what text);
GRANT INSERT ON ah_evil.canary TO PUBLIC;
CREATE FUNCTION ah_evil.fire(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ah_evil.canary VALUES (current_user, what);
  BEGIN EXECUTE 'ALTER ROLE ah_attacker SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN true;
END $$;
-- comparisons on every type the audit functions compare, arithmetic and concatenation; each
-- records the canary, then answers as the real operator would (so nothing else gives it away)
DO $plant$
DECLARE
  t text;
  op record;
BEGIN
  FOREACH t IN ARRAY ARRAY['integer', 'bigint', 'smallint', 'bytea', 'name', 'text', 'oid',
                           'boolean', 'timestamptz', 'jsonb', 'numeric', 'xid8'] LOOP
    FOR op IN SELECT * FROM (VALUES ('=', 'eq'), ('<>', 'ne'), ('<', 'lt'), ('<=', 'le'),
                                    ('>', 'gt'), ('>=', 'ge')) v(sym, tag) LOOP
      EXECUTE format('CREATE FUNCTION ah_evil.%I(%s, %s) RETURNS boolean LANGUAGE sql AS %L',
                     op.tag || '_' || t, t, t,
                     format('SELECT CASE WHEN ah_evil.fire(%L) THEN $1 OPERATOR(pg_catalog.%s) $2 END',
                            op.sym || ' on ' || t, op.sym));
      EXECUTE format('CREATE OPERATOR ah_evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = ah_evil.%I)',
                     op.sym, t, t, op.tag || '_' || t);
    END LOOP;
  END LOOP;
  -- name compared with text, as a query comparing rolname with a text parameter would
  FOR op IN SELECT * FROM (VALUES ('=', 'eq'), ('<>', 'ne')) v(sym, tag) LOOP
    EXECUTE format('CREATE FUNCTION ah_evil.%I(name, text) RETURNS boolean LANGUAGE sql AS %L',
                   op.tag || '_name_text',
                   format('SELECT CASE WHEN ah_evil.fire(%L) THEN $1 OPERATOR(pg_catalog.%s) $2 END',
                          op.sym || ' on name, text', op.sym));
    EXECUTE format('CREATE OPERATOR ah_evil.%s (LEFTARG = name, RIGHTARG = text, FUNCTION = ah_evil.%I)',
                   op.sym, op.tag || '_name_text');
  END LOOP;
  FOREACH t IN ARRAY ARRAY['bigint', 'integer'] LOOP
    FOR op IN SELECT * FROM (VALUES ('+', 'add'), ('-', 'sub')) v(sym, tag) LOOP
      EXECUTE format('CREATE FUNCTION ah_evil.%I(%s, %s) RETURNS %s LANGUAGE sql AS %L',
                     op.tag || '_' || t, t, t, t,
                     format('SELECT CASE WHEN ah_evil.fire(%L) THEN $1 OPERATOR(pg_catalog.%s) $2 END',
                            op.sym || ' on ' || t, op.sym));
      EXECUTE format('CREATE OPERATOR ah_evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = ah_evil.%I)',
                     op.sym, t, t, op.tag || '_' || t);
    END LOOP;
  END LOOP;
  FOREACH t IN ARRAY ARRAY['text', 'bytea'] LOOP
    EXECUTE format('CREATE FUNCTION ah_evil.%I(%s, %s) RETURNS %s LANGUAGE sql AS %L',
                   'cat_' || t, t, t, t,
                   format('SELECT CASE WHEN ah_evil.fire(%L) THEN $1 OPERATOR(pg_catalog.||) $2 END',
                          '|| on ' || t));
    EXECUTE format('CREATE OPERATOR ah_evil.|| (LEFTARG = %s, RIGHTARG = %s, FUNCTION = ah_evil.%I)',
                   t, t, 'cat_' || t);
  END LOOP;
END $plant$;
-- functions the audit code (or SQL like it) calls, with their exact signatures
CREATE FUNCTION ah_evil.now() RETURNS timestamptz LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('now()') THEN pg_catalog.now() END $$;
CREATE FUNCTION ah_evil.lower(text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('lower()') THEN pg_catalog.lower($1) END $$;
CREATE FUNCTION ah_evil.upper(text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('upper()') THEN pg_catalog.upper($1) END $$;
CREATE FUNCTION ah_evil.format(text, text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('format()') THEN pg_catalog.format($1, $2) END $$;
CREATE FUNCTION ah_evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql
  AS $$ SELECT x FROM pg_catalog.unnest($1) x WHERE ah_evil.fire('unnest()') $$;
CREATE FUNCTION ah_evil.to_char(timestamp, text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('to_char()') THEN pg_catalog.to_char($1, $2) END $$;
CREATE FUNCTION ah_evil.timezone(text, timestamptz) RETURNS timestamp LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('timezone()') THEN pg_catalog.timezone($1, $2) END $$;
CREATE FUNCTION ah_evil.pg_terminate_backend(integer) RETURNS boolean LANGUAGE sql
  AS $$ SELECT ah_evil.fire('pg_terminate_backend()') $$;
CREATE FUNCTION ah_evil.pg_terminate_backend(integer, bigint) RETURNS boolean LANGUAGE sql
  AS $$ SELECT ah_evil.fire('pg_terminate_backend(int, bigint)') $$;
CREATE FUNCTION ah_evil.pg_backend_pid() RETURNS integer LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('pg_backend_pid()') THEN pg_catalog.pg_backend_pid() END $$;
CREATE FUNCTION ah_evil.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('to_jsonb()') THEN pg_catalog.to_jsonb($1) END $$;
CREATE FUNCTION ah_evil.sha256(bytea) RETURNS bytea LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('sha256()') THEN pg_catalog.sha256($1) END $$;
CREATE FUNCTION ah_evil.encode(bytea, text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('encode()') THEN pg_catalog.encode($1, $2) END $$;
CREATE FUNCTION ah_evil.quote_ident(text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('quote_ident()') THEN pg_catalog.quote_ident($1) END $$;
CREATE FUNCTION ah_evil.current_setting(text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('current_setting()') THEN pg_catalog.current_setting($1) END $$;
CREATE FUNCTION ah_evil.nextval(regclass) RETURNS bigint LANGUAGE sql
  AS $$ SELECT CASE WHEN ah_evil.fire('nextval()') THEN pg_catalog.nextval($1) END $$;
RESET ROLE;
SELECT count(*) AS planted FROM pg_proc WHERE pronamespace = 'ah_evil'::regnamespace;

-- the planted trap is armed: reached by a superuser, it makes the attacker a superuser (the
-- weak twin, rolled back)
BEGIN;
SET LOCAL search_path = ah_evil, pg_catalog, public;
SELECT 1 <> 2 AS planted_operator_ran;
SELECT rolsuper AS attacker_became_superuser FROM pg_catalog.pg_roles
 WHERE rolname OPERATOR(pg_catalog.=) 'ah_attacker';
ROLLBACK;

-- the audit functions pin search_path; the trigger functions (the hot path) run no SQL
SELECT proname, proconfig FROM pg_proc
 WHERE pronamespace = 'ge_security'::regnamespace
   AND proname IN ('enable_audit', 'disable_audit', 'lockdown_role', 'audit_seal', 'audit_verify',
                   'audit_digest', 'audit_proof', 'audit_export', 'audit_prune', 'audit_trigger',
                   'audit_guard')
 ORDER BY proname;

-- tables for the attack: one imaged directly (integers, text), one through to_jsonb
CREATE TABLE public.ah_direct (id int PRIMARY KEY, n bigint, v text);
CREATE TABLE public.ah_generic (id bigint PRIMARY KEY, amount numeric, at timestamptz,
                                doc jsonb, tags text[], raw bytea);

-- the attack: a superuser with the hostile schema first on the path calls every audit
-- function and writes the audited tables (the test's own SQL qualifies its operators)
SET search_path = ah_evil, pg_catalog, public;
SELECT ge_security.enable_audit('public.ah_direct') AS enabled;
SELECT ge_security.enable_audit('public.ah_generic') AS enabled;
SET app.current_actor = 'user:7';
INSERT INTO public.ah_direct VALUES (1, 10, 'one'), (2, 20, 'two');
UPDATE public.ah_direct SET v = 'uno', n = 11 WHERE id OPERATOR(pg_catalog.=) 1;
DELETE FROM public.ah_direct WHERE id OPERATOR(pg_catalog.=) 2;
INSERT INTO public.ah_generic VALUES (1, 1.5, '2024-01-02 03:04:05+00', '{"a": [1, 2]}', '{x,y}', '\x00ff');
UPDATE public.ah_generic SET amount = 2.25, doc = '{"b": null}' WHERE id OPERATOR(pg_catalog.=) 1;
TRUNCATE public.ah_generic;
RESET app.current_actor;
SELECT code, message FROM pg_temp.refused($$DELETE FROM ge_security.audit_log WHERE id OPERATOR(pg_catalog.=) 1$$);
SELECT ge_security.audit_seal() OPERATOR(pg_catalog.>) 0 AS sealed;
SELECT ok, problem FROM ge_security.audit_verify();
SELECT ok, problem FROM ge_security.audit_verify(ge_security.audit_digest());
SELECT (ge_security.audit_digest() ->> 'block_no') AS digest_block;
SELECT ge_security.audit_proof((SELECT min(id) FROM ge_security.audit_log
                                 WHERE op OPERATOR(pg_catalog.=) 'INSERT')) -> 'block' ->> 'block_no' AS proof_block;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 2 AS exported FROM ge_security.audit_export(1, 1);
SELECT code FROM pg_temp.refused($$SELECT ge_security.audit_prune(1)$$);
SELECT ge_security.lockdown_role('ah_victim') AS locked;
SELECT ge_security.disable_audit('public.ah_direct') AS disabled;
SELECT ge_security.disable_audit('public.ah_generic') AS disabled;
RESET search_path;

-- nothing planted ran and the attacker is still an ordinary role; the trail recorded it all
SELECT fired_as, what FROM ah_evil.canary ORDER BY 2;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'ah_attacker';
SELECT rolcanlogin AS victim_can_log_in FROM pg_roles WHERE rolname = 'ah_victim';
SELECT op, actor, table_name, row_key, old_row, new_row, changed_columns, statement
  FROM ge_security.audit_log
 WHERE table_name LIKE 'public.ah_%' OR statement LIKE 'SELECT ge_security.lockdown_role%' ORDER BY id;

-- ===== 2. Permission checks before locks. A writer (another session) holds a lock on the
-- table; a role that does not own it calls enable_audit/disable_audit with lock_timeout 2s
-- and is refused at once with 42501 (it used to queue for the lock, stalling every writer
-- behind it, and then fail with a lock timeout). The scenario audit_lock_order does the same
-- with two psql sessions.
CREATE TABLE public.ah_locked (id int PRIMARY KEY, v text);
ALTER TABLE public.ah_locked OWNER TO ah_owner;
CREATE TABLE public.ah_tree (id int PRIMARY KEY, v text);
CREATE TABLE public.ah_tree_child () INHERITS (public.ah_tree);
ALTER TABLE public.ah_tree_child ADD PRIMARY KEY (id);
ALTER TABLE public.ah_tree OWNER TO ah_owner;
ALTER TABLE public.ah_tree_child OWNER TO ah_other;
SELECT dblink_connect('writer', format('host=%s port=%s dbname=%s',
                      current_setting('unix_socket_directories'), current_setting('port'),
                      current_database())) AS writer_connected;
SELECT dblink_exec('writer', 'BEGIN');
SELECT dblink_exec('writer', 'LOCK TABLE public.ah_locked, public.ah_tree_child IN ROW EXCLUSIVE MODE');
SET lock_timeout = '2s';
SET ROLE ah_stranger;
SELECT clock_timestamp() AS started \gset
SELECT code, message FROM pg_temp.refused($$SELECT ge_security.enable_audit('public.ah_locked')$$);
SELECT code, message FROM pg_temp.refused($$SELECT ge_security.disable_audit('public.ah_locked')$$);
SELECT clock_timestamp() - :'started'::timestamptz < interval '1 second' AS refused_at_once;
RESET ROLE;
-- the owner of a parent whose child another role owns: refused before any lock, naming it
SET ROLE ah_owner;
SELECT clock_timestamp() AS started \gset
SELECT code, message FROM pg_temp.refused($$SELECT ge_security.enable_audit('public.ah_tree')$$);
SELECT code, message FROM pg_temp.refused($$SELECT ge_security.disable_audit('public.ah_tree')$$);
SELECT clock_timestamp() - :'started'::timestamptz < interval '1 second' AS refused_at_once;
-- the weak twin: the owner may enable auditing, so it does wait for the writer's lock
SET lock_timeout = '200ms';
SELECT code FROM pg_temp.refused($$SELECT ge_security.enable_audit('public.ah_locked')$$) AS owner_waits;
RESET ROLE;
RESET lock_timeout;
SELECT dblink_exec('writer', 'ROLLBACK');
SELECT dblink_disconnect('writer');
-- with the writer gone the owner enables auditing of its own table
SET ROLE ah_owner;
SELECT ge_security.enable_audit('public.ah_locked') AS enabled;
SELECT ge_security.disable_audit('public.ah_locked') AS disabled;
RESET ROLE;

-- ===== 3. A cast to json the table owner creates. to_jsonb follows such a cast: the trail
-- would record what the owner's function returns (never stored) and run it as the writer.
CREATE TABLE public.ah_canary (fired_as text, what text);
GRANT INSERT ON public.ah_canary TO PUBLIC;
CREATE SCHEMA ah_own AUTHORIZATION ah_owner;
GRANT USAGE ON SCHEMA ah_own TO ah_writer;
SET ROLE ah_owner;
CREATE TYPE ah_own.mood AS ENUM ('sad', 'happy');
CREATE TYPE ah_own.pair AS (m ah_own.mood, n int);
CREATE DOMAIN ah_own.dmood AS ah_own.mood;
CREATE TABLE ah_own.diary (id int PRIMARY KEY, m ah_own.mood, amount numeric);
CREATE TABLE ah_own.moods (id int PRIMARY KEY, ms ah_own.mood[]);
CREATE TABLE ah_own.pairs (id int PRIMARY KEY, p ah_own.pair);
CREATE TABLE ah_own.domains (id int PRIMARY KEY, d ah_own.dmood);
GRANT SELECT, INSERT, UPDATE ON ah_own.diary, ah_own.moods, ah_own.pairs, ah_own.domains TO ah_writer;
SELECT ge_security.enable_audit('ah_own.diary') AS enabled;
SELECT ge_security.enable_audit('ah_own.moods') AS enabled;
SELECT ge_security.enable_audit('ah_own.pairs') AS enabled;
SELECT ge_security.enable_audit('ah_own.domains') AS enabled;
RESET ROLE;
-- before any cast, the images come from to_jsonb (and this session caches the image path)
SET ROLE ah_writer;
INSERT INTO ah_own.diary VALUES (1, 'sad', 1.5);
RESET ROLE;
-- the owner plants a cast whose function records a canary and returns a forged value
SET ROLE ah_owner;
CREATE FUNCTION ah_own.forge(ah_own.mood) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.ah_canary VALUES (current_user, 'cast to json');
  RETURN '"forged"'::json;
END $$;
CREATE CAST (ah_own.mood AS json) WITH FUNCTION ah_own.forge(ah_own.mood);
RESET ROLE;
-- the weak twin: to_jsonb does follow the cast (canary cleared afterwards)
SELECT to_jsonb('sad'::ah_own.mood) AS to_jsonb_follows_the_cast,
       to_jsonb(ROW('happy', 2)::ah_own.pair) AS inside_a_composite;
SELECT count(*) AS canary_fired_by_weak_twin FROM public.ah_canary;
DELETE FROM public.ah_canary;
-- the writer writes after the cast: in the same session (the cached path is dropped at once)
SET ROLE ah_writer;
INSERT INTO ah_own.diary VALUES (2, 'happy', 2.5);
UPDATE ah_own.diary SET m = 'happy' WHERE id = 1;
INSERT INTO ah_own.moods VALUES (1, '{sad,happy}');
INSERT INTO ah_own.pairs VALUES (1, '(happy,2)');
INSERT INTO ah_own.domains VALUES (1, 'sad');
RESET ROLE;
SELECT table_name, op, row_key, old_row, new_row FROM ge_security.audit_log
 WHERE table_name LIKE 'ah_own.%' AND op <> 'DDL' ORDER BY id;
SELECT count(*) AS canary_fired FROM public.ah_canary;
SELECT count(*) AS forged_values_in_trail FROM ge_security.audit_log
 WHERE new_row::text LIKE '%forged%' OR old_row::text LIKE '%forged%';
-- the cast dropped, images come from to_jsonb again
DROP CAST (ah_own.mood AS json);
SET ROLE ah_writer;
INSERT INTO ah_own.diary VALUES (3, 'sad', 3.5);
RESET ROLE;
SELECT new_row FROM ge_security.audit_log WHERE table_name = 'ah_own.diary' ORDER BY id DESC LIMIT 1;
SELECT ge_security.audit_seal() > 0 AS sealed;
SELECT ok, problem FROM ge_security.audit_verify();

-- ===== 4. ge_security.actor_setting naming a setting hidden from ordinary roles: its value
-- never reaches the trail, whoever writes (the actor is recorded as NULL).
CREATE TABLE public.ah_actor (id int PRIMARY KEY, v text);
GRANT INSERT ON public.ah_actor TO ah_writer;
SELECT ge_security.enable_audit('public.ah_actor') AS enabled;
SET ROLE ah_writer;
-- (the message words differ between versions; both end naming the setting)
SELECT code, message LIKE '%to examine "ge_security.keyring_path"' AS refused_to_examine
  FROM pg_temp.refused($$SHOW ge_security.keyring_path$$) AS hidden_from_writer;
RESET ROLE;
SET ge_security.actor_setting = 'ge_security.keyring_path';
SET ROLE ah_writer;
INSERT INTO public.ah_actor VALUES (1, 'by the writer');
RESET ROLE;
INSERT INTO public.ah_actor VALUES (2, 'by a superuser');
SET ge_security.actor_setting = 'data_directory';
SET ROLE ah_writer;
INSERT INTO public.ah_actor VALUES (3, 'by the writer');
RESET ROLE;
-- the weak twin: an ordinary setting is recorded
SET ge_security.actor_setting = 'app.current_actor';
SET app.current_actor = 'user:42';
SET ROLE ah_writer;
INSERT INTO public.ah_actor VALUES (4, 'by the writer');
RESET ROLE;
RESET app.current_actor;
RESET ge_security.actor_setting;
SELECT new_row ->> 'id' AS id, current_user_name, actor FROM ge_security.audit_log
 WHERE table_name = 'public.ah_actor' AND op = 'INSERT' ORDER BY id;
SELECT count(*) AS hidden_values_in_trail FROM ge_security.audit_log
 WHERE actor IN (current_setting('ge_security.keyring_path'), current_setting('data_directory'));
-- documented where a DBA looks
SELECT col_description('ge_security.audit_log'::regclass, 4) AS actor_column;

-- ===== 5b. Malformed digests are refused with 22023, never verified.
SELECT ge_security.audit_seal() > 0 AS sealed;
SELECT d AS digest, r.code, r.message
  FROM unnest(ARRAY[
    '[]', '"digest"', '1', 'null', '{}',
    '{"last_id": 1, "block_hash": null}',
    '{"block_no": 1, "block_hash": null}',
    '{"block_no": 1, "last_id": 1}',
    '{"block_no": -1, "last_id": 5, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": 1, "last_id": -5, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": 1.5, "last_id": 5, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": "1", "last_id": 5, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": true, "last_id": 5, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": null, "last_id": 5, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": 1, "last_id": null, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": {"n": 1}, "last_id": 5, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": 1e400, "last_id": 5, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": 99999999999999999999, "last_id": 5, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": 1, "last_id": 5, "block_hash": "' || repeat('a', 63) || '"}',
    '{"block_no": 1, "last_id": 5, "block_hash": "' || repeat('a', 65) || '"}',
    '{"block_no": 1, "last_id": 5, "block_hash": "' || repeat('g', 64) || '"}',
    '{"block_no": 1, "last_id": 5, "block_hash": "' || repeat('a', 62) || ' a"}',
    '{"block_no": 1, "last_id": 5, "block_hash": 12345}',
    '{"block_no": 1, "last_id": 5, "block_hash": ["' || repeat('a', 64) || '"]}',
    '{"block_no": 1, "last_id": 5, "block_hash": null}',
    '{"block_no": 0, "last_id": 5, "block_hash": null}',
    '{"block_no": 0, "last_id": 0, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": 3, "last_id": 2, "block_hash": "' || repeat('a', 64) || '"}',
    '{"block_no": 1, "last_id": 5, "block_hash": "' || repeat('a', 64) || '", "sealed_at": 5}',
    '{"block_no": 1, "last_id": 5, "block_hash": "' || repeat('a', 64) || '"}'
  ]) d,
  LATERAL pg_temp.refused(format('SELECT * FROM ge_security.audit_verify(%L::jsonb)', d)) r;
-- a digest nested 1,000 levels deep, and one of 10 MB
SELECT r.code, r.message FROM pg_temp.refused(format('SELECT * FROM ge_security.audit_verify(%L::jsonb)',
         repeat('{"a": ', 1000) || '1' || repeat('}', 1000))) r;
SELECT r.code, r.message FROM pg_temp.refused(format('SELECT * FROM ge_security.audit_verify(%L::jsonb)',
         '{"block_no": 1, "last_id": 5, "block_hash": "' || repeat('a', 10000000) || '"}')) r;
-- well-formed digests are verified: the current one (also in upper case), a later block that
-- does not exist (tail_truncated) and a wrong hash (block_link_broken)
SELECT ok, problem FROM ge_security.audit_verify(ge_security.audit_digest());
SELECT ok, problem FROM ge_security.audit_verify(jsonb_set(ge_security.audit_digest(), '{block_hash}',
         to_jsonb(upper(ge_security.audit_digest() ->> 'block_hash'))));
SELECT ok, problem FROM ge_security.audit_verify(('{"block_no": 99, "last_id": 9999, "block_hash": "' || repeat('a', 64) || '"}')::jsonb);
SELECT ok, problem FROM ge_security.audit_verify(jsonb_set(ge_security.audit_digest(), '{block_hash}',
         to_jsonb(repeat('a', 64))));
SELECT ok, problem FROM ge_security.audit_verify(NULL);

-- ===== 6. Errors a user can cause: each with its SQLSTATE and a short message, never XX000.
CREATE VIEW public.ah_view AS SELECT 1 AS id;
CREATE SEQUENCE public.ah_seq;
CREATE TABLE public.ah_mine (id int PRIMARY KEY);
ALTER TABLE public.ah_mine OWNER TO ah_owner;
CREATE TABLE public."ah ""q'uote"";--" (id int PRIMARY KEY);
GRANT EXECUTE ON FUNCTION ge_security.lockdown_role(name) TO ah_stranger, ah_creator;
CREATE ROLE "ah ""odd' role" LOGIN;
CREATE TABLE pg_temp.ah_errors (caller text, statement text, code text, message text);
CREATE FUNCTION pg_temp.attempt(statement text) RETURNS text LANGUAGE sql AS $$
  INSERT INTO pg_temp.ah_errors SELECT current_user, statement, r.code, r.message
    FROM pg_temp.refused(statement) r RETURNING code
$$;
GRANT ALL ON pg_temp.ah_errors TO PUBLIC;
-- as a superuser
SELECT count(pg_temp.attempt(s)) AS attempted FROM unnest(ARRAY[
  $$SELECT ge_security.enable_audit(0)$$,
  $$SELECT ge_security.enable_audit(4294967295)$$,
  $$SELECT ge_security.enable_audit(NULL)$$,
  $$SELECT ge_security.disable_audit(0)$$,
  $$SELECT ge_security.disable_audit(NULL)$$,
  $$SELECT ge_security.enable_audit('public.ah_view')$$,
  $$SELECT ge_security.enable_audit('public.ah_seq')$$,
  $$SELECT ge_security.enable_audit('pg_class')$$,
  $$SELECT ge_security.enable_audit('ge_security.audit_block')$$,
  $$SELECT ge_security.enable_audit('public.no_such_table')$$,
  $$SELECT ge_security.enable_audit('"; DROP TABLE public.ah_mine; --')$$,
  $$SELECT ge_security.audit_proof(NULL)$$,
  $$SELECT ge_security.audit_proof(-1)$$,
  $$SELECT ge_security.audit_proof(9223372036854775807)$$,
  $$SELECT ge_security.lockdown_role(NULL)$$,
  $$SELECT ge_security.lockdown_role('no such role')$$,
  $$SELECT ge_security.lockdown_role('x"; DROP ROLE ah_owner; --')$$,
  $$SELECT ge_security.lockdown_role(repeat('x', 100000000))$$]) s;
-- as a role that owns nothing (lockdown_role granted to it)
SET ROLE ah_stranger;
SELECT count(pg_temp.attempt(s)) AS attempted FROM unnest(ARRAY[
  $$SELECT ge_security.enable_audit('public.ah_mine')$$,
  $$SELECT ge_security.disable_audit('public.ah_mine')$$,
  $$SELECT ge_security.enable_audit('pg_class')$$,
  $$SELECT ge_security.lockdown_role('ah_writer')$$,
  $$SELECT ge_security.lockdown_role('postgres')$$,
  $$SELECT ge_security.audit_seal()$$,
  $$SELECT * FROM ge_security.audit_verify()$$]) s;
RESET ROLE;
-- as a role with CREATEROLE, against a superuser
SET ROLE ah_creator;
SELECT pg_temp.attempt($$SELECT ge_security.lockdown_role('postgres')$$);
RESET ROLE;
-- a permission missing inside enable_audit (EXECUTE on the trigger function) surfaces as
-- PostgreSQL's own 42501, not as an internal error
BEGIN;
REVOKE EXECUTE ON FUNCTION ge_security.audit_trigger() FROM PUBLIC;
SET LOCAL ROLE ah_owner;
SELECT pg_temp.attempt($$SELECT ge_security.enable_audit('public.ah_mine')$$);
COMMIT;
GRANT EXECUTE ON FUNCTION ge_security.audit_trigger() TO PUBLIC;
SELECT caller, left(statement, 70) AS statement, code, message FROM pg_temp.ah_errors ORDER BY ctid;
SELECT count(*) AS attempts, count(*) FILTER (WHERE code IN ('XX000', 'none')) AS internal_or_accepted,
       count(*) FILTER (WHERE message ~* 'panic|backtrace|rust|\.rs:') AS leaking_internals,
       max(length(message)) < 200 AS messages_short
  FROM pg_temp.ah_errors;
CREATE TABLE pg_temp.ah_errors_mark AS SELECT max(id) AS id FROM ge_security.audit_log;
-- the same functions succeed for those allowed: a CREATEROLE role locks down an ordinary role,
-- hostile names are quoted, the owner enables and disables auditing of its own table
SET ROLE ah_creator;
SELECT ge_security.lockdown_role('ah_writer') AS locked;
RESET ROLE;
SELECT ge_security.lockdown_role('ah "odd'' role') AS locked;
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('ah_writer', 'ah "odd'' role') ORDER BY 1;
SELECT ge_security.enable_audit('public."ah ""q''uote"";--"') AS enabled;
INSERT INTO public."ah ""q'uote"";--" VALUES (1);
SELECT ge_security.disable_audit('public."ah ""q''uote"";--"') AS disabled;
SET ROLE ah_owner;
SELECT ge_security.enable_audit('public.ah_mine') AS enabled;
SELECT ge_security.disable_audit('public.ah_mine') AS disabled;
RESET ROLE;
SELECT op, table_name, statement FROM ge_security.audit_log
 WHERE (statement LIKE 'SELECT ge_security.%' AND id > (SELECT max(id) FROM pg_temp.ah_errors_mark))
    OR (op <> 'DDL' AND table_name LIKE '%uote%')
 ORDER BY id;
SELECT ge_security.audit_seal() > 0 AS sealed;
SELECT ok, problem FROM ge_security.audit_verify(ge_security.audit_digest());

-- clean up: the database and the roles
\c contrib_regression
DROP DATABASE ah_audit;
DROP ROLE ah_attacker, ah_owner, ah_writer, ah_stranger, ah_other, ah_victim, ah_creator,
          "ah ""odd' role";
