package federation

import (
	"context"
	"slices"
	"strings"

	"govx"
	"govx/internal/auth"
)

// Caller is who a service call of another node's department is decided
// for at this node, as a query of it is (decide): the remote department,
// known here as node/department, acting as a service with scopes (the
// resources the asking node checked its token for), less those this node
// does not map the link from the asking node to.
func (f *Federation) Caller(ctx context.Context, from Origin, scopes ...string) (*auth.Claims, error) {
	via := f.peer(from.Via)
	if via == nil {
		return nil, govx.Errorf(govx.KindUnauthenticated, "link_unknown_node", "this node has no link to node %q", from.Via)
	}
	return f.remoteCaller(ctx, from.Node, from.Department, from.Caller, scopes, via)
}

// remoteCaller is the one rule for the claims a remote department's call
// is decided with; from is the linked node the call came through.
func (f *Federation) remoteCaller(ctx context.Context, origin, department, caller string, scopes []string, from *Peer) (*auth.Claims, error) {
	dept, err := f.remoteDepartment(ctx, origin, department)
	if err != nil {
		return nil, err
	}
	kept := []string{}
	for _, s := range scopes {
		if origin == from.Name && len(from.Resources) > 0 && !slices.Contains(from.Resources, s) {
			continue
		}
		kept = append(kept, s)
	}
	claims := &auth.Claims{Dept: dept, Role: "service", Scope: strings.Join(kept, " ")}
	claims.Subject = origin + ":" + caller
	return claims, nil
}

// remoteDepartment is the code this node knows department of node origin
// by, put into its catalogue on the first call: later calls find it here,
// without a write per call. A department deleted from the catalogue by
// hand is put back on the next start.
func (f *Federation) remoteDepartment(ctx context.Context, origin, department string) (string, error) {
	key := origin + "/" + department
	if code, ok := f.remote.Load(key); ok {
		return code.(string), nil
	}
	code, err := f.cfg.Catalogue.PutRemoteDepartment(ctx, origin, department)
	if err != nil {
		return "", err
	}
	f.remote.Store(key, code)
	return code, nil
}
