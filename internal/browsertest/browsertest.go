// Package browsertest drives a real headless Chromium from tests, through
// the DevTools protocol (github.com/chromedp/chromedp), so that pages are
// tested with their JavaScript, CSS and cookies as a clerk's browser runs
// them.
//
// Chromium is Debian's /usr/bin/chromium (scripts/test.sh installs it) or
// the binary named by $GOVX_CHROMIUM. Screenshots go to $GOVX_ARTIFACTS/<test
// name>/, by default <repo root>/.govx/artifacts/<test name>/.
//
// Every helper fails the test on error and waits at most Timeout: the test
// machines are slow and shared, so the limit is generous and only a real
// hang reaches it.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Timeout bounds each helper's wait.
const Timeout = 30 * time.Second

// DefaultChromium is where Debian's chromium package puts the browser.
const DefaultChromium = "/usr/bin/chromium"

// Browser is one headless Chromium with one tab and a fresh profile.
type Browser struct {
	ctx       context.Context
	artifacts string

	mu     sync.Mutex
	errors []string // uncaught JavaScript exceptions
}

// New starts Chromium for t and closes it when t ends. It fails t, saying
// how to install Chromium, when there is none.
func New(t testing.TB) *Browser {
	t.Helper()
	path, err := chromiumPath()
	if err != nil {
		t.Fatalf("browsertest: %v\n\tinstall it with `apt-get install -y chromium` (scripts/test.sh does this when run as root),\n"+
			"\tor point GOVX_CHROMIUM at a Chrome or Chromium binary", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root, where the sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The users are in China: pages negotiate Chinese unless told otherwise.
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("accept-lang", "zh-CN,zh"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(func(string, ...any) {}))
	b := &Browser{ctx: ctx, artifacts: artifactsDir(t)}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, without a timeout (which would bound the
	// browser's life), so that a broken install fails here, clearly.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("browsertest: starting %s: %v", path, err)
	}
	err = chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			b.mu.Lock()
			b.errors = append(b.errors, exceptionText(e.ExceptionDetails))
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	t.Cleanup(func() {
		if errs := b.JSErrors(); len(errs) > 0 {
			t.Errorf("browsertest: uncaught JavaScript exceptions:\n\t%s", strings.Join(errs, "\n\t"))
		}
	})
	return b
}

func chromiumPath() (string, error) {
	if p := os.Getenv("GOVX_CHROMIUM"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("GOVX_CHROMIUM=%s is not an executable: %v", p, err)
		}
		return p, nil
	}
	if _, err := exec.LookPath(DefaultChromium); err != nil {
		return "", fmt.Errorf("no Chromium at %s", DefaultChromium)
	}
	return DefaultChromium, nil
}

// ArtifactsRoot is where screenshots go: $GOVX_ARTIFACTS, else
// <repo root>/.govx/artifacts.
func ArtifactsRoot() string {
	if d := os.Getenv("GOVX_ARTIFACTS"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join(os.TempDir(), "govx-artifacts")
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, ".govx", "artifacts")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, ".govx", "artifacts")
		}
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func artifactsDir(t testing.TB) string {
	return filepath.Join(ArtifactsRoot(), unsafeName.ReplaceAllString(t.Name(), "_"))
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "unknown exception"
	}
	msg := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		msg = d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d:%d)", msg, d.URL, d.LineNumber+1, d.ColumnNumber+1)
}

// JSErrors returns the uncaught JavaScript exceptions so far. New fails
// the test at its end if there are any.
func (b *Browser) JSErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// run runs steps within Timeout.
func (b *Browser) run(steps ...chromedp.Action[chromedp.Void]) error {
	_, err := runValue(b, chromedp.Steps(steps...))
	return err
}

// runValue runs one action that returns a value within Timeout.
func runValue[T any](b *Browser, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no result within %v: %w", Timeout, err)
	}
	return v, err
}

// Do runs chromedp steps, failing t on error.
func (b *Browser) Do(t testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := b.run(steps...); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
}

// Navigate opens url and waits for its body.
func (b *Browser) Navigate(t testing.TB, url string) {
	t.Helper()
	if err := b.run(chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		t.Fatalf("browsertest: navigate to %s: %v", url, err)
	}
}

// Fill clears the input sel and types text into it key by key, so that
// the page sees every input event a user's typing makes.
func (b *Browser) Fill(t testing.TB, sel, text string) {
	t.Helper()
	// chromedp.Clear empties the value attribute, not what the input
	// holds once typed into; clear the property instead.
	clear := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		ok, err := chromedp.Evaluate[bool](fmt.Sprintf(
			`(function(){var e=document.querySelector(%q);if(!e)return false;e.value="";return true})()`, sel))(ctx, tg)
		if err == nil && !ok {
			err = fmt.Errorf("no element %s", sel)
		}
		return err
	})
	err := b.run(
		chromedp.WaitVisible(chromedp.CSS(sel)),
		clear,
		chromedp.SendKeys(chromedp.CSS(sel), text),
	)
	if err != nil {
		t.Fatalf("browsertest: fill %s: %v", sel, err)
	}
}

// Click clicks the element sel once it is visible.
func (b *Browser) Click(t testing.TB, sel string) {
	t.Helper()
	if err := b.run(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("browsertest: click %s: %v", sel, err)
	}
}

// Text returns the visible text of the element sel.
func (b *Browser) Text(t testing.TB, sel string) string {
	t.Helper()
	s, err := runValue(b, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("browsertest: text of %s: %v", sel, err)
	}
	return s
}

// Attr returns the attribute name of the element sel, and whether it is
// set.
func (b *Browser) Attr(t testing.TB, sel, name string) (string, bool) {
	t.Helper()
	r, err := runValue(b, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		t.Fatalf("browsertest: attribute %s of %s: %v", name, sel, err)
	}
	return r.Value, r.Exists
}

// WaitText waits until the text of the element sel contains want, and
// returns that text.
func (b *Browser) WaitText(t testing.TB, sel, want string) string {
	t.Helper()
	var got string
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	for {
		// Poll rather than WaitVisible: the element may exist and be
		// empty before the text arrives.
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e?e.innerText:"\u0000"})()`, sel)))
		if err == nil && s != "\x00" {
			got = s
			if strings.Contains(s, want) {
				return s
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("browsertest: %s never contained %q within %v; last text %q", sel, want, Timeout, got)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Eval evaluates the JavaScript expression js in the page and decodes its
// JSON result as T.
func Eval[T any](t testing.TB, b *Browser, js string) T {
	t.Helper()
	v, err := runValue(b, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("browsertest: eval: %v", err)
	}
	return v
}

// Location returns the page's current URL.
func (b *Browser) Location(t testing.TB) string {
	t.Helper()
	u, err := runValue(b, chromedp.Location())
	if err != nil {
		t.Fatalf("browsertest: location: %v", err)
	}
	return u
}

// Screenshot saves a full-page PNG of the current page as name.png in the
// test's artifacts folder and returns its path. A screenshot that cannot be
// written fails the test: it is how a reviewer sees what the test saw.
func (b *Browser) Screenshot(t testing.TB, name string) string {
	t.Helper()
	png, err := runValue(b, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(b.artifacts, 0o755); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	path := filepath.Join(b.artifacts, unsafeName.ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	t.Logf("screenshot %s", path)
	return path
}

// ArtifactsDir is the folder this browser's screenshots go to.
func (b *Browser) ArtifactsDir() string { return b.artifacts }
