package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"govx/adapters/population"
	"govx/exchange/ledger"
	"govx/node"
)

// runUp is `govx up`: everything in one node, with the embedded broker and
// the demo data, and a banner that tells a newcomer what to try.
func runUp(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data folder (signing key, embedded broker's log)")
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "listen address of the exchange API")
	fs.IntVar(&cfg.KafkaPort, "kafka-port", 19092, "port of the embedded Kafka-protocol broker on 127.0.0.1")
	fs.IntVar(&cfg.Residents, "residents", node.DemoResidents, "demo residents to seed into an empty register")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "how long a query waits for the provider")
	fs.DurationVar(&cfg.CheckpointInterval, "checkpoint-interval", ledger.DefaultCheckpointInterval, "how often the audit chain head is signed")
	fs.BoolVar(&cfg.Baseline, "baseline", false, "also serve the benchmark-only direct lookup "+population.DirectPath+" (govx bench --baseline)")
	fed := fs.Bool("federation", false, "a province and two cities: three linked nodes, on --http's port and the next two")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.EmbeddedKafka, cfg.KafkaBrokers = true, nil
	if *fed {
		cfg.DemoLogin = true
		return runFederationUp(ctx, cfg, stdout)
	}
	cfg.Migrate, cfg.Demo, cfg.Exchange, cfg.Casework = true, true, true, true
	cfg.DemoLogin = true // the demo's one-click sign-in, from this computer only; never in govx exchange
	// The demo identity provider at /idp/, which the online service hall
	// signs residents and companies in through; never in govx exchange,
	// which takes the government's provider (GOVX_OIDC_ISSUER).
	cfg.DemoIdP = true
	cfg.Adapters = node.ReferenceAdapters
	return serve(ctx, cfg, func(n *node.Node) {
		demo, err := n.SeedDemoUse(ctx)
		if err != nil {
			fmt.Fprintf(stdout, "warning: %v\n", err)
		}
		printBanner(stdout, n, cfg, demo)
		printWindow(stdout, n, demo)
	})
}

// runExchange is `govx exchange`: the exchange, its HTTP APIs and the case
// workflow, on brokers, a database and Redis run elsewhere.
func runExchange(ctx context.Context, cfg node.Config, args []string, _, _ io.Writer) error {
	fs := flag.NewFlagSet("exchange", flag.ContinueOnError)
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "listen address of the exchange API")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "how long a query waits for the provider")
	fs.DurationVar(&cfg.CheckpointInterval, "checkpoint-interval", ledger.DefaultCheckpointInterval, "how often the audit chain head is signed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Exchange, cfg.Casework = true, true
	return serve(ctx, cfg, func(n *node.Node) {
		cfg.Logger.Info("exchange API listening", "url", n.URL(), "brokers", n.Brokers)
	})
}

// runAdapter is `govx adapter DEPARTMENT`: one department's reference
// adapter alone.
func runAdapter(ctx context.Context, cfg node.Config, args []string, _, stderr io.Writer) error {
	if len(args) < 1 || !slices.Contains(node.ReferenceAdapters, args[0]) {
		return usageError("govx adapter %s [--ops addr]", strings.Join(node.ReferenceAdapters, "|"))
	}
	fs := flag.NewFlagSet("adapter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.OpsAddr, "ops", env("GOVX_OPS_ADDR", "127.0.0.1:9090"), "listen address of the adapter's /healthz and /metrics")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg.Adapters = []string{args[0]}
	return serve(ctx, cfg, func(n *node.Node) {
		cfg.Logger.Info("adapter running", "department", args[0], "brokers", n.Brokers, "ops", n.OpsURL())
	})
}

// serve runs a node until ctx ends.
func serve(ctx context.Context, cfg node.Config, ready func(*node.Node)) error {
	n := node.New(cfg)
	if _, err := n.Start(ctx); err != nil {
		return err
	}
	ready(n)
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	return n.Close()
}
