package main

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"flag"
	"fmt"
	"io"

	"govx/adapters"
	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/postgres"
	"govx/node"
	"govx/schemas"
)

// registerTool opens what a department's own register tools need: its
// database and a codec that knows the event envelope and every embedded
// record schema. A change made through one publishes its event through the
// department's outbox; the running adapter's relay sends it to the bus.
func registerTool(ctx context.Context, cfg node.Config) (*avro.Codec, *pgxpool.Pool, error) {
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL})
	if err != nil {
		return nil, nil, err
	}
	codec := avro.NewCodec(catalog.NewStore(pool))
	if err := schemas.RegisterAll(ctx, codec); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return codec, pool, nil
}

const legalEntityUsage = "govx legal-entity deregister|revoke <uscc> --reason TEXT"

// runLegalEntity is the market regulation department's register tool.
func runLegalEntity(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	if len(args) < 2 || (args[0] != "deregister" && args[0] != "revoke") {
		return usageError("%s", legalEntityUsage)
	}
	reason, err := reasonFlag("legal-entity "+args[0], args[2:])
	if err != nil {
		return fmt.Errorf("%w\n%w", err, usageError("%s", legalEntityUsage))
	}
	codec, pool, err := registerTool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := legalentity.NewStore(pool, legalentity.NewOutbox(pool, codec, cfg.Logger))
	change := store.Deregister
	if args[0] == "revoke" {
		change = store.Revoke
	}
	c, err := change(ctx, args[1], reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s is now %s; event queued for %s\n", c.USCC, c.Name, c.Status, legalentity.ResourceStatus)
	return nil
}

const licenceUsage = "govx licence revoke <licence-number> --reason TEXT"

// runLicence is the licensing department's register tool.
func runLicence(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	if len(args) < 2 || args[0] != "revoke" {
		return usageError("%s", licenceUsage)
	}
	reason, err := reasonFlag("licence revoke", args[2:])
	if err != nil {
		return fmt.Errorf("%w\n%w", err, usageError("%s", licenceUsage))
	}
	codec, pool, err := registerTool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	outbox := adapters.NewOutbox(pool, licence.Schema, licence.Department, codec, cfg.Logger)
	l, err := licence.NewStore(pool, outbox).Revoke(ctx, args[1], reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%s, held by %s) is now %s; event %s queued for %s\n", l.Number, l.Type, l.HolderName,
		l.Status, licence.EventRevoked, licence.Resource(l.Type))
	return nil
}

// reasonFlag parses the --reason every register change must give.
func reasonFlag(name string, args []string) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	reason := fs.String("reason", "", "why (travels in the event)")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if *reason == "" || fs.NArg() > 0 {
		return "", fmt.Errorf("give the reason with --reason")
	}
	return *reason, nil
}

const populationUsage = "govx population set-status <id-number> <normal|moved_out|deceased> --reason TEXT"

// runPopulation is the population department's own register tools: a
// change made here publishes its event through the department's outbox
// (the running adapter's relay sends it to the bus).
func runPopulation(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	if len(args) < 3 || args[0] != "set-status" {
		return usageError("%s", populationUsage)
	}
	id, status := args[1], args[2]
	fs := flag.NewFlagSet("population set-status", flag.ContinueOnError)
	reason := fs.String("reason", "", "why the status changes (travels in the event)")
	if err := fs.Parse(args[3:]); err != nil {
		return err
	}
	if *reason == "" || fs.NArg() > 0 {
		return usageError("%s", populationUsage)
	}
	codec, pool, err := registerTool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := population.NewStore(pool)
	r, err := store.SetStatus(ctx, store.Outbox(codec, cfg.Logger), id, status, *reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s is now %s; event %s queued for %s\n", r.IDNumber, r.Name, r.Status,
		population.EventStatusChanged, population.ResourceIdentity)
	return nil
}
