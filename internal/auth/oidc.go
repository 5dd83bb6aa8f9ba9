package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx"
)

// Defaults of OIDCConfig.
const (
	DefaultOIDCLeeway         = 60 * time.Second
	DefaultRefreshInterval    = time.Hour
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultFetchTimeout       = 10 * time.Second
	// maxDocument bounds the discovery document and the JWKS.
	maxDocument = 1 << 20
	// minRSABits is the smallest RSA modulus accepted from a JWKS.
	minRSABits = 2048
)

// OIDCConfig makes a Verifier accept the tokens of an OpenID Connect
// provider beside those of its own keys: tokens whose iss is Issuer are
// checked against the keys the provider publishes (its discovery document's
// jwks_uri), and their claims are mapped to a department, a role and
// scopes by Claims.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL, exactly as its tokens and its
	// discovery document state it. https, or http to a loopback address.
	Issuer string
	// Audience is what aud must contain: govx's client id at the provider,
	// or the audience the provider puts in access tokens for govx.
	Audience string
	// Claims maps the provider's claims to govx's.
	Claims ClaimMapping
	// Leeway is the clock skew allowed on exp, nbf and iat: 0 means
	// DefaultOIDCLeeway, negative none, at most MaxLeeway.
	Leeway time.Duration
	// RefreshInterval is how old the provider's keys may grow before the
	// next token of the provider fetches them again (default 1 h).
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two fetches: a token
	// with an unknown kid fetches the keys at most this often (default 30 s),
	// so a flood of forged kids cannot turn the exchange against the
	// provider.
	MinRefreshInterval time.Duration
	// FetchTimeout bounds one fetch of the discovery document and the JWKS
	// (default 10 s).
	FetchTimeout time.Duration
	// HTTPClient fetches them; nil means a client of its own.
	HTTPClient *http.Client
	Logger     *slog.Logger // default slog.Default()
}

// Enabled reports whether c names a provider.
func (c *OIDCConfig) Enabled() bool { return c != nil && c.Issuer != "" }

// Validate checks c and fills in defaults.
func (c *OIDCConfig) Validate() error {
	invalid := func(format string, args ...any) error {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "auth: OIDC "+format, args...)
	}
	if err := fetchable(c.Issuer); err != nil {
		return invalid("issuer: %v", err)
	}
	switch {
	case c.Audience == "":
		return invalid("audience (the client id) is required")
	case c.Leeway > MaxLeeway:
		return invalid("leeway is over %s", MaxLeeway)
	case c.RefreshInterval < 0 || c.MinRefreshInterval < 0 || c.FetchTimeout < 0:
		return invalid("intervals must not be negative")
	}
	if err := c.Claims.Validate(); err != nil {
		return err
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultOIDCLeeway
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.MinRefreshInterval == 0 {
		c.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.FetchTimeout}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// fetchable refuses a URL keys may not be fetched from: keys fetched in
// clear text could be swapped by anyone on the path, so only https is
// accepted, or http to the machine itself (a provider in a test or beside
// the node).
func fetchable(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("not an absolute URL without query or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return errors.New("http only to a loopback address; use https")
	}
	return errors.New("scheme is not https")
}

// ClaimMapping says which of a provider's claims hold govx's department,
// role and scopes. A claim name is looked up as a top-level member first
// (namespaced names such as "https://id.example.gov/dept" hold dots), then
// as a dotted path into nested objects ("realm_access.roles").
//
// Department and role take a string, or an array of strings: with a value
// map, its first member the map knows; without one, an array must hold
// exactly one member. Scopes take a space-separated string or an array of
// strings. When a value map is given, only the values it names count, as
// what it maps them to (a scope may map to several, space-separated); a
// value it does not name is dropped. Without a map, values are taken as
// they are.
type ClaimMapping struct {
	Subject string `json:"subject,omitempty"` // default "sub"
	Dept    string `json:"dept,omitempty"`    // default "dept"
	Role    string `json:"role,omitempty"`    // default "role"
	Scope   string `json:"scope,omitempty"`   // default "scope"

	DeptValues  map[string]string `json:"dept_values,omitempty"`
	RoleValues  map[string]string `json:"role_values,omitempty"`
	ScopeValues map[string]string `json:"scope_values,omitempty"`
}

// ParseClaimMapping reads a mapping from JSON, refusing unknown members
// (a misspelt "dept_value" must not silently map nothing).
func ParseClaimMapping(data []byte) (ClaimMapping, error) {
	var m ClaimMapping
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, govx.Errorf(govx.KindInvalid, "config_invalid", "auth: OIDC claim mapping: %v", err)
	}
	if dec.More() {
		return m, govx.Errorf(govx.KindInvalid, "config_invalid", "auth: OIDC claim mapping holds more than one JSON value")
	}
	return m, m.Validate()
}

// Validate fills in the default claim names.
func (m *ClaimMapping) Validate() error {
	for _, f := range []*string{&m.Subject, &m.Dept, &m.Role, &m.Scope} {
		*f = strings.TrimSpace(*f)
	}
	if m.Subject == "" {
		m.Subject = "sub"
	}
	if m.Dept == "" {
		m.Dept = "dept"
	}
	if m.Role == "" {
		m.Role = "role"
	}
	if m.Scope == "" {
		m.Scope = "scope"
	}
	return nil
}

