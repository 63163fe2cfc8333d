-- Tenant isolation (docs/architecture.md, "Tenant isolation and role helpers"): coverage
-- report, a fail-closed RLS helper, and probes that prove the isolation as the application role.
-- Written in SQL/PL/pgSQL: they drive DDL and role switches that are clearest in the language
-- they generate. Every identifier is quoted.

-- One row per user table: does row-level security isolate its tenants?
CREATE FUNCTION rls_coverage()
RETURNS TABLE (table_name text, tenant_column text, rls_enabled boolean, rls_forced boolean,
               policies int, commands_covered text[], always_true_policies int,
               owner_bypass boolean, status text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH tenant_names AS (
  SELECT btrim(n) AS name
    FROM unnest(string_to_array(coalesce(current_setting('ge_security.tenant_columns', true), 'tenant_id'), ',')) n
), tables AS (
  SELECT c.oid, format('%I.%I', s.nspname, c.relname) AS qualified, c.relrowsecurity, c.relforcerowsecurity,
         o.rolsuper OR o.rolbypassrls AS owner_privileged,
         (SELECT a.attname::text FROM pg_attribute a
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             AND a.attname IN (SELECT name FROM tenant_names) ORDER BY a.attnum LIMIT 1) AS tenant_column
    FROM pg_class c
    JOIN pg_namespace s ON s.oid = c.relnamespace
    JOIN pg_roles o ON o.oid = c.relowner
   WHERE c.relkind IN ('r', 'p')
     AND NOT ge_security.system_schema(s.nspname)
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                        AND d.objid = c.oid AND d.deptype = 'e')
), pols AS (
  SELECT p.polrelid,
         count(*)::int AS policies,
         array_agg(DISTINCT CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                          WHEN 'd' THEN 'DELETE' ELSE 'ALL' END) AS commands,
         count(*) FILTER (WHERE p.polpermissive AND (
             coalesce(btrim(pg_get_expr(p.polqual, p.polrelid), '() '), '') IN ('true', '1 = 1')
          OR coalesce(btrim(pg_get_expr(p.polwithcheck, p.polrelid), '() '), '') IN ('true', '1 = 1')))::int AS always_true
    FROM pg_policy p GROUP BY p.polrelid
)
SELECT t.qualified, t.tenant_column, t.relrowsecurity, t.relforcerowsecurity,
       coalesce(p.policies, 0), coalesce(p.commands, '{}'), coalesce(p.always_true, 0),
       t.owner_privileged OR NOT t.relforcerowsecurity,
       CASE WHEN t.tenant_column IS NOT NULL AND NOT t.relrowsecurity THEN 'missing'
            WHEN t.relrowsecurity AND coalesce(p.policies, 0) = 0 THEN 'no_policy'
            WHEN coalesce(p.always_true, 0) > 0 THEN 'permissive'
            WHEN t.relrowsecurity AND NOT t.relforcerowsecurity THEN 'not_forced'
            WHEN t.relrowsecurity AND t.owner_privileged THEN 'bypassable'
            ELSE 'ok' END
  FROM tables t LEFT JOIN pols p ON p.polrelid = t.oid
 ORDER BY 1
$$;

-- Enable and force RLS with one policy that compares the tenant column with the setting and
-- fails closed: a missing or empty setting sees and writes nothing. Idempotent.
CREATE FUNCTION enable_tenant_isolation(tbl regclass, tenant_col name,
                                        setting text DEFAULT 'app.current_tenant_id')
RETURNS text[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  col record;
  qualified text;
  predicate text;
  done text[] := '{}';
  stmt text;
BEGIN
  IF tbl IS NULL OR tenant_col IS NULL OR setting IS NULL THEN
    RAISE EXCEPTION 'tbl, tenant_col and setting must not be NULL' USING ERRCODE = '22004';
  END IF;
  IF setting !~ '^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$.]*$' THEN
    RAISE EXCEPTION 'setting "%" is not a custom setting name', setting USING ERRCODE = '22023',
      HINT = 'Use a two-part name such as app.current_tenant_id.';
  END IF;
  SELECT format('%I.%I', n.nspname, c.relname) INTO qualified
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = tbl AND c.relkind IN ('r', 'p');
  IF qualified IS NULL THEN
    RAISE EXCEPTION '% is not a table', tbl USING ERRCODE = '42809';
  END IF;
  SELECT a.attname, a.attnotnull, format_type(a.atttypid, a.atttypmod) AS typ, a.atttypid INTO col
    FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = tenant_col AND a.attnum > 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" does not exist in %', tenant_col, qualified USING ERRCODE = '42703';
  END IF;
  IF col.atttypid NOT IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'uuid'::regtype,
                          'text'::regtype, 'varchar'::regtype, 'numeric'::regtype) THEN
    RAISE EXCEPTION 'tenant column % is of type %, not a key-like type', quote_ident(tenant_col), col.typ
      USING ERRCODE = '42804', HINT = 'Use integer, bigint, uuid or text tenant ids.';
  END IF;
  IF NOT col.attnotnull THEN
    RAISE EXCEPTION 'tenant column % of % is nullable', quote_ident(tenant_col), qualified
      USING ERRCODE = '55000',
            HINT = format('Rows without a tenant would be invisible to everyone: ALTER TABLE %s ALTER COLUMN %I SET NOT NULL;', qualified, tenant_col);
  END IF;
  predicate := format('%I = NULLIF(pg_catalog.current_setting(%L, true), %L)::%s', tenant_col, setting, '', col.typ);
  FOREACH stmt IN ARRAY ARRAY[
    format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', qualified),
    format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', qualified),
    CASE WHEN EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = tbl AND polname = 'ge_security_tenant_isolation')
         THEN format('ALTER POLICY ge_security_tenant_isolation ON %s TO PUBLIC USING (%s) WITH CHECK (%s)',
                     qualified, predicate, predicate)
         ELSE format('CREATE POLICY ge_security_tenant_isolation ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                     qualified, predicate, predicate) END]
  LOOP
    EXECUTE stmt;
    done := done || stmt;
  END LOOP;
  IF NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = tbl AND i.indkey[0] =
                   (SELECT attnum FROM pg_attribute WHERE attrelid = tbl AND attname = tenant_col)) THEN
    RAISE NOTICE 'no index starts with tenant column % of %', quote_ident(tenant_col), qualified
      USING HINT = format('CREATE INDEX ON %s (%I);', qualified, tenant_col);
  END IF;
  RETURN done;
