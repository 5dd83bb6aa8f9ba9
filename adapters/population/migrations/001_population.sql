-- The population department's copy of the resident register.
CREATE SCHEMA population;

CREATE TABLE population.residents (
    -- GB 11643 resident identity number; the application checks the check
    -- character, the database only the shape.
    id_number     text        PRIMARY KEY
                  CHECK (length(id_number) = 18 AND id_number ~ '^[0-9]{17}[0-9X]$'),
    name          text        NOT NULL CHECK (name <> ''),
    sex           text        NOT NULL CHECK (sex IN ('male', 'female')),
    birth_date    date        NOT NULL,
    ethnicity     text        NOT NULL,
    address       text        NOT NULL,
    -- Division of registration (GB/T 2260). Not tied to the first six digits
    -- of id_number: people who move keep their number.
    division_code char(6)     NOT NULL CHECK (division_code ~ '^[0-9]{6}$'),
    status        text        NOT NULL DEFAULT 'normal'
                  CHECK (status IN ('normal', 'moved_out', 'deceased')),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Listing the residents of a division, page by page in ID order.
CREATE INDEX residents_division_idx ON population.residents (division_code, id_number);
