package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx/adapters"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/schemas"
)

// DemoLicences is how many licences `govx up` seeds into an empty licence
// register, held by demo residents until the legal-entity register supplies
// company holders.
const DemoLicences = 3000

// demoLicenceGenerator is the generator of the demo licences, whose holders
// are the first residents demo residents.
func demoLicenceGenerator(residents int) (*licence.Generator, error) {
	people := population.NewGenerator(DemoSeed)
	return licence.NewGenerator(licence.GeneratorConfig{Seed: DemoSeed, ResidentCount: residents,
		Residents: func(i int) (string, string) {
			r := people.Resident(i)
			return r.IDNumber, r.Name
		}})
}

// seedLicences registers the licensing department, its resources and its
// issuers' public seal keys in the catalogue and, if the licence register
// is empty, fills it with demo licences.
func seedLicences(ctx context.Context, pool *pgxpool.Pool, residents int, log *slog.Logger) error {
	cat := catalog.NewStore(pool)
	dept, resources := licence.Catalog()
	if err := cat.PutDepartment(ctx, dept); err != nil {
		return err
	}
	for _, r := range resources {
		text, err := schemas.Text(r.SchemaSubject)
		if err != nil {
			return err
		}
		if _, err := cat.RegisterSchema(ctx, r.SchemaSubject, text); err != nil {
			return err
		}
		if err := cat.PutResource(ctx, r); err != nil {
			return err
		}
	}
	g, err := demoLicenceGenerator(residents)
	if err != nil {
		return err
	}
	for _, k := range g.PublicKeys() {
		if err := cat.PutDepartmentKey(ctx, k); err != nil {
			return err
		}
	}
	store := licence.NewStore(pool, nil)
	if n, err := store.Count(ctx); err != nil || n > 0 {
		return err
	}
	start := time.Now()
	if _, err := store.Seed(ctx, g, 0, DemoLicences); err != nil {
		return err
	}
	log.Info("demo licences seeded", "licences", DemoLicences, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// startLicence runs the licensing department's adapter and the relay of
// its outbox until Close.
func (m *Main) startLicence(runCtx context.Context, kcfg kafka.Config, codec *avro.Codec, prod *kafka.Producer) error {
	rt, err := adapters.New(adapters.Config{Department: licence.Department, Partitions: requestPartitions, Logger: m.log}, kcfg, codec, prod)
	if err != nil {
		return err
	}
	outbox := adapters.NewOutbox(m.Pool, licence.Schema, licence.Department, codec, m.log)
	licence.Register(rt, licence.NewStore(m.Pool, outbox))
	m.Licence = rt
	ctx, stop := context.WithCancel(runCtx)
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		outbox.Relay(ctx, prod, 0)
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		backoff := time.Second
		for {
			err := rt.Run(ctx)
			if ctx.Err() != nil {
				return
			}
			m.log.Error("licensing adapter stopped; restarting", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
	m.onClose(func() { stop(); <-done; <-relayed })
	return nil
}
