package apikeys

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/ratelimit"
)

// Stable error codes.
const (
	CodeKeyInvalid    = "api_key_invalid" // no such key, wrong secret, or a malformed header
	CodeKeyRevoked    = "api_key_revoked" // the key was revoked
	CodeRateLimited   = "rate_limited"    // over the caller's limit; see Retry-After
	CodeAmbiguous     = "credentials_ambiguous"
	CodeNeedsOperator = "operator_required"
	// CodeRegistrationLimited: too many keys registered lately from the
	// client's address or for the e-mail address; see Retry-After.
	CodeRegistrationLimited = "registration_limited"
)

// Claims of the tokens minted for keys.
const (
	Audience     = "govx-open"
	RoleOpenData = "open-data"
	RoleOperator = "operator"
)

// Default limits.
var (
	DefaultAnonymous  = ratelimit.PerSecond(10, 20)
	DefaultRegistered = ratelimit.PerSecond(100, 200)
	DefaultPartner    = ratelimit.PerSecond(1000, 2000)
	// DefaultRegistrations bounds self-registration per client address and
	// per e-mail address: three keys at once, then one every eight hours.
	DefaultRegistrations = ratelimit.Limit{Rate: 3, Period: 24 * time.Hour, Burst: 3}
)

// DefaultTiers are the further tiers when Config.Tiers is nil.
func DefaultTiers() map[string]ratelimit.Limit {
	return map[string]ratelimit.Limit{"partner": DefaultPartner}
}

// Config is what a Service needs and the limits it applies.
type Config struct {
	Store   *Store             // required
	Limiter *ratelimit.Limiter // required
	// Key signs client-credentials tokens (the deployment's auth key);
	// required.
	Key *auth.Key
	// Staff, which may be nil, verifies the deployment's own tokens: those
	// with role "operator" may list, limit and revoke keys. Operator
	// tokens minted for audience govx-open work as well.
	Staff httpx.Verifier
	// Issuer is the iss of the tokens minted for keys; required.
	Issuer string
	// Anonymous is the limit per client address of callers without a
	// key; default 10/s burst 20.
	Anonymous ratelimit.Limit
	// Registered is the limit of the registered tier, where an operator
	// puts a key it trusts; default 100/s burst 200. A new key starts in
	// the anonymous tier (Anonymous), so registering keys multiplies no
	// quota until an operator raises them.
	Registered ratelimit.Limit
	// RegistrationsPerAddress and RegistrationsPerEmail bound how many keys
	// one client address (IPv6 per /64) and one e-mail address may
	// register, shared by instances through the Limiter; default
	// DefaultRegistrations each.
	RegistrationsPerAddress ratelimit.Limit
	RegistrationsPerEmail   ratelimit.Limit
	// Tiers are the further tiers operators may put a key in, by name;
	// nil means {"partner": 1000/s burst 2000}.
	Tiers map[string]ratelimit.Limit
	// Operator is the limit of an operator's token; default Registered.
	Operator ratelimit.Limit
	// TrustedProxies are the peers whose X-Forwarded-For is believed;
	// none by default, so the client is the TCP peer.
	TrustedProxies []netip.Prefix
	// TokenTTL is the lifetime of a client-credentials token; default
	// 10 minutes, at most an hour.
	TokenTTL time.Duration
	// StatusTTL bounds how long an instance may keep honouring a key
	// another instance revoked; default 5s.
	StatusTTL time.Duration
	Now       func() time.Time
	Logger    *slog.Logger // default slog.Default()
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	invalid := func(format string, args ...any) error {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "apikeys: "+format, args...)
	}
	if c.Store == nil || c.Limiter == nil || c.Key == nil {
		return invalid("Store, Limiter and Key are required")
	}
	if c.Issuer == "" {
		return invalid("Issuer is required")
	}
	if c.Anonymous == (ratelimit.Limit{}) {
		c.Anonymous = DefaultAnonymous
	}
	if c.Registered == (ratelimit.Limit{}) {
		c.Registered = DefaultRegistered
	}
	if c.Operator == (ratelimit.Limit{}) {
		c.Operator = c.Registered
	}
	if c.RegistrationsPerAddress == (ratelimit.Limit{}) {
		c.RegistrationsPerAddress = DefaultRegistrations
	}
	if c.RegistrationsPerEmail == (ratelimit.Limit{}) {
		c.RegistrationsPerEmail = DefaultRegistrations
	}
	if c.Tiers == nil {
		c.Tiers = DefaultTiers()
	}
	for name, lim := range map[string]ratelimit.Limit{TierAnonymous: c.Anonymous, TierRegistered: c.Registered, "operator": c.Operator,
		"registrations per address": c.RegistrationsPerAddress, "registrations per e-mail": c.RegistrationsPerEmail} {
		if err := lim.Validate(); err != nil {
			return invalid("%s limit: %s", name, govx.ErrorMessage(err))
		}
	}
	for name, lim := range c.Tiers {
		if !tierPattern.MatchString(name) || name == TierAnonymous || name == TierRegistered {
			return invalid("tier name %q is not allowed", name)
		}
		if err := lim.Validate(); err != nil {
			return invalid("tier %s: %s", name, govx.ErrorMessage(err))
		}
	}
	switch {
	case c.TokenTTL == 0:
		c.TokenTTL = 10 * time.Minute
	case c.TokenTTL < 0 || c.TokenTTL > time.Hour:
		return invalid("TokenTTL must be between 0 and 1h")
	}
	switch {
	case c.StatusTTL == 0:
		c.StatusTTL = 5 * time.Second
	case c.StatusTTL < 0 || c.StatusTTL > time.Minute:
		return invalid("StatusTTL must be between 0 and 1m")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Service identifies and limits open-data callers and serves the key and
// token endpoints. It is safe for concurrent use.
type Service struct {
	store    *Store
	limiter  *ratelimit.Limiter
	key      *auth.Key
	verifier *auth.Verifier
	staff    httpx.Verifier
	cfg      Config
	status   *statusCache
}

// New returns the service.
func New(cfg Config) (*Service, error) {
	const op = "apikeys.New"
	if err := cfg.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: cfg.Issuer, Audience: Audience, Now: cfg.Now}, cfg.Key)
	if err != nil {
		return nil, govx.E(op, err)
	}
	return &Service{store: cfg.Store, limiter: cfg.Limiter, key: cfg.Key, verifier: v, staff: cfg.Staff, cfg: cfg,
		status: newStatusCache(cfg.StatusTTL, 10_000)}, nil
}

