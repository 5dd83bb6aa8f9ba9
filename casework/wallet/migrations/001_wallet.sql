-- The verification codes of the wallet: one per licence a holder keeps in
-- their wallet. A code is random (50 bits, shown as ten base32
-- characters), so it cannot be guessed from the licence; it names the
-- licence and its holder only inside govx. The public verification page
-- answers from the register through the exchange under the holder's wallet
-- consent, never from this table alone.
CREATE SCHEMA IF NOT EXISTS wallet;

CREATE TABLE wallet.codes (
    code         text        PRIMARY KEY,
    subject      text        NOT NULL,  -- the holder: resident ID number or unified social credit code
    licence_type text        NOT NULL,
    number       text        NOT NULL,
    issuer       text        NOT NULL,  -- the exchange's provider of the licence ("licensing", or node/licensing)
    created_at   timestamptz NOT NULL,
    UNIQUE (subject, number)
);
