package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx"
)

// Stable error codes of Verify and BearerToken; all come with
// govx.KindUnauthenticated.
const (
	CodeTokenMissing = "token_missing" // no bearer token was presented
	CodeTokenExpired = "token_expired" // the token was good but its exp has passed
	CodeTokenInvalid = "token_invalid" // anything else
)

const (
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway bounds Config.Leeway: a larger skew would quietly extend
	// every token's life.
	MaxLeeway = 5 * time.Minute
	// DefaultCacheSize is the number of verified tokens a Verifier keeps.
	DefaultCacheSize = 10000
	// DefaultMaxLifetime bounds exp - iat (or, without iat, exp - now):
	// a token signed to live for a century is a leaked key's gift.
	DefaultMaxLifetime = 24 * time.Hour
	// MaxTokenSize is the longest token Verify will parse; govx tokens are a
	// few hundred bytes, and parsing is not free.
	MaxTokenSize = 8 << 10
)

// Config configures a Verifier.
type Config struct {
	Issuer   string        // required; the iss every token must carry
	Audience string        // required; aud must contain it
	Leeway   time.Duration // clock skew allowed; 0 means DefaultLeeway, negative means none
	// CacheSize bounds the cache of verified tokens; 0 means
	// DefaultCacheSize, negative disables the cache.
	CacheSize int
	// MaxLifetime is the longest life a token may claim, exp - iat (exp -
	// now without iat); 0 means DefaultMaxLifetime.
	MaxLifetime time.Duration
	Now         func() time.Time // the clock; nil means time.Now
	// OIDC, when it names an issuer, also accepts that OpenID Connect
	// provider's tokens, with their claims mapped to govx's.
	OIDC *OIDCConfig
}

// Validate checks c and fills in defaults. It may be called more than once.
func (c *Config) Validate() error {
	invalid := func(msg string) error {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "auth: %s", msg)
	}
	switch {
	case c.Issuer == "":
		return invalid("Issuer is required")
	case c.Audience == "":
		return invalid("Audience is required")
	case c.Leeway > MaxLeeway:
		return invalid("Leeway is over " + MaxLeeway.String())
	case c.MaxLifetime < 0:
		return invalid("MaxLifetime must not be negative")
	}
	if c.OIDC.Enabled() {
		if err := c.OIDC.Validate(); err != nil {
			return err
		}
		if c.OIDC.Issuer == c.Issuer {
			return invalid("the OIDC issuer must differ from the local Issuer")
		}
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Verifier checks tokens against a fixed set of public keys. It is safe for
// concurrent use.
type Verifier struct {
	now     func() time.Time
	maxLife time.Duration
	parser  *jwt.Parser
	oidc    *provider // nil without an OIDC provider
	keys    map[string]ed25519.PublicKey
	single  ed25519.PublicKey // the only key, used for tokens without kid; nil with several keys
	jwks    []byte
	cache   *cache // nil when disabled
}

// NewVerifier returns a Verifier that accepts tokens signed by any of keys.
// Only the public halves are kept. A token names its key by kid; a token
// without kid is accepted only when there is exactly one key.
func NewVerifier(cfg Config, keys ...*Key) (*Verifier, error) {
	const op = "auth.NewVerifier"
	if err := cfg.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	invalid := func(format string, args ...any) error {
		return govx.E(op, govx.Errorf(govx.KindInvalid, "config_invalid", "auth: "+format, args...))
	}
	if len(keys) == 0 {
		return nil, invalid("at least one key is required")
	}
	v := &Verifier{
		now:     cfg.Now,
		maxLife: cfg.MaxLifetime,
		keys:    make(map[string]ed25519.PublicKey, len(keys)),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(max(cfg.Leeway, 0)),
			jwt.WithTimeFunc(cfg.Now),
			jwt.WithStrictDecoding(),
		),
	}
	pubs := make([]*Key, 0, len(keys))
	for i, k := range keys {
		if k == nil {
			return nil, invalid("key %d is nil", i)
		}
		pub := k.Public
		if pub == nil && len(k.Private) == ed25519.PrivateKeySize {
			pub = k.Private.Public().(ed25519.PublicKey)
		}
		if len(pub) != ed25519.PublicKeySize {
			return nil, invalid("key %d has no Ed25519 public key", i)
		}
		pub = append(ed25519.PublicKey(nil), pub...) // ours, whatever the caller does to k
		id := k.ID
		if id == "" {
			id = Thumbprint(pub)
		}
		if _, dup := v.keys[id]; dup {
			return nil, invalid("key ID %q appears twice", id)
		}
		v.keys[id] = pub
		pubs = append(pubs, &Key{ID: id, Public: pub})
	}
	if len(pubs) == 1 {
		v.single = pubs[0].Public
	}
	var err error
	if v.jwks, err = marshalJWKS(pubs); err != nil {
		return nil, govx.E(op, err)
	}
	if cfg.CacheSize > 0 {
		v.cache = newCache(cfg.CacheSize)
	}
	if cfg.OIDC.Enabled() {
		v.oidc = newProvider(*cfg.OIDC, cfg.Now)
	}
	return v, nil
}

