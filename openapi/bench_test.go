package openapi_test

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"govx/openapi"
)

// benchRows is the size of the benchmark dataset.
const benchRows = 1_000_000

var benchDistricts = []string{"Futian", "Nanshan", "Luohu", "Baoan", "Longgang", "Yantian", "Longhua", "Pingshan"}

// benchCSV streams benchRows readings.
func benchCSV() io.Reader {
	pr, pw := io.Pipe()
	go func() {
		var b strings.Builder
		b.WriteString("id,station,district,measured_on,pm25,valid\n")
		for i := range benchRows {
			fmt.Fprintf(&b, "%d,ST%04d,%s,2026-%02d-%02d,%d.%d,%t\n", i, i%5000, benchDistricts[i%8], 1+i%12, 1+i%28, i%300, i%10, i%13 != 0)
			if b.Len() > 64<<10 {
				io.WriteString(pw, b.String())
				b.Reset()
			}
		}
		io.WriteString(pw, b.String())
		pw.Close()
	}()
	return pr
}

func benchStore(b *testing.B) (*openapi.Store, *openapi.Version) {
	s := newStore(b)
	mustPut(b, s, "statistics", "bench")
	start := time.Now()
	v, err := s.Load(context.Background(), "statistics", "bench", nil, benchCSV())
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d rows in %v", v.Rows, time.Since(start))
	return s, v
}

// BenchmarkOpenData measures a 100-row filtered page under concurrency and
// a full CSV export of a 1,000,000-row dataset.
func BenchmarkOpenData(b *testing.B) {
	s, v := benchStore(b)
	b.Run("FilteredPage", func(b *testing.B) {
		var mu sync.Mutex
		var lat []time.Duration
		var n atomic.Int64
		b.SetParallelism(8) // 8 × GOMAXPROCS requests in flight
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				i := n.Add(1)
				q, err := openapi.ParseQuery(url.Values{"filter": {"district:eq:" + benchDistricts[i%8], fmt.Sprintf("pm25:gte:%d", i%250)},
					"sort": {"-pm25"}, "limit": {"100"}}, v.Columns)
				if err != nil {
					b.Error(err)
					return
				}
				t0 := time.Now()
				p, err := s.Records(context.Background(), "bench", 0, q, testKey)
				if err != nil || p.N == 0 {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		b.StopTimer()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		}
	})
	b.Run("ExportCSV", func(b *testing.B) {
		q, _ := openapi.ParseQuery(url.Values{}, v.Columns)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var written int64
		for b.Loop() {
			cw := &countWriter{}
			if err := s.Export(context.Background(), v, q, openapi.CSV, cw, func() {}); err != nil {
				b.Fatal(err)
			}
			written = cw.n
		}
		runtime.ReadMemStats(&after)
		if written != v.CSVBytes {
			b.Fatalf("exported %d bytes, recorded %d", written, v.CSVBytes)
		}
		b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-MB")
		b.SetBytes(written)
	})
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
