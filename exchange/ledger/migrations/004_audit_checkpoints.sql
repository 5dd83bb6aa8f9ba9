-- Signed checkpoints of the audit chain. The hash chain alone proves only
-- that the rows agree with each other: someone with database rights can
-- rewrite a row and recompute every later hash and the head. A checkpoint
-- is the head (seq, hash) signed with the exchange's Ed25519 key, so a
-- rewrite is caught at the first checkpoint after it unless the key was
-- stolen too. Each checkpoint also signs the previous checkpoint's
-- signature, so deleting one from the middle breaks the next.
CREATE TABLE exchange.audit_checkpoints (
    seq            bigint PRIMARY KEY,
    head_hash      bytea NOT NULL,
    signed_at      timestamptz NOT NULL,
    key_id         text NOT NULL,
    prev_signature bytea NOT NULL,
    signature      bytea NOT NULL
);

-- One append-only guard for both tables, naming the table it refuses.
CREATE OR REPLACE FUNCTION exchange.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only', TG_TABLE_SCHEMA, TG_TABLE_NAME;
END $$;
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON exchange.audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION exchange.audit_append_only();
