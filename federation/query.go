package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"govx"
	"govx/bus"
	"govx/catalog"
	"govx/exchange"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/httpx"
)

// Envelope is a query on its way from the asking node (Origin) to the
// holding one (Target), through Hops links so far. It names the asking
// department and caller at Origin and the scope Origin checked their token
// for; the holding node decides by its own rules all the same.
type Envelope struct {
	// Kind is what the envelope carries: KindQuery (the default), a grant
	// application (KindGrantApply) or a look at one (KindGrantGet).
	Kind       string    `json:"kind,omitempty"`
	RequestID  string    `json:"request_id"`
	Origin     string    `json:"origin"`
	Target     string    `json:"target"`
	Hops       int       `json:"hops"`
	Department string    `json:"department"`
	Caller     string    `json:"caller"`
	Scopes     []string  `json:"scopes"`
	Resource   string    `json:"resource"`
	Key        string    `json:"key"`
	Fields     []string  `json:"fields,omitempty"`
	Purpose    string    `json:"purpose"`
	Consent    string    `json:"consent,omitempty"`
	SentAt     time.Time `json:"sent_at"`

	Application *catalog.Application `json:"application,omitempty"` // KindGrantApply
	GrantID     int64                `json:"grant_id,omitempty"`    // KindGrantGet
	// Payload is the request of a service kind (Federation.Serve).
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Kinds of envelope.
const (
	KindQuery      = "query"
	KindGrantApply = "grant.apply"
	KindGrantGet   = "grant.get"
)

// Reply is what the holding node answers a query with: the answer, and
// what it decided, for the asking node's ledger.
type Reply struct {
	Node     string           `json:"node"`
	Answer   *exchange.Answer `json:"answer"`
	Provider string           `json:"provider"`
	Fields   []string         `json:"fields"`
	Rule     string           `json:"rule"`
	Subject  string           `json:"subject,omitempty"`
	Consent  string           `json:"consent,omitempty"`
	// Grant is the grant applied for or looked at (the grant kinds).
	Grant *catalog.Grant `json:"grant,omitempty"`
	// Payload is the answer of a service kind (Federation.Serve).
	Payload json.RawMessage `json:"payload,omitempty"`
}

var requestID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Handler serves both sides of the federation on the node's router:
//
//	POST /v1/nodes/{node}/resources/{code}/query   a query for a resource of another node (token)
//	POST /v1/nodes/{node}/grants                    a grant application to another node's provider (token)
//	GET  /v1/nodes/{node}/grants/{id}               how the application stands (token)
//	GET  /v1/federation/resources                   the federated catalogue (token; ?node= &level= &q=)
//	GET  /v1/federation/nodes                       this node and its links (token)
//	POST /federation/v1/query                       node link: a query routed here (node signature)
//	GET  /federation/v1/resources                   node link: what this node offers (node signature)
func (f *Federation) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/nodes/{node}/resources/{code}/query", f.serveQuery)
	mux.HandleFunc("POST /v1/nodes/{node}/grants", f.serveGrantApply)
	mux.HandleFunc("GET /v1/nodes/{node}/grants/{id}", f.serveGrantGet)
	mux.HandleFunc("GET /v1/federation/resources", f.serveResources)
	mux.HandleFunc("GET /v1/federation/nodes", f.serveNodes)
	mux.HandleFunc("GET /v1/federation/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(OpenAPI())
	})
	mux.HandleFunc("POST /federation/v1/query", f.linkQuery)
	mux.HandleFunc("GET /federation/v1/resources", f.linkResources)
	mux.Handle("/", httpx.NotFound(f.log))
	return mux
}

// Routes are the patterns the node's router sends to Handler.
var Routes = []string{"/v1/nodes/", "/v1/federation/", "/federation/"}

