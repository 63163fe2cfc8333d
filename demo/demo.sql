-- A small shop database with the weak spots a real review finds (see README "Quick start").
CREATE EXTENSION ge_security;

-- Roles: an extra superuser, an over-privileged app role, an MD5 reporting login,
-- an ETL login that can read server files.
CREATE ROLE ge_superuser SUPERUSER LOGIN PASSWORD 'Sup3r-secret-but-shared';
CREATE ROLE app_owner NOLOGIN;
CREATE ROLE app_user LOGIN CREATEDB PASSWORD 'app-user-password';
SET password_encryption = 'md5';
CREATE ROLE reporting LOGIN PASSWORD 'report2024';
RESET password_encryption;
CREATE ROLE etl LOGIN PASSWORD 'etl-password' VALID UNTIL '2027-06-30';
GRANT pg_read_server_files TO etl;
CREATE ROLE support NOLOGIN CREATEROLE;
CREATE ROLE helpdesk LOGIN PASSWORD 'helpdesk-password' VALID UNTIL '2027-06-30';
GRANT support TO helpdesk;

-- A multi-tenant table without row-level security, with PII in plain text, owned by the app role.
CREATE TABLE public.clients (
  id            bigserial PRIMARY KEY,
  tenant_id     bigint NOT NULL,
  name          text NOT NULL,
  contact_email text,
  phone         text
);
ALTER TABLE public.clients OWNER TO app_user;
INSERT INTO public.clients (tenant_id, name, contact_email, phone) VALUES
  (1, 'Acme BV', 'ops@acme.example', '+31 20 555 0101'),
  (2, 'Globex', 'it@globex.example', '+44 20 5550 0199');

-- Its hardened twin: owned by a NOLOGIN role, tenant isolation forced and failing closed.
CREATE TABLE public.projects (
  id        bigserial PRIMARY KEY,
  tenant_id bigint NOT NULL,
  title     text NOT NULL
);
ALTER TABLE public.projects OWNER TO app_owner;
ALTER TABLE public.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON public.projects
  USING (tenant_id = NULLIF(current_setting('app.current_tenant_id', true), '')::bigint)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.current_tenant_id', true), '')::bigint);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.clients, public.projects TO app_user;
GRANT SELECT ON public.clients, public.projects TO reporting;

-- A SECURITY DEFINER helper without a pinned search_path (the seed standard's habit).
CREATE FUNCTION public.client_count(p_tenant bigint) RETURNS bigint
  LANGUAGE sql SECURITY DEFINER
  AS 'SELECT count(*) FROM clients WHERE tenant_id = p_tenant';
ALTER FUNCTION public.client_count(bigint) OWNER TO app_owner;

-- The projects table is audited: every change lands in the hash-chained trail.
SELECT ge_security.enable_audit('public.projects');
SET app.current_actor = 'demo:alice';
INSERT INTO public.projects (tenant_id, title) VALUES (1, 'Migration'), (2, 'Pen test');
UPDATE public.projects SET title = 'Cloud migration' WHERE title = 'Migration';
RESET app.current_actor;
