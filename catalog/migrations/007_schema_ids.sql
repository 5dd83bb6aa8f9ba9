-- Schema registry, as Confluent's: one schema has one id in every subject,
-- and a subject or the whole registry can be made read-only.
--
-- A row is a version of a subject; schema_id is the id clients see and the
-- bus carries. Rows stored before keep their own id (messages carry them),
-- so a schema registered twice before this keeps both ids; from now on a
-- schema already stored anywhere (deleted versions included) is given the
-- id it has, and a new schema its row's id.
ALTER TABLE catalog.schemas ADD COLUMN schema_id int;
UPDATE catalog.schemas SET schema_id = id;
ALTER TABLE catalog.schemas ALTER COLUMN schema_id SET NOT NULL;
CREATE INDEX schemas_schema_id ON catalog.schemas (schema_id);
CREATE INDEX schemas_fingerprint ON catalog.schemas (fingerprint);

-- A row inserted without a schema_id is a new schema: its id is its own.
CREATE FUNCTION catalog.schema_id_default() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.schema_id := coalesce(NEW.schema_id, NEW.id);
    RETURN NEW;
END
$$;
CREATE TRIGGER schemas_schema_id BEFORE INSERT ON catalog.schemas
    FOR EACH ROW EXECUTE FUNCTION catalog.schema_id_default();

-- subject '' holds the registry-wide mode; without a row the mode is
-- READWRITE. READONLY refuses registrations, deletions and compatibility
-- changes.
CREATE TABLE catalog.schema_mode (
    subject    text PRIMARY KEY,
    mode       text NOT NULL CHECK (mode IN ('READWRITE', 'READONLY')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
