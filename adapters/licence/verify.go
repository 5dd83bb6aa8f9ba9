package licence

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"govx"
	"govx/catalog"
	"govx/internal/httpx"
)

// Licences of other nodes. In a federation of govx nodes each node's
// licensing department seals the licences issued there with its own keys,
// which only its own catalogue lists. A node recognises a licence sealed
// at another node by the keys that node's catalogue publishes, read over
// the node link (federation.Keys) and so vouched for by that node's key:
// the issuer is named as the catalogue names the other node's department,
// "guangzhou/licensing" — the provider of the exchange's answer when the
// licence was looked up there.

// RemoteKeys finds a key of a department of another node.
// *federation.Keys satisfies it.
type RemoteKeys interface {
	DepartmentKey(ctx context.Context, node, dept, keyID string) (catalog.DepartmentKey, error)
}

// Seals checks licence seals made at this node (with the keys its own
// catalogue lists, through Local) or at another node of the federation
// (through Remote). It is safe for concurrent use.
type Seals struct {
	Local  *SealChecker
	Remote RemoteKeys // nil: licences of other nodes do not verify
}

// IssuerNode splits an issuer, as the exchange names a licence's provider,
// into the node it is at ("" for this node) and checks that it is a
// licensing department: Department, or node/Department. Anything else is
// KindInvalid ("seal_issuer_unknown").
func IssuerNode(issuer string) (string, error) {
	if issuer == "" || issuer == Department {
		return "", nil
	}
	node, dept, ok := strings.Cut(issuer, "/")
	if !ok || dept != Department || !catalog.ValidLocalDepartmentCode(node) {
		return "", govx.Errorf(govx.KindInvalid, "seal_issuer_unknown",
			"%q is not a licensing department: licences are sealed by %s, or node/%s at another node", httpx.Truncate(issuer, 100), Department, Department)
	}
	return node, nil
}

// CheckSeal checks the seal of a licence record as the exchange answered
// it (see FromRecord), issued by issuer: the answer's provider, "" or
// Department for this node's register, "node/licensing" for another
// node's. It returns nil when the seal is valid; otherwise seal_invalid,
// seal_key_mismatch, seal_key_unknown (a key the issuer does not publish),
// seal_issuer_unknown (KindInvalid), or the error that kept the issuer's
// keys from being read.
func (s *Seals) CheckSeal(ctx context.Context, issuer string, rec map[string]any) error {
	l, err := FromRecord(rec)
	if err != nil {
		return err
	}
	return s.Verify(ctx, issuer, l)
}

// Verify checks l's seal by issuer, as CheckSeal.
func (s *Seals) Verify(ctx context.Context, issuer string, l Licence) error {
	const op = "licence.Seals.Verify"
	node, err := IssuerNode(issuer)
	if err != nil {
		return govx.E(op, err)
	}
	if node == "" {
		if s.Local == nil {
			return govx.E(op, govx.Errorf(govx.KindUnavailable, "seal_keys_unavailable", "this node checks no seals"))
		}
		ks, err := s.Local.keySet(ctx, l.SealKeyID)
		if err != nil {
			return err
		}
		return unknownIsInvalid(ks.Verify(l))
	}
	if s.Remote == nil {
		return govx.E(op, govx.Errorf(govx.KindInvalid, "seal_issuer_unknown", "this node is in no federation: it knows no licensing department at node %s", node))
	}
	k, err := s.Remote.DepartmentKey(ctx, node, Department, l.SealKeyID)
	if govx.ErrorCode(err) == "key_unknown" {
		return govx.E(op, govx.Errorf(govx.KindInvalid, "seal_key_unknown", "the licensing department at node %s publishes no key %q", node, httpx.Truncate(l.SealKeyID, 128)))
	}
	if err != nil {
		return govx.E(op, err)
	}
	return VerifySeal(l, k.PublicKey)
}

// unknownIsInvalid makes a seal by a key the issuer does not publish what
// it is to a verifier: a seal that does not verify.
func unknownIsInvalid(err error) error {
	if govx.ErrorCode(err) == "seal_key_unknown" {
		return govx.Errorf(govx.KindInvalid, "seal_key_unknown", "%s", govx.ErrorMessage(err))
	}
	return err
}

// Verification is the answer of the verification API: the seal is valid,
// made by the key KeyID of Issuer (at Node, "" for this node).
type Verification struct {
	Valid         bool      `json:"valid"`
	Issuer        string    `json:"issuer"`
	Node          string    `json:"node,omitempty"`
	KeyID         string    `json:"key_id"`
	Number        string    `json:"number"`
	Type          string    `json:"type"`
	AuthorityCode string    `json:"authority_code"`
	CheckedAt     time.Time `json:"checked_at"`
}

// VerifyPath is the route of NewVerifyHandler.
const VerifyPath = "POST /v1/licences/verify"

// NewVerifyHandler serves POST /v1/licences/verify: {"issuer":
// "guangzhou/licensing", "licence": {record}} with a bearer token of this
// node, the record as the exchange answered it. A valid seal answers 200
// with a Verification; a seal that does not verify is 400 with its code
// (seal_invalid, seal_key_mismatch, seal_key_unknown,
// seal_issuer_unknown, licence_record_invalid). Only the seal is checked:
// the licence's status is the register's to say (a query).
func NewVerifyHandler(seals *Seals, tokens httpx.Verifier, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := httpx.Authenticate(r, tokens); err != nil {
			httpx.WriteError(w, log, "", err)
			return
		}
		var in struct {
			Issuer  string         `json:"issuer"`
			Licence map[string]any `json:"licence"`
		}
		if err := httpx.DecodeJSON(r, 64<<10, &in); err != nil {
			httpx.WriteError(w, log, "", err)
			return
		}
		if in.Licence == nil {
			httpx.WriteError(w, log, "", govx.Errorf(govx.KindInvalid, "licence_record_invalid", "send the licence record as licence"))
			return
		}
		if in.Issuer == "" {
			in.Issuer = Department
		}
		l, err := FromRecord(in.Licence)
		if err == nil {
			err = seals.Verify(r.Context(), in.Issuer, l)
		}
		if err != nil {
			httpx.WriteError(w, log, "", err)
			return
		}
		node, _ := IssuerNode(in.Issuer)
		httpx.WriteJSON(w, http.StatusOK, Verification{Valid: true, Issuer: in.Issuer, Node: node, KeyID: l.SealKeyID,
			Number: l.Number, Type: l.Type, AuthorityCode: l.AuthorityCode, CheckedAt: time.Now().UTC()})
	})
}
