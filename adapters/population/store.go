package population

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/adapters"
	"govx/internal/outbox"
	"govx/internal/postgres"
)

// Migrations holds the SQL that creates the population schema.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// MigrationSource is the population schema's migrations, for postgres.Migrate.
func MigrationSource() postgres.Source {
	src := postgres.SourceDir("population", Migrations, "migrations")
	src.Built = []postgres.Migration{outbox.Migration("003_outbox.sql", Schema), adapters.LogMigration("004_provider_log.sql", Schema)}
	// 002 created the outbox table itself until 003 took it over.
	src.Replaces = map[string][]string{"002_household_events.sql": {"0689e4a1894db963cecb84b83079120f873012f359527c6b1a21c5cce0a204db"}}
	return src
}

// Store is the population register in PostgreSQL. It is safe for concurrent
// use.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store on pool, whose database must have the population
// migrations applied.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Resident returns the resident with the ID number idNumber. A malformed
// number is KindInvalid ("invalid_id_number") and never reaches the
// database; a well-formed one that is not registered is KindNotFound
// ("resident_not_found"); a database that cannot be reached is
// KindUnavailable.
func (s *Store) Resident(ctx context.Context, idNumber string) (Resident, error) {
	const op = "population.Store.Resident"
	if err := govx.ValidateIDNumber(idNumber); err != nil {
		return Resident{}, govx.E(op, err)
	}
	r := Resident{IDNumber: idNumber}
	err := s.pool.QueryRow(ctx, `
		SELECT name, sex, birth_date, ethnicity, address, division_code, status, updated_at
		FROM population.residents WHERE id_number = $1`, idNumber).
		Scan(&r.Name, &r.Sex, &r.BirthDate, &r.Ethnicity, &r.Address, &r.DivisionCode, &r.Status, &r.UpdatedAt)
	if err != nil {
		return Resident{}, postgres.Translate(op, err, "resident_not_found")
	}
	r.BirthDate = r.BirthDate.UTC()
	r.UpdatedAt = r.UpdatedAt.UTC()
	return r, nil
}

// Count returns the number of residents in the register.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM population.residents`).Scan(&n); err != nil {
		return 0, postgres.Translate("population.Store.Count", err, "")
	}
	return n, nil
}

// residentColumns are the columns Seed copies, in the order of seedRow.
var residentColumns = []string{"id_number", "name", "sex", "birth_date", "ethnicity",
	"address", "division_code", "status", "updated_at"}

// Seed loads residents [from, from+n) of g into the register with COPY,
// generating each row as it is sent, and returns how many it loaded (n on
// success). It is all or nothing: the rows go in one transaction.
//
// Seed does not skip residents that are already there. If any of the range
// is, the whole load fails with KindConflict ("already_exists") and leaves
// the register as it was; seeding is safe to retry, but loading more means
// choosing a range that does not overlap (for instance from = Count, when
// every earlier load started at 0 and used the same seed). A range outside
// [0, Capacity()) is KindInvalid.
func (s *Store) Seed(ctx context.Context, g *Generator, from, n int) (int64, error) {
	const op = "population.Store.Seed"
	if from < 0 || n < 0 || from > Capacity()-n {
		return 0, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_range",
			"residents [%d, %d+%d) are outside [0, %d)", from, from, n, Capacity()))
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit

	row := make([]any, len(residentColumns)) // reused: pgx encodes each row before asking for the next
	i := from
	copied, err := tx.CopyFrom(ctx, pgx.Identifier{"population", "residents"}, residentColumns,
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == from+n {
				return nil, nil
			}
			r := g.Resident(i)
			i++
			row[0], row[1], row[2], row[3], row[4] = r.IDNumber, r.Name, r.Sex, r.BirthDate, r.Ethnicity
			row[5], row[6], row[7], row[8] = r.Address, r.DivisionCode, r.Status, r.UpdatedAt
			return row, nil
		}))
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	return copied, nil
}
