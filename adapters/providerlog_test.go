package adapters_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"govx/adapters"
	"govx/adapters/population"
	"govx/internal/postgres/postgrestest"
)

// Appends made at once are group-committed; each returns only once its own
// entry is in the table, every entry is there once, and when the batch
// cannot be written every caller of it gets the error.
func TestProviderLogGroupCommit(t *testing.T) {
	pool := postgrestest.NewMigrated(t, population.MigrationSource())
	log := adapters.NewProviderLog(pool, population.Schema)
	ctx := context.Background()
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("req-%03d", i)
			if errs[i] = log.Append(ctx, adapters.LogEntry{RequestID: id, Consumer: "service-center", Caller: "svc:test",
				Resource: population.ResourceIdentity, SubjectKey: "110101199003070011", Outcome: adapters.LogAnswered, Code: "ok",
				Source: "t/0/" + id}); errs[i] != nil {
				return
			}
			// Committed before Append returned: visible to another connection.
			var seen int
			if errs[i] = pool.QueryRow(ctx, `SELECT count(*) FROM population.provider_log WHERE request_id = $1`, id).Scan(&seen); errs[i] == nil && seen != 1 {
				errs[i] = fmt.Errorf("%s: %d rows after Append returned", id, seen)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	entries, err := log.List(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.RequestID
		if e.SubjectKey == "110101199003070011" {
			t.Fatalf("key stored unmasked: %+v", e)
		}
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != n || len(entries) != n {
		t.Fatalf("%d entries, %d distinct, want %d", len(entries), len(slices.Compact(ids)), n)
	}

	missing := adapters.NewProviderLog(pool, "no_such_schema")
	for i := range 20 {
		wg.Go(func() {
			errs[i] = missing.Append(ctx, adapters.LogEntry{RequestID: fmt.Sprint(i), Outcome: adapters.LogAnswered})
		})
	}
	wg.Wait()
	for i := range 20 {
		if errs[i] == nil {
			t.Fatalf("append %d to a missing table succeeded", i)
		}
	}
}
