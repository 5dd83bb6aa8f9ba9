-- The one-window case workflow: cases, their immutable history and the form
-- submissions already handled (double submission). The outbox of case events
-- for the bus is 002_outbox (outbox.Migration), which this file created
-- itself before (MigrationSource lists that text's checksum).
CREATE SCHEMA IF NOT EXISTS casework;

-- Case numbers: GX, the acceptance date's year, and a serial.
CREATE SEQUENCE casework.case_seq;

CREATE TABLE casework.cases (
    id              text        PRIMARY KEY,
    item            text        NOT NULL,
    status          text        NOT NULL,
    intake_dept     text        NOT NULL,
    -- The last four characters of the applicant's ID number or USCC: with
    -- the case number, what a public progress lookup must know.
    applicant_last4 text        NOT NULL,
    -- Departments whose review is pending, and every reviewing department.
    pending_depts   text[]      NOT NULL DEFAULT '{}',
    review_depts    text[]      NOT NULL DEFAULT '{}',
    -- Hashes of the resource and key of every record the case relies on,
    -- so that a change event (a licence revoked) finds the open cases.
    refs            text[]      NOT NULL DEFAULT '{}',
    colour          text        NOT NULL DEFAULT '',
    -- When a pending verification, a commitment re-check or an issue is
    -- next tried.
    next_try        timestamptz,
    due             timestamptz,
    accepted_at     timestamptz,
    closed_at       timestamptz,
    overdue         boolean     NOT NULL DEFAULT false,
    working_days    int,
    rating          int,
    doc             jsonb       NOT NULL,
    version         int         NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX cases_pending_depts ON casework.cases USING gin (pending_depts);
CREATE INDEX cases_review_depts ON casework.cases USING gin (review_depts);
CREATE INDEX cases_refs ON casework.cases USING gin (refs);
CREATE INDEX cases_status ON casework.cases (status, colour);
CREATE INDEX cases_next_try ON casework.cases (next_try) WHERE next_try IS NOT NULL;
CREATE INDEX cases_created ON casework.cases (created_at DESC);

-- Every action on a case: who, when, what. Rows are never changed.
CREATE TABLE casework.history (
    case_id text        NOT NULL REFERENCES casework.cases (id),
    seq     int         NOT NULL,
    at      timestamptz NOT NULL,
    actor   text        NOT NULL,
    role    text        NOT NULL,
    dept    text        NOT NULL,
    action  text        NOT NULL,
    status  text        NOT NULL, -- the case's status after the action
    detail  text        NOT NULL DEFAULT '',
    PRIMARY KEY (case_id, seq)
);

CREATE FUNCTION casework.history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'casework.history is append-only' USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER history_append_only BEFORE UPDATE OR DELETE ON casework.history
    FOR EACH ROW EXECUTE FUNCTION casework.history_append_only();

-- Forms already handled: a form sent twice (a double click, a reload)
-- answers with what the first did.
CREATE TABLE casework.forms (
    form_id text        PRIMARY KEY,
    case_id text        NOT NULL,
    action  text        NOT NULL,
    actor   text        NOT NULL,
    at      timestamptz NOT NULL
);
