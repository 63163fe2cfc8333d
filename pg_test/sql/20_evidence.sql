-- Evidence: evidence() has every section, groups findings by control, agrees with posture(),
-- reports the audit trail and the baseline (and notices a tampered baseline), is sealed by a
-- digest; evidence_report() is one self-contained HTML page that escapes hostile names. Who may
-- read it. Everything runs in one transaction that is rolled back.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
BEGIN;
-- earlier files' security DDL is in the trail (recorded by the DDL guard) and no worker seals
-- in this cluster: seal it so that the trail verifies without an unsealed backlog
SELECT ge_security.audit_seal() >= 0 AS sealed_earlier_rows;
-- drift event ids are a sequence, which rollbacks do not rewind: start them at 1 in this file
SELECT setval('ge_security.drift_event_id_seq', 1, false) AS first_event_id;
CREATE ROLE ev_app LOGIN;
CREATE ROLE ev_auditor LOGIN IN ROLE ge_security_auditor;
CREATE ROLE ev_partial LOGIN;
GRANT EXECUTE ON FUNCTION ge_security.evidence() TO ev_partial;
-- hostile names an attacker with CREATE privileges could choose
CREATE ROLE "<script>alert(1)</script>" LOGIN;
CREATE TABLE public."<img src=x onerror=alert(1)>" (id int PRIMARY KEY, tenant_id int NOT NULL, email text);
CREATE TABLE public.audited (id int PRIMARY KEY, v text);
SELECT ge_security.enable_audit('public.audited');
INSERT INTO public.audited SELECT g, 'v' FROM generate_series(1, 20) g;

-- 1. Who may read it: not the application, the auditor yes.
SET ROLE ev_app;
SELECT * FROM pg_temp.refused($$SELECT ge_security.evidence()$$);
SELECT * FROM pg_temp.refused($$SELECT ge_security.evidence_report()$$);
RESET ROLE;
CREATE TEMP TABLE ev (e jsonb, html text);
GRANT SELECT, INSERT ON ev TO ev_auditor;
SET ROLE ev_auditor;
INSERT INTO ev SELECT ge_security.evidence(), ge_security.evidence_report();
RESET ROLE;

-- 2. Every section, and nothing else.
SELECT array_agg(k ORDER BY k) AS keys FROM ev, jsonb_object_keys(e) k;
SELECT e->>'database' AS database, e->>'extension_version' AS extension_version,
       e->>'server_version' = current_setting('server_version') AS server_version_ok,
       e->>'generated_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS generated_at_iso,
       e->>'digest' ~ '^[0-9a-f]{64}$' AS digest_shape
  FROM ev;

-- 3. The summary agrees with posture() (as the auditor sees it).
SET ROLE ev_auditor;
SELECT (e->'summary'->>'critical')::int = p.critical AND (e->'summary'->>'high')::int = p.high
       AND (e->'summary'->>'medium')::int = p.medium AND (e->'summary'->>'low')::int = p.low
       AND (e->'summary'->>'info')::int = p.info AND (e->'summary'->>'score')::int = p.score
       AND (e->'summary'->>'not_assessed')::int = p.not_assessed AS summary_matches_posture
  FROM ev, ge_security.posture() p;
RESET ROLE;

-- 4. Controls: keyed by framework control ids, each with a status, its checks and evidence; every
-- check of the catalogue appears under each control it cites.
SELECT count(*) FILTER (WHERE k !~ '^(ISO27001:A\.|SOC2:|CIS:)') AS bad_control_ids,
       count(*) FILTER (WHERE e->'controls'->k->>'status' NOT IN ('pass', 'fail', 'not_assessed', 'waived')) AS bad_status,
       count(*) FILTER (WHERE jsonb_array_length(e->'controls'->k->'checks') = 0) AS controls_without_checks,
       count(*) FILTER (WHERE e->'controls'->k->>'evidence' !~ '^\d+ checks: ') AS controls_without_evidence
  FROM ev, jsonb_object_keys(e->'controls') k;
SELECT (SELECT count(*) FROM ge_security.checks() c, unnest(c.controls) ctl)
     = (SELECT sum(jsonb_array_length(e->'controls'->k->'checks')) FROM ev, jsonb_object_keys(e->'controls') k)
       AS every_citation_listed;
