package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx/adapters"
	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/bus"
	"govx/casework"
	"govx/casework/wallet"
	"govx/catalog"
	"govx/consent"
	"govx/exchange/ledger"
	"govx/federation"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/internal/postgres"
	"govx/internal/refusal"
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

// Node is one complete govx node: whichever of the embedded broker, the
// exchange with its APIs, the case workflow and the reference adapters its
// Config asks for, wired together over one database, one Redis key prefix
// and one broker. Start starts them and returns; Close stops them in
// reverse order. Several nodes can run in one process.
type Node struct {
	cfg Config
	log *slog.Logger

	Key        *auth.Key
	ConsentKey *auth.Key // signs consent artefacts
	Consents   *consent.Store
	Casework   *casework.Service
	Pool       *pgxpool.Pool
	Codec      *avro.Codec // Avro wire format, schemas through the catalogue
	Brokers    []string
	kafkaCreds kafka.Credentials // by principal
	Requester  *kafka.Requester
	Population *adapters.Runtime
	// PopulationOutbox holds the population department's change events
	// until its relay has published them.
	PopulationOutbox *adapters.Outbox
	LegalEntity      *adapters.Runtime
	Licence          *adapters.Runtime
	// BusVerifier checks bus signatures against the catalogue's keys.
	BusVerifier *bus.Verifier
	// Federation is the node's place among the other nodes, nil unless
	// Config.Federation names it; NodeKey signs its node links.
	Federation *federation.Federation
	NodeKey    *auth.Key
	// FederationKeys are the keys of the other nodes' departments this
	// node has read (nil outside a federation); Seals checks licence
	// seals, this node's and theirs.
	FederationKeys *federation.Keys
	Seals          *licence.Seals
	// FederationEvents serves this node's subscribers other nodes'
	// change events (nil outside a federation).
	FederationEvents *federation.Events
	// Wallet is the applicants' wallet (with the case workflow), its
	// proofs of accesses and its verification budget.
	Wallet       *wallet.Service
	WalletProofs *wallet.Proofs
	WalletGuard  *wallet.Guard

	runtimes []*adapters.Runtime // every adapter runtime started, for health and metrics
	opsURL   string

	httpURL string
	mux     *http.ServeMux // the node's router: every HTTP API it serves
	// refusals records refused catalogue, grant, registry and case
	// actions.
	refusals *refusal.Log
	runCtx   context.Context
	cancel   context.CancelFunc
	closers  []func()
}

// Addrs are where a started node can be reached.
type Addrs struct {
	HTTP  string   // base URL of the HTTP APIs and the window; "" without the exchange
	Ops   string   // base URL of the adapters' /healthz and /metrics; "" unless OpsAddr is set
	Kafka []string // the brokers the node's clients use
}

// New returns a node for cfg; Start checks cfg and starts it.
func New(cfg Config) *Node { return &Node{cfg: cfg} }

// URL is the HTTP APIs' base URL once Start has returned.
func (n *Node) URL() string { return n.httpURL }

// Addrs is where the node can be reached once Start has returned.
func (n *Node) Addrs() Addrs { return Addrs{HTTP: n.httpURL, Ops: n.opsURL, Kafka: n.Brokers} }

// OpsURL is the base URL of the adapters' /healthz and /metrics, if served.
func (n *Node) OpsURL() string { return n.opsURL }

func (n *Node) onClose(f func()) { n.closers = append(n.closers, f) }

// Start starts everything the Config asks for and returns once it is
// serving, with the addresses it bound (port 0 in the Config picks one).
// On error what was started is stopped again. ctx bounds the start only:
// the node runs until Close.
func (n *Node) Start(ctx context.Context) (Addrs, error) {
	if err := n.start(ctx); err != nil {
		return Addrs{}, err
	}
	return n.Addrs(), nil
}

