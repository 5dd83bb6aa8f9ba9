package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"govx"
	"govx/adapters"
	"govx/catalog"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/postgres"
	"govx/node"
)

const auditUsage = `usage: govx audit <command> [flags]

  verify [--checkpoint FILE]...   check the hash chain and every signed checkpoint;
                                  with --checkpoint also a checkpoint kept outside
                                  the database (from 'checkpoint --export')
  verify --proof FILE             check a proof offline (no database, no network);
                                  with --data also that the exchange's key signed it
  proof REQUEST_ID                print the proof of a query's audit entry (JSON):
                                  the entry, its chain to the nearest signed
                                  checkpoint, the provider's reply signature
  checkpoint [--export]           sign the chain head now; with --export print the
                                  latest checkpoint as a JSON artefact to keep
  list [--resource R] [--consumer D] [--since TIME] [--before SEQ] [--limit N]
                                  recent entries, newest first, ID numbers masked
  provider-log --department D [--limit N]
                                  the department's own log of the requests its
                                  adapter answered or refused, newest first

  --data DIR    data folder holding the exchange's signing key (GOVX_DATA)
`

// runAudit is `govx audit`.
func runAudit(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 {
		return errors.New(auditUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data folder holding the exchange's signing key")
	switch sub {
	case "verify":
		var kept []string
		fs.Func("checkpoint", "a kept checkpoint artefact (JSON) to verify against; may be repeated", func(s string) error {
			kept = append(kept, s)
			return nil
		})
		proof := fs.String("proof", "", "a proof artefact (JSON) to check offline")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if *proof != "" {
			if len(kept) > 0 {
				return fmt.Errorf("--proof and --checkpoint do not go together\n%s", auditUsage)
			}
			return auditVerifyProof(cfg, *proof, fs, stdout)
		}
		return auditVerify(ctx, cfg, kept, stdout)
	case "proof":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return fmt.Errorf("audit proof needs a REQUEST_ID\n%s", auditUsage)
		}
		id := args[0]
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		return auditProof(ctx, cfg, id, stdout)
	case "checkpoint":
		export := fs.Bool("export", false, "print the latest checkpoint as a JSON artefact instead of taking one")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		return auditCheckpoint(ctx, cfg, *export, stdout)
	case "provider-log":
		dept := fs.String("department", "", "the department whose log to print: "+strings.Join(node.ReferenceAdapters, ", "))
		limit := fs.Int("limit", 50, "entries to print, at most 1000")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		schema, ok := node.DepartmentSchemas[*dept]
		if !ok {
			return usageError("govx audit provider-log --department %s [--limit N]", strings.Join(node.ReferenceAdapters, "|"))
		}
		return auditProviderLog(ctx, cfg, schema, *limit, stdout)
	case "list":
		var f ledger.Filter
		var since string
		fs.StringVar(&f.Resource, "resource", "", "only entries for this resource code")
		fs.StringVar(&f.Consumer, "consumer", "", "only entries from this consumer department")
		fs.StringVar(&since, "since", "", "only entries at or after this time (RFC 3339, or a duration ago such as 1h)")
		fs.Int64Var(&f.Before, "before", 0, "only entries with a lower seq (paging)")
		fs.IntVar(&f.Limit, "limit", ledger.DefaultLimit, fmt.Sprintf("entries to print, at most %d", ledger.MaxLimit))
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if since != "" {
			t, err := parseSince(since, time.Now())
			if err != nil {
				return err
			}
			f.Since = t
		}
		if f.Limit <= 0 || f.Limit > ledger.MaxLimit {
			return fmt.Errorf("--limit must be 1 to %d", ledger.MaxLimit)
		}
		return auditList(ctx, cfg, f, stdout)
	default:
		return errors.New(auditUsage)
	}
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, auditUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), auditUsage)
	}
	return nil
}

// parseSince reads an RFC 3339 time or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither an RFC 3339 time nor a duration such as 1h", s)
}

func auditVerify(ctx context.Context, cfg node.Config, keptFiles []string, stdout io.Writer) error {
	vc := ledger.VerifyConfig{}
	key, err := node.LoadKey(cfg.DataDir)
	if err != nil {
		return err
	}
	vc.Keys = []*auth.Key{auth.PublicKey(key.Public)}
	for _, name := range keptFiles {
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		c, err := ledger.ParseCheckpoint(data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		vc.Kept = append(vc.Kept, *c)
	}
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL})
	if err != nil {
		return err
	}
	defer pool.Close()
	rep, err := ledger.VerifyWith(ctx, pool, vc)
	if err != nil {
		return err
	}
	if rep.Broken != nil {
		fmt.Fprintf(stdout, "audit ledger BROKEN at entry %d: %s (%d entries checked)\n", rep.Broken.Seq, rep.Broken.Reason, rep.Checked)
		return errors.New("audit chain broken")
	}
	fmt.Fprintf(stdout, "audit ledger intact: %d entries, chain head at %d\n", rep.Checked, rep.HeadSeq)
	if rep.Checkpoints == 0 {
		fmt.Fprintln(stdout, "no signed checkpoints yet: only the hash chain vouches for the entries")
	} else {
		fmt.Fprintf(stdout, "%d signed checkpoints verified under key %s; signatures vouch for entries up to %d\n",
			rep.CheckpointsVerified, key.ID, rep.LastCheckpoint)
	}
	if len(vc.Kept) > 0 {
		fmt.Fprintf(stdout, "%d kept checkpoints verified: nothing at or before them changed\n", rep.KeptVerified)
	}
	return nil
}

