package node

import (
	"context"
	"errors"
	"fmt"
	"govx"
	"govx/adapters"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/catalog/registry"
	"govx/consent"
	"govx/exchange"
	"govx/exchange/ledger"
	"govx/federation"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/internal/httpx"
	"govx/internal/kafka"
	"govx/internal/redis"
	"govx/internal/refusal"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// startExchange starts the exchange and serves every HTTP API of the node
// on one router: queries and event subscriptions, the catalogue, grants
// and schema registry, consents and the data subject's view, the audit
// ledger, open data, the case workflow and its pages, keys, health and
// metrics.
func (n *Node) startExchange(ctx context.Context, store *catalog.Store, codec *avro.Codec) (err error) {
	kcfg, err := n.KafkaConfig(bus.ExchangePrincipal(n.cfg.Instance))
	if err != nil {
		return err
	}
	prod, err := n.producer(kcfg)
	if err != nil {
		return err
	}
	// Every provider's request topic exists from the start, so a department
	// whose adapter is down looks like what it is: a provider that does not
	// answer in time.
	providers, err := store.Providers(ctx)
	if err != nil {
		return err
	}
	topics := make([]kafka.Topic, len(providers))
	for i, p := range providers {
		topics[i] = kafka.Topic{Name: bus.RequestTopic(p), Partitions: requestPartitions, Transient: true}
	}
	if err := kafka.EnsureTopics(ctx, kcfg, topics...); err != nil {
		return err
	}
	rdb, err := redis.Open(ctx, redis.Config{URL: n.cfg.RedisURL, Prefix: n.cfg.RedisPrefix})
	if err != nil {
		return err
	}
	n.onClose(func() { rdb.Close() })
	req, err := kafka.NewRequester(ctx, kcfg, kafka.RequesterConfig{
		ReplyTopic: bus.ReplyTopic(n.cfg.Instance), Timeout: n.cfg.Timeout, Logger: n.log,
		ConsumerGroup: bus.RequestGroup}, prod)
	if err != nil {
		return err
	}
	n.Requester = req
	n.onClose(func() { req.Close() })
	audit, err := ledger.New(ledger.Config{Pool: n.Pool, Logger: n.log})
	if err != nil {
		return err
	}
	n.onClose(audit.Close)
	if err := audit.StartCheckpoints(ledger.CheckpointConfig{Key: n.Key, Interval: n.cfg.CheckpointInterval, Logger: n.log}); err != nil {
		return err
	}
	// A change to a resource or a grant reaches every exchange instance's
	// policy cache through Redis within the second.
	inv, err := catalog.NewInvalidator(catalog.InvalidatorConfig{Redis: rdb, Logger: n.log})
	if err != nil {
		return err
	}
	store.OnChange(inv.ResourceChanged)
	grants := catalog.NewGrantStore(n.Pool, nil)
	grants.OnChange(inv.ResourceChanged)
	policy, err := catalog.NewPolicyCache(catalog.PolicyConfig{Store: store, Grants: grants, Redis: rdb, Logger: n.log})
	if err != nil {
		return err
	}
	n.onClose(policy.Close)
	store.OnChange(func(_ context.Context, code string) {
		if strings.HasPrefix(code, catalog.DepartmentChange) {
			policy.DepartmentsChanged()
		}
	})
	n.onClose(grants.ExpireEvery(time.Minute, n.log))
	// Consents: a revocation reaches every instance's cache the same way.
	if n.ConsentKey, err = auth.LoadOrCreateKey(filepath.Join(n.cfg.DataDir, "keys", "consent")); err != nil {
		return err
	}
	if n.Consents, err = consent.NewStore(consent.StoreConfig{Pool: n.Pool, Key: n.ConsentKey, Entitlement: policy, Logger: n.log}); err != nil {
		return err
	}
	consents, err := consent.NewCache(consent.CacheConfig{Store: n.Consents, Redis: rdb, Logger: n.log})
	if err != nil {
		return err
	}
	n.onClose(consents.Close)
	announce := consent.Announcer(rdb, n.log)
	n.Consents.OnChange = func(ctx context.Context, subject string) {
		consents.Forget(subject) // this instance at once, the others through Redis
		announce(ctx, subject)
	}
	signer, err := n.busSigner(ctx, store, bus.ExchangeDepartment, "exchange-"+n.cfg.Instance)
	if err != nil {
		return err
	}
	busVerifier, err := n.busVerifier(store)
	if err != nil {
		return err
	}
	if n.cfg.UnsignedBus {
		signer, busVerifier = nil, nil
	}
	svc, err := exchange.NewService(exchange.Config{Policy: policy, Requester: req, Codec: codec,
		Timeout: n.cfg.Timeout, Logger: n.log, Consents: consents,
		Signer: signer, Replies: busVerifier})
	if err != nil {
		return err
	}
	// Listening before the verifier is made: the demo identity provider's
	// issuer URL is the node's own address.
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("exchange API: %w (is another govx running? choose another address with --http or GOVX_HTTP_ADDR)", err)
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	n.httpURL = "http://" + ln.Addr().String()
	vcfg := auth.Config{Issuer: Issuer, Audience: Audience, MaxLifetime: n.cfg.TokenMaxLifetime}
	if n.cfg.DemoIdP {
		n.cfg.OIDC = demoOIDC(n.httpURL)
		n.cfg.OIDC.Logger = n.log
	}
	if n.cfg.OIDC.Enabled() {
		oidc := n.cfg.OIDC
		vcfg.OIDC = &oidc
	}
	verifier, err := auth.NewVerifier(vcfg, n.Key)
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
	query, err := exchange.NewHandler(exchange.HandlerConfig{Service: svc, Verifier: verifier, Audit: audit, Metrics: metrics})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	n.mux = mux
	mux.Handle("POST /v1/resources/{code}/query", query)
	mux.Handle("GET /v1/openapi.json", document(exchange.OpenAPI()))
	if n.cfg.Baseline {
		mux.Handle("POST "+population.DirectPath, population.NewDirectHandler(population.NewStore(n.Pool), verifier, n.log))
	}
	mux.Handle("/", httpx.NotFound(n.log))
	n.refusals = refusal.New(n.Pool, n.log, ledger.MaskText)
	refusals := n.refusals.Handler(verifier, n.log)
	mux.Handle("/v1/refusals", refusals)
	mux.Handle("/v1/refusals/", refusals)
	cat, err := catalog.NewHandler(catalog.HandlerConfig{Store: store, Verifier: verifier, Logger: n.log, Refusals: n.refusals})
	if err != nil {
		return err
	}
	mux.Handle("/v1/catalog/", cat)
	followOpenData, err := n.mountOpenData(ctx, mux, store, verifier, rdb)
	if err != nil {
		return err
	}
	mux.Handle("GET /.well-known/jwks.json", verifier.JWKSHandler())
	mux.Handle(catalog.KeysPath, catalog.NewKeysHandler(store))
	// The adapters running in this process report on the same page. It
	// tells who asks how much of what, so on the API port it is for
	// operators only.
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := httpx.Authenticate(r, verifier)
		if err == nil && caller.Role != RoleOperator {
			err = govx.Errorf(govx.KindForbidden, "role_missing", "the metrics are for tokens with role %s", RoleOperator)
		}
		if err != nil {
			httpx.WriteError(w, n.log, "", err)
			return
		}
		metrics.ServeHTTP(w, r)
		adapters.WriteMetrics(w, n.runtimes...)
	}))
	mux.Handle("GET /healthz", n.health(rdb))
	reg, err := registry.NewHandler(registry.Config{Store: store, Verifier: verifier, Logger: n.log, Prefix: "/registry", Refusals: n.refusals})
	if err != nil {
		return err
	}
	mux.Handle("/registry/", reg)
	events, err := exchange.NewEvents(exchange.EventsConfig{Service: svc, Verifier: verifier, Audit: audit, Kafka: kcfg, Logger: n.log,
		MaxSubscriptions: n.cfg.MaxSubscriptions, Heartbeat: n.cfg.EventHeartbeat, Signatures: busVerifier})
	if err != nil {
		return err
	}
	metrics.Gauge("govx_exchange_events_unverified_total", func() float64 { return float64(events.Unverified()) })
	mux.Handle("GET /v1/resources/{code}/events", events)
	ch, err := consent.NewHandler(consent.HandlerConfig{Store: n.Consents, Verifier: verifier, Logger: n.log})
	if err != nil {
		return err
	}
	mux.Handle("/v1/consents", ch)
	mux.Handle("/v1/consents/", ch)
	mux.Handle("GET /v1/subjects/{subject}/consents", ch)
	sh, err := ledger.NewSubjectHandler(ledger.SubjectHandlerConfig{Ledger: audit, Verifier: verifier, Logger: n.log})
	if err != nil {
		return err
	}
	mux.Handle("GET /v1/subjects/{subject}/accesses", sh)
	ah, err := ledger.NewHandler(ledger.HandlerConfig{Pool: n.Pool, Verifier: verifier, Logger: n.log})
	if err != nil {
		return err
	}
	mux.Handle("/v1/audit", ah)
	mux.Handle("/v1/audit/", ah)
	gh, err := catalog.NewGrantsHandler(catalog.GrantsHandlerConfig{Grants: grants, Verifier: verifier, Logger: n.log, Refusals: n.refusals})
	if err != nil {
		return err
	}
	mux.Handle("/v1/catalog/grants", gh)
	mux.Handle("/v1/catalog/grants/", gh)
	fedEvents, err := n.startFederation(mux, store, policy, grants, query, audit, verifier, rdb, events)
	if err != nil {
		return err
	}
	if fedEvents != nil {
		metrics.Gauge("govx_federation_subscriptions_active", func() float64 { return float64(fedEvents.Active()) })
		metrics.Gauge("govx_federation_event_reads_unreachable_total", func() float64 { return float64(fedEvents.Unreachable()) })
	}

	// Licence seals: this node's, with the keys its catalogue lists, and
	// other nodes', with theirs, read over the node link.
	n.Seals = &licence.Seals{Local: licence.NewSealChecker(n.httpURL, nil)}
	if n.FederationKeys != nil {
		n.Seals.Remote = n.FederationKeys
	}
	mux.Handle(licence.VerifyPath, licence.NewVerifyHandler(n.Seals, verifier, n.log))
	if err := followOpenData(n.httpURL); err != nil {
		return err
	}
	if n.cfg.Casework {
		// The wallet first: the hall shows it.
		if err := n.startWallet(mux, verifier, rdb); err != nil {
			return err
		}
		if err := n.startCasework(ctx, n.runCtx, n.httpURL, codec, mux, verifier, rdb, audit); err != nil {
			return err
		}
	}
	// Every API and the window UI behind it: text in a path or a query
	// string is checked once, here.
	srv := &http.Server{Handler: n.edge(httpx.ValidText(mux)), ReadHeaderTimeout: n.cfg.ReadHeaderTimeout, ReadTimeout: n.cfg.ReadTimeout,
		WriteTimeout: n.cfg.WriteTimeout, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	srv.RegisterOnShutdown(events.Close) // open streams would hold Shutdown to its timeout
	if fedEvents != nil {
		srv.RegisterOnShutdown(fedEvents.Close)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("exchange API stopped", "err", err)
		}
	}()
	// Closed first: stop taking queries, let the ones in flight finish.
	n.onClose(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-served
	})
	return nil
}

