-- The provider's signature on its reply (bus signatures, see govx/bus):
-- the key id it signed with, the Ed25519 signature and the SHA-256 of the
-- reply's bytes, so the consumer can later prove what the register said.
-- Entries written before, and entries without a verified reply, hold ''
-- and NULLs and hash as they always did.
ALTER TABLE exchange.audit
    ADD COLUMN provider_key_id    text NOT NULL DEFAULT '',
    ADD COLUMN provider_signature bytea,
    ADD COLUMN reply_digest       bytea;
