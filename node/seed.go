package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/catalog"
)

// Registers is how much synthetic data the three base registers get.
type Registers struct {
	Seed      int64
	Residents int
	Companies int
	Licences  int
	// Progress, when set, is called about every ProgressEvery (default
	// 1 s) while the registers load, with the rows loaded so far as
	// PostgreSQL reports its COPYs' progress (pg_stat_progress_copy):
	// the loads stay single COPYs in single transactions, watched from
	// outside. It is not called after SeedRegisters returns.
	Progress      func(rows int64)
	ProgressEvery time.Duration
}

// ExpectedRows estimates how many rows r loads into empty registers:
// residents, their households (about one for three residents) and
// household members (nearly every resident), companies and licences.
func (r Registers) ExpectedRows() int64 {
	res := int64(r.Residents)
	return res + res*32/100 + res*96/100 + int64(r.Companies) + int64(r.Licences)
}

// Validate refuses counts that cannot make coherent registers: companies
// need residents as their representatives, licences need holders.
func (r Registers) Validate() error {
	switch {
	case r.Residents < 0 || r.Companies < 0 || r.Licences < 0:
		return fmt.Errorf("seed: counts must not be negative")
	case r.Residents > population.Capacity():
		return fmt.Errorf("seed: at most %d residents", population.Capacity())
	case r.Companies > 0 && r.Residents == 0:
		return fmt.Errorf("seed: companies need residents as their legal representatives: give --residents (the same number the population register was seeded with)")
	case r.Licences > 0 && r.Residents == 0 && r.Companies == 0:
		return fmt.Errorf("seed: licences need holders: give --residents and/or --companies")
	case r.Licences > licence.Capacity:
		return fmt.Errorf("seed: at most %d licences", licence.Capacity)
	}
	return nil
}

// DemoRegisters is what `govx up` seeds into empty registers.
func DemoRegisters(residents int) Registers {
	return Registers{Seed: DemoSeed, Residents: residents, Companies: DemoCompanies, Licences: DemoLicences}
}

// Generators are the three registers' generators, made coherent: company
// representatives are residents, licence holders are companies and
// residents, all recomputable by any process from the seed.
type Generators struct {
	People    *population.Generator
	Companies *legalentity.Generator // nil without residents
	Licences  *licence.Generator
}

// NewGenerators returns the generators of r, refusing counts that cannot
// make coherent registers.
func NewGenerators(r Registers) (*Generators, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	people := population.NewGenerator(r.Seed)
	var companies *legalentity.Generator
	if r.Residents > 0 {
		companies = legalentity.NewGenerator(r.Seed, people, r.Residents)
	}
	cfg := licence.GeneratorConfig{Seed: r.Seed,
		Residents: func(i int) (string, string) {
			p := people.Resident(i)
			return p.IDNumber, p.Name
		}, ResidentCount: r.Residents}
	if r.Companies > 0 {
		cfg.Companies = func(i int) (string, string) {
			c := companies.Company(i)
			return c.USCC, c.Name
		}
		cfg.CompanyCount = r.Companies
	}
	licences, err := licence.NewGenerator(cfg)
	if err != nil {
		return nil, err
	}
	return &Generators{People: people, Companies: companies, Licences: licences}, nil
}

