package consent_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"govx/adapters/population"
	"govx/consent"
)

// BenchmarkCacheCheck is the consent check in the exchange's hot path: a
// warm cache, 1,000 data subjects with two consents each. It reports the
// 99th percentile of single checks besides the mean.
func BenchmarkCacheCheck(b *testing.B) {
	e := newEnv(&testing.T{})
	ctx := context.Background()
	gen := population.NewGenerator(7)
	subjects := make([]string, 1000)
	for i := range subjects {
		subjects[i] = gen.Resident(i).IDNumber
		for _, caseID := range []string{"2026-000001", "2026-000123"} {
			r := identityRequest(subjects[i])
			r.CaseID = caseID
			if _, err := e.store.Create(ctx, clerk, r); err != nil {
				b.Fatal(err)
			}
		}
	}
	cache, err := consent.NewCache(consent.CacheConfig{Store: e.store, Redis: e.rdb})
	if err != nil {
		b.Fatal(err)
	}
	defer cache.Close()
	for !cache.Trusted() {
		time.Sleep(10 * time.Millisecond)
	}
	for _, s := range subjects {
		if _, err := cache.Check(ctx, need(s)); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := cache.Check(ctx, need(subjects[i%len(subjects)])); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "p99-µs")
}
