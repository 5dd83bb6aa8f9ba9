-- Whose data each access touched and which consent allowed it. The data
-- subject is the person or company the record is about: the key for most
-- resources, the holder for a licence looked up by number. A data subject
-- lists their accesses by it (GET /v1/subjects/{id}/accesses). Entries
-- written before hold '' and hash as they always did.
ALTER TABLE exchange.audit
    ADD COLUMN consent_id   text NOT NULL DEFAULT '',
    ADD COLUMN data_subject text NOT NULL DEFAULT '';
CREATE INDEX audit_data_subject ON exchange.audit (data_subject, seq) WHERE data_subject <> '';