// seedCatalogue registers every reference department, its resources and
// schemas, and the licence issuers' public seal keys. It is idempotent.
func seedCatalogue(ctx context.Context, pool *pgxpool.Pool, g *Generators) error {
	cat := catalog.NewStore(pool)
	if err := catalog.SeedDemo(ctx, cat); err != nil {
		return err
	}
	// The population department and its resources come with catalog.SeedDemo.
	// Companies before licences: licence resources name legal-entity ones
	// as related, and the catalogue refuses a relation to nothing.
	if err := legalentity.SeedCatalog(ctx, cat); err != nil {
		return err
	}
	if err := licence.SeedCatalog(ctx, cat); err != nil {
		return err
	}
	for _, k := range g.Licences.PublicKeys() {
		if err := cat.PutDepartmentKey(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// SeedReport says what seedRegisters loaded and how fast.
type SeedReport struct {
	Residents, Households, Members, Companies, Licences int64
	Took                                                time.Duration
}

// Rows is every row loaded.
func (r SeedReport) Rows() int64 {
	return r.Residents + r.Households + r.Members + r.Companies + r.Licences
}

func (r SeedReport) String() string {
	return fmt.Sprintf("%d residents, %d households (%d members), %d companies, %d licences: %d rows in %v (%.0f rows/s)",
		r.Residents, r.Households, r.Members, r.Companies, r.Licences, r.Rows(), r.Took.Round(time.Millisecond),
		float64(r.Rows())/r.Took.Seconds())
}

// seedRegisters fills each of the three registers that is empty, the three
// side by side: each is one COPY in one transaction, so a failed load
// leaves its register empty, never half-filled.
func seedRegisters(ctx context.Context, pool *pgxpool.Pool, g *Generators, r Registers, log *slog.Logger) (SeedReport, error) {
	var rep SeedReport
	start := time.Now()
	stopWatch := func() {}
	if r.Progress != nil {
		stopWatch = watchCopies(ctx, pool, r.ProgressEvery, r.Progress)
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		ps := population.NewStore(pool)
		n, err := ps.Count(ctx)
		if err != nil || r.Residents == 0 {
			return err
		}
		if n == 0 {
			if n, err = ps.Seed(ctx, g.People, 0, r.Residents); err != nil {
				return err
			}
			rep.Residents = n
		}
		// Households are grouped from residents already there, also in a
		// register seeded before households existed.
		if h, err := ps.HouseholdCount(ctx); err != nil || h > 0 {
			return err
		}
		rep.Households, rep.Members, err = ps.SeedHouseholds(ctx, g.People, 0, min(int(n), r.Residents))
		return err
	})
	eg.Go(func() error {
		ls := legalentity.NewStore(pool, nil)
		if n, err := ls.Count(ctx); err != nil || n > 0 || r.Companies == 0 {
			return err
		}
		var err error
		rep.Companies, err = ls.Seed(ctx, g.Companies, 0, r.Companies)
		return err
	})
	eg.Go(func() error {
		ls := licence.NewStore(pool, nil)
		if n, err := ls.Count(ctx); err != nil || n > 0 || r.Licences == 0 {
			return err
		}
		var err error
		rep.Licences, err = ls.Seed(ctx, g.Licences, 0, r.Licences)
		return err
	})
	err := eg.Wait()
	stopWatch() // no report once this returns
	rep.Took = time.Since(start)
	if err == nil && rep.Rows() > 0 {
		log.Info("registers seeded", "residents", rep.Residents, "households", rep.Households,
			"companies", rep.Companies, "licences", rep.Licences, "took", rep.Took.Round(time.Millisecond))
	}
	return rep, err
}

// SeedRegisters registers the demo catalogue (departments, resources,
// schemas, issuers' keys) and fills each of the three registers that is
// empty with r's synthetic data: `govx seed` and the demo of `govx up`.
// A register that holds data already is left alone (the report counts
// nothing for it).
func SeedRegisters(ctx context.Context, pool *pgxpool.Pool, r Registers, log *slog.Logger) (SeedReport, error) {
	g, err := NewGenerators(r)
	if err != nil {
		return SeedReport{}, err
	}
	if err := seedCatalogue(ctx, pool, g); err != nil {
		return SeedReport{}, err
	}
	return seedRegisters(ctx, pool, g, r, log)
}

// watchCopies calls report with the rows the COPYs into this database
// have loaded so far, every every, until stop is called: it polls
// pg_stat_progress_copy, where each COPY shows its rows while it runs and
// disappears when it ends, so each COPY (a backend and a table) counts
// with the most it was seen at.
func watchCopies(ctx context.Context, pool *pgxpool.Pool, every time.Duration, report func(int64)) (stop func()) {
	if every <= 0 {
		every = time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		type copyID struct {
			pid   int32
			relid uint32
		}
		seen := map[copyID]int64{}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rows, err := pool.Query(ctx, `SELECT pid, relid, tuples_processed FROM pg_stat_progress_copy
				WHERE datname = current_database() AND command = 'COPY FROM'`)
			if err != nil {
				continue // the load itself reports what matters
			}
			for rows.Next() {
				var id copyID
				var n int64
				if rows.Scan(&id.pid, &id.relid, &n) == nil && n > seen[id] {
					seen[id] = n
				}
			}
			rows.Close()
			var total int64
			for _, n := range seen {
				total += n
			}
			if ctx.Err() == nil {
				report(total)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