// LimitOf returns the limit of key k: its own, its tier's, or, for a tier
// no longer configured, the registered tier's.
func (s *Service) LimitOf(k *Key) ratelimit.Limit {
	if k.Limit != nil {
		return *k.Limit
	}
	if k.Tier == TierAnonymous {
		return s.cfg.Anonymous
	}
	if lim, ok := s.cfg.Tiers[k.Tier]; ok {
		return lim
	}
	return s.cfg.Registered
}

// Revoke revokes key id. The caller checks who may.
func (s *Service) Revoke(ctx context.Context, id, by string) (*Key, error) {
	k, err := s.store.Revoke(ctx, id, by)
	s.status.forget(id)
	return k, err
}

// SetLimit puts key id in a configured tier, with lim (may be nil) as its
// own limit.
func (s *Service) SetLimit(ctx context.Context, id, tier string, lim *ratelimit.Limit) (*Key, error) {
	if _, ok := s.cfg.Tiers[tier]; !ok && tier != TierRegistered && tier != TierAnonymous {
		return nil, govx.E("apikeys.Service.SetLimit", govx.Errorf(govx.KindInvalid, "tier_invalid", "tier %q is not configured", truncate(tier, 40)))
	}
	k, err := s.store.SetLimit(ctx, id, tier, lim)
	s.status.forget(id)
	return k, err
}

// IssueToken checks a key's credentials and mints a token for it.
func (s *Service) IssueToken(ctx context.Context, id, secret string) (string, time.Duration, error) {
	const op = "apikeys.Service.IssueToken"
	k, err := s.authenticate(ctx, id, secret)
	if err != nil {
		return "", 0, govx.E(op, err)
	}
	tok, err := s.key.Mint(auth.TokenSpec{Issuer: s.cfg.Issuer, Audience: Audience, Subject: k.ID,
		Role: RoleOpenData, TTL: s.cfg.TokenTTL, Now: s.cfg.Now()})
	if err != nil {
		return "", 0, govx.E(op, err)
	}
	return tok, s.cfg.TokenTTL, nil
}

