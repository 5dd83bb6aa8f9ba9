package catalog_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"govx"
	"govx/catalog"
	"govx/internal/postgres/postgrestest"
)

// keysStore returns a Store on a fresh, migrated database holding the
// departments "issuer" and "keyless".
func keysStore(t *testing.T) *catalog.Store {
	t.Helper()
	s := catalog.NewStore(postgrestest.NewMigrated(t, catalog.MigrationSource()))
	for _, code := range []string{"issuer", "keyless"} {
		if err := s.PutDepartment(context.Background(), catalog.Department{Code: code, Name: code}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func newPub(t *testing.T) ed25519.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func wantKind(t *testing.T, err error, kind govx.Kind, code string) {
	t.Helper()
	if govx.ErrorKind(err) != kind || govx.ErrorCode(err) != code {
		t.Fatalf("error %v (%v %q), want %v %q", err, govx.ErrorKind(err), govx.ErrorCode(err), kind, code)
	}
}

func TestDepartmentKeys(t *testing.T) {
	ctx := context.Background()
	s := keysStore(t)
	k1 := catalog.DepartmentKey{Department: "issuer", KeyID: "authority-1.a", PublicKey: newPub(t), CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	k2 := catalog.DepartmentKey{Department: "issuer", KeyID: "authority-2.b", PublicKey: newPub(t), CreatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, k := range []catalog.DepartmentKey{k2, k1, k1} { // the second k1 is a no-op
		if err := s.PutDepartmentKey(ctx, k); err != nil {
			t.Fatalf("PutDepartmentKey(%s): %v", k.KeyID, err)
		}
	}

	t.Run("listed oldest first", func(t *testing.T) {
		keys, err := s.DepartmentKeys(ctx, "issuer")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 || keys[0].KeyID != k1.KeyID || keys[1].KeyID != k2.KeyID {
			t.Fatalf("keys = %+v, want %s then %s", keys, k1.KeyID, k2.KeyID)
		}
		if !keys[0].PublicKey.Equal(k1.PublicKey) || keys[0].Algorithm != catalog.AlgEd25519 || !keys[0].CreatedAt.Equal(k1.CreatedAt) || keys[0].RetiredAt != nil {
			t.Errorf("key = %+v, want %+v", keys[0], k1)
		}
	})

	t.Run("retiring keeps the key", func(t *testing.T) {
		retired := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
		r := k1
		r.RetiredAt = &retired
		if err := s.PutDepartmentKey(ctx, r); err != nil {
			t.Fatal(err)
		}
		// Registering it again without a date does not un-retire it.
		if err := s.PutDepartmentKey(ctx, k1); err != nil {
			t.Fatal(err)
		}
		keys, err := s.DepartmentKeys(ctx, "issuer")
		if err != nil {
			t.Fatal(err)
		}
		if keys[0].RetiredAt == nil || !keys[0].RetiredAt.Equal(retired) {
			t.Errorf("retired_at = %v, want %v", keys[0].RetiredAt, retired)
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			key  catalog.DepartmentKey
			kind govx.Kind
			code string
		}{
			{"another key under a used id", catalog.DepartmentKey{Department: "issuer", KeyID: k1.KeyID, PublicKey: newPub(t)}, govx.KindConflict, "key_id_taken"},
			{"unknown department", catalog.DepartmentKey{Department: "nobody", KeyID: "k", PublicKey: newPub(t)}, govx.KindNotFound, "department_not_found"},
			{"short public key", catalog.DepartmentKey{Department: "issuer", KeyID: "k", PublicKey: make([]byte, 31)}, govx.KindInvalid, "invalid_public_key"},
			{"other algorithm", catalog.DepartmentKey{Department: "issuer", KeyID: "k", Algorithm: "RS256", PublicKey: newPub(t)}, govx.KindInvalid, "unsupported_algorithm"},
			{"key id with a slash", catalog.DepartmentKey{Department: "issuer", KeyID: "a/b", PublicKey: newPub(t)}, govx.KindInvalid, "invalid_key_id"},
			{"bad department code", catalog.DepartmentKey{Department: "Issuer", KeyID: "k", PublicKey: newPub(t)}, govx.KindInvalid, "invalid_department_code"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantKind(t, s.PutDepartmentKey(ctx, tt.key), tt.kind, tt.code)
			})
		}
		keys, err := s.DepartmentKeys(ctx, "issuer")
		if err != nil || len(keys) != 2 || !keys[0].PublicKey.Equal(k1.PublicKey) {
			t.Errorf("after refusals: %+v, %v", keys, err)
		}
	})

	t.Run("department without keys", func(t *testing.T) {
		keys, err := s.DepartmentKeys(ctx, "keyless")
		if err != nil || keys == nil || len(keys) != 0 {
			t.Errorf("DepartmentKeys(keyless) = %#v, %v; want an empty list", keys, err)
		}
		_, err = s.DepartmentKeys(ctx, "nobody")
		wantKind(t, err, govx.KindNotFound, "department_not_found")
	})
}

func TestKeysHandler(t *testing.T) {
	ctx := context.Background()
	s := keysStore(t)
	k := catalog.DepartmentKey{Department: "issuer", KeyID: "11440106MB2C00001X.k1", PublicKey: newPub(t)}
	if err := s.PutDepartmentKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(catalog.NewKeysHandler(s))
	t.Cleanup(srv.Close)

	get := func(t *testing.T, path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("GET %s: body is not JSON: %v", path, err)
		}
		return resp, body
	}

	t.Run("round trip", func(t *testing.T) {
		resp, body := get(t, "/v1/catalog/departments/issuer/keys")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/jwk-set+json" {
			t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var set catalog.JWKSet
		if err := json.Unmarshal(body, &set); err != nil {
			t.Fatal(err)
		}
		if len(set.Keys) != 1 {
			t.Fatalf("keys = %s", body)
		}
		j := set.Keys[0]
		if j.Kty != "OKP" || j.Crv != "Ed25519" || j.Alg != "EdDSA" || j.Use != "sig" || j.Kid != k.KeyID {
			t.Errorf("JWK = %+v", j)
		}
		pub, err := j.PublicKey()
		if err != nil || !pub.Equal(k.PublicKey) {
			t.Fatalf("PublicKey() = %x, %v; want %x", pub, err, k.PublicKey)
		}
	})

	for _, tt := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/catalog/departments/nobody/keys", http.StatusNotFound, "department_not_found"},
		{"/v1/catalog/departments/NOT_A_CODE/keys", http.StatusBadRequest, "invalid_department_code"},
		{"/v1/catalog/departments/issuer/keys/extra", http.StatusNotFound, "route_not_found"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, tt.path)
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			json.Unmarshal(body, &e)
			if resp.StatusCode != tt.status || e.Error.Code != tt.code {
				t.Errorf("status %d code %q, want %d %q", resp.StatusCode, e.Error.Code, tt.status, tt.code)
			}
		})
	}

	t.Run("bad JWKs are refused", func(t *testing.T) {
		for _, j := range []catalog.JWK{
			{Kty: "RSA", Crv: "Ed25519", X: catalog.NewJWK(k).X},
			{Kty: "OKP", Crv: "Ed25519", X: "AAAA"},
			{Kty: "OKP", Crv: "Ed25519", X: "not base64!"},
		} {
			if _, err := j.PublicKey(); govx.ErrorCode(err) != "invalid_jwk" {
				t.Errorf("%+v: %v, want invalid_jwk", j, err)
			}
		}
	})
}
