package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"govx/internal/postgres"
	"govx/internal/ratelimit"
	"govx/node"
	"govx/openapi/apikeys"
)

const apikeyUsage = `Usage: govx apikey <command> [flags]

  create     --name TEXT --email ADDR --purpose TEXT   prints the key once
  list       [--status active|revoked] [--email ADDR]
  revoke     ID
  set-limit  ID --tier anonymous|registered|partner [--rate N --per 1s|1m --burst N]
             (--rate 0 clears a key's own limit)

A new key starts in tier anonymous, with an anonymous caller's limit;
set-limit raises it.

Operator tools for the open-data API's keys; they talk to the database
directly (GOVX_POSTGRES_URL). A revoked key stops working on every API
instance within 5 seconds.
`

func runAPIKey(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stdout, apikeyUsage)
		return nil
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("apikey "+cmd, flag.ContinueOnError)
	var (
		name, email, purpose, status, tier string
		rate, burst                        int
		per                                time.Duration
	)
	switch cmd {
	case "create":
		fs.StringVar(&name, "name", "", "who the key is for")
		fs.StringVar(&email, "email", "", "contact address")
		fs.StringVar(&purpose, "purpose", "", "what the data will be used for")
	case "list":
		fs.StringVar(&status, "status", "", "active or revoked")
		fs.StringVar(&email, "email", "", "contact address")
	case "revoke":
	case "set-limit":
		fs.StringVar(&tier, "tier", apikeys.TierRegistered, "anonymous, registered or a configured tier (partner)")
		fs.IntVar(&rate, "rate", 0, "the key's own rate; 0 means the tier's")
		fs.DurationVar(&per, "per", time.Second, "the period of --rate")
		fs.IntVar(&burst, "burst", 0, "the key's own burst; default twice --rate")
	default:
		return fmt.Errorf("unknown apikey command %q\n%s", cmd, apikeyUsage)
	}
	var id string
	if cmd == "revoke" || cmd == "set-limit" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return usageError("govx apikey %s ID [flags]", cmd)
		}
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL, MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := postgres.Migrate(ctx, pool, apikeys.MigrationSource()); err != nil {
		return err
	}
	store := apikeys.NewStore(pool)
	switch cmd {
	case "create":
		k, secret, err := store.Create(ctx, apikeys.Registration{Name: name, Email: email, Purpose: purpose})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key id:     %s\nsecret:     %s\nX-API-Key:  %s.%s\n(the secret is not stored and cannot be shown again)\n", k.ID, secret, k.ID, secret)
		return nil
	case "list":
		ks, err := store.Keys(ctx, apikeys.Filter{Status: apikeys.Status(status), Email: email})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATUS\tTIER\tLIMIT\tNAME\tEMAIL\tCREATED")
		for _, k := range ks {
			lim := "tier"
			if k.Limit != nil {
				lim = k.Limit.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Status, k.Tier, lim, k.Name, k.Email, k.CreatedAt.Format(time.DateTime))
		}
		return tw.Flush()
	case "revoke":
		k, err := store.Revoke(ctx, id, "operator:cli")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s revoked at %s\n", k.ID, k.RevokedAt.Format(time.RFC3339))
		return nil
	default: // set-limit
		// The node's service runs with the default tiers.
		if _, ok := apikeys.DefaultTiers()[tier]; !ok && tier != apikeys.TierRegistered && tier != apikeys.TierAnonymous {
			return fmt.Errorf("tier %q is not configured (anonymous, registered, partner)", tier)
		}
		var lim *ratelimit.Limit
		if rate > 0 {
			if burst == 0 {
				burst = 2 * rate
			}
			lim = &ratelimit.Limit{Rate: rate, Period: per, Burst: burst}
		}
		k, err := store.SetLimit(ctx, id, tier, lim)
		if err != nil {
			return err
		}
		own := "the tier's limit"
		if k.Limit != nil {
			own = k.Limit.String()
		}
		fmt.Fprintf(stdout, "%s: tier %s, %s\n", k.ID, k.Tier, own)
		return nil
	}
}
