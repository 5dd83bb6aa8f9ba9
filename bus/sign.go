package bus

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"time"

	"govx"
	"govx/internal/auth"
	"govx/internal/kafka"
)

// Signatures on the bus.
//
// Every request, reply, event and order carries its sender's Ed25519
// signature (RFC 8032, pure Ed25519) as a detached signature in Kafka
// headers, so the Avro wire format and the registry's schemas stay as they
// are and every tool that decodes the bus still does:
//
//	govx-signer     the department code whose catalogue keys hold the key
//	govx-key-id     the key's id there ("bus:" and its RFC 7638 thumbprint)
//	govx-signature  the signature, base64url without padding
//
// The signature covers SignedBytes(Digest(topic, value)): a
// domain-separation prefix and the SHA-256 digest of the topic the message
// was written to and the exact bytes of the message value (the Confluent
// wire format: magic byte, schema id, Avro body). Signing the digest
// rather than the bytes lets the audit ledger keep the digest alone (no
// personal data) and still let anyone check the provider's signature
// offline, years later (ledger.Proof). A message copied to another topic
// no longer verifies; headers
// other than these three are not signed, so a receiver takes everything it
// relies on (request id, consumer, caller, reply topic, deadline) from the
// signed value, never from a header.
//
// The public halves are published in the catalogue under the signer's
// department (catalog.PutDepartmentKey, served as a JWKS at
// /v1/catalog/departments/{code}/keys), beside the licence issuers' seal
// keys; a bus key's id starts with KeyIDPrefix, and a Verifier accepts no
// other, so a seal key never signs a bus message nor a bus key a seal.
// Exchange instances sign with keys published under ExchangeDepartment.
//
// Rotation without downtime: publish the new key, start signing with it,
// then retire the old one with a retired time a grace period ahead
// (catalog.DepartmentKey.RetiredAt). Until then both verify; after it the
// old key is refused (key_retired). Verifiers refresh a signer's keys when
// they meet an unknown key id, so a new key is taken up at once.
const (
	HeaderSigner    = "govx-signer"
	HeaderKeyID     = "govx-key-id"
	HeaderSignature = "govx-signature"
)

// KeyIDPrefix starts the id of every key that signs bus messages.
const KeyIDPrefix = "bus:"

// ExchangeDepartment is the catalogue department whose keys are the
// exchange instances' request-signing keys.
const ExchangeDepartment = "exchange"

// Refusal codes of a message whose signature does not hold
// (KindForbidden), as dead-letter codes and metrics labels.
const (
	CodeUnsigned    = "unsigned"         // no signature, or a malformed one
	CodeUnknownKey  = "unknown_key"      // the signer or its key id is not in the catalogue, or not one the receiver accepts
	CodeTampered    = "tampered"         // the signature does not match the message
	CodeKeyRetired  = "key_retired"      // the key was retired before the message was checked
	CodeKeysUnknown = "keys_unavailable" // the catalogue could not be asked (KindUnavailable)
)

// Digest is the SHA-256 of a message as it is signed: a version prefix,
// the topic and the message value, NUL-separated (topics hold no NUL). It
// is what the audit ledger keeps of a provider's reply.
func Digest(topic string, value []byte) []byte {
	h := sha256.New()
	h.Write([]byte("govx-bus-msg-v2\x00"))
	h.Write([]byte(topic))
	h.Write([]byte{0})
	h.Write(value)
	return h.Sum(nil)
}

// SignedBytes is what a bus signature covers: a version prefix and a
// message's Digest. The prefix keeps a bus signature from passing for any
// other signature the same key could make.
func SignedBytes(digest []byte) []byte {
	const prefix = "govx-bus-sig-v2\x00"
	return append([]byte(prefix), digest...)
}