func (n *Node) start(ctx context.Context) (err error) {
	if err := n.cfg.Validate(); err != nil {
		return err
	}
	n.log = n.cfg.Logger
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.runCtx, n.cancel = runCtx, cancel
	defer func() {
		if err != nil {
			cancel()
		}
	}()

	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return err
	}
	if n.Key, err = LoadKey(n.cfg.DataDir); err != nil {
		return err
	}

	n.Brokers, n.kafkaCreds = n.cfg.KafkaBrokers, n.cfg.KafkaCredentials
	if len(n.kafkaCreds) == 0 && n.cfg.KafkaCredentialsFile != "" && !n.cfg.EmbeddedKafka {
		if n.kafkaCreds, err = kafka.ReadCredentials(n.cfg.KafkaCredentialsFile); err != nil {
			return fmt.Errorf("kafka credentials (GOVX_KAFKA_CREDENTIALS): %w", err)
		}
	}
	if n.cfg.EmbeddedKafka {
		// SASL and ACLs on, as in production: each component is a
		// principal of its own.
		if n.kafkaCreds, err = n.embeddedCredentials(); err != nil {
			return fmt.Errorf("embedded kafka credentials: %w", err)
		}
		b, err := kafka.StartEmbedded(kafka.EmbeddedConfig{Port: n.cfg.KafkaPort, DataDir: filepath.Join(n.cfg.DataDir, "kafka"),
			AdminPassword: n.kafkaCreds[kafka.PrincipalAdmin], Users: n.embeddedUsers(n.kafkaCreds)})
		if err != nil {
			return fmt.Errorf("%w (is another govx up running? choose another port with --kafka-port)", err)
		}
		n.onClose(b.Close)
		n.Brokers = b.Addrs()
	}

	if n.Pool, err = postgres.Open(ctx, postgres.Config{URL: n.cfg.PostgresURL, MaxConns: 32}); err != nil {
		return err
	}
	n.onClose(n.Pool.Close)
	if n.cfg.Migrate {
		if err := Migrate(ctx, n.Pool, n.log); err != nil {
			return err
		}
	}
	store := catalog.NewStore(n.Pool)
	if n.cfg.Demo {
		if _, err := SeedRegisters(ctx, n.Pool, DemoRegisters(n.cfg.Residents), n.log); err != nil {
			return err
		}
	}
	codec := avro.NewCodec(store)
	n.Codec = codec
	if err := schemas.RegisterAll(ctx, codec); err != nil {
		return err
	}
	if !n.cfg.Exchange && len(n.cfg.Adapters) == 0 {
		return nil
	}
	// Validate admits only the departments with a reference adapter.
	for _, dept := range n.cfg.Adapters {
		if err := n.startAdapter(ctx, runCtx, dept, codec); err != nil {
			return err
		}
	}
	if n.cfg.OpsAddr != "" && len(n.runtimes) > 0 {
		if err := n.serveOps(); err != nil {
			return err
		}
	}

	if n.cfg.PprofAddr != "" {
		servePprof(n.cfg.PprofAddr, n.log)
	}
	if n.cfg.Exchange {
		if err := n.startExchange(ctx, store, codec); err != nil {
			return err
		}
	}
	return nil
}

// producer is a producer connecting as kcfg says, closed with the node.
func (n *Node) producer(kcfg kafka.Config) (*kafka.Producer, error) {
	prod, err := kafka.NewProducer(kcfg, kafka.ProducerConfig{})
	if err != nil {
		return nil, err
	}
	n.onClose(func() { prod.Close() })
	return prod, nil
}

// keepRunning runs fn until Close. A consumer that fails (the broker gone
// for longer than the client retries) is started again, not left dead in a
// live process. It is stopped after the exchange (closed first) has drained
// its queries.
func (n *Node) keepRunning(runCtx context.Context, name string, fn func(context.Context) error) {
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
			n.log.Error(name+" stopped; restarting", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
	n.onClose(func() { stop(); <-done })
}

// runAdapter runs rt until Close, starting it again whenever it stops: a
// consumer that fails (the broker gone for longer than the client retries,
// a reply the broker would not take) is restarted, and resumes with the
// requests it left uncommitted, not left dead in a live process.
func (n *Node) runAdapter(runCtx context.Context, rt *adapters.Runtime) {
	n.runtimes = append(n.runtimes, rt)
	// Stopped after the exchange (closed first) has drained its queries.
	n.keepRunning(runCtx, rt.Department()+" adapter", rt.Run)
}

// serveOps serves the adapters' health and metrics on OpsAddr.
func (n *Node) serveOps() error {
	ln, err := net.Listen("tcp", n.cfg.OpsAddr)
	if err != nil {
		return fmt.Errorf("adapter ops: %w (choose another address with --ops or GOVX_OPS_ADDR)", err)
	}
	n.opsURL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: adapters.NewOpsHandler(n.runtimes, adapters.Check{Name: "postgres", Probe: n.Pool.Ping}),
		ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("adapter ops server stopped", "err", err)
		}
	}()
	n.onClose(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	})
	return nil
}

// LoadKey loads the node's token signing key from its data folder,
// making one on first use.
func LoadKey(dataDir string) (*auth.Key, error) {
	return auth.LoadOrCreateKey(filepath.Join(dataDir, "keys"))
}

// Close stops everything Run started, last started first.
func (n *Node) Close() error {
	defer func() {
		if n.cancel != nil {
			n.cancel()
		}
	}()
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i]()
	}
	n.closers = nil
	return nil
}

// Migrate applies the database migrations of every part of govx.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	applied, err := postgres.Migrate(ctx, pool, catalog.MigrationSource(), ledger.MigrationSource(), population.MigrationSource(),
		legalentity.MigrationSource(), licence.MigrationSource(), consent.MigrationSource(), openapi.MigrationSource(), apikeys.MigrationSource(),
		casework.MigrationSource(), refusal.MigrationSource(), wallet.MigrationSource())
	if err != nil {
		return err
	}
	for _, a := range applied {
		log.Info("migration applied", "migration", a)
	}
	return nil
}
