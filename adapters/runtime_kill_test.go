package adapters_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/adapters"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/schemas"
)

// Environment of an adapter process started by TestAdapterKilledStallsItsPartitionsBriefly.
const (
	envKillAdapter = "GOVX_TEST_ADAPTER_PROCESS" // the department it serves
	envKillBrokers = "GOVX_TEST_ADAPTER_BROKERS"
	envKillDB      = "GOVX_TEST_ADAPTER_DB"
)

// TestAdapterProcess is not a test: it is an adapter process of the test
// below, the test binary started again with envKillAdapter set. It serves
// the population handlers until it is killed, or until its parent goes
// (its stdin closes).
func TestAdapterProcess(t *testing.T) {
	dept := os.Getenv(envKillAdapter)
	if dept == "" {
		t.Skip("an adapter process of TestAdapterKilledStallsItsPartitionsBriefly")
	}
	go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv(envKillDB))
	if err != nil {
		t.Fatal(err)
	}
	kcfg := kafka.Config{Brokers: strings.Split(os.Getenv(envKillBrokers), ","), ClientID: "adapter-process"}
	prod, err := kafka.NewProducer(kcfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	codec := avro.NewCodec(catalog.NewStore(pool))
	if err := schemas.RegisterAll(ctx, codec); err != nil { // already registered: only loads them
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := adapters.New(adapters.Config{Kafka: kcfg, Codec: codec, Producer: prod,
		Department: dept, Partitions: killPartitions, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	population.Register(rt, population.NewStore(pool))
	t.Fatal(rt.Run(ctx)) // runs until killed
}

const killPartitions = 4

// An adapter process killed with SIGKILL leaves its consumer group without
// a word; its partitions stall until the group's session timeout
// (kafka.DefaultSessionTimeout) and the rebalance after it, then the adapter
// left takes them over and answers what was waiting. When the last adapter
// is killed, the requester sees the group empty and fails what waits, and
// every later request, with provider_unavailable at once instead of letting
// each wait for its timeout. Under a steady load of lookups, no request is
// lost, none is answered twice, and none waits longer than the session
// timeout and a margin (a correctness bound: without the short session
// timeout and the group watch they wait 10 s or their whole timeout).
func TestAdapterKilledStallsItsPartitionsBriefly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts adapter processes")
	}
	const (
		dept    = "population-kill"
		workers = 16
		// bound is the longest any lookup may wait: the session timeout,
		// the rebalance or the group watch after it, and room for a slow
		// machine.
		bound = kafka.DefaultSessionTimeout + 4*time.Second
	)
	b := newBus(t)
	ctx := context.Background()
	if err := kafka.EnsureTopics(ctx, b.kcfg,
		kafka.Topic{Name: bus.RequestTopic(dept), Partitions: killPartitions, Transient: true},
		kafka.Topic{Name: bus.DeadLetterTopic(dept), Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	q, err := kafka.NewRequester(ctx, b.kcfg, kafka.RequesterConfig{ReplyTopic: "govx.replies.kill-test",
		Timeout: bound, ConsumerGroup: bus.RequestGroup}, b.prod)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	// Two adapter processes share the department's partitions.
	type proc struct {
		cmd    *exec.Cmd
		stderr bytes.Buffer
	}
	startAdapter := func() *proc {
		p := &proc{cmd: exec.Command(os.Args[0], "-test.run=^TestAdapterProcess$", "-test.v=false")}
		p.cmd.Env = append(os.Environ(), envKillAdapter+"="+dept,
			envKillBrokers+"="+strings.Join(b.kcfg.Brokers, ","), envKillDB+"="+b.pool.Config().ConnString())
		p.cmd.Stderr = &p.stderr
		if _, err := p.cmd.StdinPipe(); err != nil { // closed when this test ends: the process exits
			t.Fatal(err)
		}
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			p.cmd.Process.Kill()
			p.cmd.Wait()
			if t.Failed() && p.stderr.Len() > 0 {
				t.Logf("adapter process %d:\n%s", p.cmd.Process.Pid, p.stderr.String())
			}
		})
		return p
	}
	victim, last := startAdapter(), startAdapter()
	waitGroup(t, b.kcfg, bus.AdapterGroup(dept), 2)

	// The load: workers looking up residents one after the other, each
	// lookup bounded by the requester's timeout (bound).
	type outcome struct {
		sent, done time.Time
		code       string // "" answered
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		seq      int
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 18))
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				seq++
				id := fmt.Sprintf("kill-%d", seq)
				mu.Unlock()
				req := b.newRequest(id, population.ResourceIdentity, b.gen.IDNumber(rng.IntN(residents)), "name")
				req.ReplyTo = q.ReplyTopic()
				o := outcome{sent: time.Now()}
				msg, err := q.Request(ctx, id, kafka.Message{Topic: bus.RequestTopic(dept), Key: []byte(id),
					Value: mustMarshal(t, b.codec, schemas.Request, req)})
				o.done = time.Now()
				var reply bus.Reply
				switch {
				case err != nil:
					if o.code = "error"; errors.As(err, new(*govx.Error)) {
						o.code = govx.ErrorCode(err)
					}
				case b.codec.Unmarshal(ctx, msg.Value, &reply) != nil || reply.RequestID != id || reply.Error != nil:
					o.code = fmt.Sprintf("wrong reply %s %+v", reply.RequestID, reply.Error)
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond) // no busy loop on fast failures
				}
			}
		})
	}
	// ended returns the outcomes of the lookups that ended after from and
	// not after until.
	ended := func(from, until time.Time) []outcome {
		mu.Lock()
		defer mu.Unlock()
		var out []outcome
		for _, o := range outcomes {
			if o.done.After(from) && !o.done.After(until) {
				out = append(out, o)
			}
		}
		return out
	}
	time.Sleep(2 * time.Second) // the load running
	killedVictim := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(bound + time.Second) // every lookup waiting on the victim ends
	killedLast := time.Now()
	if err := last.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(kafka.DefaultSessionTimeout + 2*time.Second)
	close(stop)
	wg.Wait()

	// One adapter killed: every lookup answered, the slowest within bound.
	one := ended(killedVictim, killedLast)
	var stall time.Duration
	failed := 0
	for _, o := range one {
		if o.code != "" {
			failed++
			t.Errorf("one adapter killed: a lookup sent %v after the kill ended with %s", o.sent.Sub(killedVictim).Round(time.Millisecond), o.code)
		}
		stall = max(stall, o.done.Sub(o.sent))
	}
	// Both killed: what waited on the group, and every lookup after it,
	// fails with provider_unavailable, none with a timeout.
	both := ended(killedLast, time.Now())
	codes := map[string]int{}
	var failFast time.Duration // from the kill to the last lookup that waited
	var after []time.Duration  // how long lookups sent once the group was judged empty took
	for _, o := range both {
		codes[o.code]++
		if o.code != "" && o.code != bus.CodeProviderUnavailable {
			t.Errorf("both adapters killed: a lookup ended with %s, want %s", o.code, bus.CodeProviderUnavailable)
		}
		if o.sent.Before(killedLast) || o.done.Sub(o.sent) > 100*time.Millisecond {
			failFast = max(failFast, o.done.Sub(killedLast))
		} else {
			after = append(after, o.done.Sub(o.sent))
		}
	}
	slices.Sort(after)
	if codes[bus.CodeProviderUnavailable] == 0 {
		t.Errorf("both adapters killed: no lookup was told %s: %v", bus.CodeProviderUnavailable, codes)
	}
	var p50 time.Duration
	if len(after) > 0 {
		p50 = after[len(after)/2]
	}
	t.Logf("one of two adapters killed: %d lookups after the kill, 0 errors expected, %d errors; longest wait %v (bound %v)",
		len(one), failed, stall.Round(time.Millisecond), bound)
	t.Logf("both killed: %d lookups: %v; the last waiting lookup failed %v after the kill; later ones failed in %v (p50 of %d)",
		len(both), codes, failFast.Round(time.Millisecond), p50.Round(time.Microsecond), len(after))
	t.Logf("replies dropped as late or duplicate: %d", q.Late())
}

// waitGroup waits, at most 20 s, until group is stable with n members that
// each hold partitions.
func waitGroup(t *testing.T, cfg kafka.Config, group string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		gs, err := kafka.ListGroups(ctx, cfg)
		cancel()
		for _, g := range gs {
			if g.ID != group || len(g.Members) != n {
				continue
			}
			held := 0
			for _, m := range g.Members {
				if len(m.Assigned) > 0 {
					held++
				}
			}
			if held == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not get %d members holding partitions within 20s: %+v %v", group, n, gs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
