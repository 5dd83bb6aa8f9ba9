package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"govx"
	"govx/bus"
	"govx/catalog"
	"govx/internal/httpx"
)

// KindKeysGet is the service kind a node asks another node for one of its
// departments' public keys with (a licence issuer's seal keys, a
// department's bus keys): {"department": code} answered by the
// department's keys as a JSON Web Key Set.
const KindKeysGet = "keys.get"

// KeyStore is where this node's departments' public keys are kept.
// *catalog.Store satisfies it.
type KeyStore interface {
	DepartmentKeys(ctx context.Context, department string) ([]catalog.DepartmentKey, error)
}

var _ KeyStore = (*catalog.Store)(nil)

// KeysConfig is how a node serves its departments' keys to the other
// nodes and keeps theirs.
type KeysConfig struct {
	// Local holds this node's departments' keys, served to every linked
	// node (they are public); nil serves none.
	Local KeyStore
	// TTL is how long keys read from another node are used before they
	// are read again (default 10 min).
	TTL time.Duration
	// Stale is how long, past TTL, keys read before keep serving while
	// their node cannot be reached (default 24 h): a link outage does not
	// stop the node from verifying what those keys signed.
	Stale time.Duration
	// Retry is how often a key id the held set lacks (a key added since)
	// makes the node read the set again before TTL (default 1 min), so
	// that made-up key ids cannot flood the link.
	Retry time.Duration
	Now   func() time.Time
}

// Keys serves this node's department keys to the other nodes (KindKeysGet)
// and keeps the keys of theirs that it reads, each set for TTL. Another
// node's department is named as in the catalogue, node/department; a key
// read through the node link is that node's, since the answer is signed
// by its node key. It is safe for concurrent use.
type Keys struct {
	f   *Federation
	cfg KeysConfig

	mu   sync.Mutex
	sets map[string]*keySet // by node/department

	// fetch reads a set from its node: Keys.fetch, over the node link.
	fetch func(ctx context.Context, node, dept string) ([]catalog.DepartmentKey, error)
}

type keySet struct {
	mu      sync.Mutex // one read of the node at a time
	keys    []catalog.DepartmentKey
	fetched time.Time // when keys were read; zero: never
	tried   time.Time // when the node was last asked
}

