package main

import (
	"context"
	"testing"
	"time"

	"govx/adapters/population"
	"govx/internal/auth"
)

// BenchmarkLookup runs authorised population lookups through the whole
// in-process stack (HTTP, JWT, catalogue in Redis, Kafka request/reply,
// adapter, PostgreSQL, audit ledger) at 32 in flight for the benchmark
// time, reporting lookups/s, p50 and p99. `govx bench` does the same
// against a running `govx up`.
func BenchmarkLookup(b *testing.B) {
	cfg := testConfig(b)
	cfg.Residents = 5000
	m := NewMain(cfg)
	if err := m.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	tok, err := m.Key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: "svc:bench", Dept: "service-center",
		Scopes: []string{population.ResourceIdentity}, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Bench(context.Background(), m.URL(), tok, 32, time.Second, cfg.Residents); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	res, err := Bench(context.Background(), m.URL(), tok, 32, 5*time.Second, cfg.Residents)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(res.PerSecond(), "lookups/s")
	b.ReportMetric(ms(res.P50), "p50-ms")
	b.ReportMetric(ms(res.P99), "p99-ms")
	b.ReportMetric(float64(res.Errors), "errors")
}
