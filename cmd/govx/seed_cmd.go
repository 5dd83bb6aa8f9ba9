package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/postgres"
	"govx/node"
	"govx/schemas"
)

// runMigrate is `govx migrate`: the database schema, and the bus schemas in
// the schema registry. Registering them here, as the database owner, lets
// an adapter run as a role that only reads the registry (every node still
// registers them at start, which finds them there).
func runMigrate(ctx context.Context, cfg node.Config, _ []string, _, _ io.Writer) error {
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := node.Migrate(ctx, pool, cfg.Logger); err != nil {
		return err
	}
	return schemas.RegisterAll(ctx, avro.NewCodec(catalog.NewStore(pool)))
}

// runSeed is `govx seed`: the demo catalogue plus registers of any size.
func runSeed(ctx context.Context, cfg node.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	demo := fs.Bool("demo", false, "the demo set: "+fmt.Sprintf("%d residents, %d companies, %d licences", node.DemoResidents, node.DemoCompanies, node.DemoLicences))
	r := node.Registers{Seed: node.DemoSeed}
	fs.IntVar(&r.Residents, "residents", node.DemoResidents, "residents (and their households) in the population register")
	fs.IntVar(&r.Companies, "companies", node.DemoCompanies, "companies in the legal-entity register; representatives are residents")
	fs.IntVar(&r.Licences, "licences", node.DemoLicences, "licences in the licence register; holders are companies and residents")
	fs.Int64Var(&r.Seed, "seed", node.DemoSeed, "seed of the generators: the same seed gives the same data")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *demo {
		r = node.DemoRegisters(node.DemoResidents)
	}
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL, MaxConns: 8})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := node.Migrate(ctx, pool, cfg.Logger); err != nil {
		return err
	}
	// A full-size seed runs for half a minute: rows done, rate and time
	// left go to stderr (a bar on a terminal), the result to stdout.
	prog := newProgress(stderr, "seed", "rows", r.ExpectedRows())
	r.Progress, r.ProgressEvery = prog.Set, 250*time.Millisecond
	rep, err := node.SeedRegisters(ctx, pool, r, cfg.Logger)
	if err != nil {
		prog.Stop()
		return err
	}
	prog.Finish(rep.Rows())
	if rep.Rows() == 0 {
		fmt.Fprintln(stdout, "registers already hold data; nothing seeded (seed into a fresh database)")
		return nil
	}
	fmt.Fprintln(stdout, "seeded", rep)
	return nil
}