// startFederation links the node to the other nodes of its federation,
// when it is one, and serves the federation's APIs: queries, grants, the
// departments' keys (for licences sealed at one node to verify at the
// others) and change events across nodes.
func (n *Node) startFederation(mux *http.ServeMux, store *catalog.Store, departments catalog.Departments, grants *catalog.GrantStore, query *exchange.Handler, audit *ledger.Ledger,
	verifier *auth.Verifier, rdb *redis.Client, events *exchange.Events) (*federation.Events, error) {
	fc := n.cfg.Federation
	if fc.Name == "" {
		return nil, nil
	}
	key, err := auth.LoadOrCreateKey(filepath.Join(n.cfg.DataDir, "keys", "node"))
	if err != nil {
		return nil, err
	}
	fed, err := federation.New(federation.Config{Name: fc.Name, Level: fc.Level, Key: key, Links: fc.Links,
		Catalogue: store, Departments: departments, Grants: grants, Exchange: query, Audit: audit, Tokens: verifier, Redis: rdb,
		Refresh: fc.Refresh, Timeout: n.cfg.Timeout, Logger: n.log})
	if err != nil {
		return nil, err
	}
	n.Federation, n.NodeKey = fed, key
	n.FederationKeys = federation.NewKeys(fed, federation.KeysConfig{Local: store, TTL: fc.KeyTTL})
	fedEvents := federation.NewEvents(fed, federation.EventsConfig{Local: events, MaxSubscriptions: n.cfg.MaxSubscriptions,
		Heartbeat: n.cfg.EventHeartbeat})
	n.FederationEvents = fedEvents
	h := fed.Handler()
	for _, p := range federation.Routes {
		mux.Handle(p, h)
	}
	// More specific than the federation's own routes.
	mux.Handle(federation.EventsRoute, fedEvents)
	mux.Handle(federation.KeysRoute, n.FederationKeys.Handler())
	fed.Start(n.runCtx)
	n.onClose(fed.Close)
	return fedEvents, nil
}

// RoleOperator is the role of tokens that may read the exchange's
// /metrics on the API port (govx token --role operator).
const RoleOperator = "operator"

// document serves a fixed JSON document (an OpenAPI description).
func document(b []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
}

func (n *Node) health(rdb *redis.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		checks := map[string]string{"postgres": "ok", "redis": "ok"}
		status, code := "ok", http.StatusOK
		if err := n.Pool.Ping(ctx); err != nil {
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