// lookup finds the claim name in c.
func lookup(c map[string]any, name string) any {
	if v, ok := c[name]; ok {
		return v
	}
	var cur any = c
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}

// apply maps the provider's claims c to govx's.
func (m *ClaimMapping) apply(c jwt.MapClaims, out *Claims) error {
	sub, ok := lookup(c, m.Subject).(string)
	if !ok || sub == "" {
		return shapeErr("token has no subject (claim %s)", m.Subject)
	}
	out.Subject = sub
	var err error
	if out.Dept, err = single(c, m.Dept, m.DeptValues); err != nil {
		return err
	}
	if out.Role, err = single(c, m.Role, m.RoleValues); err != nil {
		return err
	}
	scopes, err := list(c, m.Scope, m.ScopeValues)
	if err != nil {
		return err
	}
	out.Scope = strings.Join(scopes, " ")
	return nil
}

func single(c map[string]any, name string, values map[string]string) (string, error) {
	switch v := lookup(c, name).(type) {
	case nil:
		return "", nil
	case string:
		return mapValue(v, values), nil
	case []any:
		var found []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return "", shapeErr("token claim %s holds a value that is not a string", name)
			}
			if mv := mapValue(s, values); mv != "" {
				found = append(found, mv)
			}
		}
		switch {
		case len(found) == 0:
			return "", nil
		case values != nil || len(found) == 1:
			return found[0], nil
		}
		return "", shapeErr("token claim %s holds several values and no value map chooses one", name)
	default:
		return "", shapeErr("token claim %s is not a string or an array of strings", name)
	}
}

func list(c map[string]any, name string, values map[string]string) ([]string, error) {
	var raw []string
	switch v := lookup(c, name).(type) {
	case nil:
	case string:
		raw = strings.Fields(v)
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok || s == "" || strings.ContainsAny(s, " \t\r\n") {
				return nil, shapeErr("token claim %s holds a member that is not one scope", name)
			}
			raw = append(raw, s)
		}
	default:
		return nil, shapeErr("token claim %s is not a string or an array of strings", name)
	}
	var out []string
	seen := make(map[string]bool)
	for _, s := range raw {
		for f := range strings.FieldsSeq(mapValue(s, values)) {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out, nil
}

func mapValue(s string, values map[string]string) string {
	if values == nil {
		return s
	}
	return values[s]
}

// oidcKey is one usable key of the provider's JWKS.
type oidcKey struct {
	alg string // the one JWS alg it verifies
	key any
}

// provider holds an OpenID Connect provider's keys, fetched on first use,
// again when they are older than RefreshInterval, and again (at most every
// MinRefreshInterval) when a token names a kid they lack. A fetched set
// replaces the last one whole: a key the provider removed stops verifying
// at the next fetch, a key it added verifies from then on.
type provider struct {
	cfg    OIDCConfig
	now    func() time.Time
	parser *jwt.Parser

	mu      sync.RWMutex
	keys    map[string]oidcKey
	raw     []byte    // the JWKS last fetched, to tell a change
	gen     uint64    // bumped when keys change; 0 before the first fetch
	fetched time.Time // of the last successful fetch

	fetchMu   sync.Mutex
	attempted time.Time // of the last fetch, successful or not
}

// oidcAlgs are the JWS algorithms accepted from a provider.
var oidcAlgs = []string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg()}

func newProvider(cfg OIDCConfig, now func() time.Time) *provider {
	return &provider{cfg: cfg, now: now, parser: jwt.NewParser(
		jwt.WithValidMethods(oidcAlgs),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(max(cfg.Leeway, 0)),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)}
}

// current returns the generation of the keys, fetching them first when
// there are none yet or they are older than RefreshInterval. A failed
// fetch keeps the keys there are.
func (p *provider) current(ctx context.Context, now time.Time) uint64 {
	p.mu.RLock()
	gen, fetched := p.gen, p.fetched
	p.mu.RUnlock()
	if gen == 0 || now.Sub(fetched) >= p.cfg.RefreshInterval {
		gen = p.refresh(ctx, gen)
	}
	return gen
}