-- a failing check is failing under each control it cites, with its findings quoted
SELECT k AS control, c->>'status' AS status, c->>'failing' AS failing,
       c->'findings'->0->>'object_name' AS first_object
  FROM ev, jsonb_object_keys(e->'controls') k, jsonb_array_elements(e->'controls'->k->'checks') c
 WHERE c->>'check_id' = 'baseline_missing' ORDER BY k;

-- 5. Inventories: the hostile role and table are listed as they are named.
SELECT count(*) AS hostile_role_listed FROM ev, jsonb_array_elements(e->'roles') r
 WHERE r->>'role_name' = '<script>alert(1)</script>';
SELECT r->>'status' AS hostile_table_rls FROM ev, jsonb_array_elements(e->'rls') r
 WHERE r->>'table_name' = 'public."<img src=x onerror=alert(1)>"';
SELECT jsonb_typeof(e->'protected_columns') AS protected_columns, jsonb_typeof(e->'settings') AS settings,
       e->'settings'->>'ssl' AS ssl, e->'settings' ? 'password_encryption' AS has_password_encryption
  FROM ev;

-- 6. The audit trail: verified (this transaction's rows are not sealed yet), with its digest.
SELECT e->'audit'->'verification'->>'ok' AS verified, e->'audit'->'verification'->>'problem_count' AS problems,
       e->'audit'->'verification'->>'result' ~ ' not yet sealed$' AS result_shown,
       (e->'audit'->'digest'->>'block_no')::bigint = (SELECT coalesce(max(block_no), 0) FROM ge_security.audit_block)
         AS digest_is_current
  FROM ev;

-- 7. Drift: no baseline yet; then approved, intact; then a tampered snapshot is noticed.
SELECT e->'drift'->'baseline' AS baseline, e->'drift'->'current' AS current FROM ev;
SELECT ge_security.approve_baseline('CHG-7 evidence test') IS NOT NULL AS approved;
CREATE ROLE ev_intruder SUPERUSER;
SELECT count(*) AS recorded FROM ge_security.drift_check();
SELECT d->'baseline'->>'intact' AS intact, d->'baseline'->>'note' AS note, d->'current'->>'count' AS current_drift,
       d->'current'->'items'->0->>'object_name' AS drifted, d->'events'->>'open' AS open_events,
       d->'events'->'history'->0->>'kind' AS last_event_kind
  FROM (SELECT ge_security.evidence()->'drift' AS d) s;
UPDATE ge_security.baseline_item SET state = state || '{"superuser": false}'
 WHERE object_type = 'role' AND object_name = 'role postgres';
SELECT ge_security.evidence()->'drift'->'baseline'->>'intact' AS intact_after_tampering;

-- 8. A caller who may run evidence() but nothing behind it gets the sections marked, not an error.
SET ROLE ev_partial;
SELECT e->'summary'->>'error' AS summary, e->'roles'->>'error' AS roles,
       e->'audit'->'verification'->>'error' AS verification, e->>'digest' ~ '^[0-9a-f]{64}$' AS still_sealed
  FROM (SELECT ge_security.evidence() AS e) s;
RESET ROLE;

-- 9. The HTML page: self-contained, every section, hostile names escaped.
SELECT left(html, 15) AS starts, html ~ '</html>$' AS complete,
       html ~ 'id="summary"' AND html ~ 'id="findings"' AND html ~ 'id="controls"' AND html ~ 'id="drift"'
         AND html ~ 'id="audit"' AND html ~ 'id="roles"' AND html ~ 'id="rls"' AND html ~ 'id="settings"' AS sections,
       html ~ '<svg ' AS has_chart,
       html ~* '<(script|img|iframe|object|embed|link|base|form)\y' AS active_markup,
       html ~* '(https?:|url\(|@import)' AS external_reference,
       html ~ 'Content-Security-Policy" content="default-src ''none''' AS csp,
       strpos(html, '&lt;script&gt;alert(1)&lt;/script&gt;') > 0 AS role_escaped,
       strpos(html, 'public.&quot;&lt;img src=x onerror=alert(1)&gt;&quot;') > 0 AS table_escaped
  FROM ev;
ROLLBACK;
