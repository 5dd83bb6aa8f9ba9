package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"

	"govx"
	"govx/bus"
	"govx/internal/httpx"
)

// Origin is who a service call comes from: the asking node, and the
// department and caller there it speaks for.
type Origin struct {
	Node       string
	Department string // as the asking node knows it: "market-regulation"
	Caller     string
	RequestID  string
	// Via is the linked node the call came through: Node itself, or the
	// node that relayed it.
	Via string
}

// RemoteDepartment is the code this node knows the calling department by.
func (o Origin) RemoteDepartment() string { return o.Node + "/" + o.Department }

// ServiceFunc answers a service call of another node: payload is the
// caller's request, the result is marshalled as the answer. An error
// crosses back with its code and kind.
type ServiceFunc func(ctx context.Context, from Origin, payload json.RawMessage) (any, error)

var kindName = regexp.MustCompile(`^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$`)

func validKind(k string) bool {
	return k == "" || k == KindQuery || k == KindGrantApply || k == KindGrantGet || kindName.MatchString(k)
}

// Serve makes this node answer the service calls of kind (a dotted name
// such as "case.submit") from other nodes with fn. Call it before the node
// takes calls.
func (f *Federation) Serve(kind string, fn ServiceFunc) {
	if !kindName.MatchString(kind) || kind == KindGrantApply || kind == KindGrantGet {
		panic("federation: invalid service kind " + kind)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.services == nil {
		f.services = map[string]ServiceFunc{}
	}
	f.services[kind] = fn
}

func (f *Federation) serveKind(ctx context.Context, env *Envelope, from *Peer) (*Reply, error) {
	f.mu.RLock()
	fn := f.services[env.Kind]
	f.mu.RUnlock()
	if fn == nil {
		return nil, govx.Errorf(govx.KindNotFound, "kind_not_served", "node %s does not serve %s", f.cfg.Name, env.Kind)
	}
	out, err := fn(ctx, Origin{Node: env.Origin, Department: env.Department, Caller: env.Caller, RequestID: env.RequestID, Via: from.Name}, env.Payload)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, govx.E("federation.serve", err)
	}
	return &Reply{Node: f.cfg.Name, Payload: b}, nil
}

// Call sends a service call of kind to node, on behalf of department dept
// and caller of this node, and decodes the answer into out. It travels
// like a query: signed on every link, through this node's parent when
// there is no link of its own to node. Errors are the holding node's, or
// node_unavailable, node_timeout, node_not_found.
func (f *Federation) Call(ctx context.Context, node, kind, dept, caller string, in, out any) error {
	if !kindName.MatchString(kind) {
		return govx.Errorf(govx.KindInvalid, "invalid_kind", "kind %q is not a dotted name", httpx.Truncate(kind, 32))
	}
	if node == f.cfg.Name {
		return govx.Errorf(govx.KindInvalid, "node_is_local", "%s is this node", node)
	}
	payload, err := json.Marshal(in)
	if err != nil {
		return govx.E("federation.Call", err)
	}
	env := &Envelope{Kind: kind, RequestID: bus.NewRequestID(), Origin: f.cfg.Name, Target: node, Department: dept,
		Caller: caller, Payload: payload, SentAt: f.cfg.Now().UTC()}
	via, err := f.routeEnvelope(env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	var reply Reply
	if err := f.call(ctx, via, http.MethodPost, "/federation/v1/query", env, &reply); err != nil {
		return err
	}
	if reply.Node != node {
		return govx.Errorf(govx.KindUnavailable, "node_unverified", "the answer is not node %s's", node)
	}
	if out != nil {
		if err := json.Unmarshal(reply.Payload, out); err != nil {
			return govx.Errorf(govx.KindUnavailable, "node_unavailable", "node %s answered %s with something else", node, kind)
		}
	}
	return nil
}

// Nodes lists this node and the nodes it is linked to, with their status.
func (f *Federation) Nodes() []Node { return f.nodes() }

// Level is this node's level.
func (f *Federation) Level() string { return f.cfg.Level }
