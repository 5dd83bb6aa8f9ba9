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
	"time"

	"govx/adapters/population"
	"govx/catalog"
	"govx/internal/auth"
)

// BenchResult is what one bench run measured.
type BenchResult struct {
	Lookups     int
	Errors      int
	Elapsed     time.Duration
	P50, P99    time.Duration
	Max         time.Duration
	PeakRSS     int64
	Concurrency int
}

func (r BenchResult) PerSecond() float64 { return float64(r.Lookups) / r.Elapsed.Seconds() }

// Bench runs authorised population lookups against url at the given
// concurrency for d, each for a random existing demo resident.
func Bench(ctx context.Context, url, token string, concurrency int, d time.Duration, residents int) (BenchResult, error) {
	gen := population.NewGenerator(DemoSeed)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}, Timeout: 30 * time.Second}
	endpoint := url + "/v1/resources/population.identity/query"
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var firstErr string
	var wg sync.WaitGroup
	start := time.Now()
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			local := make([]time.Duration, 0, 4096)
			localErrs := 0
			for ctx.Err() == nil {
				body := fmt.Sprintf(`{"key":%q,"fields":["name","birth_date","status"],"purpose":"bench"}`, gen.IDNumber(rng.IntN(residents)))
				req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "POST", endpoint, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					localErrs++
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += localErrs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res := BenchResult{Lookups: len(lat), Errors: errs, Elapsed: time.Since(start), Concurrency: concurrency}
	if len(lat) == 0 {
		return res, fmt.Errorf("no lookup succeeded (%d errors, first: %s)", errs, firstErr)
	}
	slices.Sort(lat)
	res.P50, res.P99, res.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	res.PeakRSS = scrapePeakRSS(url)
	return res, nil
}

func scrapePeakRSS(url string) int64 {
	resp, err := http.Get(url + "/metrics")
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

func runBench(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	url := fs.String("url", "http://"+cfg.HTTPAddr, "exchange API of a running govx (make run)")
	conc := fs.Int("concurrency", 32, "lookups in flight")
	dur := fs.Duration("duration", 20*time.Second, "how long to run")
	warm := fs.Duration("warmup", 2*time.Second, "warm-up before measuring")
	residents := fs.Int("residents", DemoResidents, "demo residents in the register")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := loadKey(cfg.DataDir)
	if err != nil {
		return err
	}
	tok, err := key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: "svc:bench", Dept: catalog.DeptServiceCenter,
		Role: "service", Scopes: []string{population.ResourceIdentity}, TTL: *dur + *warm + time.Minute})
	if err != nil {
		return err
	}
	if *warm > 0 {
		if _, err := Bench(ctx, *url, tok, *conc, *warm, *residents); err != nil {
			return fmt.Errorf("warm-up: %w (is 'make run' running, with the same data folder %s?)", err, cfg.DataDir)
		}
	}
	res, err := Bench(ctx, *url, tok, *conc, *dur, *residents)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"lookups": res.Lookups, "errors": res.Errors, "seconds": res.Elapsed.Seconds(), "per_second": res.PerSecond(),
			"p50_ms": ms(res.P50), "p99_ms": ms(res.P99), "max_ms": ms(res.Max), "server_peak_rss_bytes": res.PeakRSS,
			"concurrency": res.Concurrency})
	}
	host, _ := os.Hostname()
	fmt.Fprintf(stdout, "govx bench: %d authorised population lookups in %.1fs at %d in flight (%s, %d CPUs, %s)\n",
		res.Lookups, res.Elapsed.Seconds(), res.Concurrency, host, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(stdout, "  lookups/s   %.0f\n  p50         %.2f ms\n  p99         %.2f ms\n  max         %.2f ms\n  errors      %d\n  server peak RSS %.1f MiB\n",
		res.PerSecond(), ms(res.P50), ms(res.P99), ms(res.Max), res.Errors, float64(res.PeakRSS)/(1<<20))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
