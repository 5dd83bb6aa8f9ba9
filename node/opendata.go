package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"govx/adapters/licence"
	"govx/catalog"
	"govx/exchange"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/ratelimit"
	"govx/internal/redis"
	"govx/openapi"
	"govx/openapi/apikeys"
)

// DemoOpenDataset is the open dataset `govx up --demo` publishes, and
// DemoOpenPublisher the department that publishes it.
const (
	DemoOpenDataset   = "air-quality"
	DemoOpenPublisher = "ecology-environment"
)

// mountOpenData serves the open-data API under /open/v1/ on the exchange's
// server, publishing the demo dataset first when asked to. The function it
// returns starts keeping the register-backed datasets current once the
// exchange answers at base.
func (n *Node) mountOpenData(ctx context.Context, mux interface{ Handle(string, http.Handler) }, cs *catalog.Store, verifier httpx.Verifier, rdb *redis.Client) (follow func(base string) error, err error) {
	store := openapi.NewStore(n.Pool)
	if n.cfg.Demo {
		// The demo dataset's publisher is a department like any other:
		// its tokens (govx bench-open's) name it.
		if err := cs.PutDepartment(ctx, catalog.Department{Code: DemoOpenPublisher,
			Name: "生态环境局 (Ecology and Environment)", Contact: "open-data@example.gov.cn"}); err != nil {
			return nil, err
		}
		if err := seedOpenData(ctx, store); err != nil {
			return nil, err
		}
	}
	key, err := loadSecret(filepath.Join(n.cfg.DataDir, "keys", "open-cursor.key"))
	if err != nil {
		return nil, err
	}
	// Readers are identified and limited per key, or per client address
	// when anonymous, in the limiter every instance shares through Redis.
	// A busy key leases up to 100 ms of its rate (at most 100 tokens, a
	// tenth of its burst) per Redis call; see ratelimit.Config.Lease.
	lim, err := ratelimit.New(ratelimit.Config{Redis: rdb, Logger: n.log, Lease: 100 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	keys, err := apikeys.New(apikeys.Config{Store: apikeys.NewStore(n.Pool), Limiter: lim, Key: n.Key, Staff: verifier,
		Issuer: Issuer, Logger: n.log})
	if err != nil {
		return nil, err
	}
	sources := licence.OpenSources(n.Pool)
	if n.cfg.Demo && slices.Contains(n.cfg.Adapters, licence.Department) {
		// The licensing department opens its food business licences once;
		// it publishes a new version with POST /open/v1/sources/{code}/publish.
		if err := publishOnce(ctx, store, cs, licence.ResourceFoodBusiness, sources[licence.ResourceFoodBusiness]); err != nil {
			return nil, err
		}
	}
	h, err := openapi.NewHandler(openapi.Config{Store: store, Verifier: verifier, Departments: cs, Resources: cs, CursorKey: key, Logger: n.log, StreamIdle: n.cfg.StreamIdle,
		Sources:    sources,
		Limit:      keys.Middleware,
		Extensions: []openapi.Extension{{Mount: keys.Mount, OpenAPI: apikeys.OpenAPI()}}})
	if err != nil {
		return nil, err
	}
	mux.Handle(openapi.Prefix, h)
	return func(base string) error { return n.followOpenSources(store, cs, sources, base) }, nil
}

// openDataChangesPurpose is the purpose the open-data publisher states for
// its subscriptions to register changes.
const openDataChangesPurpose = "open-data:keep the published register dataset current"

// followOpenSources keeps each register-backed dataset current with its
// resource's change events (openapi.Store.Follow), read through the
// exchange's subscription API like the case workflow's: with a token of
// the department that provides the resource and publishes the dataset,
// so the exchange decides and audits these reads as any consumer's. The
// fields asked for are none personal, so the changes of licences natural
// persons hold come too, with nothing personal in them; what the dataset
// shows is read from the register itself, which leaves those licences
// out (licence.OpenSources).
func (n *Node) followOpenSources(store *openapi.Store, cs *catalog.Store, sources map[string]openapi.Source, base string) error {
	client, err := exchange.NewClient(base, nil)
	if err != nil {
		return err
	}
	for _, code := range slices.Sorted(maps.Keys(sources)) {
		// The provider is looked up at each connection: an adapter
		// started apart may register its resources after this node.
		token := func(ctx context.Context) (string, error) {
			r, err := cs.Resource(ctx, code)
			if err != nil {
				return "", err
			}
			return n.Key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: "open-data:" + r.Provider,
				Dept: r.Provider, Role: "service", Scopes: []string{code}, TTL: 30 * time.Minute})
		}
		feed := func(ctx context.Context, resource, cursor string, fn func(exchange.Event) error) error {
			return client.Subscribe(ctx, exchange.Subscription{Resource: resource, Purpose: openDataChangesPurpose,
				Fields: openSourceChangeFields, Cursor: cursor, Token: token}, fn)
		}
		f := openapi.Follow{Resource: code, Source: sources[code], Resources: cs, Feed: feed, Logger: n.log}
		n.keepRunning(n.runCtx, "open data changes of "+code, func(ctx context.Context) error {
			return store.Follow(ctx, f)
		})
	}
	return nil
}

