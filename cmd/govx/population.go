package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"govx/adapters/population"
	"govx/node"
)

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
