-- Every version of every resource, kept in full, and an append-only audit
-- of who changed the catalogue, when and how. A change writes the resource
-- row, its version row and its audit row in one transaction.
CREATE TABLE catalog.resource_versions (
    code       text NOT NULL REFERENCES catalog.resources (code),
    version    int  NOT NULL CHECK (version > 0),
    resource   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, version)
);

CREATE TABLE catalog.resource_audit (
    seq      bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    subject  text NOT NULL,
    dept     text NOT NULL,
    action   text NOT NULL CHECK (action IN ('register', 'update', 'retire')),
    code     text NOT NULL,
    version  int  NOT NULL,
    FOREIGN KEY (code, version) REFERENCES catalog.resource_versions (code, version)
);
CREATE INDEX resource_audit_code ON catalog.resource_audit (code, version);

-- History is never rewritten: not by the application, not by hand.
CREATE FUNCTION catalog.refuse_history_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'catalog.% is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER resource_versions_append_only BEFORE UPDATE OR DELETE ON catalog.resource_versions
    FOR EACH ROW EXECUTE FUNCTION catalog.refuse_history_change();
CREATE TRIGGER resource_versions_no_truncate BEFORE TRUNCATE ON catalog.resource_versions
    FOR EACH STATEMENT EXECUTE FUNCTION catalog.refuse_history_change();
CREATE TRIGGER resource_audit_append_only BEFORE UPDATE OR DELETE ON catalog.resource_audit
    FOR EACH ROW EXECUTE FUNCTION catalog.refuse_history_change();
CREATE TRIGGER resource_audit_no_truncate BEFORE TRUNCATE ON catalog.resource_audit
    FOR EACH STATEMENT EXECUTE FUNCTION catalog.refuse_history_change();

-- Search filters.
CREATE INDEX resources_provider ON catalog.resources (provider, code);
CREATE INDEX resources_status ON catalog.resources (status, code);

-- Resources that existed before versioning get their current state as a
-- first version, so every resource has a history.
INSERT INTO catalog.resource_versions (code, version, resource, created_at)
SELECT r.code, r.version, jsonb_strip_nulls(jsonb_build_object(
        'code', r.code, 'name', r.name, 'classification', nullif(r.classification, ''),
        'provider', r.provider, 'summary', nullif(r.summary, ''), 'format', nullif(r.format, ''),
        'key_type', r.key_type, 'fields', r.fields, 'sharing', r.sharing,
        'conditions', nullif(r.conditions, ''), 'methods', to_jsonb(r.methods),
        'open_class', r.open_class, 'update_cycle', nullif(r.update_cycle, ''),
        'legal_basis', nullif(r.legal_basis, ''), 'published_on', to_char(r.published_on, 'YYYY-MM-DD'),
        'related', CASE WHEN cardinality(r.related) > 0 THEN to_jsonb(r.related) END,
        'schema_subject', r.schema_subject, 'status', r.status, 'version', r.version)),
    r.updated_at
FROM catalog.resources r;
INSERT INTO catalog.resource_audit (at, subject, dept, action, code, version)
SELECT updated_at, 'system:migration', '', 'register', code, version FROM catalog.resources;