// VerifyDigest checks sig, a bus signature, over a message whose Digest
// is digest, under pub: the offline check of a signature the audit ledger
// kept.
func VerifyDigest(pub ed25519.PublicKey, digest, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && len(digest) == sha256.Size &&
		ed25519.Verify(pub, SignedBytes(digest), sig)
}

// KeyID is the bus key id of pub.
func KeyID(pub ed25519.PublicKey) string { return KeyIDPrefix + auth.Thumbprint(pub) }

// Signer signs the messages one sender (an exchange instance, a
// department's adapter, the case workflow) writes. It is safe for
// concurrent use.
type Signer struct {
	dept  string
	keyID string
	priv  ed25519.PrivateKey
	pub   ed25519.PublicKey
}

// NewSigner returns the signer of department with k, whose public half
// must be published as PublicKey() under department in the catalogue.
func NewSigner(department string, k *auth.Key) (*Signer, error) {
	if department == "" || k == nil || len(k.Private) != ed25519.PrivateKeySize {
		return nil, govx.Errorf(govx.KindInvalid, "config_invalid", "bus signer: a department and an Ed25519 private key are required")
	}
	pub := k.Private.Public().(ed25519.PublicKey)
	return &Signer{dept: department, keyID: KeyID(pub), priv: k.Private, pub: pub}, nil
}

// Department is the department the signer signs for.
func (s *Signer) Department() string { return s.dept }

// KeyID is the id of the signer's key in the catalogue.
func (s *Signer) KeyID() string { return s.keyID }

// PublicKey is the signer's public key.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.pub }

// Sign signs m as it will be written (its Topic and Value), replacing any
// signature headers it had.
func (s *Signer) Sign(m *kafka.Message) {
	sig := ed25519.Sign(s.priv, SignedBytes(Digest(m.Topic, m.Value)))
	m.Headers = slices.DeleteFunc(m.Headers, func(h kafka.Header) bool {
		return h.Key == HeaderSigner || h.Key == HeaderKeyID || h.Key == HeaderSignature
	})
	m.Headers = append(m.Headers,
		kafka.Header{Key: HeaderSigner, Value: []byte(s.dept)},
		kafka.Header{Key: HeaderKeyID, Value: []byte(s.keyID)},
		kafka.Header{Key: HeaderSignature, Value: []byte(base64.RawURLEncoding.EncodeToString(sig))})
}

// SignDetached signs arbitrary bytes (a command's order payload) with the
// signer's key: the signature over SignedBytes(Digest(scope, data)), scope naming
// what the bytes are (the order's subject).
func (s *Signer) SignDetached(scope string, data []byte) []byte {
	return ed25519.Sign(s.priv, SignedBytes(Digest(scope, data)))
}

// PublicKey is a bus key as the catalogue publishes it.
type PublicKey struct {
	KeyID     string
	Key       ed25519.PublicKey
	RetiredAt *time.Time // refused from then on; nil while in use
}

// KeySource lists a department's published keys (all of them; the
// Verifier keeps the bus keys). An unknown department is an empty list or
// KindNotFound; any other error is a catalogue outage.
type KeySource interface {
	DepartmentKeys(ctx context.Context, department string) ([]PublicKey, error)
}

// KeySourceFunc is a function that is a KeySource.
type KeySourceFunc func(ctx context.Context, department string) ([]PublicKey, error)

func (f KeySourceFunc) DepartmentKeys(ctx context.Context, department string) ([]PublicKey, error) {
	return f(ctx, department)
}

// Signature is who signed a message, with which key, and the signature.
type Signature struct {
	Signer    string
	KeyID     string
	Signature []byte
	Digest    []byte // the message's Digest, which the signature covers
}

// VerifierConfig is where a Verifier finds keys and how often it asks.
type VerifierConfig struct {
	Keys KeySource // required
	// MaxAge is how long a department's keys are used before they are
	// fetched again (so retirements are seen); default 1 minute.
	MaxAge time.Duration
	// MinRefresh is the least time between two fetches of a department's
	// keys on an unknown key id, so that forged key ids cannot make every
	// message a catalogue query; a message with an unknown key id waits
	// for it (at most this long) rather than be refused. Default 200 ms.
	MinRefresh time.Duration
	Now        func() time.Time // default time.Now
}

