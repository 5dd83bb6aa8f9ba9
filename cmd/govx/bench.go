package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"govx/adapters/population"
	"govx/catalog"
	"govx/consent"
	"govx/internal/auth"
	"govx/node"
)

// benchResult is what one bench run measured.
type benchResult struct {
	Lookups     int
	Errors      int
	FirstError  string
	Elapsed     time.Duration
	P50, P99    time.Duration
	Max         time.Duration
	PeakRSS     int64
	Concurrency int
}

func (r benchResult) PerSecond() float64 { return float64(r.Lookups) / r.Elapsed.Seconds() }

// benchPurpose is the purpose of the bench's lookups and of the consents
// it records for them.
const benchPurpose = "bench"

// bench runs authorised population lookups against url at the given
// concurrency for d or n lookups (0: no limit), whichever ends first, each
// for a random resident of subjects. Personal
// fields are asked for when personal is set (the residents must have
// consented: benchConsents), else only fields needing no consent.
func bench(ctx context.Context, url, token string, concurrency int, d time.Duration, n int, subjects []string, personal bool, rate float64) (benchResult, error) {
	return benchAt(ctx, url+"/v1/resources/population.identity/query", token, concurrency, d, n, subjects, personal, rate)
}

// benchAt is bench against endpoint, which takes the exchange's query body.
func benchAt(ctx context.Context, endpoint, token string, concurrency int, d time.Duration, n int, subjects []string, personal bool, rate float64) (benchResult, error) {
	fields := benchFields(personal)
	run := runLoad(ctx, concurrency, d, n, 7, &http.Transport{}, paced(rate, func(rng *rand.Rand) *http.Request {
		body := fmt.Sprintf(`{"key":%q,"fields":%s,"purpose":%q}`, subjects[rng.IntN(len(subjects))], fields, benchPurpose)
		req, _ := http.NewRequest("POST", endpoint, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		return req
	}))
	res := benchResult{Lookups: len(run.lat), Errors: run.errors, FirstError: run.firstErr, Elapsed: run.elapsed, Concurrency: concurrency}
	if len(run.lat) == 0 {
		return res, fmt.Errorf("no lookup succeeded (%d errors, first: %s)", run.errors, run.firstErr)
	}
	res.P50, res.P99, res.Max = run.at(50), run.at(99), run.lat[len(run.lat)-1]
	return res, nil
}

// loadRun is what a closed-loop load run measured: the latencies of the
// requests answered 200 (or 201, for what they create), sorted, and the
// others.
type loadRun struct {
	lat      []time.Duration
	errors   int
	firstErr string
	elapsed  time.Duration
}

// at is the p-th percentile latency; lat must not be empty.
func (r loadRun) at(p int) time.Duration { return r.lat[min(len(r.lat)-1, len(r.lat)*p/100)] }

// runLoad keeps concurrency requests in flight for d, or until n requests
// have been sent when n > 0, each worker making its next request with next
// from its own random source (seeded by its number and seed), over one
// client on transport.
func runLoad(ctx context.Context, concurrency int, d time.Duration, n int, seed uint64, transport *http.Transport, next func(*rand.Rand) *http.Request) loadRun {
	transport.MaxIdleConnsPerHost, transport.MaxConnsPerHost = concurrency, concurrency
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu   sync.Mutex
		run  loadRun
		wg   sync.WaitGroup
		sent atomic.Int64
	)
	start := time.Now()
	for w := range concurrency {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), seed))
			local := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				if n > 0 && sent.Add(1) > int64(n) {
					break
				}
				req := next(rng) // before the clock starts: paced() may wait here
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					if run.errors++; run.firstErr == "" {
						run.firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			run.lat = append(run.lat, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	run.elapsed = time.Since(start)
	slices.Sort(run.lat)
	return run
}

func benchFields(personal bool) string {
	if personal {
		return `["name","birth_date","status"]`
	}
	return `["status","division_code"]`
}

// benchOnce looks up each of subjects once, concurrency at a time.
func benchOnce(ctx context.Context, url, token string, concurrency int, subjects []string, personal bool) error {
	return forEach(concurrency, subjects, func(s string) error {
		body := fmt.Sprintf(`{"key":%q,"fields":%s,"purpose":%q}`, s, benchFields(personal), benchPurpose)
		return postExpect(ctx, url+"/v1/resources/population.identity/query", token, body, http.StatusOK)
	})
}

// benchConsents records, as the service center's clerk, each subject's
// consent to the bench's lookups for the next d, 16 at a time.
func benchConsents(ctx context.Context, url, clerkToken string, subjects []string, d time.Duration) error {
	until := time.Now().Add(d).UTC().Format(time.RFC3339)
	return forEach(16, subjects, func(s string) error {
		body := fmt.Sprintf(`{"subject":%q,"purpose_code":%q,"purpose":"load benchmark","valid_until":%q,`+
			`"resources":[{"resource":"population.identity","fields":["name","birth_date","status"]}]}`, s, benchPurpose, until)
		return postExpect(ctx, url+"/v1/consents", clerkToken, body, http.StatusCreated)
	})
}

// forEach calls do for each item, n at a time, and stops handing out
// items at the first error, which it returns.
func forEach(n int, items []string, do func(string) error) error {
	work := make(chan string)
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for it := range work {
				if err := do(it); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for _, it := range items {
		select {
		case work <- it:
		case err = <-errc:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return err
}

// postExpect posts a JSON body and insists on the status want.
func postExpect(ctx context.Context, url, token, body string, want int) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, msg)
	}
	return nil
}

// scrapePeakRSS reads the server's peak RSS from its /metrics, which
// needs an operator's token.
func scrapePeakRSS(url, token string) int64 {
	req, err := http.NewRequest("GET", url+"/metrics", nil)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range bytes.Split(b, []byte("\n")) {
		var v float64
		if n, _ := fmt.Sscanf(string(line), "process_resident_memory_peak_bytes %g", &v); n == 1 {
			return int64(v)
		}
	}
	return 0
}

func runBench(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	url := fs.String("url", "http://"+cfg.HTTPAddr, "exchange API of a running govx (make run)")
	conc := fs.Int("concurrency", 32, "lookups in flight")
	dur := fs.Duration("duration", 20*time.Second, "how long to run")
	warm := fs.Duration("warmup", 2*time.Second, "warm-up before measuring")
	residents := fs.Int("residents", node.DemoResidents, "demo residents in the register")
	nsubjects := fs.Int("subjects", 5000, "residents looked up (each first records its consent)")
	personal := fs.Bool("consent", true, "ask for personal fields, under the residents' consent; false asks only fields that need none")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	fed := fs.Bool("federation", false, "against 'make run-federation': same-node and cross-node household lookups, alternating")
	rounds := fs.Int("rounds", 3, "with --federation or --baseline: rounds of one run of each")
	rate := fs.Float64("rate", 0, "lookups started per second at most, across all in flight (an open-loop load, as for a soak); 0: as fast as answered")
	baseline := fs.Bool("baseline", false, "against 'govx up --baseline': the direct lookup and the exchange's, alternating, with the server's CPU per lookup")
	pid := fs.Int("pid", 0, "with --baseline: the server's process id, for its CPU time (default: found by the URL's port)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *fed {
		return runBenchFederation(ctx, cfg, *url, *conc, *dur, *warm, *rounds, *asJSON, stdout)
	}
	runs := 1
	if *baseline {
		var err error
		if *pid, err = serverPID(*url, *pid); err != nil {
			return err
		}
		runs = 2 * *rounds
	}
	key, err := node.LoadKey(cfg.DataDir)
	if err != nil {
		return err
	}
	tok, err := key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: "svc:bench", Dept: catalog.DeptServiceCenter,
		Role: "service", Scopes: []string{population.ResourceIdentity}, TTL: time.Duration(runs)*(*dur+*warm) + time.Minute})
	if err != nil {
		return err
	}
	gen := population.NewGenerator(node.DemoSeed)
	subjects := make([]string, min(*nsubjects, *residents))
	for i := range subjects {
		subjects[i] = gen.IDNumber(i * (*residents / len(subjects)))
	}
	if *personal {
		clerk, err := key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: "clerk:bench", Dept: catalog.DeptServiceCenter,
			Role: consent.RoleClerk, TTL: 10 * time.Minute})
		if err != nil {
			return err
		}
		start := time.Now()
		if err := benchConsents(ctx, *url, clerk, subjects, time.Duration(runs)*(*dur+*warm)+10*time.Minute); err != nil {
			return fmt.Errorf("%w (is 'make run' running, with the same data folder %s?)", err, cfg.DataDir)
		}
		if !*asJSON {
			fmt.Fprintf(stdout, "recorded %d consents in %.1fs\n", len(subjects), time.Since(start).Seconds())
		}
	}
	// Every subject is looked up once before measuring, so each run starts
	// from the same state: the provider's rows and the exchange's caches
	// warm, as they are for a working window.
	if err := benchOnce(ctx, *url, tok, *conc, subjects, *personal); err != nil {
		return fmt.Errorf("warm-up: %w (is 'make run' running, with the same data folder %s?)", err, cfg.DataDir)
	}
	if *baseline {
		rep, err := benchBaseline(ctx, *url, tok, *conc, *dur, *warm, *rounds, subjects, *personal, *pid, func(round int, what string, r baselineRun) {
			if !*asJSON {
				fmt.Fprintf(stdout, "round %d %-6s %6.0f lookups/s  p50 %6.2f ms  p99 %6.2f ms  server CPU %.3f ms/lookup  errors %d %s\n", round, what,
					r.PerSecond(), ms(r.P50), ms(r.P99), float64(r.CPUPerLookup().Nanoseconds())/1e6, r.Errors, r.FirstError)
			}
		})
		if err != nil {
			return fmt.Errorf("%w (is 'govx up --baseline' running, with the same data folder %s?)", err, cfg.DataDir)
		}
		return printBaseline(stdout, rep, *dur, *personal, *asJSON)
	}
	if *warm > 0 {
		if _, err := bench(ctx, *url, tok, *conc, *warm, 0, subjects, *personal, *rate); err != nil {
			return fmt.Errorf("warm-up: %w (is 'make run' running, with the same data folder %s?)", err, cfg.DataDir)
		}
	}
	res, err := bench(ctx, *url, tok, *conc, *dur, 0, subjects, *personal, *rate)
	if err != nil {
		return err
	}
	if op, err := key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: "operator:bench",
		Role: node.RoleOperator, TTL: time.Minute}); err == nil {
		res.PeakRSS = scrapePeakRSS(*url, op)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"lookups": res.Lookups, "errors": res.Errors, "seconds": res.Elapsed.Seconds(), "per_second": res.PerSecond(),
			"p50_ms": ms(res.P50), "p99_ms": ms(res.P99), "max_ms": ms(res.Max), "server_peak_rss_bytes": res.PeakRSS,
			"concurrency": res.Concurrency, "consent": *personal})
	}
	host, _ := os.Hostname()
	what := "personal fields, each under the resident's consent"
	if !*personal {
		what = "fields that need no consent"
	}
	fmt.Fprintf(stdout, "govx bench: %d authorised population lookups (%s) in %.1fs at %d in flight (%s, %d CPUs, %s)\n",
		res.Lookups, what, res.Elapsed.Seconds(), res.Concurrency, host, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(stdout, "  lookups/s   %.0f\n  p50         %.2f ms\n  p99         %.2f ms\n  max         %.2f ms\n  errors      %d\n  server peak RSS %.1f MiB\n",
		res.PerSecond(), ms(res.P50), ms(res.P99), ms(res.Max), res.Errors, float64(res.PeakRSS)/(1<<20))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