func (f *Federation) serveResources(w http.ResponseWriter, r *http.Request) {
	if _, err := httpx.Authenticate(r, f.cfg.Tokens); err != nil {
		httpx.WriteError(w, f.log, "", err)
		return
	}
	q := r.URL.Query()
	filter := ResourceFilter{Node: q.Get("node"), Level: q.Get("level"), Text: q.Get("q")}
	if filter.Level != "" && !slices.Contains([]string{LevelProvince, LevelCity, LevelCounty}, filter.Level) {
		httpx.WriteError(w, f.log, "", govx.Errorf(govx.KindInvalid, "invalid_level", "level is one of province, city, county"))
		return
	}
	if len(filter.Text) > 200 || len(filter.Node) > 64 {
		httpx.WriteError(w, f.log, "", govx.Errorf(govx.KindInvalid, "invalid_query", "node is at most 64 bytes and q at most 200"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"node": f.cfg.Name, "level": f.cfg.Level, "resources": f.Search(filter)})
}

func (f *Federation) serveNodes(w http.ResponseWriter, r *http.Request) {
	if _, err := httpx.Authenticate(r, f.cfg.Tokens); err != nil {
		httpx.WriteError(w, f.log, "", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"nodes": f.nodes()})
}

// serveQuery takes a query of one of this node's callers for a resource of
// another node, checks what this node can check (the token, its
// department, its scope, the purpose), routes it and records it in this
// node's ledger under the request id the holding node records it under,
// with the holding node's provider as node/department.
func (f *Federation) serveQuery(w http.ResponseWriter, r *http.Request) {
	requestID := bus.NewRequestID()
	w.Header().Set("X-Request-Id", requestID)
	node, code := r.PathValue("node"), r.PathValue("code")
	entry := ledger.Entry{RequestID: requestID, Resource: httpx.Truncate(code, 100)}
	reply, sent, err := f.ask(r, requestID, node, code, &entry)
	if reply != nil {
		entry.Provider = catalog.RemoteDepartment(node, reply.Provider)
		entry.Fields, entry.Rule, entry.DataSubject, entry.ConsentID = reply.Fields, "remote:"+reply.Rule, httpx.Truncate(reply.Subject, 64), reply.Consent
	}
	entry.Outcome, entry.Code, entry.Status = exchange.Outcome(err, sent)
	if aerr := f.cfg.Audit.Append(context.WithoutCancel(r.Context()), entry); aerr != nil {
		reply, err = nil, aerr
	}
	if err != nil {
		httpx.WriteError(w, f.log, requestID, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, reply.Answer)
}

func (f *Federation) ask(r *http.Request, requestID, node, code string, entry *ledger.Entry) (*Reply, bool, error) {
	caller, err := httpx.Authenticate(r, f.cfg.Tokens)
	if err != nil {
		return nil, false, err
	}
	entry.Caller, entry.Consumer = caller.Subject, caller.Dept
	var q exchange.Query
	if err := httpx.DecodeJSON(r, 64<<10, &q); err != nil {
		return nil, false, err
	}
	entry.SubjectKey, entry.Purpose = httpx.Truncate(q.Key, 64), httpx.Truncate(q.Purpose, 200)
	if err := f.actAs(r.Context(), caller); err != nil {
		return nil, false, err
	}
	switch {
	case node == f.cfg.Name:
		return nil, false, govx.Errorf(govx.KindInvalid, "node_is_local", "%s is this node: ask /v1/resources/%s/query", node, httpx.Truncate(code, 64))
	case !catalog.ValidCode(code):
		return nil, false, govx.Errorf(govx.KindNotFound, "resource_not_found", "no resource %q", httpx.Truncate(code, 64))
	case !caller.HasScope(code):
		return nil, false, govx.Errorf(govx.KindForbidden, "scope_missing", "the token's scope does not include %s", code)
	case q.Purpose == "":
		return nil, false, govx.Errorf(govx.KindInvalid, "purpose_required", "state the purpose the data is used for, e.g. case:<id>")
	case len(q.Purpose) > 200 || strings.IndexFunc(q.Purpose, unicode.IsControl) >= 0:
		return nil, false, govx.Errorf(govx.KindInvalid, "purpose_invalid", "purpose is at most 200 bytes without control characters")
	case q.Payload != nil:
		return nil, false, govx.Errorf(govx.KindInvalid, "payload_not_accepted", "orders to another node's departments are not routed")
	case len(q.Fields) > 64:
		return nil, false, govx.Errorf(govx.KindInvalid, "too_many_fields", "at most 64 fields may be asked for")
	}
	res, via, err := f.route(node, code)
	if err != nil {
		return nil, false, err
	}
	if res.Provider != "" {
		entry.Provider = catalog.RemoteDepartment(node, res.Provider)
	}
	env := Envelope{RequestID: requestID, Origin: f.cfg.Name, Target: node, Department: caller.Dept, Caller: caller.Subject,
		Scopes: []string{code}, Resource: code, Key: q.Key, Fields: q.Fields, Purpose: q.Purpose, Consent: q.Consent,
		SentAt: f.cfg.Now().UTC()}
	ctx, cancel := context.WithTimeout(r.Context(), f.cfg.Timeout)
	defer cancel()
	var reply Reply
	if err := f.call(ctx, via, http.MethodPost, "/federation/v1/query", env, &reply); err != nil {
		return nil, true, err
	}
	if reply.Node != node || reply.Answer == nil {
		return nil, true, govx.Errorf(govx.KindUnavailable, "node_unverified", "the answer is not node %s's", node)
	}
	reply.Answer.Receipt.Provider = catalog.RemoteDepartment(node, reply.Answer.Receipt.Provider)
	return &reply, true, nil
}

// localCaller authenticates r as one of this node's own departments.
func (f *Federation) localCaller(r *http.Request) (*auth.Claims, error) {
	caller, err := httpx.Authenticate(r, f.cfg.Tokens)
	if err != nil {
		return nil, err
	}
	return caller, f.actAs(r.Context(), caller)
}

// actAs checks that caller speaks for one of this node's own departments:
// only they send queries and applications to other nodes.
func (f *Federation) actAs(ctx context.Context, caller *auth.Claims) error {
	if err := catalog.ActAs(ctx, f.cfg.Departments, caller); err != nil {
		return err
	}
	if strings.Contains(caller.Dept, "/") {
		return govx.Errorf(govx.KindForbidden, "department_remote", "a remote department asks through its own node")
	}
	return nil
}

func (f *Federation) linkResources(w http.ResponseWriter, r *http.Request) {
	c, err := f.accept(r)
	if err != nil {
		f.answer(w, r, nil, 0, nil, err)
		return
	}
	l, err := f.offer(r.Context(), c.peer)
	f.answer(w, r, c, http.StatusOK, l, err)
}

// linkQuery takes a query another node routed here: it answers it when
// this node holds the resource, and passes it on towards the node that
// does otherwise.
func (f *Federation) linkQuery(w http.ResponseWriter, r *http.Request) {
	c, err := f.accept(r)
	if err != nil {
		f.answer(w, r, nil, 0, nil, err)
		return
	}
	var env Envelope
	if err := httpx.Unmarshal(c.body, &env, false); err != nil {
		f.answer(w, r, c, 0, nil, err)
		return
	}
	if err := f.checkEnvelope(&env, c.peer); err != nil {
		f.answer(w, r, c, 0, nil, err)
		return
	}
	var reply any
	switch {
	case env.Target != f.cfg.Name:
		reply, err = f.forward(r.Context(), &env, c.peer)
	case env.Kind == KindGrantApply || env.Kind == KindGrantGet:
		reply, err = f.grant(r.Context(), &env)
	case env.Kind != "" && env.Kind != KindQuery:
		reply, err = f.serveKind(r.Context(), &env, c.peer)
	default:
		reply, err = f.decide(r.Context(), &env, c.peer)
	}
	f.answer(w, r, c, http.StatusOK, reply, err)
}

func (f *Federation) checkEnvelope(env *Envelope, from *Peer) error {
	bad := func(format string, args ...any) error {
		return govx.Errorf(govx.KindInvalid, "invalid_envelope", format, args...)
	}
	switch {
	case !requestID.MatchString(env.RequestID):
		return bad("request_id is 32 lower-case hex digits")
	case !catalog.ValidLocalDepartmentCode(env.Origin) || env.Origin == f.cfg.Name:
		return bad("origin %q is not another node", httpx.Truncate(env.Origin, 64))
	case !catalog.ValidLocalDepartmentCode(env.Department):
		return bad("department %q is not a department code of its node", httpx.Truncate(env.Department, 64))
	case !validKind(env.Kind):
		return bad("kind %q is not a kind of call", httpx.Truncate(env.Kind, 32))
	case env.Kind == KindGrantApply && env.Application == nil:
		return bad("a grant application carries its application")
	case env.Hops < 0 || env.Hops >= maxHops:
		return bad("the query crossed too many links")
	case len(env.Caller) > 200 || len(env.Scopes) > 16:
		return bad("caller or scopes too long")
	case env.Origin != from.Name && !f.relays(from, env.Origin):
		// A node speaks for its own departments, and vouches for another
		// node's only when it is this node's parent or the way to that
		// node: a peer or a child cannot pass itself off as a third node.
		return govx.Errorf(govx.KindForbidden, "link_not_relay", "node %s may not relay queries of node %s", from.Name, httpx.Truncate(env.Origin, 64))
	}
	return nil
}

// relays reports whether linked node from may speak for node origin: it is
// this node's parent (the hierarchy's way in from everywhere else), or this
// node reaches origin through it.
func (f *Federation) relays(from *Peer, origin string) bool {
	if from.Relation == Parent {
		return true
	}
	for _, r := range f.View() {
		if r.Node == origin && r.Via == from.Name {
			return true
		}
	}
	return false
}

// forward passes env on towards its target, and the target's answer back
// as the next node signed it: this node checked that signature and signs
// the answer in turn, without decoding it (it decides nothing by it).
func (f *Federation) forward(ctx context.Context, env *Envelope, from *Peer) (rawReply, error) {
	via, err := f.routeEnvelope(env)
	if err != nil {
		return nil, err
	}
	if via.Name == from.Name || via.Name == env.Origin {
		return nil, govx.Errorf(govx.KindNotFound, "node_not_found", "no way to node %s but back", env.Target)
	}
	env.Hops++
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	return f.send(ctx, via, http.MethodPost, "/federation/v1/query", env)
}

// decide answers env as this node's exchange answers its own callers. The
// caller is the remote department, named node/department; the scope is
// the one the asking node checked, as far as this node maps the link to
// it. The access is recorded in this node's ledger under env's request id.
func (f *Federation) decide(ctx context.Context, env *Envelope, from *Peer) (*Reply, error) {
	caller, err := f.remoteCaller(ctx, env.Origin, env.Department, env.Caller, env.Scopes, from)
	if err != nil {
		return nil, err
	}
	ans, d, err := f.cfg.Exchange.Answer(ctx, env.RequestID, caller, exchange.Query{Resource: env.Resource, Key: env.Key,
		Fields: env.Fields, Purpose: env.Purpose, Consent: env.Consent})
	if err != nil {
		return nil, err
	}
	return &Reply{Node: f.cfg.Name, Answer: ans, Provider: d.Provider, Fields: d.Fields, Rule: d.Rule,
		Subject: d.Subject, Consent: d.Consent}, nil
}

func thumbprint(pub []byte) string {
	if len(pub) == 0 {
		return ""
	}
	return auth.Thumbprint(pub)
}
