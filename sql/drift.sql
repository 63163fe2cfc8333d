-- Policy drift: the approved security baseline, the drift from it, and the events the worker
-- records. The snapshot is one row per security-relevant object: (object_type, object_name,
-- state), where state is a small JSON object built only from catalog facts (no timestamps of
-- the run, no session-dependent formatting), so that an unchanged posture gives identical rows.

CREATE SEQUENCE baseline_id_seq AS bigint;
CREATE TABLE baseline (
  id          bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('baseline_id_seq'),
  approved_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  approved_by text        NOT NULL DEFAULT session_user,
  approved_as text        NOT NULL DEFAULT current_user,
  note        text        NOT NULL CHECK (pg_catalog.btrim(note) <> ''),
  items       integer     NOT NULL,
  sha256      text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$')
);
ALTER SEQUENCE baseline_id_seq OWNED BY baseline.id;
COMMENT ON TABLE baseline IS
  'ge_security: approved security baselines (approve_baseline()); the latest is the one drift() compares with';

CREATE TABLE baseline_item (
  baseline_id bigint NOT NULL REFERENCES baseline (id) ON DELETE CASCADE,
  object_type text   NOT NULL,
  object_name text   NOT NULL,
  state       jsonb  NOT NULL,
  PRIMARY KEY (baseline_id, object_type, object_name)
);
COMMENT ON TABLE baseline_item IS 'ge_security: the snapshot of each approved baseline, one row per object';

CREATE SEQUENCE drift_event_id_seq AS bigint;
CREATE TABLE drift_event (
  id            bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('drift_event_id_seq'),
  baseline_id   bigint      NOT NULL REFERENCES baseline (id) ON DELETE CASCADE,
  kind          text        NOT NULL CHECK (kind IN ('added', 'removed', 'changed')),
  object_type   text        NOT NULL,
  object_name   text        NOT NULL,
  before        jsonb,
  after         jsonb,
  opened_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
  closed_at     timestamptz,
  closed_reason text        CHECK (closed_reason IN ('reverted', 'approved', 'superseded')),
  CHECK ((closed_at IS NULL) = (closed_reason IS NULL))
);
ALTER SEQUENCE drift_event_id_seq OWNED BY drift_event.id;
CREATE INDEX drift_event_open ON drift_event (object_type, object_name) WHERE closed_at IS NULL;
COMMENT ON TABLE drift_event IS
  'ge_security: each drift from the approved baseline, recorded once when first seen and closed when it reverts, is approved or changes again';

-- What the workers last did, for the metrics view and assess(): one row.
CREATE TABLE worker_status (
  singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  drift_checked_at timestamptz,
  drift_open       integer,
  drift_check_ms   double precision,
  verified_at      timestamptz,
  verify_ok        boolean,
  verify_problems  integer,
  verify_detail    text
);
INSERT INTO worker_status DEFAULT VALUES;
COMMENT ON TABLE worker_status IS 'ge_security: when drift was last checked and the trail last verified, and the results';