func (s *Service) authenticate(ctx context.Context, id, secret string) (*Key, error) {
	if !validID(id) {
		return checkSecret("", nil, secret)
	}
	k, err := s.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	return checkSecret("", k, secret)
}

// lookup returns key id (nil when there is none) through the status cache.
func (s *Service) lookup(ctx context.Context, id string) (*Key, error) {
	now := time.Now()
	if k, ok := s.status.get(id, now); ok {
		return k, nil
	}
	k, err := s.store.Key(ctx, id)
	switch {
	case govx.ErrorKind(err) == govx.KindNotFound:
		k = nil
	case err != nil:
		return nil, err
	}
	s.status.put(id, k, now)
	return k, nil
}

// CallerKind says how a caller identified itself.
type CallerKind string

const (
	CallerAnonymous CallerKind = "anonymous"
	CallerKey       CallerKind = "key"      // X-API-Key or a client-credentials token
	CallerOperator  CallerKind = "operator" // an operator's token
)

// Caller is who made a request, as the middleware found out.
type Caller struct {
	Kind    CallerKind
	KeyID   string     // the key, for CallerKey
	Subject string     // the token subject, for CallerOperator
	Via     string     // "address", "api-key" or "token"
	Addr    netip.Addr // the client address (after trusted proxies)
	Tier    string
	Limit   ratelimit.Limit
}

// LogValue lets a Caller go straight into a structured log.
func (c Caller) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", string(c.Kind)), slog.String("key", c.KeyID),
		slog.String("subject", c.Subject), slog.String("via", c.Via), slog.String("addr", c.Addr.String()),
		slog.String("tier", c.Tier))
}

// bucket is the rate-limit key of the caller: a key's budget is shared by
// its API key and its tokens; anonymous IPv6 callers share a /64, which is
// what one subscriber usually gets.
func (c Caller) bucket() string {
	switch c.Kind {
	case CallerKey:
		return "key:" + c.KeyID
	case CallerOperator:
		return "op:" + c.Subject
	}
	return "ip:" + addrBucket(c.Addr)
}

func addrBucket(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.Unmap().String()
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller the middleware put in ctx.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// ClientAddr is the address of r's client: the TCP peer, or, when the peer
// is a trusted proxy, the right-most X-Forwarded-For entry that is not one.
func (s *Service) ClientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	addr := ap.Addr().Unmap()
	if !s.trusted(addr) {
		return addr
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return addr // a garbled chain: trust only what we saw
			}
			addr = a.Unmap()
			if !s.trusted(addr) {
				return addr
			}
		}
	}
	return addr
}

func (s *Service) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Identify finds out who made r. Without credentials the caller is
// anonymous; wrong credentials are an error, never a quiet anonymous call.
func (s *Service) Identify(r *http.Request) (Caller, error) {
	c := Caller{Kind: CallerAnonymous, Via: "address", Addr: s.ClientAddr(r), Tier: TierAnonymous, Limit: s.cfg.Anonymous}
	apiKey, hasKey := r.Header["X-Api-Key"]
	authz := r.Header.Get("Authorization")
	bearer := len(authz) > 7 && strings.EqualFold(authz[:7], "bearer ")
	switch {
	case hasKey && bearer:
		return c, govx.Errorf(govx.KindInvalid, CodeAmbiguous, "send either X-API-Key or a bearer token, not both")
	case hasKey:
		if len(apiKey) != 1 {
			return c, govx.Errorf(govx.KindUnauthenticated, CodeKeyInvalid, "send one X-API-Key header")
		}
		id, secret, ok := strings.Cut(strings.TrimSpace(apiKey[0]), ".")
		if !ok || !validID(id) || len(secret) != 43 {
			return c, govx.Errorf(govx.KindUnauthenticated, CodeKeyInvalid, "X-API-Key must be <key id>.<secret> as given at registration")
		}
		k, err := s.authenticate(r.Context(), id, secret)
		if err != nil {
			return c, err
		}
		c.Kind, c.KeyID, c.Via, c.Tier, c.Limit = CallerKey, k.ID, "api-key", k.Tier, s.LimitOf(k)
		return c, nil
	case bearer:
		return s.identifyToken(r, c, strings.TrimSpace(authz[7:]))
	}
	return c, nil
}

