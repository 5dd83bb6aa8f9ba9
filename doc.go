// Package govx holds the few types every part of the exchange shares: the
// error type that carries a kind and a stable code across HTTP and Kafka,
// and the identifiers of the base registers (the 18-digit resident ID
// number). Domain packages (catalog, exchange, adapters, consent, openapi,
// casework) own everything else; wiring lives in cmd/govx.
package govx
