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
