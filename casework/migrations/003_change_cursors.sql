-- Where the case workflow's subscription to each register resource's change
-- events (through the exchange) has got to: the cursor after the last event
-- recorded, so that a restart resumes there and loses no change.
CREATE TABLE casework.change_cursors (
    resource   text        PRIMARY KEY,
    cursor     text        NOT NULL,
    updated_at timestamptz NOT NULL
);
