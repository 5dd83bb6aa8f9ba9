package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"govx/internal/auth"
	"govx/internal/postgres"
	"govx/internal/ratelimit"
	"govx/internal/splitmix"
	"govx/node"
	"govx/openapi/apikeys"
)

// benchOpenDataset is the dataset `govx bench-open` queries.
const benchOpenDataset = "bench-air-quality"

var benchOpenDistricts = []string{"Futian", "Nanshan", "Luohu", "Baoan", "Longgang", "Yantian", "Longhua", "Pingshan"}

// benchOpenCSV streams rows synthetic readings: 8 districts, 5000 stations,
// pm25 from 0.0 to 299.9, all independent of each other.
func benchOpenCSV(rows int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		b := make([]byte, 0, 128<<10)
		b = append(b, "id,station,district,measured_on,pm25,valid\n"...)
		for i := range rows {
			// Columns drawn from independent bits of a hash of the row, so
			// that no filter value correlates with another column's order.
			h := splitmix.Hash(uint64(i))
			pm := (h >> 8) % 3000
			b = fmt.Appendf(b, "%d,ST%04d,%s,2026-%02d-%02d,%d.%d,%t\n", i, (h>>20)%5000, benchOpenDistricts[h%8],
				1+(h>>40)%12, 1+(h>>48)%28, pm/10, pm%10, (h>>56)%13 != 0)
			if len(b) > 64<<10 {
				if _, err := pw.Write(b); err != nil {
					return
				}
				b = b[:0]
			}
		}
		pw.Write(b)
		pw.Close()
	}()
	return pr
}

// openBenchResult is what one page run measured.
type openBenchResult struct {
	Pages, Errors int
	NotModified   int
	Elapsed       time.Duration
	P50, P95, P99 time.Duration
	Max           time.Duration
	FirstError    string
}

func (r openBenchResult) PerSecond() float64 { return float64(r.Pages) / r.Elapsed.Seconds() }

// benchOpenPages asks for 100-row pages of the benchmark dataset filtered
// by a district and a lower pm25 bound drawn at random (2,400 distinct
// queries), sorted by pm25 descending, at concurrency for d.
func benchOpenPages(ctx context.Context, base, apiKey string, concurrency int, d time.Duration) openBenchResult {
	run := runLoad(ctx, concurrency, d, 0, uint64(time.Now().UnixNano()), &http.Transport{DisableCompression: true}, func(rng *rand.Rand) *http.Request {
		q := url.Values{"filter": {"district:eq:" + benchOpenDistricts[rng.IntN(len(benchOpenDistricts))],
			"pm25:gte:" + strconv.Itoa(rng.IntN(300))}, "sort": {"-pm25"}, "limit": {"100"}}
		req, _ := http.NewRequest("GET", base+"/open/v1/datasets/"+benchOpenDataset+"/records?"+q.Encode(), nil)
		req.Header.Set("X-API-Key", apiKey)
		return req
	})
	res := openBenchResult{Pages: len(run.lat), Errors: run.errors, Elapsed: run.elapsed, FirstError: run.firstErr}
	if len(run.lat) > 0 {
		res.P50, res.P95, res.P99, res.Max = run.at(50), run.at(95), run.at(99), run.lat[len(run.lat)-1]
	}
	return res
}

// exportResult is what the export run measured.
type exportResult struct {
	Bytes                        int64
	Elapsed                      time.Duration
	RSSBefore, RSSPeak, RSSAfter int64 // bytes; 0 when the server's process is unknown
}

// benchOpenExport downloads the full CSV export while sampling the server
// process's resident memory.
func benchOpenExport(ctx context.Context, base, apiKey string, pid int) (exportResult, error) {
	var res exportResult
	res.RSSBefore = rssOf(pid)
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		p := res.RSSBefore
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				peak <- p
				return
			case <-t.C:
				p = max(p, rssOf(pid))
			}
		}
	}()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/open/v1/datasets/"+benchOpenDataset+"/export?format=csv", nil)
	req.Header.Set("X-API-Key", apiKey)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err == nil {
		res.Bytes, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("export: status %d", resp.StatusCode)
		}
	}
	res.Elapsed = time.Since(t0)
	close(done)
	res.RSSPeak = <-peak
	time.Sleep(500 * time.Millisecond)
	res.RSSAfter = rssOf(pid)
	return res, err
}

// rssOf reads VmRSS of pid in bytes; 0 if unknown.
func rssOf(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// listenerPID finds the local process listening on TCP port, through
// /proc/net/tcp{,6} and the processes' open sockets; 0 if none is visible.
func listenerPID(port int) int {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "0A" { // LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if p, err := hex.DecodeString(hexPort); ok && err == nil && len(p) == 2 && int(p[0])<<8|int(p[1]) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
		fh.Close()
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd")
	for _, dir := range procs {
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && inodes[l] {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
				return pid
			}
		}
	}
	return 0
}

// ensureBenchDataset publishes the benchmark dataset through the API when
// the running program does not have it yet.
func ensureBenchDataset(ctx context.Context, base string, key *auth.Key, rows int, stdout, stderr io.Writer) error {
	resp, err := http.Get(base + "/open/v1/datasets/" + benchOpenDataset)
	if err != nil {
		return err
	}
	var d struct {
		Rows        int64  `json:"rows"`
		Description string `json:"description"`
	}
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK && d.Rows == int64(rows) && strings.Contains(d.Description, "(generator 3)") {
		return nil
	}
	const dept = node.DemoOpenPublisher
	tok, err := key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: "svc:bench-open", Dept: dept, Role: "service", TTL: time.Hour})
	if err != nil {
		return err
	}
	call := func(method, path, ctype string, body io.Reader) error {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, body)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(msg))
		}
		return nil
	}
	meta := `{"title":"Benchmark air-quality readings","description":"Synthetic readings for govx bench-open (generator 3).","theme":"environment","licence":"CC-BY-4.0"}`
	if err := call("PUT", "/open/v1/datasets/"+benchOpenDataset, "application/json", strings.NewReader(meta)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "uploading %d rows to %s ...\n", rows, benchOpenDataset)
	t0 := time.Now()
	// The POST answers only once every row is in and indexed: the server's
	// progress, polled meanwhile, says how far it has got.
	prog := newProgress(stderr, "upload", "rows", int64(rows))
	pctx, stop := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		followUpload(pctx, base, tok, prog)
	}()
	// The publisher declares the index its readers' usual query needs:
	// district equality, then pm25 order.
	err = call("POST", "/open/v1/datasets/"+benchOpenDataset+"/versions?index=district,pm25", "text/csv", benchOpenCSV(rows))
	stop()
	<-polled
	if err != nil {
		prog.Stop()
		return err
	}
	prog.Finish(int64(rows))
	fmt.Fprintf(stdout, "  uploaded in %.1fs\n", time.Since(t0).Seconds())
	return nil
}

