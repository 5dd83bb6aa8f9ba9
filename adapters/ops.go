package adapters

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"govx"
	"govx/internal/metrics"
)

// counters are a runtime's metrics by resource, for operators. A resource
// the runtime does not serve is counted as "none", so that what callers
// send cannot grow the label set.
type counters struct {
	mu         sync.Mutex
	requests   map[string]int64    // resource
	errors     map[[2]string]int64 // resource, kind
	deadLetter map[[2]string]int64 // resource, code
	refused    map[string]int64    // reason (a fixed set of codes)

	latency *metrics.Histogram

	inFlight        atomic.Int64
	publishRetries  atomic.Int64
	publishFailures atomic.Int64
}

var latencyBounds = []time.Duration{
	500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

func newCounters() counters {
	return counters{requests: map[string]int64{}, errors: map[[2]string]int64{}, deadLetter: map[[2]string]int64{},
		refused: map[string]int64{}, latency: metrics.NewHistogram(latencyBounds...)}
}

func label(resource string) string {
	if resource == "" {
		return "none"
	}
	return resource
}

func (m *counters) observe(resource string, d time.Duration) {
	m.mu.Lock()
	m.requests[label(resource)]++
	m.mu.Unlock()
	m.latency.Observe(d)
}

func (m *counters) countError(resource string, err error) {
	m.mu.Lock()
	m.errors[[2]string{label(resource), govx.ErrorKind(err).String()}]++
	m.mu.Unlock()
}

func (m *counters) countRefused(reason string) {
	m.mu.Lock()
	m.refused[reason]++
	m.mu.Unlock()
}

func (m *counters) countDeadLetter(resource, code string) {
	m.mu.Lock()
	m.deadLetter[[2]string{label(resource), code}]++
	m.mu.Unlock()
}

// WriteMetrics writes the runtimes' metrics in the Prometheus text format,
// one family at a time with a department label, so that several runtimes of
// one process (and an exchange's own metrics before them) share a page.
func WriteMetrics(w io.Writer, rts ...*Runtime) error {
	bw := bufio.NewWriter(w)
	type snap struct {
		dept       string
		requests   map[string]int64
		errors     map[[2]string]int64
		deadLetter map[[2]string]int64
		refused    map[string]int64
	}
	snaps := make([]snap, len(rts))
	for i, rt := range rts {
		m := &rt.metrics
		s := snap{dept: rt.cfg.Department, requests: map[string]int64{}, errors: map[[2]string]int64{}, deadLetter: map[[2]string]int64{},
			refused: map[string]int64{}}
		m.mu.Lock()
		for k, v := range m.refused {
			s.refused[k] = v
		}
		for k, v := range m.requests {
			s.requests[k] = v
		}
		for k, v := range m.errors {
			s.errors[k] = v
		}
		for k, v := range m.deadLetter {
			s.deadLetter[k] = v
		}
		m.mu.Unlock()
		snaps[i] = s
	}

	fmt.Fprintln(bw, "# HELP govx_adapter_requests_total Requests an adapter handled, by resource.")
	fmt.Fprintln(bw, "# TYPE govx_adapter_requests_total counter")
	for _, s := range snaps {
		for _, r := range sortedKeys(s.requests) {
			fmt.Fprintf(bw, "govx_adapter_requests_total{department=%q,resource=%q} %d\n", s.dept, r, s.requests[r])
		}
	}
	fmt.Fprintln(bw, "# HELP govx_adapter_errors_total Error replies an adapter sent, by resource and error kind.")
	fmt.Fprintln(bw, "# TYPE govx_adapter_errors_total counter")
	for _, s := range snaps {
		for _, k := range sortedPairs(s.errors) {
			fmt.Fprintf(bw, "govx_adapter_errors_total{department=%q,resource=%q,kind=%q} %d\n", s.dept, k[0], k[1], s.errors[k])
		}
	}
	fmt.Fprintln(bw, "# HELP govx_adapter_dead_letters_total Requests an adapter parked on its dead-letter topic, by resource and reason.")
	fmt.Fprintln(bw, "# TYPE govx_adapter_dead_letters_total counter")
	for _, s := range snaps {
		for _, k := range sortedPairs(s.deadLetter) {
			fmt.Fprintf(bw, "govx_adapter_dead_letters_total{department=%q,resource=%q,reason=%q} %d\n", s.dept, k[0], k[1], s.deadLetter[k])
		}
	}
	fmt.Fprintln(bw, "# HELP govx_adapter_refused_total Requests an adapter refused unanswered (unsigned, unknown key, tampered, expired, replayed, bad reply topic), by reason.")
	fmt.Fprintln(bw, "# TYPE govx_adapter_refused_total counter")
	for _, s := range snaps {
		for _, r := range sortedKeys(s.refused) {
			fmt.Fprintf(bw, "govx_adapter_refused_total{department=%q,reason=%q} %d\n", s.dept, r, s.refused[r])
		}
	}
	fmt.Fprintln(bw, "# HELP govx_adapter_request_seconds Time from taking a request to its answer being acknowledged.")
	fmt.Fprintln(bw, "# TYPE govx_adapter_request_seconds histogram")
	for _, rt := range rts {
		rt.metrics.latency.WriteText(bw, "govx_adapter_request_seconds", fmt.Sprintf("department=%q", rt.cfg.Department))
	}
	gauge := func(name, help, typ string, v func(*Runtime) int64) {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, rt := range rts {
			fmt.Fprintf(bw, "%s{department=%q} %d\n", name, rt.cfg.Department, v(rt))
		}
	}
	gauge("govx_adapter_in_flight", "Requests being handled now.", "gauge",
		func(rt *Runtime) int64 { return rt.metrics.inFlight.Load() })
	gauge("govx_adapter_consumer_running", "1 while the adapter consumes its request topic.", "gauge",
		func(rt *Runtime) int64 { return b2i(rt.Running()) })
	gauge("govx_adapter_publish_retries_total", "Replies and dead letters published again after a failure.", "counter",
		func(rt *Runtime) int64 { return rt.metrics.publishRetries.Load() })
	gauge("govx_adapter_publish_failures_total", "Replies and dead letters given up on; their requests are redelivered.", "counter",
		func(rt *Runtime) int64 { return rt.metrics.publishFailures.Load() })
	return bw.Flush()
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func sortedKeys(m map[string]int64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortedPairs(m map[[2]string]int64) [][2]string {
	ks := make([][2]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i][0] != ks[j][0] {
			return ks[i][0] < ks[j][0]
		}
		return ks[i][1] < ks[j][1]
	})
	return ks
}

//go:embed ops.openapi.json
var opsOpenAPIDoc []byte

// OpsOpenAPI returns the OpenAPI 3.1 document of NewOpsHandler's routes.
func OpsOpenAPI() []byte { return opsOpenAPIDoc }

// Check is one dependency /healthz probes, such as the department's
// database: Probe returns nil while it is reachable.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// NewOpsHandler serves operators of the runtimes of one process:
//
//	GET /healthz  200 {"status":"ok",...} while every runtime consumes and
//	              every check passes; otherwise 503 with "degraded" and
//	              what failed
//	GET /metrics  Prometheus text (WriteMetrics)
//	GET /openapi.json  the OpenAPI document of these routes (OpsOpenAPI)
//
// Each check gets 2 s.
func NewOpsHandler(rts []*Runtime, checks ...Check) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		type result struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		res := result{Status: "ok", Checks: map[string]string{}}
		for _, rt := range rts {
			name := "consumer:" + rt.cfg.Department
			if rt.Running() {
				res.Checks[name] = "ok"
			} else {
				res.Checks[name], res.Status = "stopped", "degraded"
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
				defer cancel()
				err := c.Probe(ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					res.Checks[c.Name], res.Status = "unavailable", "degraded"
				} else {
					res.Checks[c.Name] = "ok"
				}
			}()
		}
		wg.Wait()
		code := http.StatusOK
		if res.Status != "ok" {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(res)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		WriteMetrics(w, rts...)
	})
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(opsOpenAPIDoc)
	})
	return mux
}
