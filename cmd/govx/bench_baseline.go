package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	neturl "net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"govx/adapters/population"
)

// baselineRun is one measured run of `govx bench --baseline`: the lookups
// and the server process's CPU time they took.
type baselineRun struct {
	benchResult
	CPU time.Duration // utime+stime of the server process over the run
}

// CPUPerLookup is the server's CPU time per answered lookup.
func (r baselineRun) CPUPerLookup() time.Duration {
	if r.Lookups == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Lookups)
}

// NetCPUPerLookup is CPUPerLookup less the server's CPU time when idle
// (idle per second of the run): what the lookups themselves cost. On a
// slow or busy machine the idle part is a large share of a slow run's.
func (r baselineRun) NetCPUPerLookup(idle time.Duration) time.Duration {
	if r.Lookups == 0 {
		return 0
	}
	return max(0, r.CPU-time.Duration(r.Elapsed.Seconds()*float64(idle))) / time.Duration(r.Lookups)
}

// baselineReport is what `govx bench --baseline` measured, summed over
// its rounds: the direct lookup and the exchange's.
type baselineReport struct {
	PID            int
	IdleCPU        time.Duration // the server's CPU time per second with no lookups
	Direct, Govx   baselineRun
	Rounds         int
	Concurrency    int
	RoundsMeasured [][2]baselineRun
}

// Ratio is direct lookups/s over the exchange's: how many times a lookup
// through govx costs a direct one.
func (r baselineReport) Ratio() float64 { return r.Direct.PerSecond() / r.Govx.PerSecond() }

// benchBaseline alternates, rounds times, a run against the direct lookup
// (population.DirectPath, served by `govx up --baseline`) and one against
// the exchange's query, the same residents, fields, token and concurrency,
// each preceded by a warm-up, reading the CPU time of the server process
// pid from /proc before and after each run.
func benchBaseline(ctx context.Context, base, tok string, conc int, d, warm time.Duration, rounds int, subjects []string, personal bool, pid int, progress func(round int, what string, r baselineRun)) (baselineReport, error) {
	rep := baselineReport{PID: pid, Rounds: rounds, Concurrency: conc}
	// What the server spends with nothing to do (consumers polling, the
	// audit checkpoints, cache pings), after a second for the set-up's
	// last work to drain.
	time.Sleep(time.Second)
	idle0, err := processCPU(pid)
	if err != nil {
		return rep, err
	}
	time.Sleep(idleSample)
	idle1, err := processCPU(pid)
	if err != nil {
		return rep, err
	}
	rep.IdleCPU = (idle1 - idle0) * time.Second / idleSample
	endpoints := [2]string{base + population.DirectPath, base + "/v1/resources/" + population.ResourceIdentity + "/query"}
	for r := range rounds {
		var round [2]baselineRun
		for i, endpoint := range endpoints {
			if warm > 0 {
				if _, err := benchAt(ctx, endpoint, tok, conc, warm, 0, subjects, personal, 0); err != nil {
					return rep, fmt.Errorf("%s: %w", endpoint, err)
				}
			}
			before, err := processCPU(pid)
			if err != nil {
				return rep, err
			}
			res, err := benchAt(ctx, endpoint, tok, conc, d, 0, subjects, personal, 0)
			if err != nil {
				return rep, fmt.Errorf("%s: %w", endpoint, err)
			}
			after, err := processCPU(pid)
			if err != nil {
				return rep, err
			}
			run := baselineRun{benchResult: res, CPU: after - before}
			round[i] = run
			sum := &rep.Direct
			if i == 1 {
				sum = &rep.Govx
			}
			sum.Lookups += run.Lookups
			sum.Errors += run.Errors
			sum.Elapsed += run.Elapsed
			sum.CPU += run.CPU
			sum.P50, sum.P99 = max(sum.P50, run.P50), max(sum.P99, run.P99)
			if sum.FirstError == "" {
				sum.FirstError = run.FirstError
			}
			if progress != nil {
				progress(r+1, []string{"direct", "govx"}[i], run)
			}
		}
		rep.RoundsMeasured = append(rep.RoundsMeasured, round)
	}
	rep.Direct.Concurrency, rep.Govx.Concurrency = conc, conc
	return rep, nil
}