// followUpload reports the server's progress of the benchmark dataset's
// upload to prog, polling its status every half second until ctx ends.
func followUpload(ctx context.Context, base, tok string, prog *progress) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	phase := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/open/v1/datasets/"+benchOpenDataset+"/upload", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var p struct {
			Phase string `json:"phase"`
			Rows  int64  `json:"rows"`
		}
		ok := resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&p) == nil
		resp.Body.Close()
		if !ok || ctx.Err() != nil {
			continue // not started yet, or over
		}
		prog.Set(p.Rows)
		if p.Phase != phase && p.Phase == "indexing" {
			prog.Phase("building indexes")
		}
		phase = p.Phase
	}
}

// benchKey registers a key in the database, the way `govx apikey` does,
// with a limit far above what the run can reach, so the middleware is in
// the measured path but never refuses.
func benchKey(ctx context.Context, cfg node.Config) (string, error) {
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL, MaxConns: 2})
	if err != nil {
		return "", err
	}
	defer pool.Close()
	store := apikeys.NewStore(pool)
	k, secret, err := store.Create(ctx, apikeys.Registration{Name: "govx bench-open", Email: "bench@localhost.localdomain", Purpose: "load test"})
	if err != nil {
		return "", err
	}
	if _, err := store.SetLimit(ctx, k.ID, apikeys.TierRegistered, &ratelimit.Limit{Rate: 1_000_000, Period: time.Second, Burst: 1_000_000}); err != nil {
		return "", err
	}
	return k.ID + "." + secret, nil
}

func runBenchOpen(ctx context.Context, cfg node.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-open", flag.ContinueOnError)
	base := fs.String("url", "http://"+cfg.HTTPAddr, "a running govx up")
	conc := fs.Int("concurrency", 32, "pages in flight")
	dur := fs.Duration("duration", 20*time.Second, "how long to ask for pages")
	warm := fs.Duration("warmup", 3*time.Second, "warm-up before measuring")
	rows := fs.Int("rows", 1_000_000, "rows of the benchmark dataset")
	pid := fs.Int("pid", 0, "the server's process id for RSS (default: found by the URL's port)")
	export := fs.Bool("export", true, "time a full CSV export too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*base)
	if err != nil {
		return err
	}
	if *pid == 0 {
		_, p, _ := net.SplitHostPort(u.Host)
		port, _ := strconv.Atoi(p)
		*pid = listenerPID(port)
	}
	key, err := node.LoadKey(cfg.DataDir)
	if err != nil {
		return err
	}
	if err := ensureBenchDataset(ctx, *base, key, *rows, stdout, stderr); err != nil {
		return fmt.Errorf("benchmark dataset: %w (is 'govx up' running with data folder %s?)", err, cfg.DataDir)
	}
	apiKey, err := benchKey(ctx, cfg)
	if err != nil {
		return err
	}
	if *warm > 0 {
		benchOpenPages(ctx, *base, apiKey, *conc, *warm)
	}
	r := benchOpenPages(ctx, *base, apiKey, *conc, *dur)
	host, _ := os.Hostname()
	fmt.Fprintf(stdout, "govx bench-open: %d filtered 100-row pages in %.1fs at %d in flight (%s, %d CPUs, %s)\n",
		r.Pages, r.Elapsed.Seconds(), *conc, host, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(stdout, "  pages/s     %.0f\n  p50         %.2f ms\n  p95         %.2f ms\n  p99         %.2f ms\n  max         %.2f ms\n  errors      %d\n",
		r.PerSecond(), ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max), r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(stdout, "  first error %s\n", r.FirstError)
	}
	if r.Pages == 0 {
		return errors.New("no page succeeded")
	}
	if !*export {
		return nil
	}
	e, err := benchOpenExport(ctx, *base, apiKey, *pid)
	if err != nil {
		return err
	}
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(stdout, "full CSV export: %.1f MiB in %.2fs\n", mib(e.Bytes), e.Elapsed.Seconds())
	if *pid > 0 {
		fmt.Fprintf(stdout, "  server RSS (pid %d): before %.1f MiB, peak %.1f MiB (+%.1f), after %.1f MiB\n",
			*pid, mib(e.RSSBefore), mib(e.RSSPeak), mib(e.RSSPeak-e.RSSBefore), mib(e.RSSAfter))
	} else {
		fmt.Fprintln(stdout, "  server RSS unknown: pass --pid")
	}
	return nil
}
