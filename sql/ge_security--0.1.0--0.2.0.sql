-- ge_security 0.1.0 -> 0.2.0, run by ALTER EXTENSION ge_security UPDATE (docs/upgrading.md).
-- The audit trail gains two columns (hash_version, 1 for every row written by 0.1.0, and
-- redacted); its rows, its blocks, waivers and the registry of protected columns are kept, and
-- rows hashed under the canonical encoding v1 keep verifying (new rows are hashed under v2).
-- New in 0.2.0: the drift baseline tables and functions, the metrics view, evidence, the CI
-- exports, controls(), the trail's redaction, retention and archival (audit_redact*(),
-- audit_export(), audit_prune()); functions of 0.1.0 are replaced with their 0.2.0 definitions
-- (pinned search_path, checks before locks); the grants end as a fresh install makes them.
\echo Use "ALTER EXTENSION ge_security UPDATE TO '0.2.0'" to load this file. \quit

-- The one definition of "a schema of PostgreSQL itself" (docs/architecture.md, "User schemas"):
-- pg_catalog, information_schema, pg_toast and the temporary schemas pg_temp_N and
-- pg_toast_temp_N. Checks, drift and tenant coverage look only at the other schemas (each then
-- leaves out what it must besides, such as schemas of extensions).
CREATE OR REPLACE FUNCTION system_schema(nspname name) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN nspname IN ('pg_catalog', 'information_schema', 'pg_toast')
       OR nspname ~ '^pg_(toast_)?temp_';

