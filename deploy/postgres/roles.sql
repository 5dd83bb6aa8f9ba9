-- govx database roles: one login role per service, each with the least it
-- needs. Run by the database owner after `govx migrate` (docker-compose.yml's
-- db-roles job), and again after every migration: it is idempotent.
--
--   psql -v ON_ERROR_STOP=1 -f deploy/postgres/roles.sql
--
-- Passwords come from the environment of psql (never from this file):
--   GOVX_DB_PASSWORD_EXCHANGE            role govx_exchange
--   GOVX_DB_PASSWORD_POPULATION          role govx_population
--   GOVX_DB_PASSWORD_MARKET_REGULATION   role govx_market_regulation
--   GOVX_DB_PASSWORD_LICENSING           role govx_licensing
-- Each at least 16 characters; they go into connection URLs, so use URL-safe
-- characters (openssl rand -hex 24).
--
-- Who reaches what:
--   govx_exchange      the exchange, its HTTP APIs and the case workflow:
--                      catalog, exchange (audit ledger), consent, casework,
--                      refusals (refused writes), opendata, opendata_rows (creates a table per dataset
--                      version), openapi_keys; of the licence register only
--                      what open data and the case workflow read (licences;
--                      issuer_keys without the private keys). Append-only
--                      tables take no UPDATE or DELETE at all.
--   govx_<department>  its own register's schema (population, legal_entity,
--                      licence) and nothing of another's; of the catalogue
--                      only the schema registry's tables, read-only, which
--                      the Avro codec reads (catalog.schemas,
--                      catalog.schema_config, catalog.schema_mode). `govx migrate` registers the
--                      bus schemas, so an adapter never has to write them.
-- Default privileges give each role the same rights on tables and
-- sequences later migrations create, as long as migrations run as the role
-- that runs this script (the compose file's migrate job does).

\set ON_ERROR_STOP on

\getenv pw_exchange GOVX_DB_PASSWORD_EXCHANGE
\getenv pw_population GOVX_DB_PASSWORD_POPULATION
\getenv pw_market_regulation GOVX_DB_PASSWORD_MARKET_REGULATION
\getenv pw_licensing GOVX_DB_PASSWORD_LICENSING

SELECT :{?pw_exchange} AND :{?pw_population} AND :{?pw_market_regulation} AND :{?pw_licensing} AS have_passwords \gset
\if :have_passwords
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: set GOVX_DB_PASSWORD_EXCHANGE, _POPULATION, _MARKET_REGULATION and _LICENSING'; END $$;
\endif
SELECT length(:'pw_exchange') >= 16 AND length(:'pw_population') >= 16
   AND length(:'pw_market_regulation') >= 16 AND length(:'pw_licensing') >= 16 AS long_enough \gset
\if :long_enough
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: every GOVX_DB_PASSWORD_* must be at least 16 characters'; END $$;
\endif

SELECT current_database() AS dbname \gset

BEGIN;

SELECT format('CREATE ROLE %I LOGIN', r)
  FROM unnest(ARRAY['govx_exchange', 'govx_population', 'govx_market_regulation', 'govx_licensing']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec

ALTER ROLE govx_exchange          LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw_exchange';
ALTER ROLE govx_population        LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw_population';
ALTER ROLE govx_market_regulation LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw_market_regulation';
ALTER ROLE govx_licensing         LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw_licensing';

-- Nobody else connects or makes temporary tables; the public schema (where
-- govx_migrations lives) gives them nothing.
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"dbname" TO govx_exchange, govx_population, govx_market_regulation, govx_licensing;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- owns(role, schema): read and write every table and sequence of schema,
-- now and those later migrations add. No TRUNCATE, no DDL.
CREATE FUNCTION pg_temp.owns(r name, s name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, r);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', s, r);
  EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO %I', s, r);
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', s, r);
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I', s, r);
END $$;

-- The exchange, its APIs and the case workflow.
DO $$ BEGIN
  PERFORM pg_temp.owns('govx_exchange', s)
     FROM unnest(ARRAY['catalog', 'exchange', 'consent', 'casework', 'opendata', 'openapi_keys', 'refusals']::name[]) AS s;
END $$;
-- Each published dataset version is a table the exchange creates (and so
-- owns) here; tables made before by another role are read too.
GRANT USAGE, CREATE ON SCHEMA opendata_rows TO govx_exchange;
GRANT SELECT ON ALL TABLES IN SCHEMA opendata_rows TO govx_exchange;
-- Append-only records: insert and read, never change. (Their triggers refuse
-- UPDATE and DELETE too; the grant makes it a permission, not a rule.)
REVOKE UPDATE, DELETE, TRUNCATE ON exchange.audit, exchange.audit_checkpoints, catalog.grant_events,
  catalog.resource_versions, catalog.resource_audit, consent.log, casework.history, refusals.log FROM govx_exchange;
-- The licence register as open data publishes it and as the case workflow
-- picks its issuing authority: never the issuers' private keys.
GRANT USAGE ON SCHEMA licence TO govx_exchange;
GRANT SELECT ON licence.licences TO govx_exchange;
GRANT SELECT (key_id, authority_code, authority, division_code, created_at, retired_at) ON licence.issuer_keys TO govx_exchange;

-- The departments' adapters: their own register, and the schema registry
-- read-only for the Avro codec.
DO $$ BEGIN
  PERFORM pg_temp.owns('govx_population', 'population');
  PERFORM pg_temp.owns('govx_market_regulation', 'legal_entity');
  PERFORM pg_temp.owns('govx_licensing', 'licence');
END $$;
GRANT USAGE ON SCHEMA catalog TO govx_population, govx_market_regulation, govx_licensing;
GRANT SELECT ON catalog.schemas, catalog.schema_config, catalog.schema_mode TO govx_population, govx_market_regulation, govx_licensing;

COMMIT;
