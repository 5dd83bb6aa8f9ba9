package licence_test

import (
	"context"
	"testing"

	"govx/adapters/licence"
	"govx/internal/postgres/postgrestest"
)

const benchLicences = 300_000

// BenchmarkSeed loads 300,000 licences into an empty register and reports
// rows/s: "signing" makes and seals every licence while the rows stream
// (one signer per CPU), "presigned" streams licences whose seals
// Generator.Presign made beforehand, which is the COPY's own rate. Run it
// with -benchtime=1x.
func BenchmarkSeed(b *testing.B) {
	b.Run("signing", func(b *testing.B) { benchSeed(b, mustGenerator(b)) })
	b.Run("presigned", func(b *testing.B) {
		g := mustGenerator(b)
		g.Presign(0, benchLicences)
		benchSeed(b, g)
	})
}

func benchSeed(b *testing.B, g *licence.Generator) {
	var total float64
	for b.Loop() {
		b.StopTimer()
		store := licence.NewStore(postgrestest.NewMigrated(b, licence.MigrationSource()), nil)
		b.StartTimer()
		if got, err := store.Seed(context.Background(), g, 0, benchLicences); err != nil || got != benchLicences {
			b.Fatalf("Seed = %d, %v", got, err)
		}
		total += benchLicences
	}
	b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkSeal is the cost of making and sealing one licence.
func BenchmarkSeal(b *testing.B) {
	g := mustGenerator(b)
	i := 0
	for b.Loop() {
		g.Licence(i % licence.Capacity)
		i++
	}
}

// BenchmarkPresign is Presign's cost per licence, all CPUs together.
func BenchmarkPresign(b *testing.B) {
	g := mustGenerator(b)
	b.ReportAllocs()
	for b.Loop() {
		g.Presign(0, 10_000)
	}
	b.ReportMetric(float64(b.N*10_000)/b.Elapsed().Seconds(), "seals/s")
}
