-- The policy rule that decided each access (unconditional, grant:<id>,
-- grant_required, grant_revoked, field_not_granted, …), so an audit shows
-- not only that an access happened but which grant allowed it. Entries
-- written before hold '' and hash as they always did.
ALTER TABLE exchange.audit ADD COLUMN rule text NOT NULL DEFAULT '';
