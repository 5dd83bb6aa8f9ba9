package population_test

import (
	"os"
	"testing"

	"govx/adapters/population"
	"govx/internal/postgres/postgrestest"
)

// A register migrated while 002 created the outbox table itself migrates
// on, and ends with the same tables as a fresh one.
func TestMigrationUpgradesOwnOutbox(t *testing.T) {
	postgrestest.CheckUpgrade(t, population.MigrationSource(), os.DirFS("testdata/migrations-before-shared-outbox"), population.Schema)
}
