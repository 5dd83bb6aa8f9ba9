package node

import (
	"context"
	"path/filepath"

	"govx/bus"
	"govx/catalog"
	"govx/internal/auth"
)

// Bus signatures (see package bus): every exchange instance, department
// adapter and the case workflow signs what it writes to the bus with a key
// of its own, kept in the data folder under keys/bus/<name>, whose public
// half it publishes in the catalogue under its department when it starts
// (a new key is therefore published before it signs anything). Receivers
// check signatures against the catalogue through one bus.Verifier per node.

// BusKeySource reads the catalogue's department keys for bus verifiers
// and audit proofs.
func BusKeySource(store *catalog.Store) bus.KeySource { return busKeySource(store) }

// busKeySource reads the catalogue's department keys for bus verifiers.
func busKeySource(store *catalog.Store) bus.KeySource {
	return bus.KeySourceFunc(func(ctx context.Context, dept string) ([]bus.PublicKey, error) {
		keys, err := store.DepartmentKeys(ctx, dept)
		if err != nil {
			return nil, err
		}
		out := make([]bus.PublicKey, len(keys))
		for i, k := range keys {
			out[i] = bus.PublicKey{KeyID: k.KeyID, Key: k.PublicKey, RetiredAt: k.RetiredAt}
		}
		return out, nil
	})
}

// busSigner loads (making it on first use) the bus key named name from the
// data folder, publishes its public half under dept and returns its
// signer. The exchange's department is put in the catalogue if missing.
func (n *Node) busSigner(ctx context.Context, store *catalog.Store, dept, name string) (*bus.Signer, error) {
	key, err := auth.LoadOrCreateKey(filepath.Join(n.cfg.DataDir, "keys", "bus", name))
	if err != nil {
		return nil, err
	}
	s, err := bus.NewSigner(dept, key)
	if err != nil {
		return nil, err
	}
	if dept == bus.ExchangeDepartment {
		if _, err := store.Department(ctx, dept); err != nil {
			if err := store.PutDepartment(ctx, catalog.Department{Code: dept, Name: "govx exchange"}); err != nil {
				return nil, err
			}
		}
	}
	if err := store.PutDepartmentKey(ctx, catalog.DepartmentKey{Department: dept, KeyID: s.KeyID(), PublicKey: s.PublicKey()}); err != nil {
		return nil, err
	}
	return s, nil
}

// busVerifier is the node's verifier of bus signatures, made on first use.
func (n *Node) busVerifier(store *catalog.Store) (*bus.Verifier, error) {
	if n.BusVerifier == nil {
		v, err := bus.NewVerifier(bus.VerifierConfig{Keys: busKeySource(store)})
		if err != nil {
			return nil, err
		}
		n.BusVerifier = v
	}
	return n.BusVerifier, nil
}
