package main

import (
	"context"
	"io"
	"testing"

	"github.com/jackc/pgx/v5"

	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

// `govx migrate` registers the bus schemas as well, so that an adapter
// connecting with a role that only reads the registry (deploy/postgres/
// roles.sql) finds every schema it registers at start already there.
func TestMigrateRegistersBusSchemas(t *testing.T) {
	url := postgrestest.NewURL(t)
	t.Setenv("GOVX_POSTGRES_URL", url)
	ctx := context.Background()
	if err := run(ctx, []string{"migrate"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, subject := range schemas.Subjects() {
		text, err := schemas.Text(subject)
		if err != nil {
			t.Fatal(err)
		}
		var stored string
		err = conn.QueryRow(ctx, `SELECT schema FROM catalog.schemas WHERE subject = $1 AND NOT deleted ORDER BY version DESC LIMIT 1`, subject).Scan(&stored)
		if err != nil || stored != text {
			t.Errorf("subject %s after govx migrate: %v (stored %d bytes, embedded %d)", subject, err, len(stored), len(text))
		}
	}
	// A second run finds them there and changes nothing.
	var before, after int
	conn.QueryRow(ctx, `SELECT count(*) FROM catalog.schemas`).Scan(&before)
	if err := run(ctx, []string{"migrate"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	conn.QueryRow(ctx, `SELECT count(*) FROM catalog.schemas`).Scan(&after)
	if before != after || before < len(schemas.Subjects()) {
		t.Errorf("schemas: %d before the second migrate, %d after, %d subjects", before, after, len(schemas.Subjects()))
	}
}
