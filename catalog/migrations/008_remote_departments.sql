-- Departments of other nodes of a federation: "dongguan/market-regulation"
-- is Dongguan's market regulation as this node knows it, the consumer its
-- grants and the data subjects' consents name. node is the federation
-- node it belongs to, '' for this node's own departments.
ALTER TABLE catalog.departments DROP CONSTRAINT departments_code_check;
ALTER TABLE catalog.departments ADD CONSTRAINT departments_code_check
    CHECK (code ~ '^([a-z][a-z0-9-]{1,62}/)?[a-z][a-z0-9-]{1,62}$');
ALTER TABLE catalog.departments ADD COLUMN node text NOT NULL DEFAULT '';
