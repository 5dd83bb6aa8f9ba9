package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"govx/casework"
	"govx/federation"
	"govx/internal/auth"
	"govx/internal/kafka"
)

// Config is everything a node needs. Only cmd/govx reads flags and the
// environment to fill it; tests fill it directly (port 0, a temp data
// folder, a database and Redis prefix of their own).
type Config struct {
	DataDir     string
	PostgresURL string
	RedisURL    string
	RedisPrefix string

	KafkaBrokers  []string // external brokers; empty with EmbeddedKafka
	EmbeddedKafka bool
	KafkaPort     int // of the embedded broker; 0 picks one
	// Credentials on external brokers (SASL SCRAM-SHA-512). Each component
	// connects as its own principal (bus.ExchangePrincipal, AdapterPrincipal,
	// CaseworkPrincipal) with its password from KafkaCredentials; KafkaUser
	// and KafkaPassword, when set, are used by every component of the
	// process instead. Neither means PLAINTEXT. The embedded broker makes
	// its principals itself and keeps them in <DataDir>/kafka/credentials.json.
	KafkaUser        string
	KafkaPassword    string
	KafkaCredentials kafka.Credentials
	// KafkaCredentialsFile is read into KafkaCredentials when that is
	// empty (a JSON object of passwords by principal).
	KafkaCredentialsFile string
	KafkaTLS             *tls.Config // TLS to external brokers when set
	// RequestRetention is how much the brokers keep of the request and
	// reply topics this node creates; zero fields take
	// kafka.DefaultRequestRetention's (see kafka.Config.RequestRetention).
	RequestRetention kafka.Retention
	// SessionTimeout is how long the adapters' consumer groups wait for a
	// member that stopped heartbeating; zero: kafka.DefaultSessionTimeout.
	SessionTimeout time.Duration

	HTTPAddr string // exchange API; port 0 picks one
	// PublicURL is where users reach the node (https://exchange.example.gov);
	// with https, session cookies are Secure and every answer carries
	// Strict-Transport-Security. TLSProxy says a TLS-terminating proxy is
	// in front: cookies are Secure, and X-Forwarded-Proto (trusted only
	// then) says which answers get Strict-Transport-Security.
	PublicURL string
	TLSProxy  bool
	// Server deadlines of the HTTP APIs: the whole request's head
	// (ReadHeaderTimeout, default 5 s), a request's body (ReadTimeout,
	// default 30 s) and its answer (WriteTimeout, default Timeout + 30 s).
	// Streams (an export, an upload) are not held to the last two: they
	// get StreamIdle (default 30 s) between one chunk and the next.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, StreamIdle time.Duration
	// Event subscriptions: at most MaxSubscriptions at once per instance
	// (default 256), an SSE heartbeat every EventHeartbeat (default 15 s).
	MaxSubscriptions int
	EventHeartbeat   time.Duration
	Instance         string // exchange instance name: its reply topic is govx.replies.<instance>
	Timeout          time.Duration
	// UnsignedBus turns bus signatures off for queries: the exchange
	// neither signs requests nor checks replies, and adapters neither
	// check requests nor sign replies. It exists only so that benchmarks
	// can measure what signing costs (BenchmarkLookup); no flag or
	// environment variable sets it, and a node run for real always signs.
	UnsignedBus bool
	// CheckpointInterval is how often the exchange signs the audit chain
	// head; 0 means ledger.DefaultCheckpointInterval.
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
	// CaseItems are the service items the window offers (default
	// casework.DemoItems); casework.CrossRegionItem makes one that another
	// node of the federation decides.
	CaseItems []casework.Item

	Migrate bool
	Demo    bool // seed the demo catalogue and residents when empty
	// DemoLogin offers the window's one-click demo sign-in (8-hour staff
	// tokens) to visitors from loopback addresses. Only `govx up` sets it;
	// no flag or environment variable does.
	DemoLogin bool
	// DemoIdP serves the demo identity provider (package internal/idp) at
	// /idp/, with demo residents and companies to sign in as without a
	// password (from loopback addresses only), and makes it the provider
	// the online service hall signs in through and the verifier accepts,
	// in place of OIDC. Only `govx up` sets it.
	DemoIdP   bool
	Residents int // demo residents

	// Exchange runs the exchange and the node's HTTP APIs; Casework runs
	// the one-stop window's case workflow and pages beside it.
	Exchange bool
	Casework bool
	Adapters []string // departments whose reference adapter runs here
	OpsAddr  string   // adapters' /healthz and /metrics when set; port 0 picks one
	// PprofAddr serves net/http/pprof on a debug listener of its own (never
	// the public one) when set.
	PprofAddr string
	// Baseline serves population.DirectPath beside the exchange: the
	// population register looked up directly (token, one query, JSON), the
	// baseline `govx bench --baseline` compares the exchange with. Only
	// `govx up --baseline` sets it; it is a benchmark's route, off by
	// default.
	Baseline bool

	// OIDC, when its Issuer is set, makes the exchange and the window
	// accept the tokens of the government's OpenID Connect provider beside
	// those of the node's own key (which `govx up` and the tools use).
	OIDC auth.OIDCConfig
	// HallClientSecret is the online service hall's client secret at the
	// OIDC provider when the provider registered the hall as a
	// confidential client; the hall's client id is OIDC.Audience, its
	// redirect URI PublicURL + /hall/callback. The hall runs beside the
	// case workflow whenever OIDC (or DemoIdP) is set.
	HallClientSecret string
	// TokenMaxLifetime is the longest life a token may claim (exp - iat);
	// 0 means auth.DefaultMaxLifetime (24 h).
	TokenMaxLifetime time.Duration

	// Federation, when its Name is set, makes the node one node of a
	// federation of exchanges (package federation).
	Federation FederationConfig

	Logger *slog.Logger
}

