package federation

import (
	"context"
	"net/http"
	"strconv"

	"govx"
	"govx/bus"
	"govx/catalog"
	"govx/internal/httpx"
)

// Grants is what the federation needs of the holding node's grants: a
// remote department applies through its node, and the provider decides
// at the holding node, under its working-day clock, as for one of the
// node's own departments. *catalog.GrantStore satisfies it.
type Grants interface {
	Apply(ctx context.Context, by catalog.Actor, a catalog.Application) (*catalog.Grant, error)
	Grant(ctx context.Context, id int64) (*catalog.Grant, error)
}

var _ Grants = (*catalog.GrantStore)(nil)

// serveGrantApply relays a department's grant application to the node
// that holds the resource: POST /v1/nodes/{node}/grants.
func (f *Federation) serveGrantApply(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("node")
	caller, err := f.localCaller(r)
	if err != nil {
		httpx.WriteError(w, f.log, "", err)
		return
	}
	var a catalog.Application
	if err := httpx.DecodeJSON(r, 64<<10, &a); err != nil {
		httpx.WriteError(w, f.log, "", err)
		return
	}
	if _, _, err := f.route(node, a.Resource); err != nil {
		httpx.WriteError(w, f.log, "", err)
		return
	}
	g, err := f.relayGrant(r.Context(), &Envelope{Kind: KindGrantApply, Target: node, Resource: a.Resource,
		Department: caller.Dept, Caller: caller.Subject, Application: &a})
	if err != nil {
		httpx.WriteError(w, f.log, "", err)
		return
	}
	w.Header().Set("Location", "/v1/nodes/"+node+"/grants/"+strconv.FormatInt(g.ID, 10))
	httpx.WriteJSON(w, http.StatusCreated, g)
}

// serveGrantGet shows a department the grant it applied for at another
// node: GET /v1/nodes/{node}/grants/{id}.
func (f *Federation) serveGrantGet(w http.ResponseWriter, r *http.Request) {
	caller, err := f.localCaller(r)
	if err != nil {
		httpx.WriteError(w, f.log, "", err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpx.WriteError(w, f.log, "", govx.Errorf(govx.KindNotFound, "grant_not_found", "no grant %q", httpx.Truncate(r.PathValue("id"), 32)))
		return
	}
	g, err := f.relayGrant(r.Context(), &Envelope{Kind: KindGrantGet, Target: r.PathValue("node"),
		Department: caller.Dept, Caller: caller.Subject, GrantID: id})
	if err != nil {
		httpx.WriteError(w, f.log, "", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, g)
}

func (f *Federation) relayGrant(ctx context.Context, env *Envelope) (*catalog.Grant, error) {
	env.RequestID, env.Origin, env.SentAt = bus.NewRequestID(), f.cfg.Name, f.cfg.Now().UTC()
	if env.Target == f.cfg.Name {
		return nil, govx.Errorf(govx.KindInvalid, "node_is_local", "%s is this node: use /v1/catalog/grants", env.Target)
	}
	via, err := f.routeEnvelope(env)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	var reply Reply
	if err := f.call(ctx, via, http.MethodPost, "/federation/v1/query", env, &reply); err != nil {
		return nil, err
	}
	if reply.Node != env.Target || reply.Grant == nil {
		return nil, govx.Errorf(govx.KindUnavailable, "node_unverified", "the answer is not node %s's", env.Target)
	}
	return reply.Grant, nil
}

// grant applies for a grant, or shows one, for the remote department env
// speaks for.
func (f *Federation) grant(ctx context.Context, env *Envelope) (*Reply, error) {
	if f.cfg.Grants == nil {
		return nil, govx.Errorf(govx.KindNotFound, "grants_not_served", "node %s takes no grant applications from other nodes", f.cfg.Name)
	}
	dept, err := f.remoteDepartment(ctx, env.Origin, env.Department)
	if err != nil {
		return nil, err
	}
	var g *catalog.Grant
	if env.Kind == KindGrantApply {
		g, err = f.cfg.Grants.Apply(ctx, catalog.Actor{Subject: env.Origin + ":" + env.Caller, Dept: dept}, *env.Application)
	} else if g, err = f.cfg.Grants.Grant(ctx, env.GrantID); err == nil && g.Consumer != dept {
		// Another department's grant is not shown, nor said to exist.
		g, err = nil, govx.Errorf(govx.KindNotFound, "grant_not_found", "no grant %d of %s", env.GrantID, dept)
	}
	if err != nil {
		return nil, err
	}
	return &Reply{Node: f.cfg.Name, Grant: g}, nil
}

// routeEnvelope is the linked node an envelope goes to next: the one the
// resource is reached through, or for any other kind any way to the
// target node (the shortest the catalogue knows, or a link of its own).
func (f *Federation) routeEnvelope(env *Envelope) (*Peer, error) {
	if env.Kind == "" || env.Kind == KindQuery || env.Kind == KindGrantApply {
		_, via, err := f.route(env.Target, env.Resource)
		return via, err
	}
	if p := f.peer(env.Target); p != nil {
		return p, nil
	}
	for _, r := range f.View() {
		if r.Node == env.Target {
			if p := f.peer(r.Via); p != nil {
				return p, nil
			}
		}
	}
	return nil, govx.Errorf(govx.KindNotFound, "node_not_found", "no node %q in this node's federation", httpx.Truncate(env.Target, 64))
}
