-- Helpers for the isolation specs of pg_test/isolation/specs, loaded once into each database
-- by run_isolation.sh: a fresh trail per permutation, and where each audit row was sealed.
CREATE EXTENSION dblink;
CREATE SCHEMA iso;

-- A new trail for each permutation: the extension dropped and created again (ids from 1), an
-- audited table t (its enable_audit() row is id 1) and an unaudited table plain. With
-- elsewhere, the same in the database iso_other instead, through dblink: call it in a
-- transaction of its own, since the first install creates the cluster's roles, which the other
-- database waits for until they are committed.
CREATE PROCEDURE iso.fresh_trail(elsewhere boolean DEFAULT false) LANGUAGE plpgsql AS $fn$
BEGIN
  IF elsewhere THEN
    PERFORM dblink_exec(iso.other_db(), 'CALL iso.fresh_trail()');
    RETURN;
  END IF;
  SET LOCAL client_min_messages = warning;
  IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = to_regclass('public.t')
                                      AND tgname = 'ge_security_audit_row') THEN
    PERFORM ge_security.disable_audit('public.t');
  END IF;
  DROP TABLE IF EXISTS public.t, public.plain;
  DROP EXTENSION IF EXISTS ge_security CASCADE;
  CREATE EXTENSION ge_security;
  CREATE TABLE public.t (id int PRIMARY KEY, v text);
  CREATE TABLE public.plain (id int);
  PERFORM ge_security.enable_audit('public.t');
END $fn$;

-- Every audit row in id order, with the block that sealed it (NULL: not sealed yet).
CREATE FUNCTION iso.trail(OUT id bigint, OUT op text, OUT v text, OUT block_no bigint)
RETURNS SETOF record LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY
    SELECT l.id, l.op, coalesce(l.new_row ->> 'v', l.old_row ->> 'v'), b.block_no
      FROM ge_security.audit_log l
      LEFT JOIN ge_security.audit_block b ON l.id BETWEEN b.first_id AND b.last_id
     ORDER BY l.id;
END $fn$;

-- The blocks, and whether audit_verify() finds the trail intact.
CREATE FUNCTION iso.blocks(OUT block_no bigint, OUT first_id bigint, OUT last_id bigint,
                           OUT row_count bigint) RETURNS SETOF record LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY SELECT b.block_no, b.first_id, b.last_id, b.row_count
                 FROM ge_security.audit_block b ORDER BY b.block_no;
END $fn$;

CREATE FUNCTION iso.verified() RETURNS text LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN (SELECT coalesce(string_agg(problem || coalesce(' at id ' || id, ''), ', '), 'ok')
            FROM ge_security.audit_verify());
END $fn$;

-- A libpq connection string for the other database of this cluster (iso_other), over the
-- server's own socket.
CREATE FUNCTION iso.other_db() RETURNS text LANGUAGE sql AS $fn$
  SELECT format('host=%s port=%s dbname=iso_other',
                split_part(current_setting('unix_socket_directories'), ',', 1),
                current_setting('port'))
$fn$;
