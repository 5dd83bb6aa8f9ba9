package casework

import (
	"os"
	"testing"

	"govx/internal/postgres/postgrestest"
)

// A database migrated while 001 created the outbox table itself migrates
// on, and ends with the same tables as a fresh one.
func TestMigrationUpgradesOwnOutbox(t *testing.T) {
	postgrestest.CheckUpgrade(t, MigrationSource(), os.DirFS("testdata/migrations-before-shared-outbox"), Schema)
}
