-- Refused writes to the catalogue, its grants, the schema registry and the
-- case workflow: who was refused what, and why. Query refusals are in the
-- audit ledger (exchange.audit) and consent refusals in consent.log; this
-- is the rest. Append-only, like those.
CREATE SCHEMA refusals;

CREATE TABLE refusals.log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    subject    text NOT NULL DEFAULT '',  -- the token's sub
    department text NOT NULL DEFAULT '',  -- its dept
    role       text NOT NULL DEFAULT '',  -- its role
    action     text NOT NULL CHECK (action ~ '^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$'),
    target     text NOT NULL DEFAULT '',  -- resource code, grant id, subject, case number
    code       text NOT NULL,
    message    text NOT NULL DEFAULT ''
);
CREATE INDEX log_action_at ON refusals.log (action, at);
CREATE INDEX log_at ON refusals.log (at);

CREATE FUNCTION refusals.log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'refusals.log is append-only';
END $$;
CREATE TRIGGER log_append_only BEFORE UPDATE OR DELETE ON refusals.log
    FOR EACH ROW EXECUTE FUNCTION refusals.log_append_only();
CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON refusals.log
    FOR EACH STATEMENT EXECUTE FUNCTION refusals.log_append_only();
