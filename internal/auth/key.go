package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"

	"govx"
)

// KeyFile is the name of the private key file LoadOrCreateKey keeps in its
// directory.
const KeyFile = "jwt-ed25519.pem"

// DefaultTTL is the lifetime of a minted token when TokenSpec.TTL is zero.
const DefaultTTL = 15 * time.Minute

// Key is an Ed25519 signing key. A Verifier needs only Public; Mint needs
// Private. ID is the key's RFC 7638 JWK thumbprint, sent as "kid".
type Key struct {
	ID      string
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
}

// GenerateKey returns a new random key.
func GenerateKey() (*Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, govx.E("auth.GenerateKey", err)
	}
	return &Key{ID: Thumbprint(pub), Private: priv, Public: pub}, nil
}

// NewKey returns the key for priv, with its public half and ID filled in.
func NewKey(priv ed25519.PrivateKey) *Key {
	pub := priv.Public().(ed25519.PublicKey)
	return &Key{ID: Thumbprint(pub), Private: priv, Public: pub}
}

// PublicKey returns a verification-only key for pub.
func PublicKey(pub ed25519.PublicKey) *Key {
	return &Key{ID: Thumbprint(pub), Public: pub}
}

// Thumbprint returns the RFC 7638 JWK thumbprint of an Ed25519 public key
// (SHA-256, base64url without padding), as defined for OKP keys by RFC 8037.
func Thumbprint(pub ed25519.PublicKey) string {
	// RFC 7638 §3.2: the required members only, in lexicographic order,
	// without whitespace. x is base64url, so it needs no JSON escaping.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// String keeps the private half out of logs and error messages.
func (k *Key) String() string { return "auth.Key(" + k.ID + ")" }

// GoString keeps the private half out of %#v.
func (k *Key) GoString() string { return k.String() }

// LogValue keeps the private half out of structured logs.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.ID) }

// LoadOrCreateKey reads the PKCS#8 PEM key dir/jwt-ed25519.pem, or, if there
// is none, generates one and writes it with mode 0600, creating dir with mode
// 0700. Two processes racing to create the key end up with the same one.
func LoadOrCreateKey(dir string) (*Key, error) {
	const op = "auth.LoadOrCreateKey"
	path := filepath.Join(dir, KeyFile)
	k, err := readKey(path)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, govx.E(op, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, govx.E(op, err)
	}
	k, err = GenerateKey()
	if err != nil {
		return nil, govx.E(op, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, govx.E(op, err)
	}
	// Write a temporary file and hard-link it into place: the link is atomic
	// and never replaces an existing file, so a concurrent reader sees either
	// no key or a whole one, and a concurrent creator's key wins or loses
	// entirely.
	tmp, err := os.CreateTemp(dir, ".jwt-ed25519-*.tmp") // mode 0600
	if err != nil {
		return nil, govx.E(op, err)
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, govx.E(op, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, govx.E(op, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, govx.E(op, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			k, err := readKey(path)
			return k, govx.E(op, err)
		}
		return nil, govx.E(op, err)
	}
	return k, nil
}

func readKey(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PKCS#8 PEM block", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: key is %T, want Ed25519", path, parsed)
	}
	return NewKey(priv), nil
}

// jwk is the JSON form of an Ed25519 public key (RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

type jwks struct {
	Keys []jwk `json:"keys"`
}

func marshalJWKS(keys []*Key) ([]byte, error) {
	set := jwks{Keys: make([]jwk, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: b64(k.Public), Kid: k.ID, Alg: "EdDSA", Use: "sig"})
	}
	return json.Marshal(set)
}

// JWKS returns the public half of k as a JSON Web Key Set.
func (k *Key) JWKS() ([]byte, error) {
	pub := k.Public
	if pub == nil && len(k.Private) == ed25519.PrivateKeySize {
		pub = k.Private.Public().(ed25519.PublicKey)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, govx.E("auth.Key.JWKS", govx.Errorf(govx.KindInvalid, "key_invalid", "key %s has no Ed25519 public key", k.ID))
	}
	b, err := marshalJWKS([]*Key{{ID: k.ID, Public: pub}})
	return b, govx.E("auth.Key.JWKS", err)
}

// TokenSpec describes a token to mint.
type TokenSpec struct {
	Issuer   string
	Audience string
	Subject  string
	Dept     string
	Role     string
	Scopes   []string
	TTL      time.Duration // zero means DefaultTTL
	Now      time.Time     // zero means time.Now()
}

// Mint signs a token for spec with k. Issuer and Audience are required, as
// Verify requires them.
func (k *Key) Mint(spec TokenSpec) (string, error) {
	const op = "auth.Key.Mint"
	invalid := func(format string, args ...any) error {
		return govx.E(op, govx.Errorf(govx.KindInvalid, "token_spec_invalid", format, args...))
	}
	switch {
	case len(k.Private) != ed25519.PrivateKeySize:
		return "", invalid("key %s has no private half", k.ID)
	case spec.Issuer == "":
		return "", invalid("issuer is required")
	case spec.Audience == "":
		return "", invalid("audience is required")
	case spec.TTL < 0:
		return "", invalid("TTL must not be negative")
	}
	for _, s := range spec.Scopes {
		if s == "" || strings.ContainsFunc(s, unicode.IsSpace) {
			return "", invalid("scope %q is empty or holds whitespace", s)
		}
	}
	now := spec.Now
	if now.IsZero() {
		now = time.Now()
	}
	ttl := spec.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    spec.Issuer,
			Subject:   spec.Subject,
			Audience:  jwt.ClaimStrings{spec.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        rand.Text(),
		},
		Scope: strings.Join(spec.Scopes, " "),
		Dept:  spec.Dept,
		Role:  spec.Role,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = k.ID
	s, err := t.SignedString(k.Private)
	if err != nil {
		return "", govx.E(op, err)
	}
	return s, nil
}
