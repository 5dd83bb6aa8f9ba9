-- Open data: datasets (DCAT-style metadata) and their immutable versions.
-- Each version's rows live in their own typed table in schema opendata_rows,
-- created and filled by one transaction that also flips datasets.latest, so
-- a reader sees either the old version or the whole new one.
CREATE SCHEMA opendata;
CREATE SCHEMA opendata_rows;

CREATE TABLE opendata.datasets (
    id             text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,47}$'),
    title          text NOT NULL,
    description    text NOT NULL DEFAULT '',
    publisher      text NOT NULL,          -- department code
    theme          text NOT NULL DEFAULT '',
    keywords       text[] NOT NULL DEFAULT '{}',
    licence        text NOT NULL DEFAULT '',
    frequency      text NOT NULL DEFAULT '',
    temporal_start date,
    temporal_end   date,
    spatial        text NOT NULL DEFAULT '',
    source         text NOT NULL DEFAULT '', -- catalogue resource code when published from a source
    issued         timestamptz NOT NULL DEFAULT now(),
    modified       timestamptz NOT NULL DEFAULT now(),
    latest         integer                -- version served; NULL until the first upload
);
CREATE INDEX datasets_publisher ON opendata.datasets (publisher);
CREATE INDEX datasets_theme ON opendata.datasets (theme);

CREATE TABLE opendata.versions (
    dataset      text NOT NULL REFERENCES opendata.datasets (id),
    version      integer NOT NULL CHECK (version > 0),
    columns      jsonb NOT NULL,
    row_count    bigint NOT NULL,
    csv_bytes    bigint NOT NULL,
    json_bytes   bigint NOT NULL,
    ndjson_bytes bigint NOT NULL,
    table_name   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, version)
);

ALTER TABLE opendata.datasets ADD FOREIGN KEY (id, latest)
    REFERENCES opendata.versions (dataset, version) DEFERRABLE INITIALLY DEFERRED;
