package node

import (
	"context"
	"encoding/json"

	"govx/casework"
	"govx/federation"
	"govx/internal/httpx"
)

// serveCrossRegion makes a federated node decide the cross-region cases
// other nodes' windows take in (package casework, crossregion.go): it
// takes their submissions and answers how their cases stand, for the
// department and caller of the node the federation vouches for.
func (n *Node) serveCrossRegion(svc *casework.Service) {
	if n.Federation == nil {
		return
	}
	serve := func(kind string, fn func(context.Context, casework.Caller, json.RawMessage) (any, error)) {
		n.Federation.Serve(kind, func(ctx context.Context, from federation.Origin, payload json.RawMessage) (any, error) {
			return fn(ctx, casework.Caller{Node: from.Node, Dept: from.Department, Subject: from.Caller}, payload)
		})
	}
	serve(casework.KindSubmit, func(ctx context.Context, from casework.Caller, payload json.RawMessage) (any, error) {
		var in casework.Submission
		if err := httpx.Unmarshal(payload, &in, false); err != nil {
			return nil, err
		}
		return svc.TakeSubmission(ctx, from, in)
	})
	serve(casework.KindStatus, func(ctx context.Context, from casework.Caller, payload json.RawMessage) (any, error) {
		var ref casework.CaseRef
		if err := httpx.Unmarshal(payload, &ref, false); err != nil {
			return nil, err
		}
		return svc.RemoteStatus(ctx, from, ref)
	})
	serve(casework.KindSupplied, func(ctx context.Context, from casework.Caller, payload json.RawMessage) (any, error) {
		var ref casework.CaseRef
		if err := httpx.Unmarshal(payload, &ref, false); err != nil {
			return nil, err
		}
		return svc.RemoteSupplied(ctx, from, ref)
	})
}
