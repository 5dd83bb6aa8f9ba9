// Command govx runs the government data-sharing exchange bus: everything in
// one process for a first run (`govx up`), or one service per process for
// production, plus the tools to migrate, seed, mint tokens, verify the audit
// ledger and benchmark a running stack.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"govx/internal/auth"
	"govx/internal/kafka"
	"govx/node"
)

const usage = `govx — government data-sharing exchange bus

Usage: govx <command> [flags]

Run:
  up                  everything in one process: embedded Kafka-protocol broker,
                      migrations, demo data, exchange API, the population,
                      market-regulation and licensing adapters
  up --federation     a province and two cities, three linked nodes on this machine
  exchange            the exchange API alone (needs GOVX_KAFKA_BROKERS)
  adapter population  the population department's adapter alone
  adapter market-regulation
                      the legal-entity register's adapter alone
  adapter licensing   the licensing department's adapter (electronic licences) alone

Tools:
  migrate             apply database migrations, register the bus schemas
  seed                register the catalogue and fill the empty registers
                      (--residents N --companies N --licences N; --demo)
  token               mint a development token signed with the local key
  catalog             search, show, register, update and retire catalogue resources
  audit verify        check the audit ledger's hash chain and signed checkpoints
  audit checkpoint    sign the chain head now (--export: print the latest to keep)
  audit list          recent audit entries for operators, ID numbers masked
  population set-status <id> <status> --reason TEXT
                      change a resident's status and publish the change event
  legal-entity deregister|revoke <uscc> --reason TEXT
                      close a company in the legal-entity register (event published)
  licence revoke <number> --reason TEXT
                      revoke an electronic licence (event published)
  grant               apply for, approve, reject, revoke and list access grants
  consent verify      check a consent artefact's signature offline (--keys URL|FILE)
  apikey              create, list, revoke and set limits of open-data API keys
  bus topics|groups   the bus's topics with their offsets, its consumer groups and lag
  bus tail TOPIC      a topic's messages as JSON lines, Avro decoded, ID numbers masked
                      ([--from-beginning] [--follow] [-n N]; connects as admin)
  bench               run authorised lookups against a running exchange (--baseline:
                      against a direct lookup too, on govx up --baseline)
  bench-open          filtered open-data pages and a full export against a running
                      govx up (--url, --concurrency 32, --duration 20s)
  bench-intake        open renewal cases (three verifications each) through the case
                      API of a running govx up (--url, --concurrency 8, --cases 1000)
  node-key            this node's entry for the link files of the nodes it is linked
                      to (GOVX_NODE_NAME, GOVX_NODE_LEVEL; --url, --relation)
  help                this text

Environment:
  GOVX_DATA           data folder: signing key, embedded broker   (.govx)
  GOVX_POSTGRES_URL   PostgreSQL   (postgres://postgres@127.0.0.1:54329/govx?sslmode=disable)
  GOVX_REDIS_URL      Redis        (redis://127.0.0.1:63799/0)
  GOVX_KAFKA_BROKERS  comma-separated Kafka brokers (govx up embeds one, with SASL and
                      ACLs on and its principals in GOVX_DATA/kafka/credentials.json)
  GOVX_KAFKA_USER     the process's Kafka principal (SASL SCRAM-SHA-512), e.g.
                      exchange-<instance>, adapter-<department>, casework
  GOVX_KAFKA_PASSWORD its password
  GOVX_KAFKA_CREDENTIALS  instead of the two above: a JSON file (mode 0600) of
                      passwords by principal; each component uses its own
  GOVX_KAFKA_TLS      true: TLS to the brokers, verified against the system roots
  GOVX_BUS_RETENTION  how long request and reply topics keep messages, -1 no limit (5m)
  GOVX_BUS_RETENTION_BYTES  and how much, per partition, -1 no limit     (67108864)
  GOVX_BUS_SESSION_TIMEOUT  how long an adapter that stopped heartbeating holds its
                      partitions; the brokers' group.min.session.timeout.ms must allow it (2s)
  GOVX_HTTP_ADDR      exchange API address                        (127.0.0.1:8080)
  GOVX_OPS_ADDR       adapter's /healthz and /metrics             (127.0.0.1:9090)
  GOVX_INSTANCE       exchange instance name, one per replica     (exchange-1)
  GOVX_PUBLIC_URL     where users reach the node; https: Secure cookies and HSTS
  GOVX_TLS_PROXY      1: a TLS proxy is in front (Secure cookies; X-Forwarded-Proto trusted)
  GOVX_LOG_LEVEL      debug, info, warn, error                    (info)
  GOVX_PPROF_ADDR     serve net/http/pprof there (a debug address, never the public one)
  GOVX_HOLIDAYS       extra days off for case deadlines, e.g. 2026-12-31,2027-01-01
                      (China's 2026 arrangement is built in)
  GOVX_WORKDAYS       extra working days (weekends worked), e.g. 2027-01-04
  GOVX_CASE_WARN_DAYS a case turns yellow when this many working days remain (1)
  GOVX_NODE_NAME      this node's name in a federation of exchanges, e.g. dongguan
  GOVX_NODE_LEVEL     province, city or county
  GOVX_FEDERATION_LINKS  a JSON file of the linked nodes (parent, children, peers)

Run 'govx <command> -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "govx:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newLogger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(env("GOVX_LOG_LEVEL", "info"))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// list splits a comma-separated setting, ignoring blanks.
func list(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// baseConfig reads the environment every command shares.
func baseConfig(stderr io.Writer) node.Config {
	warn, _ := strconv.Atoi(os.Getenv("GOVX_CASE_WARN_DAYS")) // 0 and garbage: the default
	var brokers []string
	if b := os.Getenv("GOVX_KAFKA_BROKERS"); b != "" {
		brokers = strings.Split(b, ",")
	}
	return node.Config{
		DataDir:      env("GOVX_DATA", ".govx"),
		PostgresURL:  env("GOVX_POSTGRES_URL", "postgres://postgres@127.0.0.1:54329/govx?sslmode=disable"),
		RedisURL:     env("GOVX_REDIS_URL", "redis://127.0.0.1:63799/0"),
		KafkaBrokers: brokers,
		// Broker credentials: from the environment or a file, never
		// from the compose file itself.
		KafkaUser:            os.Getenv("GOVX_KAFKA_USER"),
		KafkaPassword:        os.Getenv("GOVX_KAFKA_PASSWORD"),
		KafkaCredentialsFile: os.Getenv("GOVX_KAFKA_CREDENTIALS"),
		KafkaTLS:             kafkaTLS(os.Getenv("GOVX_KAFKA_TLS")),
		HTTPAddr:             env("GOVX_HTTP_ADDR", "127.0.0.1:8080"),
		Instance:             env("GOVX_INSTANCE", "exchange-1"),
		PublicURL:            os.Getenv("GOVX_PUBLIC_URL"),
		HallClientSecret:     os.Getenv("GOVX_OIDC_CLIENT_SECRET"),
		TLSProxy:             os.Getenv("GOVX_TLS_PROXY") == "1",
		PprofAddr:            os.Getenv("GOVX_PPROF_ADDR"),
		Logger:               newLogger(stderr),
		Holidays:             list(os.Getenv("GOVX_HOLIDAYS")),
		Workdays:             list(os.Getenv("GOVX_WORKDAYS")),
		CaseWarnDays:         warn,
	}
}

// kafkaTLS is the TLS configuration GOVX_KAFKA_TLS asks for: none unless
// it is true.
func kafkaTLS(v string) *tls.Config {
	if on, _ := strconv.ParseBool(v); !on {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// commands are govx's subcommands, each in the file named for its group.
var commands = map[string]func(ctx context.Context, cfg node.Config, args []string, stdout, stderr io.Writer) error{
	"up":           runUp,
	"exchange":     runExchange,
	"adapter":      runAdapter,
	"migrate":      runMigrate,
	"seed":         runSeed,
	"token":        runToken,
	"audit":        runAudit,
	"catalog":      runCatalog,
	"bench":        runBench,
	"bench-open":   runBenchOpen,
	"bench-intake": runBenchIntake,
	"population":   runPopulation,
	"legal-entity": runLegalEntity,
	"licence":      runLicence,
	"consent":      runConsent,
	"grant":        runGrant,
	"apikey":       runAPIKey,
	"node-key":     runNodeKey,
	"bus":          runBus,
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q; run 'govx help'", args[0])
	}
	cfg := baseConfig(stderr)
	var err error
	if cfg.OIDC, cfg.TokenMaxLifetime, err = tokenConfig(); err != nil {
		return err
	}
	if cfg.Federation, err = federationConfig(); err != nil {
		return err
	}
	if cfg.RequestRetention, err = busRetention(); err != nil {
		return err
	}
	if v := os.Getenv("GOVX_BUS_SESSION_TIMEOUT"); v != "" {
		if cfg.SessionTimeout, err = time.ParseDuration(v); err != nil || cfg.SessionTimeout <= 0 {
			return fmt.Errorf("GOVX_BUS_SESSION_TIMEOUT: %q is not a positive duration (e.g. 2s)", v)
		}
	}
	return cmd(ctx, cfg, args[1:], stdout, stderr)
}

// busRetention reads how much of the request and reply topics the brokers
// keep: GOVX_BUS_RETENTION (a duration) and GOVX_BUS_RETENTION_BYTES (per
// partition); -1 is no limit, unset the default (kafka.DefaultRequestRetention).
func busRetention() (kafka.Retention, error) {
	var r kafka.Retention
	if v := os.Getenv("GOVX_BUS_RETENTION"); v == "-1" {
		r.Time = -1
	} else if v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return r, fmt.Errorf("GOVX_BUS_RETENTION: %q is not a positive duration (e.g. 5m) or -1", v)
		}
		r.Time = d
	}
	if v := os.Getenv("GOVX_BUS_RETENTION_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n == 0 || n < -1 {
			return r, fmt.Errorf("GOVX_BUS_RETENTION_BYTES: %q is not a positive number of bytes or -1", v)
		}
		r.Bytes = n
	}
	return r, nil
}

// tokenConfig reads which tokens the exchange accepts besides the local
// key's: GOVX_OIDC_ISSUER, GOVX_OIDC_AUDIENCE (the client id),
// GOVX_OIDC_CLAIMS (a claim mapping, as JSON or the path of a JSON file),
// GOVX_OIDC_LEEWAY (clock skew) and GOVX_TOKEN_MAX_LIFETIME. With an
// issuer, the online service hall signs applicants in through that
// provider as client GOVX_OIDC_AUDIENCE (GOVX_OIDC_CLIENT_SECRET when the
// provider gave the hall a secret).
func tokenConfig() (auth.OIDCConfig, time.Duration, error) {
	var c auth.OIDCConfig
	dur := func(name string) (time.Duration, error) {
		v := os.Getenv(name)
		if v == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%s=%q is not a positive duration such as 60s", name, v)
		}
		return d, nil
	}
	life, err := dur("GOVX_TOKEN_MAX_LIFETIME")
	if err != nil {
		return c, 0, err
	}
	c.Issuer = os.Getenv("GOVX_OIDC_ISSUER")
	if c.Issuer == "" {
		return c, life, nil
	}
	c.Audience = os.Getenv("GOVX_OIDC_AUDIENCE")
	if c.Leeway, err = dur("GOVX_OIDC_LEEWAY"); err != nil {
		return c, 0, err
	}
	if m := strings.TrimSpace(os.Getenv("GOVX_OIDC_CLAIMS")); m != "" {
		data := []byte(m)
		if !strings.HasPrefix(m, "{") {
			if data, err = os.ReadFile(m); err != nil {
				return c, 0, fmt.Errorf("GOVX_OIDC_CLAIMS: %w", err)
			}
		}
		if c.Claims, err = auth.ParseClaimMapping(data); err != nil {
			return c, 0, fmt.Errorf("GOVX_OIDC_CLAIMS: %w", err)
		}
	}
	if err := c.Validate(); err != nil {
		return c, 0, fmt.Errorf("GOVX_OIDC_ISSUER: %w", err)
	}
	c.Logger = nil // the node's
	return c, life, nil
}

// errUsage is what a command refuses its arguments with; the message says
// how to call it.
var errUsage = errors.New("usage")

// usageError is errUsage with how the command is called.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}
