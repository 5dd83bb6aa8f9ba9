package auth_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"govx/internal/auth"
)

// signRaw signs a header and claims given as raw JSON with key, as a
// holder of the real key could: the jwt library would never write these.
func signRaw(t *testing.T, key *auth.Key, header, claims string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	return input + "." + enc.EncodeToString(ed25519.Sign(key.Private, []byte(input)))
}

// TestVerifyRefusesOddClaims: tokens signed with the real key whose claims
// a verifier could read otherwise than their signer meant, or which live
// for ever, are refused.
func TestVerifyRefusesOddClaims(t *testing.T) {
	key := MustKey(t)
	v := MustVerifier(t, config(func() time.Time { return t0 }), key)
	now := t0.Unix()
	head := `{"alg":"EdDSA","typ":"JWT","kid":"` + key.ID + `"}`
	claims := func(extra string) string {
		return `{"iss":"` + testIss + `","aud":"` + testAud + `","sub":"svc","dept":"market-regulation","role":"service","scope":"population.identity",` + extra + `}`
	}
	good := claims(`"iat":` + itoa(now) + `,"exp":` + itoa(now+3600))
	if _, err := v.Verify(signRaw(t, key, head, good)); err != nil {
		t.Fatalf("a well-formed hand-signed token: %v", err)
	}
	for _, tc := range []struct{ name, header, claims, msg string }{
		{"exp as a string", head, claims(`"iat":` + itoa(now) + `,"exp":"` + itoa(now+3600) + `"`), "exp is not a number"},
		{"iat as a string", head, claims(`"iat":"` + itoa(now) + `","exp":` + itoa(now+3600)), "iat is not a number"},
		{"exp 100 years ahead", head, claims(`"iat":` + itoa(now) + `,"exp":` + itoa(now+100*365*86400)), "lives longer than 24h0m0s"},
		{"exp 100 years ahead without iat", head, claims(`"exp":` + itoa(now+100*365*86400)), "expires more than 24h0m0s"},
		{"duplicate dept", head, claims(`"iat":` + itoa(now) + `,"exp":` + itoa(now+3600) + `,"dept":"population"`), `"dept" appears more than once`},
		{"duplicate scope", head, claims(`"iat":` + itoa(now) + `,"exp":` + itoa(now+3600) + `,"scope":"licence.issue"`), `"scope" appears more than once`},
		{"duplicate nested member", head, claims(`"iat":` + itoa(now) + `,"exp":` + itoa(now+3600) + `,"x":{"a":1,"a":2}`), `"a" appears more than once`},
		{"duplicate header member", `{"alg":"EdDSA","kid":"` + key.ID + `","kid":"` + key.ID + `"}`, good, `"kid" appears more than once`},
		{"unknown crit header", `{"alg":"EdDSA","kid":"` + key.ID + `","crit":["exp-policy"],"exp-policy":1}`, good, "crit"},
		{"issuer as a number", head, strings.Replace(good, `"iss":"`+testIss+`"`, `"iss":7`, 1), "iss is not a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(signRaw(t, key, tc.header, tc.claims))
			wantAuthErr(t, err, auth.CodeTokenInvalid, nil)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want it to say %q", err, tc.msg)
			}
		})
	}
	t.Run("lifetime is configurable", func(t *testing.T) {
		cfg := config(func() time.Time { return t0 })
		cfg.MaxLifetime = 30 * time.Minute
		short := MustVerifier(t, cfg, key)
		_, err := short.Verify(signRaw(t, key, head, good)) // lives one hour
		wantAuthErr(t, err, auth.CodeTokenInvalid, nil)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
