// Package exchange is the broker of govx. It takes an authorised query over
// HTTP, checks the caller's token scope and the catalogue's sharing class,
// validates the key, keeps only the fields asked for, sends an Avro request
// to the provider department's request topic, waits for the Avro reply,
// answers the caller and appends an audit record of every query, answered
// or refused, to its AuditLog (the hash-chained ledger of package
// govx/exchange/ledger).
package exchange
