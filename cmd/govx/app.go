package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx/adapters"
	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/bus"
	"govx/casework"
	"govx/catalog"
	"govx/consent"
	"govx/exchange"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/internal/postgres"
	"govx/internal/redis"
	"govx/openapi"
	"govx/openapi/apikeys"
	"govx/schemas"
)

// Token issuer and audience of this deployment.
const (
	Issuer   = "govx"
	Audience = "govx-exchange"
)

// Demo data: the residents `govx up` seeds, recomputable by any process
// from the seed (govx bench picks existing ID numbers this way).
const (
	DemoSeed      = 20261121
	DemoResidents = 20000
	DemoCompanies = 2000 // their representatives are demo residents
	DemoLicences  = 3000 // held by demo companies and residents
)

// requestPartitions is how many partitions a department's request topic
// gets: the most adapter instances that can share its load.
const requestPartitions = 8

// Config is everything a govx process needs; only main reads flags and the
// environment to fill it.
type Config struct {
	DataDir     string
	PostgresURL string
	RedisURL    string
	RedisPrefix string

	KafkaBrokers  []string // external brokers; empty with EmbeddedKafka
	EmbeddedKafka bool
	KafkaPort     int // of the embedded broker; 0 picks one

	HTTPAddr string // exchange API; port 0 picks one
	// Event subscriptions: at most MaxSubscriptions at once per instance
	// (default 256), an SSE heartbeat every EventHeartbeat (default 15 s).
	MaxSubscriptions int
	EventHeartbeat   time.Duration
	Instance         string // exchange instance name: its reply topic is govx.replies.<instance>
	Timeout          time.Duration
	// CheckpointInterval is how often the exchange signs the audit chain
	// head; 0 means exchange.DefaultCheckpointInterval.
	CheckpointInterval time.Duration

	// CaseClock is the case workflow's clock (default time.Now) and
	// CaseRetry how soon it retries a verification the exchange did not
	// answer (default 30 s); tests move both.
	CaseClock func() time.Time
	CaseRetry time.Duration
	// The working-day calendar of case deadlines: days off and worked
	// weekends beyond China's built-in arrangement (YYYY-MM-DD), and how
	// many working days before the deadline a case turns yellow.
	Holidays, Workdays []string
	CaseWarnDays       int

	Migrate   bool
	Demo      bool // seed the demo catalogue and residents when empty
	Residents int  // demo residents

	Exchange bool
	Adapters []string // departments whose reference adapter runs here
	OpsAddr  string   // adapters' /healthz and /metrics when set; port 0 picks one

	Logger *slog.Logger
}

