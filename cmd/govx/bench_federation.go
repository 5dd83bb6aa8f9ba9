package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"govx/adapters/population"
	"govx/catalog"
	"govx/internal/auth"
	"govx/node"
)

// benchFederationFields are the household fields the cross-node bench asks
// for: covered by Guangzhou's grants to its own service center and to
// Dongguan's, and personal to no one, so no consent decides the numbers.
var benchFederationFields = []string{"division_code", "household_no"}

// runBenchFederation is `govx bench --federation`: against a running
// `govx up --federation`, household lookups of Guangzhou's register asked
// at Guangzhou itself (same node) and at Dongguan (cross node, routed
// through Guangdong), alternating, the same residents and fields, at the
// same concurrency.
func runBenchFederation(ctx context.Context, cfg node.Config, base string, conc int, d, warm time.Duration, rounds int, asJSON bool, stdout io.Writer) error {
	u, err := neturl.Parse(base)
	if err != nil || u.Port() == "" {
		return usageError("govx bench --federation --url http://HOST:PORT (the province's; the cities are on the next two ports)")
	}
	port, _ := strconv.Atoi(u.Port())
	urls := map[string]string{}
	toks := map[string]string{}
	for i, dn := range node.DemoFederation {
		urls[dn.Name] = fmt.Sprintf("%s://%s:%d", u.Scheme, u.Hostname(), port+i)
		key, err := node.LoadKey(filepath.Join(cfg.DataDir, "federation", dn.Name))
		if err != nil {
			return err
		}
		if toks[dn.Name], err = key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: "svc:bench",
			Dept: catalog.DeptServiceCenter, Role: "service", Scopes: []string{catalog.DemoHousehold},
			TTL: time.Duration(rounds)*2*(d+warm) + 5*time.Minute}); err != nil {
			return err
		}
	}
	gz := node.DemoFederation[2]
	gen := population.NewGenerator(node.DemoSeed)
	subjects := make([]string, gz.Residents)
	for i := range subjects {
		subjects[i] = gen.IDNumber(i)
	}
	fields, _ := json.Marshal(benchFederationFields)
	// Residents without a household of their own answer 404: the bench
	// looks up only those that answer, found by asking Guangzhou once.
	sameURL := urls["guangzhou"] + "/v1/resources/" + catalog.DemoHousehold + "/query"
	found := subjects[:0]
	for _, s := range subjects {
		body := fmt.Sprintf(`{"key":%q,"fields":%s,"purpose":%q}`, s, fields, benchPurpose)
		if postExpect(ctx, sameURL, toks["guangzhou"], body, http.StatusOK) == nil {
			found = append(found, s)
		}
	}
	if len(found) == 0 {
		return fmt.Errorf("no household of Guangzhou's register answered at %s (is 'make run-federation' running with the data folder %s?)", sameURL, cfg.DataDir)
	}
	subjects = found
	load := func(url, tok string, d time.Duration) (benchResult, error) {
		run := runLoad(ctx, conc, d, 0, 11, &http.Transport{}, func(rng *rand.Rand) *http.Request {
			body := fmt.Sprintf(`{"key":%q,"fields":%s,"purpose":%q}`, subjects[rng.IntN(len(subjects))], fields, benchPurpose)
			req, _ := http.NewRequest("POST", url, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			return req
		})
		res := benchResult{Lookups: len(run.lat), Errors: run.errors, FirstError: run.firstErr, Elapsed: run.elapsed, Concurrency: conc}
		if len(run.lat) == 0 {
			return res, fmt.Errorf("no lookup succeeded (%d errors, first: %s; is 'make run-federation' running with the data folder %s?)",
				run.errors, run.firstErr, cfg.DataDir)
		}
		res.P50, res.P99, res.Max = run.at(50), run.at(99), run.lat[len(run.lat)-1]
		return res, nil
	}
	same := urls["guangzhou"] + "/v1/resources/" + catalog.DemoHousehold + "/query"
	cross := urls["dongguan"] + "/v1/nodes/guangzhou/resources/" + catalog.DemoHousehold + "/query"
	var sums [2]benchResult
	for r := range rounds {
		for i, c := range []struct{ url, tok string }{{same, toks["guangzhou"]}, {cross, toks["dongguan"]}} {
			if warm > 0 {
				if _, err := load(c.url, c.tok, warm); err != nil {
					return err
				}
			}
			res, err := load(c.url, c.tok, d)
			if err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(stdout, "round %d %-10s %6.0f lookups/s  p50 %6.2f ms  p99 %6.2f ms  errors %d %s\n", r+1,
					[]string{"same-node", "cross-node"}[i], res.PerSecond(), ms(res.P50), ms(res.P99), res.Errors, res.FirstError)
			}
			s := &sums[i]
			s.Lookups += res.Lookups
			s.Errors += res.Errors
			s.Elapsed += res.Elapsed
			s.P50 = max(s.P50, res.P50)
			s.P99 = max(s.P99, res.P99)
		}
	}
	ratio := sums[1].PerSecond() / sums[0].PerSecond()
	if asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"same_node_per_second": sums[0].PerSecond(), "cross_node_per_second": sums[1].PerSecond(), "ratio": ratio,
			"same_node_p99_ms": ms(sums[0].P99), "cross_node_p99_ms": ms(sums[1].P99), "concurrency": conc, "rounds": rounds})
	}
	host, _ := os.Hostname()
	fmt.Fprintf(stdout, "govx bench --federation: household lookups of Guangzhou's register, %d in flight, %d rounds of %s each (%s, %d CPUs, %s)\n",
		conc, rounds, d, host, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(stdout, "  same node  (at Guangzhou)                       %6.0f lookups/s  worst p50 %.2f ms  worst p99 %.2f ms\n",
		sums[0].PerSecond(), ms(sums[0].P50), ms(sums[0].P99))
	fmt.Fprintf(stdout, "  cross node (at Dongguan, through Guangdong)     %6.0f lookups/s  worst p50 %.2f ms  worst p99 %.2f ms\n",
		sums[1].PerSecond(), ms(sums[1].P50), ms(sums[1].P99))
	fmt.Fprintf(stdout, "  cross/same  %.2f\n", ratio)
	return nil
}
