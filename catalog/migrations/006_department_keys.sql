-- Public keys departments sign with (the electronic seals of licence
-- issuers, for one), so that anyone holding a signed record can check it
-- offline. Only public halves live here; private keys stay with the
-- department. A key is never changed or deleted: a retired key signs
-- nothing new but still verifies what it signed before.
CREATE TABLE catalog.department_keys (
    department_code text        NOT NULL REFERENCES catalog.departments (code),
    key_id          text        NOT NULL CHECK (key_id ~ '^[A-Za-z0-9._~:#-]{1,128}$'),
    algorithm       text        NOT NULL DEFAULT 'Ed25519' CHECK (algorithm = 'Ed25519'),
    public_key      bytea       NOT NULL CHECK (length(public_key) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz,
    PRIMARY KEY (department_code, key_id)
);