var (
	errUnknownKey = errors.New("unknown kid")
	errNoKid      = errors.New("no kid and more than one key")
)

func (v *Verifier) keyFunc(t *jwt.Token) (any, error) {
	// WithValidMethods has already refused every other alg; this check
	// keeps the key from ever reaching another method's Verify.
	if t.Method != jwt.SigningMethodEdDSA {
		return nil, jwt.ErrTokenSignatureInvalid
	}
	raw, ok := t.Header["kid"]
	if !ok {
		if v.single == nil {
			return nil, errNoKid
		}
		return v.single, nil
	}
	kid, ok := raw.(string)
	if !ok {
		return nil, errUnknownKey
	}
	pub, ok := v.keys[kid]
	if !ok {
		return nil, errUnknownKey
	}
	return pub, nil
}

// Verify is VerifyContext without a context: a fetch of an OIDC
// provider's keys it needs is bounded by OIDCConfig.FetchTimeout alone.
func (v *Verifier) Verify(token string) (*Claims, error) {
	return v.VerifyContext(context.Background(), token)
}

// VerifyContext checks token's signature and claims and returns its claims.
// A token whose iss is the OIDC provider's is checked against the
// provider's keys, fetched within ctx when needed, and its claims mapped;
// any other against the local keys. Errors are *govx.Error of
// KindUnauthenticated with code CodeTokenMissing, CodeTokenExpired or
// CodeTokenInvalid; the cause is kept. The claims returned are the caller's
// own to modify.
func (v *Verifier) VerifyContext(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, unauthenticated(CodeTokenMissing, "token is missing", nil)
	}
	if len(token) > MaxTokenSize {
		return nil, unauthenticated(CodeTokenInvalid, "token is too large", nil)
	}
	now := v.now()
	var sum [sha256.Size]byte
	if v.cache != nil {
		sum = sha256.Sum256([]byte(token))
		// A provider's token is served from the cache only while the keys
		// that verified it are the provider's current ones.
		if c, gen, ok := v.cache.get(sum, now); ok && (gen == 0 || (v.oidc != nil && v.oidc.current(ctx, now) == gen)) {
			return c, nil
		}
	}
	iss, err := shape(token)
	if err != nil {
		return nil, classify(err)
	}
	var claims *Claims
	var gen uint64
	if v.oidc != nil && iss == v.oidc.cfg.Issuer {
		if claims, gen, err = v.oidc.verify(ctx, token, now); err != nil {
			return nil, err
		}
	} else {
		claims = new(Claims)
		if _, err := v.parser.ParseWithClaims(token, claims, v.keyFunc); err != nil {
			return nil, classify(err)
		}
	}
	exp := claims.ExpiresAt.Time
	if claims.IssuedAt != nil && exp.Sub(claims.IssuedAt.Time) > v.maxLife {
		return nil, unauthenticated(CodeTokenInvalid, "token lives longer than "+v.maxLife.String()+" (exp - iat)", nil)
	}
	if claims.IssuedAt == nil && exp.Sub(now) > v.maxLife {
		return nil, unauthenticated(CodeTokenInvalid, "token expires more than "+v.maxLife.String()+" from now", nil)
	}
	// A token accepted only thanks to the leeway after exp is not cached:
	// the cache serves nothing at or after exp.
	if v.cache != nil && now.Before(exp) {
		v.cache.put(sum, claims.clone(), gen, exp, now)
	}
	return claims, nil
}

