-- The market regulation department's register of market entities
-- (市场主体登记): companies, partnerships, sole proprietorships, branches and
-- individual businesses, keyed by unified social credit code.
CREATE SCHEMA legal_entity;

CREATE TABLE legal_entity.entities (
    -- GB 32100-2015 unified social credit code; the application checks the
    -- check character, the database only the shape.
    uscc                           text        COLLATE "C" PRIMARY KEY
                                   CHECK (uscc ~ '^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$'),
    name                           text        NOT NULL CHECK (name <> ''),
    entity_type                    text        NOT NULL CHECK (entity_type IN ('limited_liability_company',
                                       'joint_stock_company', 'sole_proprietorship', 'partnership', 'branch',
                                       'individual_business')),
    legal_representative           text        NOT NULL CHECK (legal_representative <> ''),
    -- GB 11643 ID number of the representative, as in the population register.
    legal_representative_id_number text        COLLATE "C" NOT NULL
                                   CHECK (legal_representative_id_number ~ '^[0-9]{17}[0-9X]$'),
    -- In yuan; NULL where the entity has none (branches, individual businesses).
    registered_capital             numeric(18, 2) CHECK (registered_capital > 0),
    established_on                 date        NOT NULL,
    authority_name                 text        NOT NULL,
    authority_code                 char(6)     NOT NULL CHECK (authority_code ~ '^[0-9]{6}$'),
    address                        text        NOT NULL,
    division_code                  char(6)     NOT NULL CHECK (division_code ~ '^[0-9]{6}$'),
    business_scope                 text        NOT NULL,
    status                         text        NOT NULL DEFAULT 'in_business'
                                   CHECK (status IN ('in_business', 'deregistered', 'revoked')),
    status_date                    date        NOT NULL,
    -- Why the entity left business; empty while it is in business.
    status_reason                  text        NOT NULL DEFAULT '',
    updated_at                     timestamptz NOT NULL DEFAULT now(),
    CHECK (status_date >= established_on),
    CHECK (status = 'in_business' OR status_reason <> '')
);

-- The entities a person represents (a holder's companies).
CREATE INDEX entities_representative_idx ON legal_entity.entities (legal_representative_id_number);

-- Change events not yet published to the bus (adapters.OutboxDDL).
CREATE TABLE legal_entity.outbox (
    id         bigserial   PRIMARY KEY,
    topic      text        NOT NULL,
    key        bytea       NOT NULL,
    value      bytea       NOT NULL,
    event_id   text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
