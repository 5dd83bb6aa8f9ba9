package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how a long command gets on: rows done, rate and time
// left. On a terminal it is a bar redrawn in place; anywhere else (a log,
// a pipe, CI) a plain line every few seconds, and one at the end, so that
// a captured run still says where it was. It is safe for concurrent use.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	what  string // "seed", "upload"
	unit  string // "rows"
	total int64  // expected; a count past it raises it
	start time.Time
	every time.Duration
	last  time.Time // of the last plain line
	done  int64
	phase string                   // a step that counts no units, once there
	bar   *progressbar.ProgressBar // nil: plain lines
	ended bool
}

// progressEvery is how often a plain progress line is printed (tests
// shorten it).
var progressEvery = 5 * time.Second

// newProgress reports to w, a bar when w is a terminal.
func newProgress(w io.Writer, what, unit string, total int64) *progress {
	p := &progress{w: w, what: what, unit: unit, total: max(total, 1), start: time.Now(), every: progressEvery}
	p.last = p.start
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(p.total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
		p.bar.Set64(0) // the rate counts from now
	}
	return p
}

// Set says n units are done.
func (p *progress) Set(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(n)
}

// Add says n more units are done.
func (p *progress) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(p.done + n)
}

func (p *progress) set(n int64) {
	if p.ended || n < p.done {
		return
	}
	p.done = n
	p.total = max(p.total, n)
	if p.bar != nil {
		// The bar completes only at Finish: all rows may be in while the
		// work goes on (an index build).
		if n >= p.total {
			p.bar.ChangeMax64(n + 1)
		}
		p.bar.Set64(n)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.line(now)
	}
}

// Phase says the work has moved on to a step that counts no units (an
// index build after the rows): the bar's label says so, or a plain line.
func (p *progress) Phase(what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended || p.phase == what {
		return
	}
	p.phase = what
	if p.bar != nil {
		p.bar.Describe(p.what + " (" + what + ")")
		return
	}
	p.last = time.Now()
	p.line(p.last)
}

// Stop ends the report of work that failed: the bar stays as it was, on
// a line of its own; a plain report says nothing more. Later calls do
// nothing.
func (p *progress) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	if p.bar != nil {
		p.bar.Exit() // its completion hook ends the line
	}
}

// Finish says the work ended with n units done: the bar is completed or
// a last plain line printed. Later calls do nothing.
func (p *progress) Finish(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.ended, p.done, p.total = true, n, max(n, 1)
	if p.bar != nil {
		p.bar.ChangeMax64(p.total)
		if n == 0 {
			p.bar.Exit() // nothing done: the bar stays as it is; its completion hook ends the line
			return
		}
		p.bar.Set64(n)
		p.bar.Finish() // completes the bar, which ends its line
		return
	}
	p.line(time.Now())
}

// line prints one plain progress line (p.mu held).
func (p *progress) line(now time.Time) {
	elapsed := now.Sub(p.start)
	rate := float64(p.done) / max(elapsed.Seconds(), 1e-3)
	if p.ended {
		fmt.Fprintf(p.w, "%s: %d %s done in %s (%.0f %s/s)\n", p.what, p.done, p.unit, elapsed.Round(100*time.Millisecond), rate, p.unit)
		return
	}
	if p.phase != "" {
		fmt.Fprintf(p.w, "%s: %d %s, %s, %s so far\n", p.what, p.done, p.unit, p.phase, elapsed.Round(time.Second))
		return
	}
	left := "unknown"
	if rate > 0 {
		left = (time.Duration(float64(p.total-p.done)/rate*float64(time.Second)) + time.Second/2).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "%s: %d/%d %s (%.0f%%), %.0f %s/s, %s left\n", p.what, p.done, p.total, p.unit,
		100*float64(p.done)/float64(p.total), rate, p.unit, left)
}
