package population_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"govx/adapters"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/internal/postgres"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

// benchResidents is the size of the register the adapter is measured
// against: a province-sized population register has millions of rows.
const benchResidents = 1_000_000

// BenchmarkAdapterLookups measures one population adapter answering point
// lookups of random residents of a million-row register, driven through the
// bus by a kafka.Requester with many requests in flight: the adapter's own
// consumer group, Avro decoding, the database lookup, Avro encoding and the
// acknowledged reply. Everything — broker, PostgreSQL, adapter, load — runs
// on this machine. Seeding takes some seconds before the timer starts.
//
//	go test -run '^$' -bench AdapterLookups -benchtime 30000x ./adapters/population
func BenchmarkAdapterLookups(b *testing.B) {
	for _, inFlight := range []int{64, 256} {
		b.Run(fmt.Sprintf("inflight=%d", inFlight), func(b *testing.B) { benchLookups(b, inFlight) })
	}
}

var (
	benchOnce sync.Once
	benchEnv  struct {
		kcfg  kafka.Config
		codec *avro.Codec
		q     *kafka.Requester
		ids   []string
		err   error
	}
)

// setupBench starts the broker, the seeded register and the adapter once
// for every sub-benchmark. They live until the process ends: a benchmark's
// cleanup would drop them between runs.
func setupBench(b *testing.B) {
	benchOnce.Do(func() {
		ctx := context.Background()
		e, err := kafka.StartEmbedded(kafka.EmbeddedConfig{})
		if err != nil {
			benchEnv.err = err
			return
		}
		kcfg := kafka.Config{Brokers: e.Addrs(), ClientID: "bench"}
		pool, err := postgres.Open(ctx, postgres.Config{URL: postgrestest.NewURL(&keep{B: b}), MaxConns: 16})
		if err != nil {
			benchEnv.err = err
			return
		}
		if _, err := postgres.Migrate(ctx, pool, catalog.MigrationSource(), population.MigrationSource()); err != nil {
			benchEnv.err = err
			return
		}
		gen := population.NewGenerator(seed)
		start := time.Now()
		if _, err := population.NewStore(pool).Seed(ctx, gen, 0, benchResidents); err != nil {
			benchEnv.err = err
			return
		}
		if _, err := pool.Exec(ctx, `ANALYZE population.residents`); err != nil {
			benchEnv.err = err
			return
		}
		b.Logf("seeded %d residents in %s", benchResidents, time.Since(start).Round(time.Millisecond))
		codec := avro.NewCodec(catalog.NewStore(pool))
		if err := schemas.RegisterAll(ctx, codec); err != nil {
			benchEnv.err = err
			return
		}
		// The adapter has its own producer, as it would in its own process.
		aprod, err := kafka.NewProducer(kcfg, kafka.ProducerConfig{})
		if err != nil {
			benchEnv.err = err
			return
		}
		rt, err := adapters.New(adapters.Config{Kafka: kcfg, Codec: codec, Producer: aprod, Department: population.Department,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			benchEnv.err = err
			return
		}
		population.Register(rt, population.NewStore(pool))
		if err := kafka.EnsureTopics(ctx, kcfg, kafka.Topic{Name: bus.RequestTopic(population.Department), Partitions: 8}); err != nil {
			benchEnv.err = err
			return
		}
		go rt.Run(ctx)
		prod, err := kafka.NewProducer(kcfg, kafka.ProducerConfig{})
		if err != nil {
			benchEnv.err = err
			return
		}
		q, err := kafka.NewRequester(ctx, kcfg, kafka.RequesterConfig{ReplyTopic: "govx.replies.bench", Timeout: 30 * time.Second}, prod)
		if err != nil {
			benchEnv.err = err
			return
		}
		ids := make([]string, 200_000)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range ids {
			ids[i] = gen.IDNumber(r.IntN(benchResidents))
		}
		benchEnv.kcfg, benchEnv.codec, benchEnv.q, benchEnv.ids = kcfg, codec, q, ids
		// Warm up: the group has joined and every connection is open.
		for i := range 50 {
			if err := lookup(ctx, fmt.Sprintf("warm-%d", i), ids[i]); err != nil {
				benchEnv.err = err
				return
			}
		}
	})
	if benchEnv.err != nil {
		b.Fatal(benchEnv.err)
	}
}

// keep is a testing.TB whose cleanups never run, for a database that must
// outlive the benchmark that created it.
type keep struct{ *testing.B }

func (keep) Cleanup(func()) {}

func lookup(ctx context.Context, id, key string) error {
	now := time.Now().UTC()
	req := bus.Request{RequestID: id, Resource: population.ResourceIdentity, Key: key,
		Fields: []string{"name", "sex", "birth_date"}, Purpose: "case:bench", Consumer: "service-center",
		Caller: "bench", ReplyTo: benchEnv.q.ReplyTopic(), RequestedAt: now, Deadline: now.Add(30 * time.Second)}
	body, err := benchEnv.codec.Marshal(schemas.Request, req)
	if err != nil {
		return err
	}
	msg, err := benchEnv.q.Request(ctx, id, kafka.Message{Topic: bus.RequestTopic(population.Department), Key: []byte(id), Value: body})
	if err != nil {
		return err
	}
	var reply bus.Reply
	if err := benchEnv.codec.Unmarshal(ctx, msg.Value, &reply); err != nil {
		return err
	}
	if reply.Error != nil {
		return fmt.Errorf("%s: %+v", id, *reply.Error)
	}
	return nil
}

var benchRun int

func benchLookups(b *testing.B, inFlight int) {
	setupBench(b)
	benchRun++
	run := benchRun
	ctx := context.Background()
	jobs := make(chan int, inFlight)
	lat := make([][]time.Duration, inFlight)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	for w := range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				start := time.Now()
				err := lookup(ctx, fmt.Sprintf("b%d-%d", run, i), benchEnv.ids[i%len(benchEnv.ids)])
				lat[w] = append(lat[w], time.Since(start))
				if err != nil {
					errOnce.Do(func() { firstErr = err })
				}
			}
		}()
	}
	start := time.Now()
	n := 0
	for b.Loop() {
		jobs <- n
		n++
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "lookups/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}
