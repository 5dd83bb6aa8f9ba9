-- Schema registry: soft deletion of a subject's versions (their ids stay
-- resolvable, as messages on the bus still carry them) and compatibility
-- modes, global and per subject.
ALTER TABLE catalog.schemas ADD COLUMN deleted boolean NOT NULL DEFAULT false;

-- A schema deleted from a subject may be registered there again as a new
-- version, so the fingerprint is unique among live versions only.
ALTER TABLE catalog.schemas DROP CONSTRAINT schemas_subject_fingerprint_key;
CREATE UNIQUE INDEX schemas_live_fingerprint ON catalog.schemas (subject, fingerprint) WHERE NOT deleted;

-- subject '' holds the registry-wide mode; without a row the mode is BACKWARD.
CREATE TABLE catalog.schema_config (
    subject       text PRIMARY KEY,
    compatibility text NOT NULL CHECK (compatibility IN ('BACKWARD', 'BACKWARD_TRANSITIVE',
        'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE')),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