func (c *Config) Validate() error {
	if c.DataDir == "" {
		c.DataDir = ".govx"
	}
	if c.PostgresURL == "" {
		return errors.New("no PostgreSQL URL (GOVX_POSTGRES_URL)")
	}
	if c.Exchange && c.RedisURL == "" {
		return errors.New("no Redis URL (GOVX_REDIS_URL)")
	}
	if !c.EmbeddedKafka && len(c.KafkaBrokers) == 0 && (c.Exchange || len(c.Adapters) > 0) {
		return errors.New("no Kafka brokers (GOVX_KAFKA_BROKERS)")
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.Instance == "" {
		c.Instance = "exchange-1"
	}
	if c.Residents == 0 {
		c.Residents = DemoResidents
	}
	for _, a := range c.Adapters {
		if !slices.Contains(referenceAdapters, a) {
			return fmt.Errorf("no reference adapter for department %q (have: %s)", a, strings.Join(referenceAdapters, ", "))
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Main is one govx process: whichever of the broker, the exchange and the
// adapters its Config asks for, wired together. Run starts them and
// returns; Close stops them in reverse order.
type Main struct {
	cfg Config
	log *slog.Logger

	Key        *auth.Key
	ConsentKey *auth.Key // signs consent artefacts
	Consents   *consent.Store
	Casework   *casework.Service
	Pool       *pgxpool.Pool
	Brokers    []string
	Requester  *kafka.Requester
	Population *adapters.Runtime
	// PopulationOutbox holds the population department's change events
	// until its relay has published them.
	PopulationOutbox *adapters.Outbox
	LegalEntity      *adapters.Runtime
	Licence          *adapters.Runtime

	runtimes []*adapters.Runtime // every adapter runtime started, for health and metrics
	opsURL   string

	httpURL string
	runCtx  context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closers []func()
}

func NewMain(cfg Config) *Main { return &Main{cfg: cfg} }

// URL is the exchange API's base URL once Run has returned.
func (m *Main) URL() string { return m.httpURL }

// OpsURL is the base URL of the adapters' /healthz and /metrics, if served.
func (m *Main) OpsURL() string { return m.opsURL }

func (m *Main) onClose(f func()) { m.closers = append(m.closers, f) }

// Run starts everything and returns once it is serving. On error what was
// started is stopped again.
func (m *Main) Run(ctx context.Context) (err error) {
	if err := m.cfg.Validate(); err != nil {
		return err
	}
	m.log = m.cfg.Logger
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.runCtx, m.cancel = runCtx, cancel
	defer func() {
		if err != nil {
			cancel()
		}
	}()

	if err := os.MkdirAll(m.cfg.DataDir, 0o700); err != nil {
		return err
	}
	if m.Key, err = loadKey(m.cfg.DataDir); err != nil {
		return err
	}

	m.Brokers = m.cfg.KafkaBrokers
	if m.cfg.EmbeddedKafka {
		b, err := kafka.StartEmbedded(kafka.EmbeddedConfig{Port: m.cfg.KafkaPort, DataDir: filepath.Join(m.cfg.DataDir, "kafka")})
		if err != nil {
			return fmt.Errorf("%w (is another govx up running? choose another port with --kafka-port)", err)
		}
		m.onClose(b.Close)
		m.Brokers = b.Addrs()
	}
	kcfg := kafka.Config{Brokers: m.Brokers, ClientID: "govx-" + m.cfg.Instance}

	if m.Pool, err = postgres.Open(ctx, postgres.Config{URL: m.cfg.PostgresURL, MaxConns: 32}); err != nil {
		return err
	}
	m.onClose(m.Pool.Close)
	if m.cfg.Migrate {
		if err := migrate(ctx, m.Pool, m.log); err != nil {
			return err
		}
	}
	store := catalog.NewStore(m.Pool)
	if m.cfg.Demo {
		if err := seedDemo(ctx, m.Pool, m.cfg.Residents, m.log); err != nil {
			return err
		}
	}
	codec := avro.NewCodec(store)
	if err := schemas.RegisterAll(ctx, codec); err != nil {
		return err
	}
	if !m.cfg.Exchange && len(m.cfg.Adapters) == 0 {
		return nil
	}
	prod, err := kafka.NewProducer(kcfg, kafka.ProducerConfig{})
	if err != nil {
		return err
	}
	m.onClose(func() { prod.Close() })

	// Validate admits only the departments with a reference adapter.
	for _, dept := range m.cfg.Adapters {
		if err := m.startAdapter(ctx, runCtx, dept, kcfg, codec, prod); err != nil {
			return err
		}
	}
	if m.cfg.OpsAddr != "" && len(m.runtimes) > 0 {
		if err := m.serveOps(); err != nil {
			return err
		}
	}

	if m.cfg.Exchange {
		if err := m.startExchange(ctx, kcfg, store, codec, prod); err != nil {
			return err
		}
	}
	return nil
}

// keepRunning runs fn until Close. A consumer that fails (the broker gone
// for longer than the client retries) is started again, not left dead in a
// live process. It is stopped after the exchange (closed first) has drained
// its queries.
func (m *Main) keepRunning(runCtx context.Context, name string, fn func(context.Context) error) {
	ctx, stop := context.WithCancel(runCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		backoff := time.Second
		for {
			err := fn(ctx)
			if ctx.Err() != nil {
				return
			}
			m.log.Error(name+" stopped; restarting", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
	m.onClose(func() { stop(); <-done })
}

func (m *Main) startExchange(ctx context.Context, kcfg kafka.Config, store *catalog.Store, codec *avro.Codec, prod *kafka.Producer) error {
	// Every provider's request topic exists from the start, so a department
	// whose adapter is down looks like what it is: a provider that does not
	// answer in time.
	providers, err := store.Providers(ctx)
	if err != nil {
		return err
	}
	topics := make([]kafka.Topic, len(providers))
	for i, p := range providers {
		topics[i] = kafka.Topic{Name: bus.RequestTopic(p), Partitions: requestPartitions}
	}
	if err := kafka.EnsureTopics(ctx, kcfg, topics...); err != nil {
		return err
	}
	rdb, err := redis.Open(ctx, redis.Config{URL: m.cfg.RedisURL, Prefix: m.cfg.RedisPrefix})
	if err != nil {
		return err
	}
	m.onClose(func() { rdb.Close() })
	req, err := kafka.NewRequester(ctx, kcfg, kafka.RequesterConfig{
		ReplyTopic: bus.ReplyTopic(m.cfg.Instance), Timeout: m.cfg.Timeout, Logger: m.log}, prod)
	if err != nil {
		return err
	}
	m.Requester = req
	m.onClose(func() { req.Close() })
	ledger := exchange.NewLedger(m.Pool, exchange.LedgerConfig{Logger: m.log})
	m.onClose(ledger.Close)
	if err := m.startCheckpointer(); err != nil {
		return err
	}
	// A change to a resource or a grant reaches every exchange instance's
	// policy cache through Redis within the second.
	inv := catalog.NewInvalidator(rdb, m.log)
	store.OnChange(inv.ResourceChanged)
	grants := catalog.NewGrantStore(m.Pool, nil)
	grants.OnChange(inv.ResourceChanged)
	policy := catalog.NewPolicyCache(store, grants, rdb, catalog.PolicyConfig{Logger: m.log})
	m.onClose(policy.Close)
	m.onClose(expireGrants(grants, m.log))
	// Consents: a revocation reaches every instance's cache the same way.
	if m.ConsentKey, err = auth.LoadOrCreateKey(filepath.Join(m.cfg.DataDir, "keys", "consent")); err != nil {
		return err
	}
	m.Consents = consent.NewStore(m.Pool, m.ConsentKey, policy, m.log)
	consents := consent.NewCache(m.Consents, rdb, consent.CacheConfig{Logger: m.log})
	m.onClose(consents.Close)
	announce := consent.Announcer(rdb, m.log)
	m.Consents.OnChange = func(ctx context.Context, subject string) {
		consents.Forget(subject) // this instance at once, the others through Redis
		announce(ctx, subject)
	}
	svc, err := exchange.NewService(exchange.Config{Timeout: m.cfg.Timeout, Logger: m.log, Consents: consents}, policy, req, codec)
	if err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(auth.Config{Issuer: Issuer, Audience: Audience}, m.Key)
	if err != nil {
		return err
	}
	metrics := exchange.NewMetrics()
	metrics.Gauge("govx_exchange_requests_in_flight", func() float64 { return float64(req.InFlight()) })
	metrics.Gauge("govx_exchange_late_replies_total", func() float64 { return float64(req.Late()) })
	// Decisions served from memory against those that read PostgreSQL.
	metrics.Gauge("govx_policy_cache_hits_total", func() float64 { return float64(policy.Stats.Hits.Load()) })
	metrics.Gauge("govx_policy_cache_misses_total", func() float64 { return float64(policy.Stats.Misses.Load()) })
	metrics.Gauge("govx_consent_cache_hits_total", func() float64 { return float64(consents.Stats.Hits.Load()) })
	metrics.Gauge("govx_consent_cache_misses_total", func() float64 { return float64(consents.Stats.Misses.Load()) })
	h := exchange.NewHandler(svc, verifier, ledger, metrics)
	h.Handle("/v1/catalog/", catalog.NewHandler(catalog.HandlerConfig{Store: store, Verifier: verifier, Logger: m.log}))
	if err := m.mountOpenData(ctx, h, store, verifier, rdb); err != nil {
		return err
	}
	h.Handle("GET /.well-known/jwks.json", verifier.JWKSHandler())
	h.Handle(catalog.KeysPath, catalog.NewKeysHandler(store))
	// The adapters running in this process report on the same page.
	h.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metrics.ServeHTTP(w, r)
		adapters.WriteMetrics(w, m.runtimes...)
	}))
	h.Handle("GET /healthz", m.health(rdb))
	reg, err := catalog.NewRegistryHandler(catalog.RegistryConfig{Store: store, Verifier: verifier, Logger: m.log, Prefix: "/registry"})
	if err != nil {
		return err
	}
	h.Handle("/registry/", reg)
	events, err := exchange.NewEvents(svc, verifier, ledger, exchange.EventsConfig{Kafka: kcfg, Logger: m.log,
		MaxSubscriptions: m.cfg.MaxSubscriptions, Heartbeat: m.cfg.EventHeartbeat})
	if err != nil {
		return err
	}
	h.Handle("GET /v1/resources/{code}/events", events)
	ch := consent.NewHandler(m.Consents, verifier, m.log)
	h.Handle("/v1/consents", ch)
	h.Handle("/v1/consents/", ch)
	h.Handle("GET /v1/subjects/{subject}/consents", ch)
	h.Handle("GET /v1/subjects/{subject}/accesses", exchange.NewSubjectHandler(ledger, verifier, m.log))
	ah := exchange.NewAuditHandler(m.Pool, verifier, m.log)
	h.Handle("/v1/audit", ah)
	h.Handle("/v1/audit/", ah)
	gh := catalog.NewGrantsHandler(grants, verifier, m.log)
	h.Handle("/v1/catalog/grants", gh)
	h.Handle("/v1/catalog/grants/", gh)

	ln, err := net.Listen("tcp", m.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("exchange API: %w (is another govx running? choose another address with --http or GOVX_HTTP_ADDR)", err)
	}
	m.httpURL = "http://" + ln.Addr().String()
	if err := m.startCasework(ctx, m.runCtx, m.httpURL, kcfg, codec, prod, h, verifier); err != nil {
		ln.Close()
		return err
	}
	cw := casework.NewHandler(m.Casework, verifier, m.log)
	for _, p := range []string{"/v1/cases", "/v1/cases/", "/v1/case-items", "/v1/review-queue", "/v1/supervision", "/v1/progress/"} {
		h.Handle(p, cw)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: m.cfg.Timeout + 30*time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	srv.RegisterOnShutdown(events.Close) // open streams would hold Shutdown to its timeout
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("exchange API stopped", "err", err)
		}
	}()
	// Closed first: stop taking queries, let the ones in flight finish.
	m.onClose(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-served
	})
	return nil
}

// runAdapter runs rt until Close, starting it again whenever it stops: a
// consumer that fails (the broker gone for longer than the client retries,
// a reply the broker would not take) is restarted, and resumes with the
// requests it left uncommitted, not left dead in a live process.
func (m *Main) runAdapter(runCtx context.Context, rt *adapters.Runtime) {
	m.runtimes = append(m.runtimes, rt)
	// Stopped after the exchange (closed first) has drained its queries.
	m.keepRunning(runCtx, rt.Department()+" adapter", rt.Run)
}

// serveOps serves the adapters' health and metrics on OpsAddr.
func (m *Main) serveOps() error {
	ln, err := net.Listen("tcp", m.cfg.OpsAddr)
	if err != nil {
		return fmt.Errorf("adapter ops: %w (choose another address with --ops or GOVX_OPS_ADDR)", err)
	}
	m.opsURL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: adapters.NewOpsHandler(m.runtimes, adapters.Check{Name: "postgres", Probe: m.Pool.Ping}),
		ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("adapter ops server stopped", "err", err)
		}
	}()
	m.onClose(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	})
	return nil
}

