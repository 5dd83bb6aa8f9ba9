// Package federation links govx nodes — a province's, its cities', their
// counties' — into one exchange system in which each node keeps its own
// broker, database, catalogue, departments, keys and ledger.
//
// Nodes are linked to their parent, their children and their peers by
// node links (link.go): signed calls over HTTPS between the nodes' APIs,
// never a shared database or broker. Over them a node learns which
// resources the others share (the federated catalogue, directory.go) and
// routes a query for one to the node that holds it, through its parent
// when it has no link of its own (query.go). The holding node decides the
// query by its own rules — the scope the link vouches for, its grants to
// the remote department, the data subject's consent — exactly as for one
// of its own departments, and both nodes record the access in their audit
// ledgers under one request id.
package federation

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"govx"
	"govx/catalog"
	"govx/exchange"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/redis"
)

// Levels of the administrative hierarchy a node serves.
const (
	LevelProvince = "province"
	LevelCity     = "city"
	LevelCounty   = "county"
)

// Relations a link has to this node.
const (
	Parent = "parent"
	Child  = "child"
	Peered = "peer"
)

// Peer is a node this node is linked to: its name (lower-case, as in
// "dongguan"), level, relation (Parent, Child or Peered), the base URL of
// its API and the public half of its node key.
type Peer struct {
	Name     string            `json:"name"`
	Level    string            `json:"level"`
	Relation string            `json:"relation"`
	URL      string            `json:"url"`
	Key      ed25519.PublicKey `json:"key"`
	// Resources, when not empty, are the only resources of this node the
	// peer's departments may ask for (the scope this node maps the link
	// to); empty means every resource this node shares.
	Resources []string `json:"resources,omitempty"`
}

// Catalogue is what the federation needs of this node's catalogue.
// *catalog.Store satisfies it.
type Catalogue interface {
	SearchResources(ctx context.Context, q catalog.SearchQuery) (*catalog.SearchResult, error)
	PutRemoteDepartment(ctx context.Context, node, dept string) (string, error)
	catalog.Departments
}

// Answerer decides and answers a query as the exchange's query API does,
// recording it in the ledger. *exchange.Handler satisfies it.
type Answerer interface {
	Answer(ctx context.Context, requestID string, caller *auth.Claims, q exchange.Query) (*exchange.Answer, *exchange.Decision, error)
}

var (
	_ Catalogue = (*catalog.Store)(nil)
	_ Answerer  = (*exchange.Handler)(nil)
)

// Config is one node's place in the federation.
type Config struct {
	Name  string    // this node, e.g. "guangdong"
	Level string    // LevelProvince, LevelCity or LevelCounty
	Key   *auth.Key // the node key calls and answers are signed with
	Links []Peer

	Catalogue Catalogue
	// Departments tells whether one of this node's own callers speaks for
	// a department of its catalogue, as the exchange asks it (the policy
	// cache, kept fresh through Redis); nil asks Catalogue, which reads
	// the database on every call.
	Departments catalog.Departments
	Exchange    Answerer
	// Grants takes other nodes' departments' grant applications; nil
	// takes none.
	Grants Grants
	Audit  exchange.AuditLog
	Tokens httpx.Verifier // verifies the tokens of this node's own callers
	Redis  *redis.Client  // remembers the calls taken, across instances

	// Refresh is how often the catalogues of the linked nodes are read
	// again (default 15 s): a resource retired at one node leaves the
	// others' views within about twice that.
	Refresh time.Duration
	// Timeout bounds a query's trip to the holding node and back
	// (default 5 s); a node that does not answer in time is node_timeout.
	Timeout time.Duration
	// DialTimeout bounds connecting to a linked node (default 2 s): a node
	// that is down answers node_unavailable this quickly.
	DialTimeout time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "federation: "+format, args...)
	}
	if !catalog.ValidLocalDepartmentCode(c.Name) {
		return bad("node name %q is not lower-case letters, digits and dashes", c.Name)
	}
	if !slices.Contains([]string{LevelProvince, LevelCity, LevelCounty}, c.Level) {
		return bad("node level %q is not province, city or county", c.Level)
	}
	if c.Key == nil || c.Key.Private == nil {
		return bad("a node needs its private node key")
	}
	if c.Catalogue == nil || c.Exchange == nil || c.Audit == nil || c.Tokens == nil || c.Redis == nil {
		return bad("a node needs its Catalogue, Exchange, Audit, Tokens and Redis")
	}
	parents := 0
	for i, p := range c.Links {
		if err := p.validate(); err != nil {
			return bad("link %d: %v", i, err)
		}
		if p.Name == c.Name || slices.ContainsFunc(c.Links[:i], func(q Peer) bool { return q.Name == p.Name }) {
			return bad("node %q is linked twice or to itself", p.Name)
		}
		if p.Relation == Parent {
			parents++
		}
	}
	if parents > 1 {
		return bad("a node has at most one parent")
	}
	if c.Departments == nil {
		c.Departments = c.Catalogue
	}
	if c.Refresh <= 0 {
		c.Refresh = 15 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

func (p *Peer) validate() error {
	switch {
	case !catalog.ValidLocalDepartmentCode(p.Name):
		return govx.Errorf(govx.KindInvalid, "config_invalid", "node name %q is not lower-case letters, digits and dashes", p.Name)
	case !slices.Contains([]string{Parent, Child, Peered}, p.Relation):
		return govx.Errorf(govx.KindInvalid, "config_invalid", "node %s: relation %q is not parent, child or peer", p.Name, p.Relation)
	case p.URL == "":
		return govx.Errorf(govx.KindInvalid, "config_invalid", "node %s has no URL", p.Name)
	case len(p.Key) != ed25519.PublicKeySize:
		return govx.Errorf(govx.KindInvalid, "config_invalid", "node %s has no Ed25519 public key", p.Name)
	}
	return nil
}

// Federation is one node's side of the federation: its links, its view of
// the other nodes' catalogues, and the APIs of both (Handler).
type Federation struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client

	mu       sync.RWMutex
	links    []*link
	services map[string]ServiceFunc // by kind
	down     map[string]time.Time   // linked nodes not called until then
	remote   sync.Map               // "node/dept" → its code here, once put in the catalogue
	view     []Resource             // View, worked out; nil when a link or its offer changed

	stop chan struct{}
	done chan struct{}
}

