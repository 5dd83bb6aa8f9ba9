package exchange

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"govx/internal/metrics"
)

// Metrics counts queries by status and their latency, for operators
// (Prometheus text format at /metrics).
type Metrics struct {
	mu       sync.Mutex
	byStatus map[int]int64
	latency  *metrics.Histogram
	gauges   map[string]func() float64
}

var latencyBounds = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

func NewMetrics() *Metrics {
	return &Metrics{byStatus: map[int]int64{}, latency: metrics.NewHistogram(latencyBounds...), gauges: map[string]func() float64{}}
}

// Gauge registers a value read at every scrape.
func (m *Metrics) Gauge(name string, f func() float64) {
	m.mu.Lock()
	m.gauges[name] = f
	m.mu.Unlock()
}

func (m *Metrics) observe(status int, d time.Duration) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.byStatus[status]++
	m.mu.Unlock()
	m.latency.Observe(d)
}

// ServeHTTP writes the metrics in the Prometheus text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	m.mu.Lock()
	statuses := make([]int, 0, len(m.byStatus))
	for s := range m.byStatus {
		statuses = append(statuses, s)
	}
	sort.Ints(statuses)
	fmt.Fprintln(bw, "# TYPE govx_exchange_queries_total counter")
	for _, s := range statuses {
		fmt.Fprintf(bw, "govx_exchange_queries_total{status=\"%d\"} %d\n", s, m.byStatus[s])
	}
	names := make([]string, 0, len(m.gauges))
	for n := range m.gauges {
		names = append(names, n)
	}
	sort.Strings(names)
	gauges := make(map[string]float64, len(names))
	for _, n := range names {
		gauges[n] = m.gauges[n]()
	}
	m.mu.Unlock()

	fmt.Fprintln(bw, "# TYPE govx_exchange_query_seconds histogram")
	m.latency.WriteText(bw, "govx_exchange_query_seconds", "")
	for _, n := range names {
		fmt.Fprintf(bw, "# TYPE %s gauge\n%s %g\n", n, n, gauges[n])
	}
	rss, peak := ProcessMemory()
	fmt.Fprintf(bw, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", rss)
	fmt.Fprintf(bw, "# TYPE process_resident_memory_peak_bytes gauge\nprocess_resident_memory_peak_bytes %d\n", peak)
}

// ProcessMemory reads this process's resident set size and its peak from
// /proc (zero where /proc is not there).
func ProcessMemory() (rss, peak int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var target *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			target = &rss
		case strings.HasPrefix(line, "VmHWM:"):
			target = &peak
		default:
			continue
		}
		fs := strings.Fields(line)
		if len(fs) >= 2 {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			*target = kb << 10
		}
	}
	return rss, peak
}
