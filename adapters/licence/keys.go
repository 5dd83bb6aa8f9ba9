package licence

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"govx"
	"govx/catalog"
)

// KeySet is the licensing department's seal keys by key id, as fetched
// from the catalogue.
type KeySet map[string]ed25519.PublicKey

// Verify checks l's seal with the key it names. A key id the set does not
// hold is KindNotFound ("seal_key_unknown"); otherwise as VerifySeal.
func (ks KeySet) Verify(l Licence) error {
	pub, ok := ks[l.SealKeyID]
	if !ok {
		return govx.E("licence.KeySet.Verify", govx.Errorf(govx.KindNotFound, "seal_key_unknown",
			"the catalogue lists no key %q for department %s", l.SealKeyID, Department))
	}
	return VerifySeal(l, pub)
}

// FetchKeySet fetches the licensing department's public seal keys from the
// catalogue's key endpoint under baseURL (the exchange API's address, say
// "http://127.0.0.1:8080"). A consumer fetches them once and then verifies
// licences offline; it fetches again when a licence names a key it lacks.
func FetchKeySet(ctx context.Context, client *http.Client, baseURL string) (KeySet, error) {
	const op = "licence.FetchKeySet"
	if client == nil {
		client = http.DefaultClient
	}
	u := strings.TrimSuffix(baseURL, "/") + "/v1/catalog/departments/" + url.PathEscape(Department) + "/keys"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_url", "%v", err))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, &govx.Error{Kind: govx.KindUnavailable, Code: "catalog_unavailable", Op: op, Message: "the catalogue's key endpoint cannot be reached", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &govx.Error{Kind: govx.KindUnavailable, Code: "catalog_unavailable", Op: op, Message: "reading the key set failed", Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, govx.E(op, govx.Errorf(govx.KindUnavailable, "catalog_unavailable", "the key endpoint answered %s", resp.Status))
	}
	var set catalog.JWKSet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_jwks", "the key endpoint did not answer a JSON Web Key Set"))
	}
	ks := make(KeySet, len(set.Keys))
	for _, j := range set.Keys {
		pub, err := j.PublicKey()
		if err != nil {
			return nil, govx.E(op, err)
		}
		ks[j.Kid] = pub
	}
	return ks, nil
}