func (s *Service) identifyToken(r *http.Request, c Caller, tok string) (Caller, error) {
	claims, err := s.verifier.Verify(tok)
	if err != nil && s.staff != nil {
		if sc, serr := s.staff.Verify(tok); serr == nil {
			claims, err = sc, nil
		}
	}
	if err != nil {
		return c, err
	}
	switch claims.Role {
	case RoleOperator:
		c.Kind, c.Subject, c.Via, c.Tier, c.Limit = CallerOperator, claims.Subject, "token", "operator", s.cfg.Operator
		return c, nil
	case RoleOpenData:
		if claims.Audience == nil || !contains(claims.Audience, Audience) {
			break
		}
		k, err := s.lookup(r.Context(), claims.Subject)
		if err != nil {
			return c, err
		}
		if k == nil {
			return c, errInvalidKey()
		}
		if k.Status != StatusActive {
			return c, errRevoked(k.ID)
		}
		c.Kind, c.KeyID, c.Via, c.Tier, c.Limit = CallerKey, k.ID, "token", k.Tier, s.LimitOf(k)
		return c, nil
	}
	return c, govx.Errorf(govx.KindUnauthenticated, auth.CodeTokenInvalid, "the token is not for the open-data API")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Middleware identifies the caller, charges its budget, sets the
// RateLimit-Limit, -Remaining, -Reset and -Policy headers on every answer
// and puts the Caller in the request context. Over the limit it answers 429
// with Retry-After; wrong credentials get 401 after charging the client
// address's anonymous budget, so guessing keys is limited too. It never
// fails a request because Redis is down (see package ratelimit).
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, idErr := s.Identify(r)
		if idErr != nil {
			c = Caller{Kind: CallerAnonymous, Via: "address", Addr: c.Addr, Tier: TierAnonymous, Limit: s.cfg.Anonymous}
		}
		res := s.limiter.Allow(r.Context(), c.bucket(), c.Limit)
		setHeaders(w.Header(), res)
		if !res.Allowed {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, ratelimit.Seconds(res.RetryAfter))))
			httpx.WriteErrorStatus(w, s.cfg.Logger, "", http.StatusTooManyRequests, govx.Errorf(govx.KindUnavailable, CodeRateLimited,
				"rate limit of %s exceeded; retry after %s", describe(c.Limit), res.RetryAfter.Round(time.Millisecond)))
			return
		}
		if idErr != nil {
			httpx.WriteError(w, s.cfg.Logger, "", idErr)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
	})
}

func describe(l ratelimit.Limit) string {
	per := l.Period.String()
	switch l.Period {
	case time.Second:
		per = "second"
	case time.Minute:
		per = "minute"
	}
	return strconv.Itoa(l.Rate) + " requests per " + per + " (burst " + strconv.Itoa(l.Burst) + ")"
}

func setHeaders(h http.Header, res ratelimit.Result) {
	h.Set("RateLimit-Limit", strconv.Itoa(res.Limit.Burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(0, res.Remaining)))
	h.Set("RateLimit-Reset", strconv.Itoa(ratelimit.Seconds(res.ResetAfter)))
	h.Set("RateLimit-Policy", res.Limit.Policy())
}

// statusCache keeps looked-up keys (and misses) for a short while.
type statusCache struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[string]statusEntry
}

type statusEntry struct {
	key *Key
	at  time.Time
}

func newStatusCache(ttl time.Duration, max int) *statusCache {
	return &statusCache{ttl: ttl, max: max, m: make(map[string]statusEntry)}
}

func (c *statusCache) get(id string, now time.Time) (*Key, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || now.Sub(e.at) >= c.ttl {
		return nil, false
	}
	return e.key, true
}

func (c *statusCache) put(id string, k *Key, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for id, e := range c.m {
			if now.Sub(e.at) >= c.ttl {
				delete(c.m, id)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[id] = statusEntry{key: k, at: now}
}

func (c *statusCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