// NewKeys returns the keys of f's node and of the nodes it is linked to.
// With cfg.Local it serves KindKeysGet.
func NewKeys(f *Federation, cfg KeysConfig) *Keys {
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.Stale <= 0 {
		cfg.Stale = 24 * time.Hour
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	k := &Keys{f: f, cfg: cfg, sets: map[string]*keySet{}}
	k.fetch = k.call
	if cfg.Local != nil {
		f.Serve(KindKeysGet, k.serve)
	}
	return k
}

type keysRequest struct {
	Department string `json:"department"`
}

// serve answers another node's KindKeysGet with the keys of one of this
// node's own departments.
func (k *Keys) serve(ctx context.Context, _ Origin, payload json.RawMessage) (any, error) {
	var in keysRequest
	if err := httpx.Unmarshal(payload, &in, false); err != nil {
		return nil, err
	}
	if !catalog.ValidLocalDepartmentCode(in.Department) {
		return nil, govx.Errorf(govx.KindNotFound, "department_not_found", "no department %q at node %s", httpx.Truncate(in.Department, 64), k.f.cfg.Name)
	}
	keys, err := k.cfg.Local.DepartmentKeys(ctx, in.Department)
	if err != nil {
		return nil, err
	}
	set := catalog.JWKSet{Keys: make([]catalog.JWK, len(keys))}
	for i, dk := range keys {
		set.Keys[i] = catalog.NewJWK(dk)
	}
	return set, nil
}

// DepartmentKeys returns the public keys of department dept of node, read
// through the node link when the set held is older than TTL. When node
// cannot be reached, a set read within TTL+Stale serves; otherwise the
// link's error (node_unavailable, node_timeout, node_not_found) or the
// node's (department_not_found).
func (k *Keys) DepartmentKeys(ctx context.Context, node, dept string) ([]catalog.DepartmentKey, error) {
	return k.read(ctx, node, dept, "")
}

// DepartmentKey returns key keyID of department dept of node. A key id
// the held set lacks makes the node be asked again (at most every Retry);
// one it does not publish is KindNotFound (key_unknown).
func (k *Keys) DepartmentKey(ctx context.Context, node, dept, keyID string) (catalog.DepartmentKey, error) {
	keys, err := k.read(ctx, node, dept, keyID)
	if err != nil {
		return catalog.DepartmentKey{}, err
	}
	for _, dk := range keys {
		if dk.KeyID == keyID {
			return dk, nil
		}
	}
	return catalog.DepartmentKey{}, govx.Errorf(govx.KindNotFound, "key_unknown", "node %s publishes no key %q of department %s",
		node, httpx.Truncate(keyID, 128), dept)
}

// read returns the set of node/dept, reading it again when it is older
// than TTL or lacks keyID (not "").
func (k *Keys) read(ctx context.Context, node, dept, keyID string) ([]catalog.DepartmentKey, error) {
	if node == k.f.cfg.Name {
		return nil, govx.Errorf(govx.KindInvalid, "node_is_local", "%s is this node: its keys are in its own catalogue", node)
	}
	if !catalog.ValidLocalDepartmentCode(node) || !catalog.ValidLocalDepartmentCode(dept) {
		return nil, govx.Errorf(govx.KindNotFound, "department_not_found", "no department %q", httpx.Truncate(catalog.RemoteDepartment(node, dept), 128))
	}
	k.mu.Lock()
	s := k.sets[node+"/"+dept]
	if s == nil {
		s = &keySet{}
		k.sets[node+"/"+dept] = s
	}
	k.mu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	now := k.cfg.Now()
	fresh := !s.fetched.IsZero() && now.Sub(s.fetched) < k.cfg.TTL
	missing := keyID != "" && !hasKey(s.keys, keyID) && now.Sub(s.tried) >= k.cfg.Retry
	if fresh && !missing {
		return s.keys, nil
	}
	if !s.fetched.IsZero() && !missing && now.Sub(s.tried) < k.cfg.Retry && now.Sub(s.fetched) < k.cfg.TTL+k.cfg.Stale {
		return s.keys, nil // asked a moment ago and failed: not again at once
	}
	s.tried = now
	keys, err := k.fetch(ctx, node, dept)
	if err != nil {
		switch {
		case govx.ErrorKind(err) != govx.KindUnavailable && govx.ErrorKind(err) != govx.KindTimeout:
			// The node answered: what it says holds.
			return nil, err
		case !s.fetched.IsZero() && now.Sub(s.fetched) < k.cfg.TTL+k.cfg.Stale:
			k.f.log.Warn("keys of another node not read again; serving those read before", "node", node, "department", dept, "err", err)
			return s.keys, nil
		}
		return nil, err
	}
	s.keys, s.fetched = keys, now
	return keys, nil
}

func hasKey(keys []catalog.DepartmentKey, id string) bool {
	for _, k := range keys {
		if k.KeyID == id {
			return true
		}
	}
	return false
}

// call asks node for its department's keys over the node link.
func (k *Keys) call(ctx context.Context, node, dept string) ([]catalog.DepartmentKey, error) {
	var set catalog.JWKSet
	if err := k.f.Call(ctx, node, KindKeysGet, bus.ExchangeDepartment, "node:"+k.f.cfg.Name, keysRequest{Department: dept}, &set); err != nil {
		return nil, err
	}
	out := make([]catalog.DepartmentKey, 0, len(set.Keys))
	for _, j := range set.Keys {
		pub, err := j.PublicKey()
		if err != nil {
			return nil, govx.Errorf(govx.KindUnavailable, "node_unverified", "node %s answered a key that is not an Ed25519 key", node)
		}
		dk := catalog.DepartmentKey{Department: catalog.RemoteDepartment(node, dept), KeyID: j.Kid, Algorithm: catalog.AlgEd25519, PublicKey: pub}
		if j.RetiredAt != "" {
			if t, err := time.Parse(time.RFC3339, j.RetiredAt); err == nil {
				dk.RetiredAt = &t
			}
		}
		out = append(out, dk)
	}
	return out, nil
}

// Handler serves GET /v1/nodes/{node}/departments/{code}/keys: the keys
// of a department of another node as this node holds them, as a JSON Web
// Key Set, for a verifier at this node that checks signed records offline
// (a licence sealed there). It needs a token of this node: each answer may
// cost a call over the node link.
func (k *Keys) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := httpx.Authenticate(r, k.f.cfg.Tokens); err != nil {
			httpx.WriteError(w, k.f.log, "", err)
			return
		}
		keys, err := k.DepartmentKeys(r.Context(), r.PathValue("node"), r.PathValue("code"))
		if err != nil {
			httpx.WriteError(w, k.f.log, "", err)
			return
		}
		set := catalog.JWKSet{Keys: make([]catalog.JWK, len(keys))}
		for i, dk := range keys {
			set.Keys[i] = catalog.NewJWK(dk)
		}
		w.Header().Set("Cache-Control", "private, max-age=300")
		httpx.WriteJSONType(w, "application/jwk-set+json", http.StatusOK, set)
	})
}

// KeysRoute is the route of Keys.Handler.
const KeysRoute = "GET /v1/nodes/{node}/departments/{code}/keys"
