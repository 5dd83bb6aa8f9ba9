package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"govx/adapters/population"
	"govx/catalog"
	"govx/consent"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

// BenchmarkLookup runs b.N authorised population lookups through the
// whole in-process stack (HTTP, JWT, policy and consent caches, Kafka
// request/reply, adapter, PostgreSQL, audit ledger) at 32 in flight,
// reporting lookups/s, p50 and p99: once for personal fields under each
// resident's consent, once for fields that need none. A lookup that fails
// fails the benchmark.
// It runs on two nodes, one after the other: bus signatures on (as every
// real node runs) and off (node.Config.UnsignedBus), and logs what signing
// costs in throughput.
// `govx bench` does the same against a running `govx up`.
func BenchmarkLookup(b *testing.B) {
	rate := map[string]float64{}
	for _, signing := range []string{"signed", "unsigned"} {
		b.Run(signing, func(b *testing.B) { benchmarkLookupNode(b, signing == "unsigned", rate) })
	}
	for _, load := range []string{"consent", "no-personal-fields"} {
		on, off := rate["signed/"+load], rate["unsigned/"+load]
		if on > 0 && off > 0 {
			b.Logf("%s: %.0f lookups/s signed, %.0f unsigned: signing costs %.1f%%", load, on, off, 100*(1-on/off))
		}
	}
}

func benchmarkLookupNode(b *testing.B, unsigned bool, rate map[string]float64) {
	cfg := nodetest.Config(b)
	cfg.Residents = 5000
	cfg.UnsignedBus = unsigned
	m := node.New(cfg)
	if _, err := m.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	tok, err := m.Key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: "svc:bench", Dept: catalog.DeptServiceCenter,
		Scopes: []string{population.ResourceIdentity}, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	clerk, err := m.Key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: "clerk:bench", Dept: catalog.DeptServiceCenter,
		Role: consent.RoleClerk, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	gen := population.NewGenerator(node.DemoSeed)
	subjects := make([]string, 2000)
	for i := range subjects {
		subjects[i] = gen.IDNumber(i)
	}
	if err := benchConsents(context.Background(), m.URL(), clerk, subjects, time.Hour); err != nil {
		b.Fatal(err)
	}
	for _, personal := range []bool{false, true} {
		name := "consent"
		if !personal {
			name = "no-personal-fields"
		}
		b.Run(name, func(b *testing.B) {
			if _, err := bench(context.Background(), m.URL(), tok, 32, time.Minute, 500, subjects, personal, 0); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			res, err := bench(context.Background(), m.URL(), tok, 32, time.Hour, b.N, subjects, personal, 0)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if res.Errors > 0 || res.Lookups != b.N {
				b.Fatalf("%d of %d lookups answered, %d failed (first: %s)", res.Lookups, b.N, res.Errors, res.FirstError)
			}
			b.ReportMetric(res.PerSecond(), "lookups/s")
			key := "signed/" + name
			if unsigned {
				key = "unsigned/" + name
			}
			rate[key] = res.PerSecond() // the last (largest b.N) run counts
			b.ReportMetric(ms(res.P50), "p50-ms")
			b.ReportMetric(ms(res.P99), "p99-ms")
		})
	}
	req, _ := http.NewRequest("GET", m.URL()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+nodetest.Token(b, m.Key, auth.TokenSpec{Role: node.RoleOperator}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.Contains(line, "_cache_") && !strings.HasPrefix(line, "#") {
			b.Log(line)
		}
	}
}