// Verifier checks bus signatures against the keys the catalogue
// publishes, kept parsed in memory per department. It is safe for
// concurrent use.
type Verifier struct {
	cfg VerifierConfig
	mu  sync.Mutex
	set map[string]*keySet
}

type keySet struct {
	keys    map[string]PublicKey
	fetched time.Time
	mu      sync.Mutex // held while fetching
}

// NewVerifier returns a verifier over cfg.Keys.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Keys == nil {
		return nil, govx.Errorf(govx.KindInvalid, "config_invalid", "bus verifier: a key source is required")
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = time.Minute
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = 200 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg, set: map[string]*keySet{}}, nil
}

// Verify checks that m is signed by one of the departments in signers
// with a bus key the catalogue publishes for it and that has not been
// retired. It returns the signature, or a KindForbidden error whose code
// is one of CodeUnsigned, CodeUnknownKey, CodeTampered, CodeKeyRetired; a
// catalogue that cannot be asked is KindUnavailable (CodeKeysUnknown).
func (v *Verifier) Verify(ctx context.Context, m kafka.Message, signers ...string) (Signature, error) {
	signer, kid, enc := m.Header(HeaderSigner), m.Header(HeaderKeyID), m.Header(HeaderSignature)
	if enc == "" || kid == "" || signer == "" {
		return Signature{}, govx.Errorf(govx.KindForbidden, CodeUnsigned, "the message carries no signature")
	}
	sig, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Signature{}, govx.Errorf(govx.KindForbidden, CodeUnsigned, "the message's signature is not a base64url Ed25519 signature")
	}
	if !slices.Contains(signers, signer) || !strings.HasPrefix(kid, KeyIDPrefix) {
		return Signature{}, govx.Errorf(govx.KindForbidden, CodeUnknownKey, "the message is not signed by a bus key of %s", strings.Join(signers, " or "))
	}
	k, err := v.key(ctx, signer, kid)
	if err != nil {
		return Signature{}, err
	}
	if k.RetiredAt != nil && !v.cfg.Now().Before(*k.RetiredAt) {
		return Signature{}, govx.Errorf(govx.KindForbidden, CodeKeyRetired, "key %s of %s was retired at %s", kid, signer, k.RetiredAt.UTC().Format(time.RFC3339))
	}
	digest := Digest(m.Topic, m.Value)
	if !ed25519.Verify(k.Key, SignedBytes(digest), sig) {
		return Signature{}, govx.Errorf(govx.KindForbidden, CodeTampered, "the signature does not match the message")
	}
	return Signature{Signer: signer, KeyID: kid, Signature: sig, Digest: digest}, nil
}

// VerifyDetached checks sig, made by SignDetached(scope, data), against
// the bus keys of signer; errors as Verify.
func (v *Verifier) VerifyDetached(ctx context.Context, signer, kid, scope string, data, sig []byte) error {
	if len(sig) == 0 || kid == "" || signer == "" {
		return govx.Errorf(govx.KindForbidden, CodeUnsigned, "no signature")
	}
	if !strings.HasPrefix(kid, KeyIDPrefix) || len(sig) != ed25519.SignatureSize {
		return govx.Errorf(govx.KindForbidden, CodeUnknownKey, "not a bus signature")
	}
	k, err := v.key(ctx, signer, kid)
	if err != nil {
		return err
	}
	if k.RetiredAt != nil && !v.cfg.Now().Before(*k.RetiredAt) {
		return govx.Errorf(govx.KindForbidden, CodeKeyRetired, "key %s of %s is retired", kid, signer)
	}
	if !ed25519.Verify(k.Key, SignedBytes(Digest(scope, data)), sig) {
		return govx.Errorf(govx.KindForbidden, CodeTampered, "the signature does not match")
	}
	return nil
}

