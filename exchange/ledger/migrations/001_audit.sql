CREATE SCHEMA exchange;

-- The audit ledger: one row per query, answered or refused. Each row's hash
-- covers its content and the previous row's hash, so altering or deleting
-- any row breaks every link after it (`govx audit verify`).
CREATE TABLE exchange.audit (
    seq         bigint PRIMARY KEY,
    at          timestamptz NOT NULL,
    request_id  text NOT NULL,
    caller      text NOT NULL,
    consumer    text NOT NULL,
    resource    text NOT NULL,
    provider    text NOT NULL,
    subject_key text NOT NULL,
    fields      text[] NOT NULL,
    purpose     text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('answered', 'refused', 'failed')),
    code        text NOT NULL,
    status      int  NOT NULL,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL
);
CREATE INDEX audit_subject_key ON exchange.audit (subject_key);
CREATE INDEX audit_request_id ON exchange.audit (request_id);

-- The head of the chain. Writers lock this row, which serialises appends
-- across every exchange instance.
CREATE TABLE exchange.audit_head (
    id   int PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO exchange.audit_head VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only: the application never updates or deletes. The trigger makes
-- an accident impossible; a deliberate tamperer who disables it is caught by
-- the hash chain.
CREATE FUNCTION exchange.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'exchange.audit is append-only';
END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON exchange.audit
    FOR EACH ROW EXECUTE FUNCTION exchange.audit_append_only();