-- Findings for CI systems: assess() as SARIF 2.1.0 (code-scanning dashboards) and as JUnit XML
-- (every CI's test report). Both run as their caller: assess()'s own permission rules apply.

-- Text made safe for XML 1.0 character data and attribute values: markup escaped, control
-- characters XML cannot carry dropped.
CREATE OR REPLACE FUNCTION xml_text(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
           pg_catalog.regexp_replace(value, E'[\\x01-\\x08\\x0b\\x0c\\x0e-\\x1f]', '', 'g'),
         '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&apos;')
$$;

-- SARIF level of a severity: the scale code-scanning tools sort and gate on.
CREATE OR REPLACE FUNCTION sarif_level(severity text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE severity WHEN 'critical' THEN 'error' WHEN 'high' THEN 'error'
                       WHEN 'medium' THEN 'warning' ELSE 'note' END
$$;

CREATE OR REPLACE FUNCTION assess_sarif(min_severity text DEFAULT 'info') RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  findings jsonb;
  rules jsonb;
  rule_ids text[];
  version text;
BEGIN
  -- assess() first: it validates min_severity and checks the caller's privileges.
  SELECT coalesce(jsonb_agg(pg_catalog.to_jsonb(a)), '[]') INTO findings
    FROM ge_security.assess(min_severity, true) a;

  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'id', c.check_id,
           'name', c.check_id,
           'shortDescription', jsonb_build_object('text', c.title),
           'fullDescription', jsonb_build_object('text', c.description),
           'help', jsonb_build_object('text', c.description
                     || CASE WHEN cardinality(c.controls) > 0
                             THEN ' Controls: ' || array_to_string(c.controls, ', ') ELSE '' END),
           'defaultConfiguration', jsonb_build_object('level', ge_security.sarif_level(c.severity)),
           'properties', jsonb_build_object(
             'tags', jsonb_build_array('security', c.category) || to_jsonb(c.controls),
             'category', c.category,
             'severity', c.severity,
             'security-severity', CASE c.severity WHEN 'critical' THEN '9.5' WHEN 'high' THEN '8.0'
                                    WHEN 'medium' THEN '5.5' WHEN 'low' THEN '3.0' ELSE '1.0' END))
           ORDER BY c.check_id), '[]'),
         coalesce(array_agg(c.check_id ORDER BY c.check_id), '{}')
    INTO rules, rule_ids
    FROM ge_security.checks() c;

  SELECT e.extversion INTO version FROM pg_catalog.pg_extension e WHERE e.extname = 'ge_security';

  RETURN jsonb_build_object(
    '$schema', 'https://json.schemastore.org/sarif-2.1.0.json',
    'version', '2.1.0',
    'runs', jsonb_build_array(jsonb_build_object(
      'tool', jsonb_build_object('driver', jsonb_build_object(
        'name', 'ge_security',
        'version', version,
        'semanticVersion', version,
        'rules', rules)),
      'automationDetails', jsonb_build_object('id', 'ge_security/' || current_database() || '/'),
      'invocations', jsonb_build_array(jsonb_build_object(
        'executionSuccessful', true,
        'endTimeUtc', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'properties', jsonb_build_object('database', current_database(), 'minSeverity', min_severity))),
      'results', (
        SELECT coalesce(jsonb_agg(
                 jsonb_build_object(
                   'ruleId', f.check_id,
                   'kind', CASE f.status WHEN 'not_assessed' THEN 'review' ELSE 'fail' END,
                   'level', CASE f.status WHEN 'not_assessed' THEN 'none'
                                 ELSE ge_security.sarif_level(f.severity) END,
                   'message', jsonb_build_object('text', f.message
                                || coalesce(E'\nRemediation: ' || f.remediation, '')),
                   'locations', jsonb_build_array(jsonb_build_object(
                     'logicalLocations', jsonb_build_array(jsonb_build_object(
                       'name', f.object_name,
                       'fullyQualifiedName', current_database() || '/' || f.object_name,
                       'kind', f.object_type)))),
                   'partialFingerprints', jsonb_build_object('geSecurityFinding/v1',
                     encode(sha256(convert_to(f.check_id || '/' || f.object_name, 'UTF8')), 'hex')),
                   'properties', jsonb_build_object(
                     'severity', f.severity, 'status', f.status, 'category', f.category,
                     'objectType', f.object_type, 'remediation', f.remediation,
                     'controls', to_jsonb(f.controls), 'details', f.details))
                 || CASE WHEN array_position(rule_ids, f.check_id) IS NOT NULL
                         THEN jsonb_build_object('ruleIndex', array_position(rule_ids, f.check_id) - 1)
                         ELSE '{}' END
                 || CASE WHEN f.status = 'waived'
                         THEN jsonb_build_object('suppressions', jsonb_build_array(jsonb_build_object(
                                'kind', 'external', 'status', 'accepted',
                                'justification', coalesce(w.reason, 'waived'))))
                         ELSE '{}' END
                 ORDER BY ord), '[]')
          FROM ROWS FROM (jsonb_to_recordset(findings)
                 AS (check_id text, severity text, category text, object_type text, object_name text,
                     status text, message text, remediation text, controls text[], details jsonb))
               WITH ORDINALITY AS f(check_id, severity, category, object_type, object_name,
                                    status, message, remediation, controls, details, ord)
          LEFT JOIN ge_security.waiver w
            ON w.check_id = f.check_id AND w.object_name = f.object_name AND w.expires_at > now()))));
END
$$;

CREATE OR REPLACE FUNCTION assess_junit(min_severity text DEFAULT 'info') RETURNS text
LANGUAGE plpgsql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  findings jsonb;
  floor_rank int;
  body text;
  n_tests bigint;
  n_failed bigint;
  n_skipped bigint;
  version text;