// key returns signer's key kid, fetching the signer's keys when they are
// older than MaxAge, or when kid is unknown and they are older than
// MinRefresh.
func (v *Verifier) key(ctx context.Context, signer, kid string) (PublicKey, error) {
	v.mu.Lock()
	ks := v.set[signer]
	if ks == nil {
		ks = &keySet{}
		v.set[signer] = ks
	}
	v.mu.Unlock()

	ks.mu.Lock()
	defer ks.mu.Unlock()
	for attempt := 0; ; attempt++ {
		now := v.cfg.Now()
		k, ok := ks.keys[kid]
		age := now.Sub(ks.fetched)
		if ks.keys != nil && age < v.cfg.MaxAge && (ok || attempt > 0) {
			if !ok {
				break
			}
			return k, nil
		}
		if ks.keys != nil && !ok && age < v.cfg.MinRefresh {
			// A key published a moment ago: wait out the refresh interval
			// rather than refuse a message signed with it. Other signers'
			// keys are not held up; this signer's are, for at most
			// MinRefresh.
			fetched := ks.fetched
			ks.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(v.cfg.MinRefresh - age):
			}
			ks.mu.Lock()
			if ctx.Err() != nil {
				return PublicKey{}, &govx.Error{Kind: govx.KindUnavailable, Code: CodeKeysUnknown, Op: "bus.Verify",
					Message: "the catalogue's keys could not be read in time", Err: ctx.Err()}
			}
			if !ks.fetched.Equal(fetched) {
				continue // another caller refreshed them meanwhile
			}
		}
		keys, err := v.cfg.Keys.DepartmentKeys(ctx, signer)
		if err != nil && govx.ErrorKind(err) != govx.KindNotFound {
			if ks.keys == nil {
				return PublicKey{}, &govx.Error{Kind: govx.KindUnavailable, Code: CodeKeysUnknown, Op: "bus.Verify",
					Message: "the catalogue's keys could not be read", Err: err}
			}
			// Keep using the keys already known through a catalogue outage.
			if k, ok := ks.keys[kid]; ok {
				return k, nil
			}
			break
		}
		m := make(map[string]PublicKey, len(keys))
		for _, pk := range keys {
			if strings.HasPrefix(pk.KeyID, KeyIDPrefix) && len(pk.Key) == ed25519.PublicKeySize {
				m[pk.KeyID] = pk
			}
		}
		ks.keys, ks.fetched = m, v.cfg.Now()
		if k, ok := m[kid]; ok {
			return k, nil
		}
		break
	}
	return PublicKey{}, govx.Errorf(govx.KindForbidden, CodeUnknownKey, "key %s is not a published key of %s", kid, signer)
}

// Headers of a command's order signature: the ordering department's
// signature (SignDetached over the order's subject and payload bytes) and
// its key id. The exchange carries them from the caller to the provider;
// the department that signed is the request's signed Consumer.
const (
	HeaderPayloadKeyID     = "govx-payload-key-id"
	HeaderPayloadSignature = "govx-payload-signature"
)

// PayloadSignatureHeaders are the headers that carry an order's signature.
func PayloadSignatureHeaders(keyID string, sig []byte) []kafka.Header {
	return []kafka.Header{{Key: HeaderPayloadKeyID, Value: []byte(keyID)},
		{Key: HeaderPayloadSignature, Value: []byte(base64.RawURLEncoding.EncodeToString(sig))}}
}

// PayloadSignature reads an order's signature from m's headers; nil when
// there is none or it is malformed.
func PayloadSignature(m kafka.Message) (keyID string, sig []byte) {
	sig, err := base64.RawURLEncoding.DecodeString(m.Header(HeaderPayloadSignature))
	if err != nil {
		return "", nil
	}
	return m.Header(HeaderPayloadKeyID), sig
}
