-- The metadata a government resource catalogue requires, beyond what the
-- exchange itself needs to route a query.
ALTER TABLE catalog.resources
    ADD COLUMN classification text NOT NULL DEFAULT '',
    ADD COLUMN format         text NOT NULL DEFAULT 'avro',
    ADD COLUMN conditions     text NOT NULL DEFAULT '',
    ADD COLUMN methods        text[] NOT NULL DEFAULT '{query}',
    ADD COLUMN open_class     text NOT NULL DEFAULT 'not_open'
        CHECK (open_class IN ('open', 'conditionally_open', 'not_open')),
    ADD COLUMN update_cycle   text NOT NULL DEFAULT '',
    ADD COLUMN legal_basis    text NOT NULL DEFAULT '',
    ADD COLUMN published_on   date,
    ADD COLUMN related        text[] NOT NULL DEFAULT '{}',
    ADD COLUMN version        int NOT NULL DEFAULT 1;