// FederationConfig is a node's place in a federation: its name and level,
// the nodes it is linked to (more can be linked once it runs, with
// Node.Federation.Link), and how often it reads their catalogues. Its node
// key is <DataDir>/keys/node, made on first start.
type FederationConfig struct {
	Name    string
	Level   string
	Links   []federation.Peer
	Refresh time.Duration
	// KeyTTL is how long the keys of other nodes' departments (their
	// licence issuers' seal keys) are used before they are read again
	// (default 10 min).
	KeyTTL time.Duration
}

// Validate fills in the defaults and refuses a Config that cannot run.
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
	if (c.KafkaUser == "") != (c.KafkaPassword == "") {
		return errors.New("a Kafka user needs its password and a password its user (GOVX_KAFKA_USER, GOVX_KAFKA_PASSWORD)")
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
		if !slices.Contains(ReferenceAdapters, a) {
			return fmt.Errorf("no reference adapter for department %q (have: %s)", a, strings.Join(ReferenceAdapters, ", "))
		}
	}
	if c.Federation.Name != "" && !c.Exchange {
		return errors.New("a federation node runs the exchange (Exchange)")
	}
	if c.Casework && !c.Exchange {
		return errors.New("the case workflow runs beside the exchange (Exchange)")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("public URL %q is not an http or https URL (GOVX_PUBLIC_URL)", c.PublicURL)
		}
	}
	if c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.StreamIdle < 0 {
		return errors.New("server timeouts must not be negative")
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = c.Timeout + 30*time.Second
	}
	if c.StreamIdle == 0 {
		c.StreamIdle = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OIDC.Enabled() && c.OIDC.Logger == nil {
		c.OIDC.Logger = c.Logger
	}
	return nil
}

// publicHTTPS reports whether users reach the node over https.
func (c *Config) publicHTTPS() bool {
	return strings.HasPrefix(strings.ToLower(c.PublicURL), "https://")
}

// secureCookies reports whether the node's cookies are sent over TLS only.
func (c *Config) secureCookies() bool { return c.publicHTTPS() || c.TLSProxy }