// link is a linked node and what this node last read of it.
type link struct {
	Peer
	status linkStatus
	// resources are those the node offered when last read, by node and
	// code; kept when a read fails, so a node that is down is still
	// routed to and answers node_unavailable rather than not found.
	resources []Resource
}

type linkStatus struct {
	Up        bool      `json:"up"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
	ReadAt    time.Time `json:"read_at,omitzero"` // the catalogue was last read
	Error     string    `json:"error,omitempty"`
}

// New returns the federation of one node. Start begins reading the linked
// nodes' catalogues.
func New(cfg Config) (*Federation, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	f := &Federation{cfg: cfg, log: cfg.Logger,
		client: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 64,
			IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: cfg.DialTimeout, ResponseHeaderTimeout: cfg.Timeout}},
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, p := range cfg.Links {
		f.links = append(f.links, &link{Peer: p})
	}
	return f, nil
}

// Name is this node's name.
func (f *Federation) Name() string { return f.cfg.Name }

// Link links this node to p, or replaces the link of that name (its URL,
// key or relation changed).
func (f *Federation) Link(p Peer) error {
	if err := p.validate(); err != nil {
		return err
	}
	if p.Name == f.cfg.Name {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "a node is not linked to itself")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, l := range f.links {
		if l.Name == p.Name {
			// What it offered stays until it is read at its new place.
			f.links[i] = &link{Peer: p, resources: l.resources}
			f.view = nil
			delete(f.down, p.Name)
			return nil
		}
	}
	if p.Relation == Parent && slices.ContainsFunc(f.links, func(l *link) bool { return l.Relation == Parent }) {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "a node has at most one parent")
	}
	f.links = append(f.links, &link{Peer: p})
	return nil
}

// peer returns the linked node called name, nil if there is none.
func (f *Federation) peer(name string) *Peer {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, l := range f.links {
		if l.Name == name {
			p := l.Peer
			return &p
		}
	}
	return nil
}

// Start reads the linked nodes' catalogues now and every Refresh until
// Close.
func (f *Federation) Start(ctx context.Context) {
	go func() {
		defer close(f.done)
		t := time.NewTicker(f.cfg.Refresh)
		defer t.Stop()
		for {
			f.Refresh(ctx)
			select {
			case <-f.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops reading the linked nodes' catalogues.
func (f *Federation) Close() {
	select {
	case <-f.stop:
		return
	default:
	}
	close(f.stop)
	select {
	case <-f.done:
	case <-time.After(f.cfg.Timeout + time.Second):
	}
}

// ReadLinks reads the nodes a node is linked to from a JSON file: an
// array of Peer objects, each key the base64 of the node's Ed25519 public
// key (`govx node-key` prints one).
func ReadLinks(path string) ([]Peer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var links []Peer
	if err := json.Unmarshal(b, &links); err != nil {
		return nil, fmt.Errorf("%s: not a JSON array of links: %w", path, err)
	}
	for i := range links {
		if err := links[i].validate(); err != nil {
			return nil, fmt.Errorf("%s: link %d: %w", path, i, err)
		}
	}
	return links, nil
}