BEGIN
  -- assess() first: it validates min_severity and checks the caller's privileges.
  SELECT coalesce(jsonb_agg(pg_catalog.to_jsonb(a)), '[]') INTO findings
    FROM ge_security.assess(min_severity, true) a;
  floor_rank := array_position(ARRAY['info', 'low', 'medium', 'high', 'critical'], min_severity);
  SELECT e.extversion INTO version FROM pg_catalog.pg_extension e WHERE e.extname = 'ge_security';

  WITH f AS (
    SELECT * FROM jsonb_to_recordset(findings)
        AS r(check_id text, severity text, category text, object_type text, object_name text,
             status text, message text, remediation text, controls text[], details jsonb)
  ), cases AS (
    SELECT c.check_id, c.category,
           (SELECT string_agg(format(E'      <failure type="%s" message="%s">%s</failure>\n',
                     ge_security.xml_text(f.severity),
                     ge_security.xml_text(f.object_name || ': ' || f.message),
                     ge_security.xml_text('object: ' || f.object_type || ' ' || f.object_name
                       || E'\n' || f.message
                       || coalesce(E'\nremediation: ' || f.remediation, '')
                       || CASE WHEN cardinality(f.controls) > 0
                               THEN E'\ncontrols: ' || array_to_string(f.controls, ', ') ELSE '' END)),
                     '' ORDER BY f.object_name)
              FROM f WHERE f.check_id = c.check_id AND f.status = 'fail') AS failures,
           (SELECT string_agg(f.object_name || ': ' || f.message, '; ' ORDER BY f.object_name)
              FROM f WHERE f.check_id = c.check_id AND f.status = 'not_assessed') AS not_assessed,
           (SELECT string_agg(f.object_name || coalesce(' (' || w.reason || ')', ''), E'\n' ORDER BY f.object_name)
              FROM f LEFT JOIN ge_security.waiver w
                ON w.check_id = f.check_id AND w.object_name = f.object_name AND w.expires_at > now()
             WHERE f.check_id = c.check_id AND f.status = 'waived') AS waived
      FROM ge_security.checks() c
     WHERE array_position(ARRAY['info', 'low', 'medium', 'high', 'critical'], c.severity) >= floor_rank
  )
  SELECT count(*),
         count(*) FILTER (WHERE failures IS NOT NULL),
         count(*) FILTER (WHERE failures IS NULL AND not_assessed IS NOT NULL),
         coalesce(string_agg(
           format(E'    <testcase classname="%s" name="%s">\n',
                  ge_security.xml_text('ge_security.' || category), ge_security.xml_text(check_id))
           || coalesce(failures, '')
           || CASE WHEN failures IS NULL AND not_assessed IS NOT NULL
                   THEN format(E'      <skipped message="%s"/>\n', ge_security.xml_text('not assessed: ' || not_assessed))
                   ELSE '' END
           || CASE WHEN waived IS NOT NULL
                   THEN format(E'      <system-out>%s</system-out>\n', ge_security.xml_text(E'waived:\n' || waived))
                   ELSE '' END
           || E'    </testcase>\n', '' ORDER BY check_id), '')
    INTO n_tests, n_failed, n_skipped, body
    FROM cases;

  RETURN E'<?xml version="1.0" encoding="UTF-8"?>\n'
    || format(E'<testsuites name="ge_security" tests="%s" failures="%s" errors="0" skipped="%s">\n',
              n_tests, n_failed, n_skipped)
    || format(E'  <testsuite name="%s" tests="%s" failures="%s" errors="0" skipped="%s" timestamp="%s">\n',
              ge_security.xml_text('ge_security.assess ' || current_database()), n_tests, n_failed, n_skipped,
              to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'))
    || E'    <properties>\n'
    || format(E'      <property name="database" value="%s"/>\n', ge_security.xml_text(current_database()))
    || format(E'      <property name="min_severity" value="%s"/>\n', ge_security.xml_text(min_severity))
    || format(E'      <property name="ge_security_version" value="%s"/>\n', ge_security.xml_text(version))
    || E'    </properties>\n'
    || body
    || E'  </testsuite>\n</testsuites>\n';
END
$$;

-- The audit trail: what the actor column holds (no change to its data).
COMMENT ON COLUMN audit_log.actor IS 'ge_security: value of the setting named by ge_security.actor_setting; NULL when unset, empty, or a setting hidden from ordinary roles (superuser-only, such as ge_security.keyring_path), whose value is never copied into the trail';

-- The audit trail's lifecycle (docs/architecture.md, "Canonical row encoding (version 2)",
-- "Redaction"): every row says which encoding its hash is under (the rows of 0.1.0: 1; the
-- default is dropped again, as a fresh install has none: the writer always sets it), and where
-- redaction keeps the digests of the values it removed. No row is rewritten.
ALTER TABLE audit_log ADD COLUMN hash_version smallint NOT NULL DEFAULT 1;
ALTER TABLE audit_log ALTER COLUMN hash_version DROP DEFAULT;
ALTER TABLE audit_log ADD COLUMN redacted jsonb;
COMMENT ON COLUMN audit_log.hash_version IS 'ge_security: canonical encoding row_hash was computed under (1: 0.1.0, images hashed whole; 2: each image value through its own SHA-256, redactable)';
COMMENT ON COLUMN audit_log.redacted IS 'ge_security: set by audit_redact*(): the ids of the redaction records and the SHA-256 digests of the values (and statement) removed';
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'ge_security_redactor') THEN
    CREATE ROLE ge_security_redactor NOLOGIN;
    COMMENT ON ROLE ge_security_redactor IS
      'ge_security: may call audit_redact(), audit_redact_subject() and audit_redact_column()';
  END IF;