func (m *Main) health(rdb *redis.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		checks := map[string]string{"postgres": "ok", "redis": "ok"}
		status, code := "ok", http.StatusOK
		if err := m.Pool.Ping(ctx); err != nil {
			checks["postgres"], status, code = "unavailable", "degraded", http.StatusServiceUnavailable
		}
		if err := rdb.Ping(ctx).Err(); err != nil {
			checks["redis"], status, code = "unavailable", "degraded", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"status":%q,"checks":{"postgres":%q,"redis":%q}}`+"\n", status, checks["postgres"], checks["redis"])
	})
}

// loadKey loads the deployment's signing key from the data folder, making
// one on first use.
func loadKey(dataDir string) (*auth.Key, error) {
	return auth.LoadOrCreateKey(filepath.Join(dataDir, "keys"))
}

// Close stops everything Run started, last started first.
func (m *Main) Close() error {
	defer func() {
		if m.cancel != nil {
			m.cancel()
		}
	}()
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.closers = nil
	return nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	applied, err := postgres.Migrate(ctx, pool, catalog.MigrationSource(), exchange.MigrationSource(), population.MigrationSource(),
		legalentity.MigrationSource(), licence.MigrationSource(), consent.MigrationSource(), openapi.MigrationSource(), apikeys.MigrationSource(),
		casework.MigrationSource())
	if err != nil {
		return err
	}
	for _, a := range applied {
		log.Info("migration applied", "migration", a)
	}
	return nil
}
