-- Where keeping a register-backed dataset current got to in its resource's
-- change events: the subscription cursor after the last event whose change
-- a published version already holds.
CREATE TABLE opendata.source_cursors (
    resource text PRIMARY KEY,             -- catalogue resource code
    cursor   text NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);
