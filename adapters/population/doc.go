// Package population is the population department's own register system
// and its adapter to the exchange bus.
//
// The resident register (户籍) is kept by public security; the population
// department holds its own copy in its own database schema, population, and
// answers lookups by resident identity number from there. This package owns
// that schema (migrations/), the Store that reads and bulk-loads it, and a
// deterministic synthetic Generator that stands in for real people: resident
// i of a given seed is the same in every process, so a benchmark driver can
// pick ID numbers that exist without asking the database.
//
// The bus-facing handler that answers requests from the exchange builds on
// Store.Resident.
package population
