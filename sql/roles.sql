-- Role helpers (docs/sql_reference.md, "Role helpers"). apply_role_model() sets up the NOLOGIN
-- owner / read-write / read-only model on one schema and returns every statement it ran;
-- identifiers are quoted.
CREATE FUNCTION apply_role_model(schema name, owner_role name, rw_role name, ro_role name)
RETURNS text[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  done text[] := '{}';
  stmt text;
  obj record;
  r name;
BEGIN
  IF schema IS NULL OR owner_role IS NULL OR rw_role IS NULL OR ro_role IS NULL THEN
    RAISE EXCEPTION 'schema, owner_role, rw_role and ro_role must not be NULL' USING ERRCODE = '22004';
  END IF;
  IF owner_role = rw_role OR owner_role = ro_role OR rw_role = ro_role THEN
    RAISE EXCEPTION 'owner, read-write and read-only roles must be three different roles' USING ERRCODE = '22023';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema) THEN
    RAISE EXCEPTION 'schema "%" does not exist', schema USING ERRCODE = '3F000';
  END IF;
  -- System schemas, this extension's schema and schemas an extension created keep their owners:
  -- handing ge_security's own tables and SECURITY DEFINER functions to an application owner
  -- role would let its members rewrite waivers and the audit registry.
  IF schema IN ('pg_catalog', 'information_schema') OR schema ~ '^pg_'
     OR EXISTS (SELECT 1 FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE n.nspname = schema AND e.extname = 'ge_security')
     OR EXISTS (SELECT 1 FROM pg_depend d JOIN pg_namespace n ON n.oid = d.objid
                 WHERE d.classid = 'pg_namespace'::regclass AND d.deptype = 'e' AND n.nspname = schema) THEN
    RAISE EXCEPTION 'schema "%" belongs to the system or to an extension', schema USING ERRCODE = '42501',
      DETAIL = 'apply_role_model() changes the owner and privileges of every object in the schema.',
      HINT = 'Apply the role model to your application''s own schemas.';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = owner_role AND (rolcanlogin OR rolsuper)) THEN
    RAISE EXCEPTION 'owner role "%" can log in or is a superuser', owner_role USING ERRCODE = '55000',
      HINT = format('The owner must be a NOLOGIN role: ALTER ROLE %I NOLOGIN;', owner_role);
  END IF;
  FOREACH r IN ARRAY ARRAY[owner_role, rw_role, ro_role] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      stmt := format('CREATE ROLE %I NOLOGIN', r);
      EXECUTE stmt; done := done || stmt;
    END IF;
  END LOOP;
  FOREACH stmt IN ARRAY ARRAY[
    format('ALTER SCHEMA %I OWNER TO %I', schema, owner_role),
    format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', schema),
    format('GRANT USAGE ON SCHEMA %I TO %I, %I', schema, rw_role, ro_role)]
  LOOP
    EXECUTE stmt; done := done || stmt;
  END LOOP;
  FOR obj IN
    SELECT format('ALTER %s %I.%I OWNER TO %I',
                  CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                                 WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                  schema, c.relname, owner_role) AS stmt
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
       AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = owner_role)
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                         AND d.objid = c.oid AND d.deptype = 'e')
       AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                 AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
    UNION ALL
    SELECT format('ALTER %s %I.%I(%s) OWNER TO %I', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                  schema, p.proname, pg_get_function_identity_arguments(p.oid), owner_role)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = schema AND p.prokind IN ('f', 'p')
       AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = owner_role)
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                         AND d.objid = p.oid AND d.deptype = 'e')
     ORDER BY 1
  LOOP
    EXECUTE obj.stmt; done := done || obj.stmt;
  END LOOP;
  FOREACH stmt IN ARRAY ARRAY[
    format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM PUBLIC', schema),
    format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM PUBLIC', schema),
    format('REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA %I FROM PUBLIC', schema),
    format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', schema, rw_role),
    format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', schema, rw_role),
    format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO %I', schema, rw_role),
    format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', schema, ro_role),
    format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
           owner_role, schema, rw_role),
    format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO %I',
           owner_role, schema, rw_role),
    format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT ON TABLES TO %I',
           owner_role, schema, ro_role),
    format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC', owner_role),
    format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT EXECUTE ON FUNCTIONS TO %I',
           owner_role, schema, rw_role)]
  LOOP
    EXECUTE stmt; done := done || stmt;
  END LOOP;
  RETURN done;
END
$$;