END
$$;

-- Tenant isolation (docs/architecture.md, "Tenant isolation and role helpers"): coverage
-- report, a fail-closed RLS helper, and probes that prove the isolation as the application role.
-- Written in SQL/PL/pgSQL: they drive DDL and role switches that are clearest in the language
-- they generate. Every identifier is quoted.

-- One row per user table: does row-level security isolate its tenants?
CREATE OR REPLACE FUNCTION rls_coverage()
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
CREATE OR REPLACE FUNCTION enable_tenant_isolation(tbl regclass, tenant_col name,
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
CREATE OR REPLACE FUNCTION prove_tenant_isolation(tbl regclass, as_role name)
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

-- Role helpers (docs/sql_reference.md, "Role helpers"). apply_role_model() sets up the NOLOGIN
-- owner / read-write / read-only model on one schema and returns every statement it ran;
-- identifiers are quoted.
CREATE OR REPLACE FUNCTION apply_role_model(schema name, owner_role name, rw_role name, ro_role name)
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

-- requires:
--   crypto_tables

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
CREATE OR REPLACE FUNCTION security_snapshot()
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
CREATE OR REPLACE FUNCTION drift()
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

-- requires:
--   drift

-- Metrics for monitoring (postgres_exporter custom queries): one row per metric, with labels as
-- a JSON object. Each part is computed on its own: one that fails (a keyring that cannot be read,
-- a privilege the reader lacks) gives its metric as NaN with an "error" label, the rest still come.
CREATE OR REPLACE FUNCTION metric_rows()
RETURNS TABLE (name text, labels jsonb, value double precision)
LANGUAGE plpgsql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  db jsonb := jsonb_build_object('database', current_database());
  p record;
  unsealed_rows bigint;
  unsealed_age double precision;
  since_seal double precision;
  s record;
  n bigint;
BEGIN
  BEGIN
    SELECT * INTO p FROM ge_security.posture();
    RETURN QUERY SELECT 'findings', db || jsonb_build_object('severity', x.severity), x.n::double precision
      FROM (VALUES ('critical', p.critical), ('high', p.high), ('medium', p.medium), ('low', p.low),
                   ('info', p.info)) AS x(severity, n);
    RETURN QUERY VALUES ('findings_not_assessed', db, p.not_assessed::double precision),
                        ('findings_waived', db, p.waived::double precision),
                        ('posture_score', db, p.score::double precision);
  EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT m, db || jsonb_build_object('error', SQLSTATE), 'NaN'::double precision
      FROM unnest(ARRAY['findings', 'findings_not_assessed', 'findings_waived', 'posture_score']) m;
  END;

  BEGIN
    SELECT count(*), greatest(extract(epoch FROM clock_timestamp() - min(l.at)), 0) INTO unsealed_rows, unsealed_age
      FROM ge_security.audit_log l
     WHERE l.id > coalesce((SELECT max(b.last_id) FROM ge_security.audit_block b), 0);
    SELECT greatest(extract(epoch FROM clock_timestamp() - max(b.sealed_at)), 0) INTO since_seal FROM ge_security.audit_block b;
    RETURN QUERY VALUES ('audit_unsealed_rows', db, unsealed_rows::double precision),
                        ('audit_unsealed_age_seconds', db, coalesce(unsealed_age, 0)),
                        ('audit_seconds_since_seal', db, coalesce(since_seal, 'NaN'));
  EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT m, db || jsonb_build_object('error', SQLSTATE), 'NaN'::double precision
      FROM unnest(ARRAY['audit_unsealed_rows', 'audit_unsealed_age_seconds', 'audit_seconds_since_seal']) m;
  END;

  BEGIN
    SELECT * INTO s FROM ge_security.worker_status;
    RETURN QUERY VALUES
      ('audit_last_verify_ok', db, CASE WHEN s.verify_ok THEN 1.0::float8 WHEN NOT s.verify_ok THEN 0.0::float8 ELSE 'NaN'::float8 END),
      ('audit_last_verify_problems', db, coalesce(s.verify_problems::double precision, 'NaN')),
      ('audit_last_verify_age_seconds', db, coalesce(extract(epoch FROM now() - s.verified_at)::double precision, 'NaN')),
      ('drift_seconds_since_check', db, coalesce(extract(epoch FROM now() - s.drift_checked_at)::double precision, 'NaN'));
    RETURN QUERY SELECT 'drift_open_events', db || jsonb_build_object('kind', k.kind),
                        (SELECT count(*) FROM ge_security.drift_event e
                          WHERE e.closed_at IS NULL AND e.kind = k.kind)::double precision
      FROM (VALUES ('added'), ('removed'), ('changed')) AS k(kind);
    RETURN QUERY SELECT 'baseline_age_seconds', db,
                        coalesce((SELECT extract(epoch FROM now() - max(b.approved_at)) FROM ge_security.baseline b)::double precision, 'NaN');
  EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT m, db || jsonb_build_object('error', SQLSTATE), 'NaN'::double precision
      FROM unnest(ARRAY['audit_last_verify_ok', 'audit_last_verify_problems', 'audit_last_verify_age_seconds',
                        'drift_seconds_since_check', 'drift_open_events', 'baseline_age_seconds']) m;
  END;

  BEGIN
    SELECT count(*) INTO n FROM ge_security.keyring_status();
    RETURN QUERY VALUES ('keyring_keys', db, n::double precision);
  EXCEPTION WHEN OTHERS THEN
    RETURN QUERY VALUES ('keyring_keys', db || jsonb_build_object('error', SQLSTATE), 'NaN'::double precision);
  END;
END
$$;
COMMENT ON FUNCTION metric_rows() IS 'ge_security: the rows of the metrics view';

CREATE VIEW metrics AS SELECT m.name, m.labels, m.value FROM metric_rows() m;
COMMENT ON VIEW metrics IS
  'ge_security: one row per metric (name, labels, value) for postgres_exporter custom queries';

REVOKE ALL ON metrics FROM PUBLIC;
REVOKE ALL ON FUNCTION metric_rows() FROM PUBLIC;
GRANT SELECT ON metrics TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION metric_rows() TO ge_security_auditor;

-- ge_security::drift::approve_baseline
CREATE OR REPLACE FUNCTION "approve_baseline"(
	"note" TEXT /* Option < & str > */
) RETURNS jsonb /* JsonB */
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'approve_baseline_wrapper';

-- ge_security::assess::assess
CREATE OR REPLACE FUNCTION "assess"(
	"min_severity" TEXT DEFAULT 'info', /* Option < & str > */
	"include_waived" bool DEFAULT false /* Option < bool > */
) RETURNS TABLE (
	"check_id" TEXT,  /* String */
	"severity" TEXT,  /* String */
	"category" TEXT,  /* String */
	"object_type" text,  /* ServerText */
	"object_name" text,  /* ServerText */
	"status" TEXT,  /* String */
	"message" text,  /* ServerText */
	"remediation" text,  /* Option < ServerText > */
	"controls" TEXT[],  /* Vec < String > */
	"details" jsonb  /* ServerJsonb */
)
PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'assess_wrapper';

-- ge_security::audit::verify::audit_digest
CREATE OR REPLACE FUNCTION "audit_digest"() RETURNS jsonb /* JsonB */
STRICT STABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_digest_wrapper';

-- ge_security::audit::archive::audit_export
CREATE OR REPLACE FUNCTION "audit_export"(
	"from_block" bigint, /* Option < i64 > */
	"to_block" bigint /* Option < i64 > */
) RETURNS SETOF TEXT /* String */
STABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_export_wrapper';

-- ge_security::audit::verify::audit_proof
CREATE OR REPLACE FUNCTION "audit_proof"(
	"id" bigint /* Option < i64 > */
) RETURNS jsonb /* JsonB */
STABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_proof_wrapper';

-- ge_security::audit::prune::audit_prune
CREATE OR REPLACE FUNCTION "audit_prune"(
	"through_block" bigint /* Option < i64 > */
) RETURNS bigint /* i64 */
PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_prune_wrapper';

-- ge_security::audit::seal::audit_seal
CREATE OR REPLACE FUNCTION "audit_seal"() RETURNS bigint /* i64 */
STRICT PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_seal_wrapper';

-- ge_security::audit::verify::audit_verify
CREATE OR REPLACE FUNCTION audit_verify(digest jsonb DEFAULT NULL) RETURNS TABLE (ok boolean, problem text, block_no bigint, id bigint, detail text) STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp LANGUAGE c AS 'MODULE_PATHNAME', 'audit_verify_wrapper';

-- ge_security::crypto::blind_index
CREATE OR REPLACE FUNCTION blind_index(value text, context text) RETURNS bytea STABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'blind_index_wrapper';

-- ge_security::assess::checks
CREATE OR REPLACE FUNCTION "checks"() RETURNS TABLE (
	"check_id" TEXT,  /* String */
	"severity" TEXT,  /* String */
	"category" TEXT,  /* String */
	"title" TEXT,  /* String */
	"controls" TEXT[],  /* Vec < String > */
	"description" TEXT  /* String */
)
IMMUTABLE STRICT PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'checks_wrapper';

-- ge_security::assess::controls
CREATE OR REPLACE FUNCTION "controls"() RETURNS TABLE (
	"control_id" TEXT,  /* String */
	"framework" TEXT,  /* String */
	"version" TEXT,  /* String */
	"title" TEXT  /* String */
)
IMMUTABLE STRICT PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'controls_wrapper';

-- ge_security::crypto::decrypt
CREATE OR REPLACE FUNCTION decrypt(value bytea, context text, aad text DEFAULT '') RETURNS text STABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'decrypt_wrapper';

-- ge_security::crypto::decrypt_bytea
CREATE OR REPLACE FUNCTION decrypt_bytea(value bytea, context text, aad text DEFAULT '') RETURNS bytea STABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'decrypt_bytea_wrapper';

-- ge_security::audit::disable_audit
CREATE OR REPLACE FUNCTION disable_audit(tbl regclass) RETURNS text VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp LANGUAGE c AS 'MODULE_PATHNAME', 'disable_audit_wrapper';

-- ge_security::drift::drift_check
CREATE OR REPLACE FUNCTION "drift_check"() RETURNS TABLE (
	"event_id" bigint,  /* i64 */
	"kind" TEXT,  /* String */
	"object_type" TEXT,  /* String */
	"object_name" TEXT  /* String */
)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'drift_check_wrapper';

-- ge_security::audit::enable_audit (0.2.0 adds exclude: columns recorded as digests only)
DROP FUNCTION enable_audit(regclass);
CREATE FUNCTION enable_audit(tbl regclass, exclude text[] DEFAULT NULL) RETURNS text VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp LANGUAGE c AS 'MODULE_PATHNAME', 'enable_audit_wrapper';

-- ge_security::audit::erasure::audit_redact
CREATE FUNCTION audit_redact(id bigint, reason text) RETURNS bigint VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp LANGUAGE c AS 'MODULE_PATHNAME', 'audit_redact_wrapper';

-- ge_security::audit::erasure::audit_redact_subject
CREATE FUNCTION audit_redact_subject(tbl regclass, row_key jsonb, reason text) RETURNS bigint VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp LANGUAGE c AS 'MODULE_PATHNAME', 'audit_redact_subject_wrapper';

-- ge_security::audit::erasure::audit_redact_column
CREATE FUNCTION audit_redact_column(tbl regclass, col name, reason text) RETURNS bigint VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp LANGUAGE c AS 'MODULE_PATHNAME', 'audit_redact_column_wrapper';

-- ge_security::crypto::encrypt_bytea
CREATE OR REPLACE FUNCTION encrypt(value bytea, context text, aad text DEFAULT '') RETURNS bytea VOLATILE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'encrypt_bytea_wrapper';

-- ge_security::crypto::encrypt_text
CREATE OR REPLACE FUNCTION encrypt(value text, context text, aad text DEFAULT '') RETURNS bytea VOLATILE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'encrypt_text_wrapper';

-- ge_security::evidence::evidence
CREATE OR REPLACE FUNCTION "evidence"() RETURNS jsonb /* JsonB */
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'evidence_wrapper';

-- ge_security::evidence::evidence_report
CREATE OR REPLACE FUNCTION "evidence_report"() RETURNS TEXT /* String */
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'evidence_report_wrapper';

-- ge_security::crypto::keyring_status
CREATE OR REPLACE FUNCTION "keyring_status"() RETURNS TABLE (
	"key_id" bigint,  /* i64 */
	"active" bool,  /* bool */
	"fingerprint" TEXT  /* String */
)
STRICT STABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'keyring_status_wrapper';

-- ge_security::audit::lockdown::lockdown_role
CREATE OR REPLACE FUNCTION lockdown_role(role name) RETURNS text VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp LANGUAGE c AS 'MODULE_PATHNAME', 'lockdown_role_wrapper';

-- ge_security::crypto::columns::protect_column
CREATE OR REPLACE FUNCTION protect_column(tbl regclass, col name, context text, aad_col name DEFAULT NULL) RETURNS text VOLATILE PARALLEL UNSAFE SECURITY DEFINER SET search_path = pg_catalog, pg_temp LANGUAGE c AS 'MODULE_PATHNAME', 'protect_column_wrapper';

-- ge_security::crypto::columns::reencrypt_column
CREATE OR REPLACE FUNCTION reencrypt_column(tbl regclass, col name, context text, aad_col name DEFAULT NULL, batch integer DEFAULT 1000) RETURNS bigint VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp LANGUAGE c AS 'MODULE_PATHNAME', 'reencrypt_column_wrapper';

-- ge_security::crypto::rotate
CREATE OR REPLACE FUNCTION rotate(value bytea, context text, aad text DEFAULT '') RETURNS bytea VOLATILE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'rotate_wrapper';

-- ge_security::assess::server_files::server_certificate
CREATE OR REPLACE FUNCTION "server_certificate"() RETURNS TABLE (
	"path" TEXT,  /* String */
	"error" TEXT,  /* Option < String > */
	"subject" TEXT,  /* Option < String > */
	"issuer" TEXT,  /* Option < String > */
	"self_signed" bool,  /* Option < bool > */
	"not_before" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"not_after" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"key_algorithm" TEXT,  /* Option < String > */
	"key_bits" INT,  /* Option < i32 > */
	"signature_algorithm" TEXT,  /* Option < String > */
	"signature_hash" TEXT  /* Option < String > */
)
STRICT VOLATILE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'server_certificate_wrapper';

-- ge_security::assess::server_files::server_key_file
CREATE OR REPLACE FUNCTION "server_key_file"() RETURNS TABLE (
	"path" TEXT,  /* String */
	"error" TEXT,  /* Option < String > */
	"mode" TEXT,  /* Option < String > */
	"mode_bits" INT,  /* Option < i32 > */
	"owned_by_server" bool,  /* Option < bool > */
	"owned_by_root" bool  /* Option < bool > */
)
STRICT VOLATILE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'server_key_file_wrapper';

-- ge_security::assess::waivers::waive
CREATE OR REPLACE FUNCTION "waive"(
	"check_id" text, /* Option < TextArg > */
	"object_name" text, /* Option < TextArg > */
	"reason" text, /* Option < TextArg > */
	"expires_at" timestamp with time zone /* Option < TimestampWithTimeZone > */
) RETURNS text /* ServerText */
SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'waive_wrapper';

-- finalize
-- ge_security grants, in one place. A posture report is a map for attackers:
-- only ge_security_auditor (and superusers) may read it.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

REVOKE ALL ON FUNCTION @extschema@.assess(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.checks() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.posture() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.assert_posture(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.role_audit() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.waive(text, text, text, timestamptz) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION @extschema@.assess(text, boolean) TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION @extschema@.checks() TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION @extschema@.posture() TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION @extschema@.assert_posture(text) TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION @extschema@.role_audit() TO ge_security_auditor;
REVOKE ALL ON FUNCTION @extschema@.server_certificate() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.server_key_file() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.server_certificate() TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION @extschema@.server_key_file() TO ge_security_auditor;

-- Audit trail: sealing is for superusers and the worker; reading and verifying for auditors.
REVOKE ALL ON FUNCTION @extschema@.audit_seal() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_verify(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_digest() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_proof(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.audit_verify(jsonb) TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION @extschema@.audit_digest() TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION @extschema@.audit_proof(bigint) TO ge_security_auditor;
-- Retention and archival: auditors export what they may read anyway; only superusers prune
-- (audit_prune() checks that itself too, and never prunes inside the retention).
REVOKE ALL ON FUNCTION @extschema@.audit_export(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_prune(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.audit_export(bigint, bigint) TO ge_security_auditor;

-- Redaction (erasure) of sealed audit rows: superusers and ge_security_redactor.
REVOKE ALL ON FUNCTION @extschema@.audit_redact(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_redact_subject(regclass, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.audit_redact_column(regclass, name, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.audit_redact(bigint, text) TO ge_security_redactor;
GRANT EXECUTE ON FUNCTION @extschema@.audit_redact_subject(regclass, jsonb, text) TO ge_security_redactor;
GRANT EXECUTE ON FUNCTION @extschema@.audit_redact_column(regclass, name, text) TO ge_security_redactor;

-- Column encryption: everyone may encrypt, index and rotate; only decryptors may decrypt.
REVOKE ALL ON FUNCTION @extschema@.decrypt(bytea, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.decrypt_bytea(bytea, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.decrypt(bytea, text, text) TO ge_security_decryptor;
GRANT EXECUTE ON FUNCTION @extschema@.decrypt_bytea(bytea, text, text) TO ge_security_decryptor;
REVOKE ALL ON FUNCTION @extschema@.keyring_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.keyring_status() TO ge_security_auditor, ge_security_decryptor;

-- Tenant isolation: the coverage report is for auditors; the helpers run as their caller
-- (the table owner), so the table's own privileges decide.
REVOKE ALL ON FUNCTION @extschema@.rls_coverage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.rls_coverage() TO ge_security_auditor;

-- Role helpers change roles and privileges: superusers only.
REVOKE ALL ON FUNCTION @extschema@.apply_role_model(name, name, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.lockdown_role(name) FROM PUBLIC;

-- Policy drift: approving a baseline and recording drift are superuser steps (the workers run
-- drift_check() as superuser); drift() and security_snapshot() are granted in drift.sql.
REVOKE ALL ON FUNCTION @extschema@.approve_baseline(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.drift_check() FROM PUBLIC;

-- Evidence is a map of the posture: auditors only.
REVOKE ALL ON FUNCTION @extschema@.evidence() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.evidence_report() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.evidence() TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION @extschema@.evidence_report() TO ge_security_auditor;

-- Findings for CI systems: the same audience as assess().
REVOKE ALL ON FUNCTION @extschema@.assess_sarif(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.assess_junit(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.assess_sarif(text) TO ge_security_auditor;
GRANT EXECUTE ON FUNCTION @extschema@.assess_junit(text) TO ge_security_auditor;