func auditCheckpoint(ctx context.Context, cfg node.Config, export bool, stdout io.Writer) error {
	key, err := node.LoadKey(cfg.DataDir)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL})
	if err != nil {
		return err
	}
	defer pool.Close()
	if !export {
		cp, err := ledger.NewCheckpointer(ledger.CheckpointConfig{Pool: pool, Key: key, Logger: cfg.Logger})
		if err != nil {
			return err
		}
		c, err := cp.Checkpoint(ctx)
		if err != nil {
			return err
		}
		if c == nil {
			fmt.Fprintln(stdout, "the chain head has not moved since the last checkpoint (or the ledger is empty); none taken")
			return nil
		}
		fmt.Fprintf(stdout, "checkpoint signed at entry %d (key %s)\n", c.Seq, c.KeyID)
		return nil
	}
	c, err := ledger.LatestCheckpoint(ctx, pool)
	if err != nil {
		return err
	}
	// The artefact carries the public key, so an auditor needs nothing
	// else; that it is the exchange's key shows by its kid in the JWKS.
	if c.KeyID == key.ID {
		c.PublicKey = key.Public
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}

// auditProof prints the proof of requestID's audit entry, taking a
// checkpoint first when none covers the entry yet.
func auditProof(ctx context.Context, cfg node.Config, requestID string, stdout io.Writer) error {
	key, err := node.LoadKey(cfg.DataDir)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL})
	if err != nil {
		return err
	}
	defer pool.Close()
	keys := node.BusKeySource(catalog.NewStore(pool))
	p, err := ledger.ExportProof(ctx, pool, requestID, keys, key)
	if govx.ErrorCode(err) == ledger.CodeProofNoCheckpoint {
		cp, cerr := ledger.NewCheckpointer(ledger.CheckpointConfig{Pool: pool, Key: key, Logger: cfg.Logger})
		if cerr != nil {
			return cerr
		}
		if _, cerr := cp.Checkpoint(ctx); cerr != nil {
			return cerr
		}
		p, err = ledger.ExportProof(ctx, pool, requestID, keys, key)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// auditVerifyProof checks a proof file offline. With --data given, the
// checkpoint must be signed by the exchange's key kept there; without, by
// the key the proof carries, which the auditor compares with the
// exchange's published key.
func auditVerifyProof(cfg node.Config, name string, fs *flag.FlagSet, stdout io.Writer) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	p, err := ledger.ParseProof(data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var trusted []*auth.Key
	dataGiven := false
	fs.Visit(func(f *flag.Flag) { dataGiven = dataGiven || f.Name == "data" })
	if dataGiven {
		key, err := node.LoadKey(cfg.DataDir)
		if err != nil {
			return err
		}
		trusted = append(trusted, auth.PublicKey(key.Public))
	}
	rep, err := ledger.VerifyProof(p, trusted...)
	if err != nil {
		fmt.Fprintf(stdout, "proof INVALID: %s\n", govx.ErrorMessage(err))
		return fmt.Errorf("proof invalid (%s)", govx.ErrorCode(err))
	}
	fmt.Fprintf(stdout, "proof valid: audit entry %d (request %s, outcome %s)\n", rep.Seq, rep.RequestID, rep.Outcome)
	fmt.Fprintf(stdout, "chain recomputed through %d later entries to the checkpoint at entry %d, signed %s by key %s",
		rep.Links, rep.CheckpointSeq, rep.CheckpointSignedAt.Format(time.RFC3339), rep.CheckpointKeyID)
	if rep.CheckpointKeyTrusted {
		fmt.Fprintln(stdout, " (the exchange's key)")
	} else {
		fmt.Fprintln(stdout, " (carried by the proof: compare it with the exchange's published key)")
	}
	if rep.ProviderSigned {
		fmt.Fprintf(stdout, "provider %s signed the reply with digest %s (key %s, carried by the proof: compare it with the catalogue's)\n",
			rep.Provider, rep.ReplyDigest, rep.ProviderKeyID)
	} else {
		fmt.Fprintln(stdout, "the entry holds no provider signature (no signed reply was received)")
	}
	return nil
}

func auditList(ctx context.Context, cfg node.Config, f ledger.Filter, stdout io.Writer) error {
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL})
	if err != nil {
		return err
	}
	defer pool.Close()
	entries, err := ledger.List(ctx, pool, f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tAT\tCONSUMER\tCALLER\tRESOURCE\tKEY\tSUBJECT\tPURPOSE\tOUTCOME\tCODE\tRULE\tCONSENT")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.Format(time.RFC3339), cell(e.Consumer), cell(e.Caller),
			cell(e.Resource), cell(e.SubjectKey), cell(e.DataSubject), cell(e.Purpose), cell(e.Outcome), cell(e.Code), cell(e.Rule), cell(e.ConsentID))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n := len(entries); n > 0 && n == f.Limit && entries[n-1].Seq > 1 {
		fmt.Fprintf(stdout, "more: --before %d\n", entries[n-1].Seq)
	}
	return nil
}

// auditProviderLog prints a department's provider log: what its adapter
// answered and refused, as the department itself recorded it.
func auditProviderLog(ctx context.Context, cfg node.Config, schema string, limit int, stdout io.Writer) error {
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL})
	if err != nil {
		return err
	}
	defer pool.Close()
	entries, err := adapters.NewProviderLog(pool, schema).List(ctx, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tAT\tREQUEST\tCONSUMER\tCALLER\tRESOURCE\tKEY\tOUTCOME\tCODE\tSIGNED BY")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.Format(time.RFC3339), cell(e.RequestID), cell(e.Consumer),
			cell(e.Caller), cell(e.Resource), cell(e.SubjectKey), cell(e.Outcome), cell(e.Code), cell(e.SignerKeyID))
	}
	return tw.Flush()
}

// cell makes a value one table cell: a caller's text may hold tabs or
// newlines that would otherwise forge columns or rows.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