// openSourceChangeFields are the record fields the open-data publisher
// asks for with a change: none personal (see followOpenSources).
var openSourceChangeFields = []string{"number", "status"}

func publishOnce(ctx context.Context, store *openapi.Store, cs *catalog.Store, code string, src openapi.Source) error {
	if d, err := store.Dataset(ctx, openapi.DatasetID(code)); err == nil && d.Latest != nil {
		return nil
	}
	r, err := cs.Resource(ctx, code)
	if err != nil {
		return err
	}
	_, err = store.PublishSource(ctx, r.Provider, r, src)
	return err
}

// servePprof serves net/http/pprof on addr, a debug listener of its own
// (never the public one): for profiling under `govx bench`.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Warn("pprof debug listener", "addr", addr)
	go func() {
		if err := http.ListenAndServe(addr, mux); err != nil {
			log.Error("pprof debug listener", "addr", addr, "err", err)
		}
	}()
}

// loadSecret reads a 32-byte secret, making it on first use, so every
// instance sharing the data folder signs cursors alike and they outlive a
// restart.
func loadSecret(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) == 32 {
		return b, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	rand.Read(b)
	return b, os.WriteFile(path, b, 0o600)
}

// seedOpenData publishes the demo air-quality readings once.
func seedOpenData(ctx context.Context, store *openapi.Store) error {
	if d, err := store.Dataset(ctx, DemoOpenDataset); err == nil && d.Latest != nil {
		return nil
	}
	const dept = DemoOpenPublisher
	if _, err := store.PutDataset(ctx, dept, DemoOpenDataset, openapi.Meta{
		Title:       "Air quality readings",
		Description: "Hourly PM2.5, PM10 and NO2 readings of the city's monitoring stations (synthetic demo data).",
		Theme:       "environment", Keywords: []string{"air", "pm2.5", "environment"}, Licence: "CC-BY-4.0",
		Frequency: "hourly", TemporalStart: "2026-01-01", TemporalEnd: "2026-01-14", Spatial: "Shenzhen",
	}); err != nil {
		return err
	}
	_, err := store.Load(ctx, dept, DemoOpenDataset, nil, airQualityCSV(12, 14*24))
	return err
}

// airQualityCSV generates readings of stations for hours from 2026-01-01,
// streamed.
func airQualityCSV(stations, hours int) io.Reader {
	names := []string{"Futian", "Nanshan", "Luohu", "Baoan", "Longgang", "Yantian", "Longhua", "Pingshan", "Guangming", "Dapeng", "Xili", "Shekou"}
	pr, pw := io.Pipe()
	go func() {
		var b strings.Builder
		b.WriteString("station,district,measured_at,pm25,pm10,no2,valid\n")
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for h := range hours {
			at := start.Add(time.Duration(h) * time.Hour).Format(time.RFC3339)
			for s := range stations {
				x := float64(h*7+s*13) / 10
				pm25 := 35 + 30*math.Sin(x) + float64(s)
				fmt.Fprintf(&b, "ST%02d,%s,%s,%.1f,%.1f,%d,%t\n", s+1, names[s%len(names)], at, pm25, pm25*1.6, 20+(h*s)%40, (h+s)%97 != 0)
			}
			if b.Len() > 32<<10 {
				if _, err := io.WriteString(pw, b.String()); err != nil {
					return
				}
				b.Reset()
			}
		}
		io.WriteString(pw, b.String())
		pw.Close()
	}()
	return pr
}
