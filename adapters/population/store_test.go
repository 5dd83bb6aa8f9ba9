package population_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/adapters/population"
	"govx/internal/postgres"
	"govx/internal/postgres/postgrestest"
)

const seed = 7

// mustStore returns a Store on a fresh, migrated database.
func mustStore(tb testing.TB) (*population.Store, *pgxpool.Pool) {
	tb.Helper()
	pool := postgrestest.NewPool(tb)
	applied, err := postgres.Migrate(context.Background(), pool, population.MigrationSource())
	if err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	if want := []string{"population/001_population", "population/002_household_events", "population/003_outbox", "population/004_provider_log"}; !slices.Equal(applied, want) {
		tb.Fatalf("Migrate applied %v, want %v", applied, want)
	}
	return population.NewStore(pool), pool
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	store, pool := mustStore(t)
	g := population.NewGenerator(seed)

	n, err := store.Seed(ctx, g, 0, 5000)
	if err != nil || n != 5000 {
		t.Fatalf("Seed(0, 5000) = %d, %v; want 5000, nil", n, err)
	}
	if got, err := store.Count(ctx); err != nil || got != 5000 {
		t.Fatalf("Count = %d, %v; want 5000, nil", got, err)
	}

	t.Run("lookup returns every field", func(t *testing.T) {
		want := g.Resident(1234)
		got, err := store.Resident(ctx, want.IDNumber)
		if err != nil {
			t.Fatalf("Resident(%s): %v", want.IDNumber, err)
		}
		if got.IDNumber != want.IDNumber || got.Name != want.Name || got.Sex != want.Sex ||
			got.Ethnicity != want.Ethnicity || got.Address != want.Address ||
			got.DivisionCode != want.DivisionCode || got.Status != want.Status {
			t.Errorf("Resident(%s)\n got %+v\nwant %+v", want.IDNumber, got, want)
		}
		if !got.BirthDate.Equal(want.BirthDate) || got.BirthDate.Location() != time.UTC {
			t.Errorf("BirthDate = %v, want %v", got.BirthDate, want.BirthDate)
		}
		if !got.UpdatedAt.Equal(want.UpdatedAt) || got.UpdatedAt.Location() != time.UTC {
			t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, want.UpdatedAt)
		}
	})

	t.Run("every seeded resident is there", func(t *testing.T) {
		var first, last string
		if err := pool.QueryRow(ctx, `SELECT
			(SELECT name FROM population.residents WHERE id_number = $1),
			(SELECT name FROM population.residents WHERE id_number = $2)`,
			g.IDNumber(0), g.IDNumber(4999)).Scan(&first, &last); err != nil {
			t.Fatal(err)
		}
		if first != g.Resident(0).Name || last != g.Resident(4999).Name {
			t.Errorf("names of residents 0 and 4999 = %q, %q", first, last)
		}
	})

	t.Run("unknown resident", func(t *testing.T) {
		id := g.IDNumber(5000) // valid, generated, but not seeded
		_, err := store.Resident(ctx, id)
		if govx.ErrorKind(err) != govx.KindNotFound || govx.ErrorCode(err) != "resident_not_found" {
			t.Fatalf("Resident(%s) error = %v, want NotFound resident_not_found", id, err)
		}
	})

	t.Run("malformed ID number", func(t *testing.T) {
		_, err := store.Resident(ctx, "11010519491231002x")
		if govx.ErrorKind(err) != govx.KindInvalid || govx.ErrorCode(err) != "invalid_id_number" {
			t.Fatalf("error = %v, want Invalid invalid_id_number", err)
		}
	})

	t.Run("seeding an overlapping range conflicts and changes nothing", func(t *testing.T) {
		n, err := store.Seed(ctx, g, 4990, 20)
		if govx.ErrorKind(err) != govx.KindConflict || govx.ErrorCode(err) != "already_exists" || n != 0 {
			t.Fatalf("Seed(4990, 20) = %d, %v; want 0, Conflict", n, err)
		}
		if got, _ := store.Count(ctx); got != 5000 {
			t.Fatalf("Count after failed seed = %d, want 5000", got)
		}
	})

	t.Run("seeding the next range", func(t *testing.T) {
		n, err := store.Seed(ctx, g, 5000, 1000)
		if err != nil || n != 1000 {
			t.Fatalf("Seed(5000, 1000) = %d, %v", n, err)
		}
		if got, _ := store.Count(ctx); got != 6000 {
			t.Fatalf("Count = %d, want 6000", got)
		}
		if _, err := store.Resident(ctx, g.IDNumber(5000)); err != nil {
			t.Fatalf("resident 5000 after seeding: %v", err)
		}
	})

	t.Run("range outside the generator", func(t *testing.T) {
		for _, r := range [][2]int{{-1, 10}, {0, -1}, {population.Capacity() - 5, 10}} {
			if _, err := store.Seed(ctx, g, r[0], r[1]); govx.ErrorKind(err) != govx.KindInvalid {
				t.Errorf("Seed(%d, %d) error = %v, want Invalid", r[0], r[1], err)
			}
		}
	})

	t.Run("the database guards its columns", func(t *testing.T) {
		_, err := pool.Exec(ctx, `INSERT INTO population.residents
			(id_number, name, sex, birth_date, ethnicity, address, division_code, status)
			VALUES ('11010519491231002X', '张三', 'male', '1949-12-31', '汉族', '北京市朝阳区', '110105', 'missing')`)
		if govx.ErrorKind(postgres.Translate("test", err, "")) != govx.KindInvalid {
			t.Errorf("insert with bad status: %v, want a check violation", err)
		}
	})
}

// A database that cannot be reached is Unavailable, not Internal.
func TestStoreUnavailable(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := population.NewStore(pool)
	g := population.NewGenerator(seed)
	_, err = store.Resident(context.Background(), g.IDNumber(0))
	if govx.ErrorKind(err) != govx.KindUnavailable || govx.ErrorCode(err) != "database_unavailable" {
		t.Fatalf("Resident with the database down: %v, want Unavailable database_unavailable", err)
	}
	if _, err := store.Count(context.Background()); govx.ErrorKind(err) != govx.KindUnavailable {
		t.Fatalf("Count with the database down: %v, want Unavailable", err)
	}
}

// BenchmarkSeed measures bulk loading; run it with
//
//	go test -run x -bench Seed ./adapters/population/
//
// Each iteration loads 100,000 new residents into one growing table.
func BenchmarkSeed(b *testing.B) {
	ctx := context.Background()
	store, _ := mustStore(b)
	g := population.NewGenerator(seed)
	const batch = 100_000
	from := 0
	for b.Loop() {
		if _, err := store.Seed(ctx, g, from, batch); err != nil {
			b.Fatal(err)
		}
		from += batch
	}
	b.ReportMetric(float64(from)/b.Elapsed().Seconds(), "rows/s")
}
