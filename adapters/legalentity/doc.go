// Package legalentity is the market regulation department's register of
// market entities (市场主体登记) and its adapter to the exchange bus.
//
// The department keeps the register in its own database schema,
// legal_entity, and answers lookups by unified social credit code (GB
// 32100-2015) from there: legal-entity.basic, the registered facts of an
// entity, and legal-entity.status, whether it is still in business. A
// deregistration or revocation changes the record and writes its change
// event into the department's outbox in one transaction, so subscribers hear
// of every change that committed and of no other.
//
// This package owns that schema (migrations/), the Store that reads,
// bulk-loads and changes it, the bus handlers (Register), the catalogue
// entries (Catalog) and a deterministic synthetic Generator that stands in
// for real companies. The Generator is coherent with the population
// register's: every legal representative is a resident of the population
// Generator it was given, of age when the entity was established.
package legalentity
