-- Households (户): who lives together under one household register, and
-- who heads it. A resident belongs to at most one household.
CREATE TABLE population.households (
    household_no   text    PRIMARY KEY CHECK (household_no ~ '^[0-9]{15}$'),
    head_id_number text    NOT NULL REFERENCES population.residents (id_number),
    address        text    NOT NULL,
    division_code  char(6) NOT NULL CHECK (division_code ~ '^[0-9]{6}$')
);

CREATE TABLE population.household_members (
    id_number    text NOT NULL PRIMARY KEY REFERENCES population.residents (id_number),
    household_no text NOT NULL REFERENCES population.households (household_no),
    -- Relation to the head: head, spouse, child, parent, grandchild, sibling, other.
    relation     text NOT NULL
                 CHECK (relation IN ('head', 'spouse', 'child', 'parent', 'grandchild', 'sibling', 'other'))
);

-- Listing a household's members.
CREATE INDEX household_members_household_idx ON population.household_members (household_no);
