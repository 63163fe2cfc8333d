-- Every query the extension runs is immune to the caller's search_path. A superuser whose
-- search_path starts with a schema an ordinary role writes (a common mistake) calls every
-- function of the extension; the role planted operators and functions there that record a
-- canary and try to make it superuser. Nothing planted may run.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc

-- 1. The rule, kept as the code grows: a function of the extension either pins search_path
-- to pg_catalog, pg_temp, or is listed here and called below under the hostile path. A new
-- function that does neither changes this output.
SELECT p.oid::regprocedure AS not_pinned
  FROM pg_proc p
 WHERE p.pronamespace = 'ge_security'::regnamespace
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
 ORDER BY 1::text;

CREATE ROLE sp_attacker NOLOGIN;
CREATE SCHEMA sp_evil AUTHORIZATION sp_attacker;
CREATE TABLE sp_evil.canary (fired_as text, what text);
GRANT INSERT ON sp_evil.canary TO PUBLIC;
-- the planted code: records who ran it and makes the attacker a superuser if it can
CREATE FUNCTION sp_evil.fire(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sp_evil.canary VALUES (current_user, what);
  BEGIN EXECUTE 'ALTER ROLE sp_attacker SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN true;
END $$;
-- every comparison and concatenation operator on the types the extension's SQL compares
DO $plant$
DECLARE
  t text;
  op record;
BEGIN
  FOREACH t IN ARRAY ARRAY['text', 'name', 'integer', 'bigint', 'smallint', 'bytea', 'oid', 'boolean',
                           'timestamptz', 'jsonb', '"char"', 'xid8', 'regclass', 'regrole', 'numeric',
                           'interval', 'aclitem', 'text[]', 'name[]', 'oid[]'] LOOP
    FOR op IN SELECT * FROM (VALUES ('=', 'eq'), ('<>', 'ne'), ('<', 'lt'), ('<=', 'le'), ('>', 'gt'),
                                    ('>=', 'ge'), ('~', 're'), ('~*', 'rei'), ('~~', 'like'),
                                    ('!~', 'nre'), ('!~~', 'nlike'), ('@>', 'contains'),
                                    ('&&', 'overlaps'), ('?', 'has')) v(sym, tag) LOOP
      EXECUTE format('CREATE FUNCTION sp_evil.%I(%s, %s) RETURNS boolean LANGUAGE sql AS %L',
                     op.tag || '_' || regexp_replace(t, '\W', '', 'g'), t, t,
                     format('SELECT sp_evil.fire(%L)', op.sym || ' on ' || t));
      EXECUTE format('CREATE OPERATOR sp_evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = sp_evil.%I)',
                     op.sym, t, t, op.tag || '_' || regexp_replace(t, '\W', '', 'g'));
    END LOOP;
  END LOOP;
  FOREACH t IN ARRAY ARRAY['text', 'bytea'] LOOP
    EXECUTE format('CREATE FUNCTION sp_evil.%I(%s, %s) RETURNS %s LANGUAGE sql AS %L',
                   'cat_' || t, t, t, t,
                   format('SELECT CASE WHEN sp_evil.fire(%L) THEN pg_catalog.%I($1, $2) END',
                          '|| on ' || t, CASE t WHEN 'text' THEN 'textcat' ELSE 'byteacat' END));
    EXECUTE format('CREATE OPERATOR sp_evil.|| (LEFTARG = %s, RIGHTARG = %s, FUNCTION = sp_evil.%I)',
                   t, t, 'cat_' || t);
  END LOOP;
END $plant$;
-- and functions the extension's SQL calls, with their exact signatures
CREATE FUNCTION sp_evil.now() RETURNS timestamptz LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('now()') THEN pg_catalog.now() END $$;
CREATE FUNCTION sp_evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('clock_timestamp()') THEN pg_catalog.clock_timestamp() END $$;
CREATE FUNCTION sp_evil.lower(text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('lower()') THEN pg_catalog.lower($1) END $$;
CREATE FUNCTION sp_evil.upper(text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('upper()') THEN pg_catalog.upper($1) END $$;
CREATE FUNCTION sp_evil.btrim(text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('btrim()') THEN pg_catalog.btrim($1) END $$;
CREATE FUNCTION sp_evil.length(text) RETURNS integer LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('length()') THEN pg_catalog.length($1) END $$;
CREATE FUNCTION sp_evil.length(bytea) RETURNS integer LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('length(bytea)') THEN pg_catalog.length($1) END $$;
CREATE FUNCTION sp_evil.substr(bytea, integer, integer) RETURNS bytea LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('substr()') THEN pg_catalog.substr($1, $2, $3) END $$;
CREATE FUNCTION sp_evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql
  AS $$ SELECT x FROM pg_catalog.unnest($1) x WHERE sp_evil.fire('unnest()') $$;
-- (format() and jsonb_build_object() are VARIADIC "any", which only C can declare: an exact
-- non-variadic signature wins over them, so those are planted)
CREATE FUNCTION sp_evil.format(text, text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('format(text, text)') THEN pg_catalog.format($1, $2) END $$;
CREATE FUNCTION sp_evil.format(text, text, text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('format(text, text, text)') THEN pg_catalog.format($1, $2, $3) END $$;
CREATE FUNCTION sp_evil.format(text, name, name) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('format(text, name, name)') THEN pg_catalog.format($1, $2, $3) END $$;
CREATE FUNCTION sp_evil.format(text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('format(text)') THEN $1 END $$;
CREATE FUNCTION sp_evil.quote_ident(text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('quote_ident()') THEN pg_catalog.quote_ident($1) END $$;
CREATE FUNCTION sp_evil.current_setting(text, boolean) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('current_setting()') THEN pg_catalog.current_setting($1, $2) END $$;
CREATE FUNCTION sp_evil.current_setting(text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('current_setting(text)') THEN pg_catalog.current_setting($1) END $$;
CREATE FUNCTION sp_evil.pg_has_role(oid, oid, text) RETURNS boolean LANGUAGE sql
  AS $$ SELECT sp_evil.fire('pg_has_role()') $$;
CREATE FUNCTION sp_evil.has_table_privilege(oid, oid, text) RETURNS boolean LANGUAGE sql
  AS $$ SELECT sp_evil.fire('has_table_privilege()') $$;
CREATE FUNCTION sp_evil.sha256(bytea) RETURNS bytea LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('sha256()') THEN pg_catalog.sha256($1) END $$;
CREATE FUNCTION sp_evil.encode(bytea, text) RETURNS text LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('encode()') THEN pg_catalog.encode($1, $2) END $$;
CREATE FUNCTION sp_evil.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('to_jsonb()') THEN pg_catalog.to_jsonb($1) END $$;
CREATE FUNCTION sp_evil.jsonb_build_object(text, text) RETURNS jsonb LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('jsonb_build_object(text, text)') THEN pg_catalog.jsonb_build_object($1, $2) END $$;
CREATE FUNCTION sp_evil.jsonb_build_object(text, text, text, text) RETURNS jsonb LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('jsonb_build_object(4 text)') THEN pg_catalog.jsonb_build_object($1, $2, $3, $4) END $$;
CREATE FUNCTION sp_evil.string_to_array(text, text) RETURNS text[] LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('string_to_array()') THEN pg_catalog.string_to_array($1, $2) END $$;
CREATE FUNCTION sp_evil.pg_terminate_backend(integer) RETURNS boolean LANGUAGE sql
  AS $$ SELECT sp_evil.fire('pg_terminate_backend()') $$;
CREATE FUNCTION sp_evil.pg_backend_pid() RETURNS integer LANGUAGE sql
  AS $$ SELECT CASE WHEN sp_evil.fire('pg_backend_pid()') THEN pg_catalog.pg_backend_pid() END $$;
ALTER FUNCTION sp_evil.fire(text) OWNER TO sp_attacker;
SELECT count(*) > 300 AS planted FROM pg_proc WHERE pronamespace = 'sp_evil'::regnamespace;

-- objects to work on, made with a safe path
CREATE ROLE sp_app LOGIN;
CREATE ROLE sp_victim LOGIN;
CREATE TABLE public.sp_people (id int PRIMARY KEY, tenant_id int NOT NULL, email text, card bytea);
INSERT INTO public.sp_people VALUES (1, 1, 'a@example.com', NULL), (2, 2, 'b@example.com', NULL);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.sp_people TO sp_app;
CREATE SCHEMA sp_model;
CREATE TABLE sp_model.t (id int PRIMARY KEY);

-- The trap works: a plain query under the hostile path runs the planted operator.
SET search_path = sp_evil, pg_catalog, public;
SELECT count(*) IS NOT NULL AS control_ran FROM pg_catalog.pg_class WHERE relname = 'pg_class';
RESET search_path;
SELECT DISTINCT fired_as, what FROM sp_evil.canary;
UPDATE pg_authid SET rolsuper = false WHERE rolname = 'sp_attacker';
TRUNCATE sp_evil.canary;

-- 2. The attack: every function of the extension, as a superuser, with the hostile path first.
SET search_path = sp_evil, pg_catalog, public;
SET ge_security.app_roles = 'sp_app';
SELECT count(*) IS NOT NULL AS ran FROM ge_security.assess();
SELECT count(*) IS NOT NULL AS ran FROM ge_security.assess('low', true);
SELECT count(*) IS NOT NULL AS ran FROM ge_security.checks();
SELECT count(*) IS NOT NULL AS ran FROM ge_security.posture();
SELECT code FROM pg_temp.refused($$SELECT ge_security.assert_posture('info')$$);
SELECT count(*) IS NOT NULL AS ran FROM ge_security.role_audit();
SELECT count(*) IS NOT NULL AS ran FROM ge_security.rls_coverage();
SELECT count(*) IS NOT NULL AS ran FROM ge_security.server_certificate();
SELECT count(*) IS NOT NULL AS ran FROM ge_security.server_key_file();
SELECT count(*) IS NOT NULL AS ran FROM ge_security.keyring_status();
SELECT code FROM pg_temp.refused($$SELECT ge_security.waive('ssl_off', 'setting ssl', 'search path test', pg_catalog.now() + '1 day')$$);
SELECT ge_security.decrypt(ge_security.encrypt('x', 'ctx', 'aad'), 'ctx', 'aad') IS NOT NULL AS text_round_trip,
       ge_security.decrypt_bytea(ge_security.rotate(ge_security.encrypt('\x00'::bytea, 'ctx'), 'ctx'), 'ctx') IS NOT NULL AS bytea_round_trip,
       ge_security.blind_index('x', 'ctx') IS NOT NULL AS indexed;
SELECT code FROM pg_temp.refused($$SELECT ge_security.decrypt('\x01'::bytea, 'ctx')$$);
UPDATE public.sp_people SET card = ge_security.encrypt(email, 'sp_people.card', id::text);
SELECT code FROM pg_temp.refused($$SELECT ge_security.protect_column('public.sp_people', 'card', 'sp_people.card', 'id')$$);
SELECT code FROM pg_temp.refused($$SELECT ge_security.reencrypt_column('public.sp_people', 'card', 'sp_people.card', 'id')$$);
SELECT code FROM pg_temp.refused($$SELECT ge_security.enable_audit('public.sp_people')$$);
INSERT INTO public.sp_people VALUES (3, 1, 'c@example.com', NULL);
UPDATE public.sp_people SET email = 'd@example.com' WHERE id OPERATOR(pg_catalog.=) 3;
DELETE FROM public.sp_people WHERE id OPERATOR(pg_catalog.=) 3;
SELECT code FROM pg_temp.refused($$SELECT ge_security.audit_seal()$$);
SELECT count(*) IS NOT NULL AS ran FROM ge_security.audit_verify();
SELECT code FROM pg_temp.refused($$SELECT ge_security.audit_verify(ge_security.audit_digest())$$);
SELECT code FROM pg_temp.refused($$SELECT ge_security.audit_proof((SELECT pg_catalog.max(id) FROM ge_security.audit_log))$$);
SELECT code FROM pg_temp.refused($$SELECT ge_security.enable_tenant_isolation('public.sp_people', 'tenant_id')$$);
SELECT code FROM pg_temp.refused($$SELECT * FROM ge_security.prove_tenant_isolation('public.sp_people', 'sp_app')$$);
SELECT code FROM pg_temp.refused($$SELECT ge_security.lockdown_role('sp_victim')$$);
SELECT code FROM pg_temp.refused($$SELECT ge_security.apply_role_model('sp_model', 'sp_model_owner', 'sp_model_rw', 'sp_model_ro')$$);
TRUNCATE public.sp_people;
SELECT code FROM pg_temp.refused($$SELECT ge_security.disable_audit('public.sp_people')$$);
RESET ge_security.app_roles;
RESET search_path;

-- 3. Nothing planted ran, and the attacker is still an ordinary role.
SELECT fired_as, what FROM sp_evil.canary ORDER BY 2;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'sp_attacker';

-- clean up
DELETE FROM ge_security.waiver WHERE reason = 'search path test';
DROP TABLE public.sp_people;
DROP SCHEMA sp_model CASCADE;
SET client_min_messages = warning;
DROP SCHEMA sp_evil CASCADE;
RESET client_min_messages;
REVOKE ALL ON SCHEMA public FROM sp_model_rw, sp_model_ro;
DROP OWNED BY sp_model_owner, sp_model_rw, sp_model_ro;
DROP ROLE sp_attacker, sp_app, sp_victim, sp_model_owner, sp_model_rw, sp_model_ro;
