package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestHistogramText(t *testing.T) {
	for _, tc := range []struct {
		name, labels, want string
	}{
		{"no labels", "", `q_seconds_bucket{le="0.001"} 2
q_seconds_bucket{le="0.01"} 3
q_seconds_bucket{le="+Inf"} 4
q_seconds_sum 1.0065
q_seconds_count 4
`},
		{"labels", `department="tax"`, `q_seconds_bucket{department="tax",le="0.001"} 2
q_seconds_bucket{department="tax",le="0.01"} 3
q_seconds_bucket{department="tax",le="+Inf"} 4
q_seconds_sum{department="tax"} 1.0065
q_seconds_count{department="tax"} 4
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram(time.Millisecond, 10*time.Millisecond)
			// On a bound counts in its bucket; above the last, in +Inf.
			for _, d := range []time.Duration{500 * time.Microsecond, time.Millisecond, 5 * time.Millisecond, time.Second} {
				h.Observe(d)
			}
			var b strings.Builder
			if err := h.WriteText(&b, "q_seconds", tc.labels); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}
