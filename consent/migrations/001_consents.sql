CREATE SCHEMA consent;

-- One row per consent: its current state. The signed artefact holds what
-- was agreed and never changes; status, use and revocation change here,
-- each change also written to consent.log.
CREATE TABLE consent.consents (
    id           text PRIMARY KEY,
    subject      text NOT NULL,
    subject_type text NOT NULL CHECK (subject_type IN ('person', 'company')),
    consumer     text NOT NULL,
    case_id      text NOT NULL DEFAULT '',
    items        jsonb NOT NULL,
    purpose_code text NOT NULL,
    purpose      text NOT NULL,
    valid_from   timestamptz NOT NULL,
    valid_until  timestamptz NOT NULL CHECK (valid_until > valid_from),
    fetch_type   text NOT NULL CHECK (fetch_type IN ('once', 'repeated')),
    status       text NOT NULL CHECK (status IN ('pending', 'active', 'paused', 'revoked', 'expired', 'used')),
    given_via    text NOT NULL CHECK (given_via IN ('window', 'subject')),
    given_by     text NOT NULL,
    created_at   timestamptz NOT NULL,
    changed_at   timestamptz NOT NULL,
    used_at      timestamptz,
    used_by      text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    version      int NOT NULL DEFAULT 1,
    artefact     text NOT NULL
);
-- The exchange reads one subject's consents at a time.
CREATE INDEX consents_subject ON consent.consents (subject, consumer);

-- Every action on consents, allowed or refused: created, revoked, paused,
-- resumed, used, and refusals (a consent for a resource the consumer may
-- not have, a forged artefact, …). Append-only.
CREATE TABLE consent.log (
    seq        bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    consent_id text NOT NULL DEFAULT '',
    subject    text NOT NULL DEFAULT '',
    actor      text NOT NULL,
    actor_dept text NOT NULL DEFAULT '',
    action     text NOT NULL,
    outcome    text NOT NULL CHECK (outcome IN ('ok', 'refused')),
    code       text NOT NULL,
    detail     text NOT NULL DEFAULT ''
);
CREATE INDEX log_consent ON consent.log (consent_id);

CREATE FUNCTION consent.log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent.log is append-only';
END $$;
CREATE TRIGGER log_append_only BEFORE UPDATE OR DELETE ON consent.log
    FOR EACH ROW EXECUTE FUNCTION consent.log_append_only();
