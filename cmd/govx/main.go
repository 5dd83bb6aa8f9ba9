// Command govx runs the government data-sharing exchange bus: everything in
// one process for a first run (`govx up`), or one service per process for
// production, plus the tools to migrate, seed, mint tokens, verify the audit
// ledger and benchmark a running stack.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/exchange/ledger"

	"govx/adapters/population"
	"govx/catalog"
	"govx/consent"
	"govx/internal/auth"
	"govx/internal/postgres"
)

const usage = `govx — government data-sharing exchange bus

Usage: govx <command> [flags]

Run:
  up                  everything in one process: embedded Kafka-protocol broker,
                      migrations, demo data, exchange API, the population,
                      market-regulation and licensing adapters
  exchange            the exchange API alone (needs GOVX_KAFKA_BROKERS)
  adapter population  the population department's adapter alone
  adapter market-regulation
                      the legal-entity register's adapter alone
  adapter licensing   the licensing department's adapter (electronic licences) alone

Tools:
  migrate             apply database migrations
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
  bench               run authorised lookups against a running exchange
  bench-open          filtered open-data pages and a full export against a running
                      govx up (--url, --concurrency 32, --duration 20s)
  bench-intake        open renewal cases (three verifications each) through the case
                      API of a running govx up (--url, --concurrency 8, --cases 1000)
  help                this text

Environment:
  GOVX_DATA           data folder: signing key, embedded broker   (.govx)
  GOVX_POSTGRES_URL   PostgreSQL   (postgres://postgres@127.0.0.1:54329/govx?sslmode=disable)
  GOVX_REDIS_URL      Redis        (redis://127.0.0.1:63799/0)
  GOVX_KAFKA_BROKERS  comma-separated Kafka brokers (govx up embeds one)
  GOVX_HTTP_ADDR      exchange API address                        (127.0.0.1:8080)
  GOVX_OPS_ADDR       adapter's /healthz and /metrics             (127.0.0.1:9090)
  GOVX_INSTANCE       exchange instance name, one per replica     (exchange-1)
  GOVX_LOG_LEVEL      debug, info, warn, error                    (info)
  GOVX_HOLIDAYS       extra days off for case deadlines, e.g. 2026-12-31,2027-01-01
                      (China's 2026 arrangement is built in)
  GOVX_WORKDAYS       extra working days (weekends worked), e.g. 2027-01-04
  GOVX_CASE_WARN_DAYS a case turns yellow when this many working days remain (1)

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
func baseConfig(stderr io.Writer) Config {
	warn, _ := strconv.Atoi(os.Getenv("GOVX_CASE_WARN_DAYS")) // 0 and garbage: the default
	var brokers []string
	if b := os.Getenv("GOVX_KAFKA_BROKERS"); b != "" {
		brokers = strings.Split(b, ",")
	}
	return Config{
		DataDir:      env("GOVX_DATA", ".govx"),
		PostgresURL:  env("GOVX_POSTGRES_URL", "postgres://postgres@127.0.0.1:54329/govx?sslmode=disable"),
		RedisURL:     env("GOVX_REDIS_URL", "redis://127.0.0.1:63799/0"),
		KafkaBrokers: brokers,
		HTTPAddr:     env("GOVX_HTTP_ADDR", "127.0.0.1:8080"),
		Instance:     env("GOVX_INSTANCE", "exchange-1"),
		Logger:       newLogger(stderr),
		Holidays:     list(os.Getenv("GOVX_HOLIDAYS")),
		Workdays:     list(os.Getenv("GOVX_WORKDAYS")),
		CaseWarnDays: warn,
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cfg := baseConfig(stderr)
	cmd, args := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "up":
		return runUp(ctx, cfg, args, stdout)
	case "exchange":
		fs := flag.NewFlagSet("exchange", flag.ContinueOnError)
		fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "listen address of the exchange API")
		fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "how long a query waits for the provider")
		fs.DurationVar(&cfg.CheckpointInterval, "checkpoint-interval", ledger.DefaultCheckpointInterval, "how often the audit chain head is signed")
		if err := fs.Parse(args); err != nil {
			return err
		}
		cfg.Exchange = true
		return serve(ctx, cfg, func(m *Main) {
			cfg.Logger.Info("exchange API listening", "url", m.URL(), "brokers", m.Brokers)
		})
	case "adapter":
		if len(args) < 1 || !slices.Contains(referenceAdapters, args[0]) {
			return fmt.Errorf("usage: govx adapter %s [--ops addr]", strings.Join(referenceAdapters, "|"))
		}
		fs := flag.NewFlagSet("adapter", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.StringVar(&cfg.OpsAddr, "ops", env("GOVX_OPS_ADDR", "127.0.0.1:9090"), "listen address of the adapter's /healthz and /metrics")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		cfg.Adapters = []string{args[0]}
		return serve(ctx, cfg, func(m *Main) {
			cfg.Logger.Info("adapter running", "department", args[0], "brokers", m.Brokers, "ops", m.OpsURL())
		})
	case "migrate":
		pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL})
		if err != nil {
			return err
		}
		defer pool.Close()
		return migrate(ctx, pool, cfg.Logger)
	case "seed":
		fs := flag.NewFlagSet("seed", flag.ContinueOnError)
		demo := fs.Bool("demo", false, "the demo set: "+fmt.Sprintf("%d residents, %d companies, %d licences", DemoResidents, DemoCompanies, DemoLicences))
		r := Registers{Seed: DemoSeed}
		fs.IntVar(&r.Residents, "residents", DemoResidents, "residents (and their households) in the population register")
		fs.IntVar(&r.Companies, "companies", DemoCompanies, "companies in the legal-entity register; representatives are residents")
		fs.IntVar(&r.Licences, "licences", DemoLicences, "licences in the licence register; holders are companies and residents")
		fs.Int64Var(&r.Seed, "seed", DemoSeed, "seed of the generators: the same seed gives the same data")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *demo {
			r = DemoRegisters(DemoResidents)
		}
		pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL, MaxConns: 8})
		if err != nil {
			return err
		}
		defer pool.Close()
		if err := migrate(ctx, pool, cfg.Logger); err != nil {
			return err
		}
		return runSeed(ctx, pool, r, stdout, cfg.Logger)
	case "token":
		return runToken(cfg, args, stdout)
	case "audit":
		return runAudit(ctx, cfg, args, stdout)
	case "catalog":
		return runCatalog(ctx, cfg, args, os.Stdin, stdout)
	case "bench":
		return runBench(ctx, cfg, args, stdout)
	case "bench-open":
		return runBenchOpen(ctx, cfg, args, stdout)
	case "bench-intake":
		return runBenchIntake(ctx, cfg, args, stdout)
	case "population":
		return runPopulation(ctx, cfg, args, stdout)
	case "legal-entity":
		return runLegalEntity(ctx, cfg, args, stdout)
	case "licence":
		return runLicence(ctx, cfg, args, stdout)
	case "consent":
		return runConsent(ctx, cfg, args, stdout)
	case "grant":
		return runGrant(ctx, cfg, args, stdout)
	case "apikey":
		return runAPIKey(ctx, cfg, args, stdout)
	default:
		return fmt.Errorf("unknown command %q; run 'govx help'", cmd)
	}
}

// serve runs a Main until ctx ends.
func serve(ctx context.Context, cfg Config, ready func(*Main)) error {
	m := NewMain(cfg)
	if err := m.Run(ctx); err != nil {
		return err
	}
	ready(m)
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	return m.Close()
}

func runUp(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data folder (signing key, embedded broker's log)")
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "listen address of the exchange API")
	fs.IntVar(&cfg.KafkaPort, "kafka-port", 19092, "port of the embedded Kafka-protocol broker on 127.0.0.1")
	fs.IntVar(&cfg.Residents, "residents", DemoResidents, "demo residents to seed into an empty register")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "how long a query waits for the provider")
	fs.DurationVar(&cfg.CheckpointInterval, "checkpoint-interval", ledger.DefaultCheckpointInterval, "how often the audit chain head is signed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.EmbeddedKafka, cfg.KafkaBrokers = true, nil
	cfg.Migrate, cfg.Demo, cfg.Exchange = true, true, true
	cfg.Adapters = referenceAdapters
	return serve(ctx, cfg, func(m *Main) {
		keys := newDemoKeys(cfg)
		if err := seedDemoConsents(ctx, m.Consents, keys.company, keys.holder); err != nil {
			fmt.Fprintf(stdout, "warning: the demo consents could not be recorded: %v\n", err)
		}
		seeded, err := seedDemoCases(ctx, m, keys.person, keys.applicants)
		if err != nil {
			fmt.Fprintf(stdout, "warning: the demo cases could not be opened: %v\n", err)
		}
		printBanner(stdout, m, cfg, keys)
		printWindow(stdout, m, keys, seeded)
	})
}

// demoKeys are records of the demo registers the banner looks up,
// recomputed from the seed.
type demoKeys struct {
	person, company string
	licence, holder string // a food business licence valid today, and its holder
	// applicants are companies that can apply at the window.
	applicants []IntakeApplicant
}

func newDemoKeys(cfg Config) demoKeys {
	var k demoKeys
	g, err := newGenerators(DemoRegisters(cfg.Residents))
	if err != nil {
		return k
	}
	k.person, k.company = g.people.IDNumber(0), g.companies.USCC(0)
	k.applicants, _ = IntakeApplicants(cfg.Residents, 2, time.Now())
	for i := 0; i < DemoLicences; i++ {
		if l := g.licences.Licence(i); l.Type == licence.TypeFoodBusiness && l.EffectiveStatus(time.Now()) == licence.StatusValid {
			k.licence, k.holder = l.Number, l.HolderCode
			break
		}
	}
	return k
}

func printBanner(w io.Writer, m *Main, cfg Config, keys demoKeys) {
	scopes := []string{population.ResourceIdentity, catalog.DemoHousehold, legalentity.ResourceBasic, legalentity.ResourceStatus,
		licence.ResourceFoodBusiness, licence.ResourceByHolder}
	tok, err := m.Key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: demoClerk.Subject,
		Dept: catalog.DeptServiceCenter, Role: consent.RoleClerk, Scopes: scopes, TTL: 24 * time.Hour})
	if err != nil {
		tok = "(could not mint: " + err.Error() + ")"
	}
	person, company, licenceNo := keys.person, keys.company, keys.licence
	citizen, err := m.Key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: person, Role: consent.RoleCitizen, TTL: 24 * time.Hour})
	if err != nil {
		citizen = "(could not mint: " + err.Error() + ")"
	}
	consentCurl := fmt.Sprintf(`  curl -s -X POST %s/v1/consents \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"subject":"%s","case_id":"%s","purpose_code":"demo-application",
         "purpose":"Verify the applicant for a food business licence",
         "resources":[{"resource":"population.identity"},
           {"resource":"population.household","fields":["household_no","head_name","address","division_code"]}],
         "valid_until":"%s"}'`,
		m.URL(), person, DemoCase, time.Now().Add(30*24*time.Hour).UTC().Format(time.RFC3339))
	curl := func(resource, key, fields string) string {
		return fmt.Sprintf(`  curl -s -X POST %s/v1/resources/%s/query \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"key":"%s",%s"purpose":"case:%s"}'`, m.URL(), resource, key, fields, DemoCase)
	}
	fmt.Fprintf(w, `
govx is up.

  exchange API      %[1]s   (OpenAPI: %[1]s/v1/openapi.json)
  catalogue API     %[1]s/v1/catalog/resources   (%[1]s/v1/catalog/openapi.json)
  schema registry   %[1]s/registry/subjects   (Confluent-compatible)
  JWKS              %[1]s/.well-known/jwks.json
  health, metrics   %[1]s/healthz   %[1]s/metrics
  open data API     %[1]s/open/v1/docs   (try: curl '%[1]s/open/v1/datasets/air-quality/records?filter=pm25:gt:60&sort=-pm25&limit=5')
  Kafka (embedded)  %[2]s   (kcat -b %[2]s -L)
  PostgreSQL        %[3]s
  Redis             %[4]s
  data folder       %[5]s
  adapters          population (%[6]d residents), market-regulation (%[7]d companies),
                    licensing (%[8]d licences)

Try a lookup as the service center's window clerk (the token is valid for 24
hours; mint more with 'govx token'):

  TOKEN=%[9]s

A resident. Personal data leaves only with the data subject's consent, so
this first answers 403 consent_required:
%[10]s

Record the applicant's consent, as the clerk does at the window (it comes back
with a signed artefact; keys at %[1]s/v1/consents/keys):
%[14]s

and ask again. The resident, signed in as themselves, sees every access to
their data and their consents, and can revoke one (POST
/v1/consents/{id}/revoke) — then the lookup is refused within a second:

  CITIZEN=%[15]s
  curl -s -H "Authorization: Bearer $CITIZEN" %[1]s/v1/subjects/%[16]s/accesses
  curl -s -H "Authorization: Bearer $CITIZEN" %[1]s/v1/subjects/%[16]s/consents

A company and its legal representative's name (the company's consent for
case %[17]s was recorded at start-up):
%[11]s

A food business licence, sealed by its issuer (its holder's consent was
recorded at start-up; verify the seal offline with the keys at
%[1]s/v1/catalog/departments/licensing/keys):
%[12]s

The same token reads the resident's population.household, shared on
conditions, through the service center's grant: household_no, head_name,
address and division_code are granted (try "fields":["head_name","address"]);
"members" is refused with field_not_granted. See the grants: %[13]s grant list

Watch changes as they happen (a resident's status, a licence revoked):
  curl -N -H "Authorization: Bearer $TOKEN" '%[1]s/v1/resources/legal-entity.status/events?purpose=case:demo-0001'

Then check the audit trail (hash chain and signed checkpoints) and list it as
an operator sees it, ID numbers masked:
  %[13]s audit verify
  %[13]s audit list --limit 10
Press Ctrl-C to stop; data is kept for the next run.
`, m.URL(), strings.Join(m.Brokers, ","), redact(cfg.PostgresURL), cfg.RedisURL, cfg.DataDir,
		cfg.Residents, DemoCompanies, DemoLicences, tok,
		curl(population.ResourceIdentity, person, `"fields":["name","sex","birth_date","address"],`),
		curl(legalentity.ResourceBasic, company, `"fields":["name","status","legal_representative"],`),
		curl(licence.ResourceFoodBusiness, licenceNo, ""),
		self(), consentCurl, citizen, person, DemoCase)
}

// self is how the user can run this binary again from where they are.
func self() string {
	exe, err := os.Executable()
	if err != nil {
		return "govx"
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			return "./" + rel
		}
	}
	return exe
}

// redact hides a password in a URL before it is printed.
func redact(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 {
		return u
	}
	userinfo := u[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return u[:scheme+3] + userinfo[:i] + ":***" + u[at:]
	}
	return u
}

func runToken(cfg Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "svc:service-center-window", "subject: who the token is for")
	dept := fs.String("dept", catalog.DeptServiceCenter, "department code of the caller")
	role := fs.String("role", "service", "role: service, clerk, citizen, …")
	scope := fs.String("scope", population.ResourceIdentity, "space- or comma-separated resource codes the token may query")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	data := fs.String("data", cfg.DataDir, "data folder holding the signing key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := loadKey(*data)
	if err != nil {
		return err
	}
	tok, err := key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: *sub, Dept: *dept, Role: *role,
		Scopes: strings.FieldsFunc(*scope, func(r rune) bool { return r == ' ' || r == ',' }), TTL: *ttl})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
