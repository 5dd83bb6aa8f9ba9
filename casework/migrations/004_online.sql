-- Online applications (the online service hall): how each case came in, a
-- hash of its applicant's identifier so that an applicant's own cases are
-- found without copying ID numbers into an index, the files applicants
-- upload, and the notifications every status change writes for the
-- applicant (one notice, and one outbox row per channel for a gateway to
-- send).
ALTER TABLE casework.cases ADD COLUMN channel text NOT NULL DEFAULT 'window';
ALTER TABLE casework.cases ADD COLUMN applicant_ref text NOT NULL DEFAULT '';
UPDATE casework.cases SET applicant_ref = substr(encode(sha256(convert_to('applicant:' ||
    CASE WHEN doc->'applicant'->>'kind' = 'company' THEN coalesce(doc->'applicant'->>'uscc', '')
         ELSE coalesce(doc->'applicant'->>'id_number', '') END, 'UTF8')), 'hex'), 1, 32);
CREATE INDEX cases_applicant_ref ON casework.cases (applicant_ref, created_at DESC);

-- Files uploaded for a material of an online case: at most one per
-- material, replaced by a new upload. The content type is what the bytes
-- are (checked by their signature), not what the browser said.
CREATE TABLE casework.files (
    case_id      text        NOT NULL REFERENCES casework.cases (id),
    material     text        NOT NULL,
    name         text        NOT NULL,
    content_type text        NOT NULL,
    size         int         NOT NULL,
    sha256       text        NOT NULL,
    data         bytea       NOT NULL,
    uploaded_at  timestamptz NOT NULL,
    PRIMARY KEY (case_id, material)
);

-- One notice per status change of a case, for its applicant: the hall
-- shows them; the texts are rendered when the change is made, in Chinese
-- and English, and hold no personal data beyond the case number.
CREATE TABLE casework.notices (
    id            bigserial   PRIMARY KEY,
    case_id       text        NOT NULL REFERENCES casework.cases (id),
    applicant_ref text        NOT NULL,
    status        text        NOT NULL,
    title_zh      text        NOT NULL,
    body_zh       text        NOT NULL,
    title_en      text        NOT NULL,
    body_en       text        NOT NULL,
    at            timestamptz NOT NULL
);
CREATE INDEX notices_applicant ON casework.notices (applicant_ref, id DESC);

-- What a mail or SMS gateway takes: one row per notice and channel,
-- ready to send, or no_address when the applicant left none.
CREATE TABLE casework.notice_outbox (
    id         bigserial   PRIMARY KEY,
    notice_id  bigint      NOT NULL REFERENCES casework.notices (id),
    channel    text        NOT NULL CHECK (channel IN ('email', 'sms')),
    address    text        NOT NULL,
    status     text        NOT NULL CHECK (status IN ('ready', 'no_address')),
    created_at timestamptz NOT NULL
);
CREATE INDEX notice_outbox_status ON casework.notice_outbox (status, id);