// otherClaimErrs are the claim failures that make a token invalid even when
// it is also expired: such a token is not worth refreshing.
var otherClaimErrs = []error{
	jwt.ErrTokenInvalidIssuer,
	jwt.ErrTokenInvalidAudience,
	jwt.ErrTokenRequiredClaimMissing,
	jwt.ErrTokenNotValidYet,
	jwt.ErrTokenUsedBeforeIssued,
	jwt.ErrInvalidType,
}

// classify maps a jwt error to a caller-safe *govx.Error. The jwt library
// checks the signature before the claims, so claim errors, expiry among
// them, are only reported for tokens that were signed by one of our keys.
func classify(err error) error {
	invalid := func(msg string) error { return unauthenticated(CodeTokenInvalid, msg, err) }
	var se *shapeError
	switch {
	case errors.As(err, &se):
		return invalid(se.msg)
	case errors.Is(err, errAlgMismatch):
		return invalid("token algorithm does not match its signing key")
	case errors.Is(err, errUnknownKey):
		return invalid("token signing key is unknown")
	case errors.Is(err, errNoKid):
		return invalid("token has no key ID")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid("token is malformed")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return invalid("token signature is invalid")
	case !errors.Is(err, jwt.ErrTokenInvalidClaims):
		return invalid("token is invalid")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return invalid("token issuer is not accepted")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return invalid("token audience is not accepted")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return invalid("token is missing a required claim")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalid("token is not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalid("token is issued in the future")
	case errors.Is(err, jwt.ErrTokenExpired) && !isAny(err, otherClaimErrs):
		return unauthenticated(CodeTokenExpired, "token has expired", err)
	default:
		return invalid("token claims are invalid")
	}
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func unauthenticated(code, msg string, cause error) error {
	return &govx.Error{Kind: govx.KindUnauthenticated, Code: code, Op: "auth.Verify", Message: msg, Err: cause}
}

// BearerToken returns the token of r's "Authorization: Bearer" header
// (RFC 6750 §2.1; the scheme is case-insensitive). A missing or empty header
// or another scheme is CodeTokenMissing; a repeated header or a token with
// whitespace in it is CodeTokenInvalid.
func BearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", bearerErr(CodeTokenMissing, "bearer token is missing")
	case 1:
	default:
		return "", bearerErr(CodeTokenInvalid, "more than one Authorization header")
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", bearerErr(CodeTokenMissing, "bearer token is missing")
	}
	token = strings.TrimLeft(token, " ")
	if token == "" {
		return "", bearerErr(CodeTokenMissing, "bearer token is missing")
	}
	if strings.ContainsAny(token, " \t") {
		return "", bearerErr(CodeTokenInvalid, "bearer token is malformed")
	}
	return token, nil
}

func bearerErr(code, msg string) error {
	return &govx.Error{Kind: govx.KindUnauthenticated, Code: code, Op: "auth.BearerToken", Message: msg}
}

// JWKSHandler serves the verifier's public keys as a JSON Web Key Set, for
// peers that verify govx tokens themselves.
func (v *Verifier) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		// Short enough that a key rotation reaches peers within minutes.
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Method == http.MethodHead {
			return
		}
		w.Write(v.jwks)
	})
}
