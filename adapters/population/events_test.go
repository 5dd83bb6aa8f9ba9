package population_test

import (
	"context"
	"testing"

	"govx"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

func TestSetStatus(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewMigrated(t, catalog.MigrationSource(), population.MigrationSource())
	codec := avro.NewCodec(catalog.NewStore(pool))
	if err := schemas.RegisterAll(ctx, codec); err != nil {
		t.Fatal(err)
	}
	store := population.NewStore(pool)
	g := population.NewGenerator(seed)
	if _, err := store.Seed(ctx, g, 0, 200); err != nil {
		t.Fatal(err)
	}
	var normal []string
	for i := 0; i < 200 && len(normal) < 2; i++ {
		if r := g.Resident(i); r.Status == population.StatusNormal {
			normal = append(normal, r.IDNumber)
		}
	}
	outbox := store.Outbox(codec, nil)

	r, err := store.SetStatus(ctx, outbox, normal[0], population.StatusDeceased, "death registered")
	if err != nil || r.Status != population.StatusDeceased {
		t.Fatalf("SetStatus = %+v, %v", r, err)
	}
	if got, _ := store.Resident(ctx, normal[0]); got.Status != population.StatusDeceased {
		t.Errorf("stored status = %s", got.Status)
	}
	var value []byte
	if err := pool.QueryRow(ctx, `SELECT value FROM population.outbox`).Scan(&value); err != nil {
		t.Fatalf("the change left no event: %v", err)
	}
	var ev bus.Event
	if err := codec.UnmarshalAs(ctx, schemas.Event, value, &ev); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := codec.UnmarshalAs(ctx, schemas.PopulationIdentity, ev.Record, &rec); err != nil {
		t.Fatal(err)
	}
	if ev.Type != population.EventStatusChanged || ev.Key != normal[0] || ev.Resource != population.ResourceIdentity ||
		ev.Reason != "death registered" || rec["status"] != population.StatusDeceased || rec["id_number"] != normal[0] {
		t.Errorf("event = %+v, record %v", ev, rec)
	}

	for _, tc := range []struct {
		name, id, status, reason string
		kind                     govx.Kind
		code                     string
	}{
		{"deceased is terminal", normal[0], population.StatusNormal, "", govx.KindConflict, "resident_deceased"},
		{"unchanged", normal[1], population.StatusNormal, "", govx.KindConflict, "status_unchanged"},
		{"unknown status", normal[1], "emigrated", "", govx.KindInvalid, "invalid_status"},
		{"control characters in reason", normal[1], population.StatusMovedOut, "a\x00b", govx.KindInvalid, "invalid_reason"},
		{"bad ID number", "123", population.StatusMovedOut, "", govx.KindInvalid, "invalid_id_number"},
		{"not registered", "110101190001010014", population.StatusMovedOut, "", govx.KindNotFound, "resident_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.SetStatus(ctx, outbox, tc.id, tc.status, tc.reason)
			if govx.ErrorKind(err) != tc.kind || govx.ErrorCode(err) != tc.code {
				t.Fatalf("err = %v (%s %s), want %s %s", err, govx.ErrorKind(err), govx.ErrorCode(err), tc.kind, tc.code)
			}
		})
	}
	// Refused changes leave neither a change nor an event.
	if n, err := outbox.Pending(ctx); err != nil || n != 1 {
		t.Errorf("outbox holds %d events (%v), want 1", n, err)
	}
	if got, _ := store.Resident(ctx, normal[1]); got.Status != population.StatusNormal {
		t.Errorf("refused change stored: %s", got.Status)
	}
}
