// Package metrics holds what the services' /metrics pages share: a latency
// histogram written in the Prometheus text exposition format. Each service
// keeps its own counters and names; only the histogram's arithmetic and
// text live here.
package metrics

import (
	"fmt"
	"io"
	"sort"
	"sync/atomic"
	"time"
)

// Histogram counts durations into buckets with fixed upper bounds and sums
// them. It is safe for concurrent use.
type Histogram struct {
	bounds []time.Duration
	counts []atomic.Int64 // counts[i]: bounds[i-1] < d <= bounds[i]; the last: above every bound
	sumNs  atomic.Int64
}

// NewHistogram returns a histogram with the given upper bounds, in
// increasing order.
func NewHistogram(bounds ...time.Duration) *Histogram {
	if !sort.SliceIsSorted(bounds, func(i, j int) bool { return bounds[i] < bounds[j] }) {
		panic("metrics: histogram bounds out of order")
	}
	return &Histogram{bounds: bounds, counts: make([]atomic.Int64, len(bounds)+1)}
}

// Observe counts d.
func (h *Histogram) Observe(d time.Duration) {
	i := sort.Search(len(h.bounds), func(i int) bool { return d <= h.bounds[i] })
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

// WriteText writes the histogram's samples in the Prometheus text format
// as the family name, in seconds: its cumulative buckets (name_bucket with
// le), name_sum and name_count. labels, when not "", are written into each
// sample's braces as given (e.g. `department="x"`). The family's # HELP and
// # TYPE lines are the caller's, since one family may hold several
// histograms told apart by labels.
func (h *Histogram) WriteText(w io.Writer, name, labels string) error {
	sep, braced := "", ""
	if labels != "" {
		sep, braced = labels+",", "{"+labels+"}"
	}
	var cum int64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		if _, err := fmt.Fprintf(w, "%s_bucket{%sle=\"%g\"} %d\n", name, sep, b.Seconds(), cum); err != nil {
			return err
		}
	}
	cum += h.counts[len(h.bounds)].Load()
	_, err := fmt.Fprintf(w, "%s_bucket{%sle=\"+Inf\"} %d\n%s_sum%s %g\n%s_count%s %d\n",
		name, sep, cum, name, braced, float64(h.sumNs.Load())/1e9, name, braced, cum)
	return err
}
