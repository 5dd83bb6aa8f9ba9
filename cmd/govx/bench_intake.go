package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"govx/casework"
	"govx/catalog"
	"govx/internal/auth"
	"govx/node"
)

// benchIntakeItem is the item `govx bench-intake` opens: a food business
// licence renewal, whose intake verifies three materials through the
// exchange (the company's registration, its representative's identity
// and the current licence, with its issuer seal).
const benchIntakeItem = "food-business-renewal"

// intakeResult is what one intake run measured.
type intakeResult struct {
	Cases         int
	Errors        int
	FirstError    string
	Elapsed       time.Duration
	P50, P95, P99 time.Duration
	Max           time.Duration
	Concurrency   int
}

func (r intakeResult) PerSecond() float64 { return float64(r.Cases) / r.Elapsed.Seconds() }

// benchIntake opens n renewal cases through POST /v1/cases at url, as the
// clerk whose token it is, with concurrency in flight, each for a random
// one of applicants. Only answers 201 with all three verifications done
// count; the run stops at n requests or after limit.
func benchIntake(ctx context.Context, url, token string, concurrency, n int, limit time.Duration, applicants []node.IntakeApplicant) (intakeResult, error) {
	endpoint := url + "/v1/cases"
	run := runLoad(ctx, concurrency, limit, n, 11, &http.Transport{}, func(rng *rand.Rand) *http.Request {
		a := applicants[rng.IntN(len(applicants))]
		body, _ := json.Marshal(casework.OpenInput{Item: benchIntakeItem, LicenceNumber: a.Licence.Number,
			Applicant: casework.Party{USCC: a.Company.USCC, Company: a.Company.Name, RepIDNumber: a.Company.RepresentativeID,
				RepName: a.Company.LegalRepresentative}})
		req, _ := http.NewRequest("POST", endpoint, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		return req
	})
	res := intakeResult{Cases: len(run.lat), Errors: run.errors, FirstError: run.firstErr, Elapsed: run.elapsed, Concurrency: concurrency}
	if len(run.lat) == 0 {
		return res, fmt.Errorf("no case opened (%d errors, first: %s)", run.errors, run.firstErr)
	}
	res.P50, res.P95, res.P99, res.Max = run.at(50), run.at(95), run.at(99), run.lat[len(run.lat)-1]
	return res, nil
}

// checkIntake opens one case and insists that its three verifications
// went through the exchange: a run that measured failed verifications
// would measure the wrong thing.
func checkIntake(ctx context.Context, url, token string, a node.IntakeApplicant) error {
	body, _ := json.Marshal(casework.OpenInput{Item: benchIntakeItem, LicenceNumber: a.Licence.Number,
		Applicant: casework.Party{USCC: a.Company.USCC, RepIDNumber: a.Company.RepresentativeID}})
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/v1/cases", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /v1/cases: %d %s", resp.StatusCode, raw)
	}
	var c casework.Case
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	for _, code := range []string{"company_registration", "representative_identity", "current_licence"} {
		if m := c.Material(code); m == nil || m.State != casework.Verified {
			return fmt.Errorf("case %s: %s is not verified: %+v", c.ID, code, m)
		}
	}
	return nil
}

func runBenchIntake(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("bench-intake", flag.ContinueOnError)
	url := fs.String("url", "http://"+cfg.HTTPAddr, "exchange API of a running govx up (make run)")
	conc := fs.Int("concurrency", 8, "intakes in flight")
	n := fs.Int("cases", 1000, "cases to open")
	warm := fs.Int("warmup", 50, "cases opened before measuring")
	limit := fs.Duration("max-duration", 10*time.Minute, "stop after this long, however many cases are open")
	residents := fs.Int("residents", node.DemoResidents, "demo residents in the register (as govx up --residents)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conc < 1 || *n < 1 || *warm < 0 {
		return fmt.Errorf("bench-intake: --concurrency and --cases must be positive")
	}
	key, err := node.LoadKey(cfg.DataDir)
	if err != nil {
		return err
	}
	tok, err := key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: "clerk:bench", Dept: catalog.DeptServiceCenter,
		Role: casework.RoleClerk, TTL: *limit + 10*time.Minute})
	if err != nil {
		return err
	}
	applicants, err := node.IntakeApplicants(*residents, 500, time.Now())
	if err != nil {
		return err
	}
	hint := fmt.Sprintf("(is 'govx up' running at %s, with the data folder %s and --residents %d?)", *url, cfg.DataDir, *residents)
	if err := checkIntake(ctx, *url, tok, applicants[0]); err != nil {
		return fmt.Errorf("%w %s", err, hint)
	}
	if *warm > 0 {
		if _, err := benchIntake(ctx, *url, tok, *conc, *warm, *limit, applicants); err != nil {
			return fmt.Errorf("warm-up: %w %s", err, hint)
		}
	}
	res, err := benchIntake(ctx, *url, tok, *conc, *n, *limit, applicants)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"cases": res.Cases, "errors": res.Errors, "first_error": res.FirstError, "seconds": res.Elapsed.Seconds(),
			"per_second": res.PerSecond(), "p50_ms": ms(res.P50), "p95_ms": ms(res.P95), "p99_ms": ms(res.P99), "max_ms": ms(res.Max),
			"concurrency": res.Concurrency, "item": benchIntakeItem})
	}
	host, _ := os.Hostname()
	fmt.Fprintf(stdout, "govx bench-intake: %d %s cases opened (3 verifications each) in %.1fs at %d in flight (%s, %d CPUs, %s)\n",
		res.Cases, benchIntakeItem, res.Elapsed.Seconds(), res.Concurrency, host, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(stdout, "  cases/s     %.1f\n  p50         %.2f ms\n  p95         %.2f ms\n  p99         %.2f ms\n  max         %.2f ms\n  errors      %d\n",
		res.PerSecond(), ms(res.P50), ms(res.P95), ms(res.P99), ms(res.Max), res.Errors)
	if res.Errors > 0 {
		fmt.Fprintf(stdout, "  first error %s\n", res.FirstError)
	}
	return nil
}
