package consent

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx"
	"govx/internal/auth"
)

// ArtefactIssuer is the "iss" of every consent artefact.
const ArtefactIssuer = "govx-consent"

// ArtefactClaims is what a consent artefact states: the consent as given.
// Status is not in it — a revocation does not change what was agreed; ask
// the consent service (or its subject's list) whether it still holds.
type ArtefactClaims struct {
	jwt.RegisteredClaims        // iss, sub (the data subject), aud (the consumer), jti (the consent id), iat, nbf, exp
	SubjectType          string `json:"subject_type"`
	CaseID               string `json:"case_id,omitempty"`
	Items                []Item `json:"resources"`
	PurposeCode          string `json:"purpose_code"`
	Purpose              string `json:"purpose"`
	Fetch                string `json:"fetch"`
	GivenVia             string `json:"given_via"`
}

// Sign issues c's artefact: a compact JWS (EdDSA) by key, with key's id as
// "kid".
func Sign(key *auth.Key, c *Consent) (string, error) {
	claims := ArtefactClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: ArtefactIssuer, Subject: c.Subject, Audience: jwt.ClaimStrings{c.Consumer}, ID: c.ID,
			IssuedAt: jwt.NewNumericDate(c.CreatedAt), NotBefore: jwt.NewNumericDate(c.ValidFrom),
			ExpiresAt: jwt.NewNumericDate(c.ValidUntil),
		},
		SubjectType: c.SubjectType, CaseID: c.CaseID, Items: c.Items, PurposeCode: c.PurposeCode,
		Purpose: c.Purpose, Fetch: c.Fetch, GivenVia: c.GivenVia,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = key.ID
	t.Header["typ"] = "consent+jwt"
	s, err := t.SignedString(key.Private)
	return s, govx.E("consent.Sign", err)
}

// VerifyArtefact checks an artefact's signature against keys (the consent
// service's published keys) and returns what it states. It checks no
// dates: an expired consent's artefact still proves what was agreed. A
// forged, altered or unparsable artefact is consent_signature_invalid.
func VerifyArtefact(artefact string, keys ...*auth.Key) (*ArtefactClaims, error) {
	var claims ArtefactClaims
	_, err := jwt.ParseWithClaims(artefact, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range keys {
			if k.ID == kid {
				return ed25519.PublicKey(k.Public), nil
			}
		}
		return nil, errUnknownKey
	}, jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithoutClaimsValidation())
	if err != nil {
		msg := "the consent artefact's signature does not verify: it was altered, or not issued by this consent service"
		switch {
		case errors.Is(err, errUnknownKey):
			msg = "the consent artefact is signed by a key the consent service does not publish"
		case errors.Is(err, jwt.ErrTokenMalformed):
			msg = "the consent artefact is not a compact JWS"
		}
		return nil, &govx.Error{Kind: govx.KindInvalid, Code: "consent_signature_invalid", Op: "consent.VerifyArtefact", Message: msg, Err: err}
	}
	if claims.Issuer != ArtefactIssuer || claims.ID == "" || claims.Subject == "" {
		return nil, govx.Errorf(govx.KindInvalid, "consent_signature_invalid", "the artefact is signed but is not a consent artefact")
	}
	return &claims, nil
}

var errUnknownKey = errors.New("unknown key id")

// ParseJWKS reads the consent service's published keys (GET
// /v1/consents/keys) for offline verification. Keys other than Ed25519
// are skipped.
func ParseJWKS(b []byte) ([]*auth.Key, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, govx.Errorf(govx.KindInvalid, "jwks_invalid", "not a JWKS: %v", err)
	}
	var out []*auth.Key
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		pub, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, govx.Errorf(govx.KindInvalid, "jwks_invalid", "key %q is not an Ed25519 public key", k.Kid)
		}
		key := auth.PublicKey(pub)
		if k.Kid != "" && k.Kid != key.ID {
			return nil, govx.Errorf(govx.KindInvalid, "jwks_invalid", "key %q does not match its thumbprint %s", k.Kid, key.ID)
		}
		out = append(out, key)
	}
	return out, nil
}

// ValidFrom and ValidUntil are the artefact's period of validity.
func (a *ArtefactClaims) ValidFrom() time.Time  { return a.NotBefore.Time }
func (a *ArtefactClaims) ValidUntil() time.Time { return a.ExpiresAt.Time }