// refresh fetches the keys unless another caller has done so since seen
// was current, or the last fetch was less than MinRefreshInterval ago. It
// returns the generation of the keys then held.
func (p *provider) refresh(ctx context.Context, seen uint64) uint64 {
	p.fetchMu.Lock()
	defer p.fetchMu.Unlock()
	p.mu.RLock()
	gen := p.gen
	p.mu.RUnlock()
	now := p.now()
	if gen != seen || (!p.attempted.IsZero() && now.Sub(p.attempted) < p.cfg.MinRefreshInterval) {
		return gen
	}
	p.attempted = now
	keys, raw, err := p.fetch(ctx)
	if err != nil {
		p.cfg.Logger.Warn("OIDC provider keys not fetched; keeping the last ones", "issuer", p.cfg.Issuer, "err", err)
		return gen
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fetched = now
	if !bytes.Equal(raw, p.raw) {
		p.keys, p.raw = keys, raw
		p.gen++
	}
	return p.gen
}

// fetch reads the discovery document and the JWKS it names.
func (p *provider) fetch(ctx context.Context) (map[string]oidcKey, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.FetchTimeout)
	defer cancel()
	disc, err := p.get(ctx, strings.TrimSuffix(p.cfg.Issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return nil, nil, err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(disc, &doc); err != nil {
		return nil, nil, fmt.Errorf("discovery document: %w", err)
	}
	// OpenID Connect Discovery §4.3: the document must name the issuer
	// it was fetched for.
	if doc.Issuer != p.cfg.Issuer {
		return nil, nil, fmt.Errorf("discovery document names issuer %q, not %q", doc.Issuer, p.cfg.Issuer)
	}
	if err := fetchable(doc.JWKSURI); err != nil {
		return nil, nil, fmt.Errorf("jwks_uri %q: %v", doc.JWKSURI, err)
	}
	raw, err := p.get(ctx, doc.JWKSURI)
	if err != nil {
		return nil, nil, err
	}
	keys, err := parseJWKS(raw)
	if err != nil {
		return nil, nil, err
	}
	return keys, raw, nil
}

func (p *provider) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(b) > maxDocument {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", u, maxDocument)
	}
	return b, nil
}

// parseJWKS returns the signing keys of a JWKS that govx can use, by kid.
// Keys of other types, curves or uses are skipped; a set with none left is
// an error.
func parseJWKS(raw []byte) (map[string]oidcKey, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			Crv string `json:"crv"`
			N   string `json:"n"`
			E   string `json:"e"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	keys := make(map[string]oidcKey, len(set.Keys))
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var key oidcKey
		switch {
		case k.Kty == "RSA":
			n, e := decodeB64(k.N), decodeB64(k.E)
			if len(n) == 0 || len(e) == 0 || len(e) > 4 {
				continue
			}
			pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			if pub.N.BitLen() < minRSABits || pub.E < 3 || pub.E%2 == 0 {
				continue
			}
			key = oidcKey{alg: jwt.SigningMethodRS256.Alg(), key: pub}
		case k.Kty == "EC" && k.Crv == "P-256":
			x, y := decodeB64(k.X), decodeB64(k.Y)
			if len(x) != 32 || len(y) != 32 {
				continue
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				continue
			}
			key = oidcKey{alg: jwt.SigningMethodES256.Alg(), key: pub}
		case k.Kty == "OKP" && k.Crv == "Ed25519":
			x := decodeB64(k.X)
			if len(x) != ed25519.PublicKeySize {
				continue
			}
			key = oidcKey{alg: jwt.SigningMethodEdDSA.Alg(), key: ed25519.PublicKey(x)}
		default:
			continue
		}
		if k.Alg != "" && k.Alg != key.alg {
			continue // published for an algorithm govx does not use with it
		}
		if _, dup := keys[k.Kid]; dup {
			return nil, fmt.Errorf("JWKS: kid %q appears twice", k.Kid)
		}
		keys[k.Kid] = key
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS holds no usable signing key")
	}
	return keys, nil
}

func decodeB64(s string) []byte {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

var errAlgMismatch = errors.New("token alg does not match its key")

func (p *provider) keyFunc(t *jwt.Token) (any, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	kid, hasKid := t.Header["kid"]
	var k oidcKey
	switch {
	case !hasKid && len(p.keys) == 1:
		for _, only := range p.keys {
			k = only
		}
	case !hasKid:
		return nil, errNoKid
	default:
		s, ok := kid.(string)
		if !ok {
			return nil, errUnknownKey
		}
		if k, ok = p.keys[s]; !ok {
			return nil, errUnknownKey
		}
	}
	if t.Method.Alg() != k.alg {
		return nil, errAlgMismatch
	}
	return k.key, nil
}

// verify checks a token of the provider and maps its claims. It returns the
// generation of the keys that verified it.
func (p *provider) verify(ctx context.Context, token string, now time.Time) (*Claims, uint64, error) {
	gen := p.current(ctx, now)
	mc := jwt.MapClaims{}
	_, err := p.parser.ParseWithClaims(token, mc, p.keyFunc)
	if errors.Is(err, errUnknownKey) || errors.Is(err, errNoKid) {
		// A rotation: the provider may have published the key since.
		if next := p.refresh(ctx, gen); next != gen {
			gen = next
			mc = jwt.MapClaims{}
			_, err = p.parser.ParseWithClaims(token, mc, p.keyFunc)
		}
	}
	if err != nil {
		return nil, 0, classify(err)
	}
	c := new(Claims)
	c.Issuer, _ = mc.GetIssuer()
	c.Audience, _ = mc.GetAudience()
	c.ExpiresAt, _ = mc.GetExpirationTime()
	c.NotBefore, _ = mc.GetNotBefore()
	c.IssuedAt, _ = mc.GetIssuedAt()
	c.ID, _ = mc["jti"].(string)
	if err := p.cfg.Claims.apply(mc, c); err != nil {
		return nil, 0, classify(err)
	}
	return c, gen, nil
}
