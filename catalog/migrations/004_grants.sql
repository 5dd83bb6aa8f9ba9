-- Access grants: a consumer department applies for a resource shared on
-- conditions; the provider approves (possibly fewer fields, a shorter
-- period) or rejects. Approved grants expire or are revoked. The applied
-- terms are kept beside the granted ones, so what was asked and what was
-- given both stay visible.
CREATE TABLE catalog.grants (
    id            bigserial PRIMARY KEY,
    resource      text NOT NULL REFERENCES catalog.resources (code),
    provider      text NOT NULL REFERENCES catalog.departments (code),
    consumer      text NOT NULL REFERENCES catalog.departments (code),
    fields        text[] NOT NULL,
    purpose       text NOT NULL,
    legal_basis   text NOT NULL,
    valid_from    date NOT NULL,
    valid_until   date NOT NULL CHECK (valid_from <= valid_until),
    status        text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'revoked', 'expired')),
    granted_fields text[] NOT NULL DEFAULT '{}',
    granted_from  date,
    granted_until date CHECK (granted_from <= granted_until),
    reason        text NOT NULL DEFAULT '',
    applied_by    text NOT NULL,
    applied_at    timestamptz NOT NULL,
    due_by        date NOT NULL, -- the provider answers by then (10 working days)
    decided_by    text NOT NULL DEFAULT '',
    decided_at    timestamptz,
    updated_at    timestamptz NOT NULL,
    version       int NOT NULL DEFAULT 1
);
CREATE INDEX grants_resource_consumer ON catalog.grants (resource, consumer);
CREATE INDEX grants_consumer ON catalog.grants (consumer);
CREATE INDEX grants_provider ON catalog.grants (provider);
CREATE INDEX grants_pending_due ON catalog.grants (due_by) WHERE status = 'pending';

-- Every transition of every grant: who, when, what, why. Append-only.
CREATE TABLE catalog.grant_events (
    seq         bigserial PRIMARY KEY,
    grant_id    bigint NOT NULL REFERENCES catalog.grants (id),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    actor_dept  text NOT NULL,
    action      text NOT NULL,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX grant_events_grant ON catalog.grant_events (grant_id, seq);

CREATE FUNCTION catalog.grant_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'catalog.grant_events is append-only';
END $$;
CREATE TRIGGER grant_events_append_only BEFORE UPDATE OR DELETE ON catalog.grant_events
    FOR EACH ROW EXECUTE FUNCTION catalog.grant_events_append_only();
