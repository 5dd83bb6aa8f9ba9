-- An answered query's entry is committed before the answer is written (no
-- answer leaves unaudited), so a process killed in between leaves an entry
-- whose client never got the answer. Such an entry proves the exchange
-- released the answer to be sent, not that it arrived: new entries say
-- 'released'. Entries written before keep 'answered', which their hash
-- covers; both mean the same.
ALTER TABLE exchange.audit DROP CONSTRAINT audit_outcome_check;
ALTER TABLE exchange.audit ADD CONSTRAINT audit_outcome_check
    CHECK (outcome IN ('released', 'answered', 'refused', 'failed'));

COMMENT ON COLUMN exchange.audit.reply_digest IS
    'bus.Digest of the provider''s reply (SHA-256 over a version prefix, the reply topic and the reply bytes); the provider''s signature covers it, so it can be checked offline';
