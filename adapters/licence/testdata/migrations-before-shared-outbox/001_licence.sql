-- The licensing department's electronic licence register (电子证照库).
-- Codes and numbers compare byte by byte (COLLATE "C"): they have no
-- linguistic order, and C comparisons keep the indexes cheap to build.
CREATE SCHEMA licence;

CREATE TABLE licence.licences (
    -- As printed on the licence; each embeds a serial unique in the register.
    number            text        COLLATE "C" PRIMARY KEY CHECK (number <> '' AND length(number) <= 64),
    -- Electronic licence identifier (GB/T 36901 shape).
    id                text        COLLATE "C" NOT NULL UNIQUE,
    type              text        NOT NULL
                      CHECK (type IN ('food-business', 'pharmacy', 'construction', 'road-transport')),
    -- A unified social credit code or a resident ID number; the application
    -- checks the check character, the database only the length.
    holder_code       text        COLLATE "C" NOT NULL CHECK (length(holder_code) = 18),
    holder_name       text        NOT NULL CHECK (holder_name <> ''),
    authority         text        NOT NULL,
    authority_code    text        NOT NULL CHECK (length(authority_code) = 18),
    issue_date        date        NOT NULL,
    valid_from        date        NOT NULL,
    valid_until       date        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('valid', 'revoked', 'expired')),
    -- The face items, stored in the canonical JSON form the seal signs.
    items             jsonb       NOT NULL DEFAULT '{}',
    seal_key_id       text        NOT NULL,
    seal              bytea       NOT NULL CHECK (length(seal) = 64),
    revoked_at        timestamptz,
    revocation_reason text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_from >= issue_date AND valid_until > valid_from),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);

-- A holder's licences, most recent first.
CREATE INDEX licences_holder_idx ON licence.licences (holder_code, issue_date DESC, number);

-- The issuing authorities' seal keys. Private keys never leave this schema;
-- their public halves are registered in catalog.department_keys.
CREATE TABLE licence.issuer_keys (
    key_id         text        PRIMARY KEY,
    authority_code text        NOT NULL CHECK (length(authority_code) = 18),
    authority      text        NOT NULL,
    division_code  char(6)     NOT NULL CHECK (division_code ~ '^[0-9]{6}$'),
    -- The 32-byte Ed25519 seed (RFC 8032 private key).
    private_key    bytea       NOT NULL CHECK (length(private_key) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz
);

-- One key seals at a time for an authority.
CREATE UNIQUE INDEX issuer_keys_active_idx ON licence.issuer_keys (authority_code) WHERE retired_at IS NULL;

-- Serials of licences issued through the register; those below 500000 are
-- the generator's (Capacity).
CREATE SEQUENCE licence.serial_seq START 500000 MINVALUE 500000 MAXVALUE 999999 NO CYCLE;

CREATE TABLE licence.outbox (
    id         bigserial   PRIMARY KEY,
    topic      text        NOT NULL,
    key        bytea       NOT NULL,
    value      bytea       NOT NULL,
    event_id   text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
