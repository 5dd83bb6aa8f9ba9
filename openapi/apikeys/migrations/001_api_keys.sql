-- API keys of third parties using the open-data API. Only a SHA-256 hash of
-- each secret is kept: a secret is shown once, at registration.
CREATE SCHEMA openapi_keys;

CREATE TABLE openapi_keys.api_keys (
    id          text PRIMARY KEY CHECK (id ~ '^k_[a-z2-7]{26}$'),
    secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    purpose     text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 2000),
    -- tier names a configured limit; rate/period_ms/burst, when set, are an
    -- operator's override for this key alone.
    tier        text NOT NULL DEFAULT 'registered' CHECK (tier ~ '^[a-z][a-z0-9-]{0,31}$'),
    rate        integer CHECK (rate > 0),
    period_ms   integer CHECK (period_ms > 0),
    burst       integer CHECK (burst > 0),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    revoked_by  text,
    CHECK ((rate IS NULL) = (period_ms IS NULL) AND (rate IS NULL) = (burst IS NULL)),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);

CREATE INDEX api_keys_email ON openapi_keys.api_keys (lower(email));
