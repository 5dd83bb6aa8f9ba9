package legalentity_test

import (
	"os"
	"testing"

	"govx/adapters/legalentity"
	"govx/internal/postgres/postgrestest"
)

// A register migrated while 001 created the outbox table itself migrates
// on, and ends with the same tables as a fresh one.
func TestMigrationUpgradesOwnOutbox(t *testing.T) {
	postgrestest.CheckUpgrade(t, legalentity.MigrationSource(), os.DirFS("testdata/migrations-before-shared-outbox"), legalentity.Schema)
}
