CREATE SCHEMA catalog;

CREATE TABLE catalog.departments (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9-]{1,62}$'),
    name       text NOT NULL,
    contact    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE catalog.resources (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$'),
    name        text NOT NULL,
    provider    text NOT NULL REFERENCES catalog.departments (code),
    summary     text NOT NULL DEFAULT '',
    key_type    text NOT NULL,
    fields      jsonb NOT NULL,
    sharing     text NOT NULL CHECK (sharing IN ('unconditional', 'conditional', 'not_shareable')),
    schema_subject text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Schema store: every version of every subject, with a global id that
-- travels in the Confluent wire format of each bus message.
CREATE TABLE catalog.schemas (
    id          serial PRIMARY KEY,
    subject     text NOT NULL,
    version     int  NOT NULL,
    schema      text NOT NULL,
    fingerprint text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subject, version),
    UNIQUE (subject, fingerprint)
);
