package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"govx/internal/postgres/postgrestest"
)

// Off a terminal, progress is plain lines: rows done of the expected,
// percentage, rate and time left, then one line for the end.
func TestProgressPlainLines(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, "seed", "rows", 1000)
	if p.bar != nil {
		t.Fatal("a bar on a buffer")
	}
	p.every = 0 // a line on every update
	p.Set(250)
	p.Add(250)
	p.Set(100)  // going back is ignored
	p.Set(1200) // past the estimate: it grows
	p.Finish(1300)
	p.Set(1400) // after the end: nothing
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(lines), out.String())
	}
	for i, want := range []string{`^seed: 250/1000 rows \(25%\), \d+ rows/s, \S+ left$`, `^seed: 500/1000 rows \(50%\), `,
		`^seed: 1200/1200 rows \(100%\), `, `^seed: 1300 rows done in \S+ \(\d+ rows/s\)$`} {
		if !regexp.MustCompile(want).MatchString(lines[i]) {
			t.Errorf("line %d = %q, want %s", i, lines[i], want)
		}
	}
}

// govx seed, its output captured: the periodic lines on stderr count up
// towards the estimate, and the last says how many rows were loaded, the
// same number as the result on stdout.
func TestSeedProgress(t *testing.T) {
	t.Setenv("GOVX_POSTGRES_URL", postgrestest.NewURL(t))
	defer func(d time.Duration) { progressEvery = d }(progressEvery)
	progressEvery = time.Millisecond
	var out bytes.Buffer
	var errs lockedBuffer // the log and the progress lines share it
	err := run(context.Background(), []string{"seed", "--residents", "20000", "--companies", "2000", "--licences", "2000"}, &out, &errs)
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, errs.String())
	}
	m := regexp.MustCompile(`: (\d+) rows in `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("stdout %q", out.String())
	}
	var prev int64
	var last string
	periodic := regexp.MustCompile(`^seed: (\d+)/(\d+) rows \(\d+%\), \d+ rows/s, \S+ left$`)
	for _, l := range strings.Split(strings.TrimSpace(errs.String()), "\n") {
		if !strings.HasPrefix(l, "seed: ") {
			continue // the log
		}
		last = l
		if p := periodic.FindStringSubmatch(l); p != nil {
			n, _ := strconv.ParseInt(p[1], 10, 64)
			total, _ := strconv.ParseInt(p[2], 10, 64)
			if n < prev || total < max(n, 49600) { // 20000 residents, ~6400 households, ~19200 members, 4000 more
				t.Errorf("progress %q after %d: want rows not going back, of the 49600 expected or more", l, prev)
			}
			prev = n
		}
	}
	if want := "seed: " + m[1] + " rows done in "; !strings.HasPrefix(last, want) {
		t.Errorf("last progress line %q, want it to start %q\nstderr:\n%s", last, want, errs.String())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
