package main

import (
	"context"
	"testing"
	"time"

	"govx/casework"
	"govx/catalog"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

// BenchmarkIntake opens food business renewal cases through the case API
// of the whole in-process stack, 8 in flight: each intake records two
// consents and verifies three materials through the exchange in parallel
// (company registration, representative's identity, the current licence
// with its seal). It reports cases/s and p50/p95/p99. `govx bench-intake`
// does the same against a running `govx up`.
func BenchmarkIntake(b *testing.B) {
	cfg := nodetest.Config(b)
	cfg.Adapters = node.ReferenceAdapters
	m := node.New(cfg)
	if _, err := m.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	tok, err := m.Key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: "clerk:bench", Dept: catalog.DeptServiceCenter,
		Role: casework.RoleClerk, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	applicants, err := node.IntakeApplicants(cfg.Residents, 200, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := checkIntake(ctx, m.URL(), tok, applicants[0]); err != nil {
		b.Fatal(err)
	}
	if _, err := benchIntake(ctx, m.URL(), tok, 8, 40, time.Minute, applicants); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	res, err := benchIntake(ctx, m.URL(), tok, 8, b.N, time.Hour, applicants)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors > 0 || res.Cases != b.N {
		b.Fatalf("%d of %d intakes succeeded, %d failed (first: %s)", res.Cases, b.N, res.Errors, res.FirstError)
	}
	b.ReportMetric(res.PerSecond(), "cases/s")
	b.ReportMetric(ms(res.P50), "p50-ms")
	b.ReportMetric(ms(res.P95), "p95-ms")
	b.ReportMetric(ms(res.P99), "p99-ms")
}