END
$$;

-- Prove the isolation as `as_role`: every probe runs in a subtransaction that is rolled back,
-- so nothing it does survives (rows, settings, role).
CREATE FUNCTION prove_tenant_isolation(tbl regclass, as_role name)
RETURNS TABLE (probe text, passed boolean, detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  qualified text;
  col text;
  typ text;
  setting text;
  tenant_a text;
  tenant_b text;
  n bigint;
  results text[] := '{}';
  pr record;
  leaks text[] := '{}';
  views_checked int := 0;
BEGIN
  IF tbl IS NULL OR as_role IS NULL THEN
    RAISE EXCEPTION 'tbl and as_role must not be NULL' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = as_role) THEN
    RAISE EXCEPTION 'role "%" does not exist', as_role USING ERRCODE = '42704';
  END IF;
  SELECT format('%I.%I', s.nspname, c.relname) INTO qualified
    FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE c.oid = tbl AND c.relkind IN ('r', 'p');
  IF qualified IS NULL THEN
    RAISE EXCEPTION '% is not a table', tbl USING ERRCODE = '42809';
  END IF;
  SELECT a.attname, format_type(a.atttypid, a.atttypmod) INTO col, typ
    FROM pg_attribute a
   WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
     AND a.attname IN (SELECT btrim(x) FROM unnest(string_to_array(
           coalesce(current_setting('ge_security.tenant_columns', true), 'tenant_id'), ',')) x)
   ORDER BY a.attnum LIMIT 1;
  IF col IS NULL THEN
    RAISE EXCEPTION '% has no tenant column (ge_security.tenant_columns)', qualified USING ERRCODE = '42703';
  END IF;
  SELECT coalesce((regexp_match(pg_get_expr(p.polqual, p.polrelid), 'current_setting\(''([^'']+)'''))[1],
                  'app.current_tenant_id')
    INTO setting FROM pg_policy p WHERE p.polrelid = tbl ORDER BY p.polname = 'ge_security_tenant_isolation' DESC LIMIT 1;
  setting := coalesce(setting, 'app.current_tenant_id');

  BEGIN  -- everything below is rolled back by the exception raised at its end
    -- two tenants: existing ones when there are two, else seeded here (as the caller)
    EXECUTE format('SELECT min(%1$I::text), max(%1$I::text) FROM %2$s', col, qualified) INTO tenant_a, tenant_b;
    IF tenant_a IS NULL OR tenant_a = tenant_b THEN
      tenant_a := coalesce(tenant_a, CASE WHEN typ = 'uuid' THEN gen_random_uuid()::text
                                          WHEN typ IN ('text', 'character varying') THEN 'ge_probe_a' ELSE '900000001' END);
      tenant_b := CASE WHEN typ = 'uuid' THEN gen_random_uuid()::text
                       WHEN typ IN ('text', 'character varying') THEN 'ge_probe_b' ELSE '900000002' END;
      BEGIN
        PERFORM set_config(setting, tenant_a, true);
        EXECUTE format('INSERT INTO %s (%I) SELECT $1::%s WHERE NOT EXISTS (SELECT 1 FROM %s WHERE %I = $1::%s)',
                       qualified, col, typ, qualified, col, typ) USING tenant_a;
        PERFORM set_config(setting, tenant_b, true);
        EXECUTE format('INSERT INTO %s (%I) VALUES ($1::%s)', qualified, col, typ) USING tenant_b;
      EXCEPTION WHEN OTHERS THEN
        results := results || ARRAY['seed', 'false',
          format('could not seed two tenants (%s); add rows for two tenants and probe again', SQLERRM)];
        RAISE SQLSTATE 'GEPRB';
      END;
    END IF;
    PERFORM set_config(setting, '', true);

    -- The probes, each run as as_role with the setting at a tenant ('' for none) in a block
    -- that is always rolled back. n is the count it selects or the number of rows it changed,
    -- and the probe passes when n = 0; an error whose SQLSTATE is in refused_by passes as a
    -- refusal; with inconclusive set, any other error fails the probe instead of ending the
    -- proof. The detail is format(detail, as_role, tenant_a, tenant_b, n, target). Probe 6 reads
    -- each view over the table with no tenant set (a view may run with its owner's rights and
    -- skip the policies): a view showing rows is a leak, one the role may not read is none.
    FOR pr IN
      SELECT * FROM (VALUES
        (1, 'read_other_tenant', tenant_a,
         format('SELECT count(*) FROM %s WHERE %I = %L::%s', qualified, col, tenant_b, typ),
         '{42501}'::text[], false, 'as %1$I with tenant %2$s set: %4$s row(s) of tenant %3$s visible', qualified),
        (2, 'read_without_tenant', '', format('SELECT count(*) FROM %s', qualified),
         '{42501,22P02,42704}', false, 'as %1$I with no tenant set: %4$s row(s) visible', qualified),
        (3, 'insert_foreign_tenant', tenant_a,
         format('INSERT INTO %s (%I) VALUES (%L::%s)', qualified, col, tenant_b, typ),
         '{42501}', true, 'as %1$I with tenant %2$s set: a row for tenant %3$s was accepted', qualified),
        (4, 'update_to_foreign_tenant', tenant_a,
         format('UPDATE %s SET %I = %L::%s WHERE %I = %L::%s', qualified, col, tenant_b, typ, col, tenant_a, typ),
         '{42501}', false, 'as %1$I with tenant %2$s set: %4$s row(s) moved to tenant %3$s', qualified),
        (5, 'delete_other_tenant', tenant_a,
         format('DELETE FROM %s WHERE %I = %L::%s', qualified, col, tenant_b, typ),
         '{42501}', false, 'as %1$I with tenant %2$s set: %4$s row(s) of tenant %3$s deleted', qualified)
      ) AS probes(ord, probe, tenant, statement, refused_by, inconclusive, detail, target)
      UNION ALL
      SELECT DISTINCT 6, 'read_via_views', '', format('SELECT count(*) FROM %I.%I', s.nspname, c.relname),
             '{42501}'::text[], false, '%5$s shows %4$s row(s)', format('%I.%I', s.nspname, c.relname)
        FROM pg_depend d
        JOIN pg_rewrite w ON w.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
        JOIN pg_class c ON c.oid = w.ev_class
        JOIN pg_namespace s ON s.oid = c.relnamespace
       WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = tbl AND c.oid <> tbl
         AND c.relkind IN ('v', 'm') AND has_table_privilege(as_role, c.oid, 'SELECT')
      ORDER BY 1, 8
    LOOP
      n := NULL;
      BEGIN
        EXECUTE format('SET LOCAL ROLE %I', as_role);
        PERFORM set_config(setting, pr.tenant, true);
        IF pr.statement LIKE 'SELECT %' THEN
          EXECUTE pr.statement INTO n;
        ELSE
          EXECUTE pr.statement;
          GET DIAGNOSTICS n = ROW_COUNT;
        END IF;
        RAISE SQLSTATE 'GEPRB';
      EXCEPTION
        WHEN SQLSTATE 'GEPRB' THEN
          IF pr.ord < 6 THEN
            results := results || ARRAY[pr.probe, (n = 0)::text,
                                        format(pr.detail, as_role, tenant_a, tenant_b, n, pr.target)];
          ELSE
            views_checked := views_checked + 1;
            IF n > 0 THEN
              leaks := leaks || format(pr.detail, as_role, tenant_a, tenant_b, n, pr.target);
            END IF;
          END IF;
        WHEN OTHERS THEN
          IF SQLSTATE = ANY (pr.refused_by) AND pr.ord < 6 THEN
            results := results || ARRAY[pr.probe, 'true', format('refused: %s', SQLERRM)];
          ELSIF SQLSTATE = ANY (pr.refused_by) THEN
            views_checked := views_checked + 1;
          ELSIF pr.inconclusive THEN
            results := results || ARRAY[pr.probe, 'false',
                                        format('inconclusive, refused for another reason: %s', SQLERRM)];
          ELSE
            RAISE;
          END IF;
      END;
    END LOOP;
    results := results || ARRAY['read_via_views', (cardinality(leaks) = 0)::text,
      CASE WHEN cardinality(leaks) > 0
           THEN format('as %I with no tenant set: %s', as_role, array_to_string(leaks, '; '))
           ELSE format('%s view(s) over the table readable by %I, none shows rows without a tenant',
                       views_checked, as_role) END];
    RAISE SQLSTATE 'GEPRB';
  EXCEPTION WHEN SQLSTATE 'GEPRB' THEN NULL;
  END;
  FOR i IN 1 .. coalesce(array_length(results, 1), 0) / 3 LOOP
    probe := results[3 * i - 2];
    passed := results[3 * i - 1]::boolean;
    detail := results[3 * i];
    RETURN NEXT;
  END LOOP;
END
$$;
