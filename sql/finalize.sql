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
