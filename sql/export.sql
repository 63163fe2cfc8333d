-- Findings for CI systems: assess() as SARIF 2.1.0 (code-scanning dashboards) and as JUnit XML
-- (every CI's test report). Both run as their caller: assess()'s own permission rules apply.

-- Text made safe for XML 1.0 character data and attribute values: markup escaped, control
-- characters XML cannot carry dropped.
CREATE FUNCTION xml_text(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
           pg_catalog.regexp_replace(value, E'[\\x01-\\x08\\x0b\\x0c\\x0e-\\x1f]', '', 'g'),
         '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&apos;')
$$;

-- SARIF level of a severity: the scale code-scanning tools sort and gate on.
CREATE FUNCTION sarif_level(severity text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE severity WHEN 'critical' THEN 'error' WHEN 'high' THEN 'error'
                       WHEN 'medium' THEN 'warning' ELSE 'note' END
$$;

CREATE FUNCTION assess_sarif(min_severity text DEFAULT 'info') RETURNS jsonb
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

CREATE FUNCTION assess_junit(min_severity text DEFAULT 'info') RETURNS text
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
