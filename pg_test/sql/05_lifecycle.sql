-- Installing in a second database reuses the cluster-wide auditor role; drop and re-create work.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/setup.inc
CREATE DATABASE rt_second;
\c rt_second
CREATE EXTENSION ge_security;
SELECT count(*) > 0 AS has_checks FROM ge_security.checks();
SELECT count(*) AS auditor_roles FROM pg_roles WHERE rolname = 'ge_security_auditor';
DROP EXTENSION ge_security;
CREATE EXTENSION ge_security;
SELECT extname, extversion IS NOT NULL AS versioned, extrelocatable FROM pg_extension
 WHERE extname = 'ge_security';
\c contrib_regression
DROP DATABASE rt_second;
SELECT count(*) AS auditor_roles FROM pg_roles WHERE rolname = 'ge_security_auditor';