// idleSample is how long benchBaseline measures the server at rest.
const idleSample = 3 * time.Second

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture govx runs on.
const clockTicks = 100

// processCPU is the CPU time (user and system) process pid has used, from
// /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("the server's CPU time: %w (pass its process id with --pid)", err)
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted from the closing one, which precedes field 3 (state).
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// serverPID is pid if set, else the process listening on base's port on
// this machine; an error if none is found.
func serverPID(base string, pid int) (int, error) {
	if pid > 0 {
		return pid, nil
	}
	u, err := neturl.Parse(base)
	if err != nil {
		return 0, err
	}
	_, p, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(p)
	if pid = listenerPID(port); pid == 0 {
		return 0, fmt.Errorf("no process of this machine listens on %s that can be read: pass the server's process id with --pid", u.Host)
	}
	return pid, nil
}

// printBaseline writes rep for a reader, or as one JSON object.
func printBaseline(w io.Writer, rep baselineReport, d time.Duration, personal, asJSON bool) error {
	if asJSON {
		side := func(r baselineRun) map[string]any {
			return map[string]any{"lookups": r.Lookups, "errors": r.Errors, "per_second": r.PerSecond(),
				"worst_p50_ms": ms(r.P50), "worst_p99_ms": ms(r.P99), "cpu_seconds": r.CPU.Seconds(),
				"cpu_ms_per_lookup": float64(r.CPUPerLookup().Nanoseconds()) / 1e6, "net_cpu_ms_per_lookup": float64(r.NetCPUPerLookup(rep.IdleCPU).Nanoseconds()) / 1e6}
		}
		return json.NewEncoder(w).Encode(map[string]any{"direct": side(rep.Direct), "govx": side(rep.Govx),
			"ratio": rep.Ratio(), "concurrency": rep.Concurrency, "rounds": rep.Rounds, "server_pid": rep.PID, "server_idle_cpu_ms_per_second": float64(rep.IdleCPU.Nanoseconds()) / 1e6, "consent": personal})
	}
	host, _ := os.Hostname()
	fmt.Fprintf(w, "govx bench --baseline: population lookups, direct and through the exchange, %d in flight, %d rounds of %s each (server pid %d; %s, %d CPUs, %s)\n",
		rep.Concurrency, rep.Rounds, d, rep.PID, host, runtime.NumCPU(), runtime.Version())
	for _, s := range []struct {
		name string
		r    baselineRun
	}{{"direct", rep.Direct}, {"govx  ", rep.Govx}} {
		fmt.Fprintf(w, "  %s %7.0f lookups/s  worst p50 %6.2f ms  worst p99 %6.2f ms  server CPU %.3f ms/lookup (%.3f net of idle)  errors %d\n",
			s.name, s.r.PerSecond(), ms(s.r.P50), ms(s.r.P99), float64(s.r.CPUPerLookup().Nanoseconds())/1e6,
			float64(s.r.NetCPUPerLookup(rep.IdleCPU).Nanoseconds())/1e6, s.r.Errors)
	}
	fmt.Fprintf(w, "  server at rest: %.0f ms of CPU per second\n", float64(rep.IdleCPU.Nanoseconds())/1e6)
	fmt.Fprintf(w, "  direct/govx %.2f (lookups/s), govx/direct %.2f (server CPU per lookup, net of idle)\n",
		rep.Ratio(), float64(rep.Govx.NetCPUPerLookup(rep.IdleCPU))/float64(max(rep.Direct.NetCPUPerLookup(rep.IdleCPU), 1)))
	return nil
}