SELECT pg_catalog.pg_extension_config_dump('baseline', '');
SELECT pg_catalog.pg_extension_config_dump('baseline_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('baseline_item', '');
SELECT pg_catalog.pg_extension_config_dump('drift_event', '');
SELECT pg_catalog.pg_extension_config_dump('drift_event_id_seq', '');

REVOKE ALL ON baseline, baseline_item, drift_event, worker_status, baseline_id_seq, drift_event_id_seq FROM PUBLIC;
GRANT SELECT ON baseline, baseline_item, drift_event, worker_status TO ge_security_auditor;

-- The current security posture, one row per object. SECURITY DEFINER: the auditor compares the
-- whole posture (pg_hba.conf and pg_ident.conf rules, password types, superuser-only settings),
-- exactly as the worker records it; it returns catalog facts only, never password hashes.
-- Objects of other extensions are left out (the extension itself is an item); ge_security's own
-- objects are kept, since their privileges protect the trail and the keys.
CREATE FUNCTION security_snapshot()
RETURNS TABLE (object_type text, object_name text, state jsonb)
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
WITH
own_extension AS (
  SELECT coalesce((SELECT e.oid FROM pg_extension e WHERE e.extname = 'ge_security'), 0::oid) AS oid),
foreign_member AS MATERIALIZED (
  SELECT d.classid, d.objid FROM pg_depend d
   WHERE d.deptype = 'e' AND d.refclassid = 'pg_extension'::regclass
     AND d.refobjid <> (SELECT oid FROM own_extension)),
schema_ AS MATERIALIZED (
  SELECT n.oid, n.nspname, n.nspowner, n.nspacl FROM pg_namespace n
   WHERE NOT ge_security.system_schema(n.nspname)
     AND (n.oid) NOT IN (SELECT m.objid FROM foreign_member m WHERE m.classid = 'pg_namespace'::regclass)),
file_setting AS MATERIALIZED (
  SELECT DISTINCT ON (f.name) f.name, f.setting FROM pg_file_settings f
   WHERE f.applied ORDER BY f.name, f.seqno DESC)
-- roles and their attributes (the password's kind, never its hash)
SELECT 'role', 'role ' || quote_ident(r.rolname),
       jsonb_build_object('superuser', r.rolsuper, 'inherit', r.rolinherit, 'createrole', r.rolcreaterole,
         'createdb', r.rolcreatedb, 'login', r.rolcanlogin, 'replication', r.rolreplication,
         'bypassrls', r.rolbypassrls, 'connection_limit', r.rolconnlimit,
         'valid_until', to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'password', CASE WHEN r.rolpassword IS NULL THEN NULL
                          WHEN r.rolpassword ~ '^SCRAM-SHA-256\$' THEN 'scram-sha-256'
                          WHEN r.rolpassword ~ '^md5' THEN 'md5' ELSE 'other' END)
  FROM pg_authid r WHERE r.rolname !~ '^pg_'
UNION ALL
-- memberships: who may act as whom, with admin option and inheritance
SELECT 'role_membership', format('role %I in role %I', mr.rolname, gr.rolname),
       jsonb_build_object('grants', jsonb_agg(
         jsonb_build_object('grantor', pg_get_userbyid(m.grantor), 'admin_option', m.admin_option,
                            'inherit', coalesce(to_jsonb(m) -> 'inherit_option', to_jsonb(mr.rolinherit)))
         || (to_jsonb(m) - ARRAY['oid', 'roleid', 'member', 'grantor', 'admin_option', 'inherit_option'])
         ORDER BY pg_get_userbyid(m.grantor)::text COLLATE "C"))
  FROM pg_auth_members m JOIN pg_authid mr ON mr.oid = m.member JOIN pg_authid gr ON gr.oid = m.roleid
 GROUP BY mr.rolname, gr.rolname
UNION ALL
-- ALTER ROLE / ALTER DATABASE ... SET
SELECT 'role_setting',
       format('settings of %s in %s',
              CASE WHEN s.setrole = 0 THEN 'all roles' ELSE 'role ' || quote_ident(pg_get_userbyid(s.setrole)) END,
              CASE WHEN s.setdatabase = 0 THEN 'all databases'
                   ELSE 'database ' || quote_ident((SELECT d.datname FROM pg_database d WHERE d.oid = s.setdatabase)) END),
       jsonb_build_object('settings', to_jsonb(ARRAY(SELECT c FROM unnest(s.setconfig) c ORDER BY c COLLATE "C")))
  FROM pg_db_role_setting s
UNION ALL
SELECT 'database', 'database ' || quote_ident(d.datname),
       jsonb_build_object('owner', pg_get_userbyid(d.datdba), 'allow_connections', d.datallowconn,
         'connection_limit', d.datconnlimit, 'is_template', d.datistemplate,
         'acl', to_jsonb(ARRAY(SELECT a::text FROM unnest(coalesce(d.datacl, acldefault('d', d.datdba))) a
                                ORDER BY a::text COLLATE "C")))
  FROM pg_database d
UNION ALL
SELECT 'schema', quote_ident(n.nspname),
       jsonb_build_object('owner', pg_get_userbyid(n.nspowner),
         'acl', to_jsonb(ARRAY(SELECT a::text FROM unnest(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
                                ORDER BY a::text COLLATE "C")))
  FROM schema_ n
UNION ALL
-- tables, views, sequences: owner, privileges, row-level security, view security options
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized_view' WHEN 'S' THEN 'sequence' ELSE 'foreign_table' END,
       format('%I.%I', n.nspname, c.relname),
       jsonb_build_object('owner', pg_get_userbyid(c.relowner),
         'acl', to_jsonb(ARRAY(SELECT a::text
                                 FROM unnest(coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                                                           c.relowner))) a
                                ORDER BY a::text COLLATE "C")))
       || CASE WHEN c.relkind IN ('r', 'p', 'f')
               THEN jsonb_build_object('row_security', c.relrowsecurity, 'force_row_security', c.relforcerowsecurity)
               WHEN c.relkind = 'v' AND c.reloptions IS NOT NULL
               THEN jsonb_build_object('options', to_jsonb(ARRAY(SELECT o FROM unnest(c.reloptions) o
                                                                  WHERE o ~ '^security_' ORDER BY o COLLATE "C")))
               ELSE '{}'::jsonb END
  FROM pg_class c JOIN schema_ n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND (c.oid) NOT IN (SELECT m.objid FROM foreign_member m WHERE m.classid = 'pg_class'::regclass)
UNION ALL
-- column privileges (only columns that have their own)
SELECT 'column', format('%I.%I.%I', n.nspname, c.relname, a.attname),
       jsonb_build_object('acl', to_jsonb(ARRAY(SELECT x::text FROM unnest(a.attacl) x ORDER BY x::text COLLATE "C")))
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN schema_ n ON n.oid = c.relnamespace
 WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped
   AND (c.oid) NOT IN (SELECT m.objid FROM foreign_member m WHERE m.classid = 'pg_class'::regclass)
UNION ALL
-- functions and procedures: owner, SECURITY DEFINER and its settings, privileges
SELECT 'function', format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       jsonb_build_object('owner', pg_get_userbyid(p.proowner), 'security_definer', p.prosecdef,
         'leakproof', p.proleakproof, 'config', to_jsonb(p.proconfig),
         'acl', to_jsonb(ARRAY(SELECT a::text FROM unnest(coalesce(p.proacl, acldefault('f', p.proowner))) a
                                ORDER BY a::text COLLATE "C")))
  FROM pg_proc p JOIN schema_ n ON n.oid = p.pronamespace
 WHERE (p.oid) NOT IN (SELECT m.objid FROM foreign_member m WHERE m.classid = 'pg_proc'::regclass)
UNION ALL
SELECT 'default_privileges',
       format('default privileges of role %I%s on %s', pg_get_userbyid(d.defaclrole),
              CASE WHEN d.defaclnamespace = 0 THEN ''
                   ELSE format(' in schema %I', (SELECT n.nspname FROM pg_namespace n WHERE n.oid = d.defaclnamespace)) END,
              CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                                   WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE d.defaclobjtype::text END),
       jsonb_build_object('acl', to_jsonb(ARRAY(SELECT a::text FROM unnest(d.defaclacl) a ORDER BY a::text COLLATE "C")))
  FROM pg_default_acl d
UNION ALL
-- row-level security policies, with their expressions
SELECT 'policy', format('%I on %I.%I', p.polname, n.nspname, c.relname),
       jsonb_build_object('command', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                                   WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
         'permissive', p.polpermissive,
         'roles', to_jsonb(ARRAY(SELECT x.role_name
                                   FROM (SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END AS role_name
                                           FROM unnest(p.polroles) r) x
                                  ORDER BY x.role_name COLLATE "C")),
         'using', pg_get_expr(p.polqual, p.polrelid), 'with_check', pg_get_expr(p.polwithcheck, p.polrelid))
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN schema_ n ON n.oid = c.relnamespace
UNION ALL
-- pg_hba.conf rules as the file holds them, numbered in order (comments do not count)
SELECT 'hba_rule', 'hba rule ' || row_number() OVER (ORDER BY h.line_number),
       jsonb_build_object('type', h.type, 'database', to_jsonb(h.database), 'user_name', to_jsonb(h.user_name),
         'address', h.address, 'netmask', h.netmask, 'auth_method', h.auth_method,
         'options', to_jsonb(h.options), 'error', h.error)
  FROM pg_hba_file_rules h
UNION ALL
SELECT 'ident_mapping', 'ident mapping ' || row_number() OVER (ORDER BY i.line_number),
       jsonb_build_object('map_name', i.map_name, 'system_user', i.sys_name, 'database_user', i.pg_username,
         'error', i.error)
  FROM pg_ident_file_mappings i
UNION ALL
-- security-relevant settings as the server is configured (a session's SET does not count)
SELECT 'setting', 'setting ' || s.name,
       jsonb_build_object('value',
         CASE WHEN s.context IN ('internal', 'postmaster', 'sighup', 'backend', 'superuser-backend') THEN s.setting
              ELSE coalesce(f.setting, s.boot_val) END)
  FROM pg_settings s LEFT JOIN file_setting f ON f.name = s.name
 WHERE s.name IN ('listen_addresses', 'port', 'unix_socket_directories', 'unix_socket_group',
                  'unix_socket_permissions', 'authentication_timeout', 'password_encryption', 'scram_iterations',
                  'krb_server_keyfile', 'krb_caseins_users', 'db_user_namespace', 'hba_file', 'ident_file',
                  'shared_preload_libraries', 'session_preload_libraries', 'local_preload_libraries',
                  'dynamic_library_path', 'row_security', 'log_connections', 'log_disconnections', 'log_statement',
                  'log_line_prefix', 'log_destination', 'logging_collector', 'log_directory', 'log_file_mode',
                  'log_min_messages', 'log_min_error_statement', 'log_replication_commands', 'archive_mode',
                  'archive_command', 'archive_library', 'wal_level', 'fsync', 'full_page_writes', 'data_checksums',
                  'lo_compat_privileges', 'allow_system_table_mods', 'allow_alter_system', 'event_triggers')
    OR s.name ~ '^(ssl|pgaudit\.|ge_security\.)'
UNION ALL
-- ge_security's audit triggers (and the trail's own guards): present, enabled how, firing when
SELECT 'audit_trigger', format('%I on %I.%I', t.tgname, n.nspname, c.relname),
       jsonb_build_object('function', format('%I.%I', fn.nspname, f.proname), 'type', t.tgtype,
         'enabled', CASE t.tgenabled WHEN 'A' THEN 'always' WHEN 'O' THEN 'origin' WHEN 'R' THEN 'replica'
                                     ELSE 'disabled' END)
  FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid JOIN pg_namespace fn ON fn.oid = f.pronamespace
  JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE fn.nspname = 'ge_security' AND NOT t.tgisinternal
UNION ALL
SELECT 'protected_column', format('%I.%I.%I', n.nspname, c.relname, p.column_name),
       jsonb_build_object('context', p.context, 'aad_column', p.aad_column)
  FROM ge_security.protected_column p JOIN pg_class c ON c.oid = p.table_name JOIN pg_namespace n ON n.oid = c.relnamespace
UNION ALL
SELECT 'extension', quote_ident(e.extname),
       jsonb_build_object('version', e.extversion, 'schema', n.nspname, 'owner', pg_get_userbyid(e.extowner))
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
UNION ALL
SELECT 'event_trigger', quote_ident(t.evtname),
       jsonb_build_object('event', t.evtevent, 'owner', pg_get_userbyid(t.evtowner),
         'function', t.evtfoid::regprocedure::text, 'tags', to_jsonb(t.evttags),
         'enabled', CASE t.evtenabled WHEN 'A' THEN 'always' WHEN 'O' THEN 'origin' WHEN 'R' THEN 'replica'
                                      ELSE 'disabled' END)
  FROM pg_event_trigger t
UNION ALL
SELECT 'language', quote_ident(l.lanname),
       jsonb_build_object('owner', pg_get_userbyid(l.lanowner), 'trusted', l.lanpltrusted,
         'acl', to_jsonb(ARRAY(SELECT a::text FROM unnest(coalesce(l.lanacl, acldefault('l', l.lanowner))) a
                                ORDER BY a::text COLLATE "C")))
  FROM pg_language l
$$;
COMMENT ON FUNCTION security_snapshot() IS
  'ge_security: the current security posture, one row per object, as approve_baseline() stores it';

-- Differences between now and the latest approved baseline.
CREATE FUNCTION drift()
RETURNS TABLE (kind text, object_type text, object_name text, before jsonb, after jsonb)
LANGUAGE plpgsql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  latest bigint;
BEGIN
  SELECT max(b.id) INTO latest FROM ge_security.baseline b;
  IF latest IS NULL THEN
    RAISE EXCEPTION 'no security baseline has been approved in this database'
      USING ERRCODE = '55000',
            HINT = 'Review the posture (ge_security.security_snapshot(), ge_security.assess()), then run SELECT ge_security.approve_baseline(''why this posture is approved'');';
  END IF;
  RETURN QUERY
  SELECT CASE WHEN b.object_type IS NULL THEN 'added' WHEN c.object_type IS NULL THEN 'removed' ELSE 'changed' END,
         coalesce(c.object_type, b.object_type), coalesce(c.object_name, b.object_name), b.state, c.state
    FROM (SELECT i.object_type, i.object_name, i.state FROM ge_security.baseline_item i
           WHERE i.baseline_id = latest) b
    FULL JOIN ge_security.security_snapshot() c
      ON c.object_type = b.object_type AND c.object_name = b.object_name
   WHERE b.state IS DISTINCT FROM c.state
   ORDER BY coalesce(c.object_type, b.object_type) COLLATE "C", coalesce(c.object_name, b.object_name) COLLATE "C";
END
$$;
COMMENT ON FUNCTION drift() IS 'ge_security: what changed since the latest approved security baseline';

REVOKE ALL ON FUNCTION security_snapshot() FROM PUBLIC;
REVOKE ALL ON FUNCTION drift() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION security_snapshot() TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION drift() TO ge_security_auditor;
