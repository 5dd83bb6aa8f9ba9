-- Orders to issue a licence, by the reference the ordering side gives
-- (in practice the case number): a retried order finds the licence its
-- first attempt issued instead of issuing a second one. The row is written
-- in the transaction that stores the licence, so a licence issued on order
-- always has its order and an order always has its licence.
CREATE TABLE licence.issue_orders (
    reference  text        COLLATE "C" PRIMARY KEY CHECK (reference <> '' AND length(reference) <= 64),
    number     text        COLLATE "C" NOT NULL UNIQUE REFERENCES licence.licences (number),
    -- SHA-256 of the order's canonical form: the same reference with a
    -- different order is refused, not answered with the first licence.
    order_hash bytea       NOT NULL CHECK (length(order_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
