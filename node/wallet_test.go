package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"govx"
	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/casework/wallet"
	"govx/consent"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/node"
	"govx/node/nodetest"
)

// walletHolder is a resident of the test node's demo registers who holds
// a valid licence, and the licence.
func walletHolder(t *testing.T, m *node.Node) (string, licence.Licence) {
	t.Helper()
	rows, err := m.Pool.Query(context.Background(), `SELECT number, holder_code FROM licence.licences
		WHERE status = 'valid' AND valid_until > now() + interval '30 days' ORDER BY number`)
	if err != nil {
		t.Fatal(err)
	}
	var number string
	for rows.Next() {
		var n, h string
		if err := rows.Scan(&n, &h); err != nil {
			t.Fatal(err)
		}
		if number == "" && govx.ValidateIDNumber(h) == nil && govx.ValidateUSCC(h) != nil {
			number = n
		}
	}
	rows.Close()
	if number == "" {
		t.Fatal("no resident holds a licence")
	}
	l, err := licence.NewStore(m.Pool, nil).Licence(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	return l.HolderCode, l
}

func walletNode(t *testing.T) *node.Node {
	cfg := nodetest.Config(t)
	cfg.Adapters = []string{population.Department, legalentity.Department, licence.Department}
	return nodetest.Start(t, cfg)
}

func citizen(t *testing.T, m *node.Node, id string) string {
	return nodetest.Token(t, m.Key, auth.TokenSpec{Subject: id, Role: consent.RoleCitizen, Dept: "-"})
}

// The holder opens their wallet and sees their licences with seals
// checked and codes; anyone can check a code and learns nothing about the
// holder; an unknown code answers as one whose holder closed the wallet;
// a revoked licence and a forged seal show as such; a holder sees only
// their own wallet, copies and proofs; a proof checks offline and fails
// when altered.
func TestWallet(t *testing.T) {
	m := walletNode(t)
	ctx := context.Background()
	doc, err := openapicheck.Load(wallet.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	check := func(method, path string, status int, raw []byte) {
		t.Helper()
		var body any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		if err := doc.CheckResponse(method, path, status, "application/json", body); err != nil {
			t.Errorf("%s %s %d does not match the OpenAPI document: %v", method, path, status, err)
		}
	}
	holder, lic := walletHolder(t, m)
	tok := citizen(t, m, holder)
	other := nodetest.NormalResidents(50)
	var stranger string
	for _, id := range other {
		if id != holder {
			stranger = id
			break
		}
	}
	strangerTok := citizen(t, m, stranger)
	base := m.URL()

	// Nothing is fetched before the holder opens the wallet.
	st, body, raw := nodetest.Call(t, "GET", base+"/v1/wallet/"+holder, tok, nil)
	if st != http.StatusForbidden || nodetest.ErrCode(body) != wallet.CodeWalletClosed {
		t.Fatalf("closed wallet of %s: %d %s", holder, st, raw)
	}
	check("GET", "/v1/wallet/{subject}", st, raw)
	if st, body, _ := nodetest.Call(t, "POST", base+"/v1/wallet/"+holder+"/open", strangerTok, nil); st != http.StatusForbidden || nodetest.ErrCode(body) != "not_data_subject" {
		t.Fatalf("a stranger opened the wallet: %d %v", st, body)
	}
	st, body, raw = nodetest.Call(t, "POST", base+"/v1/wallet/"+holder+"/open", tok, nil)
	if st != http.StatusOK || body["purpose_code"] != wallet.PurposeCode || body["status"] != "active" {
		t.Fatalf("open: %d %s", st, raw)
	}
	check("POST", "/v1/wallet/{subject}/open", st, raw)
	consentID, _ := body["id"].(string)

	st, _, raw = nodetest.Call(t, "GET", base+"/v1/wallet/"+holder, tok, nil)
	if st != http.StatusOK {
		t.Fatalf("wallet: %d %s", st, raw)
	}
	check("GET", "/v1/wallet/{subject}", st, raw)
	var w wallet.Wallet
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	var card *wallet.Card
	for i := range w.Cards {
		if w.Cards[i].Number == lic.Number {
			card = &w.Cards[i]
		}
	}
	if card == nil || card.Seal != wallet.SealValid || card.Status != licence.StatusValid || card.RequestID == "" ||
		card.VerifyURL != "/hall/verify/"+card.Code || len(w.Problems) != 0 {
		t.Fatalf("wallet %s", raw)
	}
	if _, ok := wallet.NormaliseCode(strings.ToLower(wallet.FormatCode(card.Code))); !ok {
		t.Errorf("code %q does not read back", card.Code)
	}
	// Another resident sees neither the wallet nor its copies.
	if st, body, _ := nodetest.Call(t, "GET", base+"/v1/wallet/"+holder, strangerTok, nil); st != http.StatusForbidden || nodetest.ErrCode(body) != "not_data_subject" {
		t.Errorf("a stranger read the wallet: %d %v", st, body)
	}
	if st, body, _ := nodetest.Call(t, "GET", base+"/v1/wallet/"+stranger+"/licences/"+card.Code+"/pdf", strangerTok, nil); st != http.StatusNotFound || nodetest.ErrCode(body) != "code_not_found" {
		t.Errorf("a stranger's copy of the holder's licence: %d %v", st, body)
	}

	// The PDF copy carries the code and its link.
	req, _ := http.NewRequest("GET", base+"/v1/wallet/"+holder+"/licences/"+card.Code+"/pdf", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pdf bytes.Buffer
	pdf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf.Bytes(), []byte("%PDF-")) ||
		!bytes.Contains(pdf.Bytes(), []byte(wallet.FormatCode(card.Code))) || !bytes.Contains(pdf.Bytes(), []byte("/hall/verify/"+card.Code)) ||
		bytes.Contains(pdf.Bytes(), []byte(holder)) {
		t.Errorf("PDF: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), pdf.Len())
	}

	// The public check: the facts of the licence, nothing of the holder.
	verify := func(code string) (wallet.Verification, []byte) {
		t.Helper()
		st, _, raw := nodetest.Call(t, "GET", base+"/v1/verify/"+code, "", nil)
		if st != http.StatusOK {
			t.Fatalf("verify %s: %d %s", code, st, raw)
		}
		check("GET", "/v1/verify/{code}", st, raw)
		var v wallet.Verification
		json.Unmarshal(raw, &v)
		return v, raw
	}
	v, raw := verify(wallet.FormatCode(card.Code))
	if v.Result != wallet.ResultValid || v.Seal != wallet.SealValid || v.Type != lic.Type || v.AuthorityCode != lic.AuthorityCode || v.Number != wallet.MaskNumber(lic.Number) {
		t.Errorf("verification %s", raw)
	}
	for _, personal := range []string{lic.HolderName, lic.HolderCode, lic.Number} {
		if bytes.Contains(raw, []byte(personal)) {
			t.Errorf("the verification shows %q: %s", personal, raw)
		}
	}

	// Unknown, malformed and closed-wallet codes answer alike.
	same := func(v wallet.Verification) wallet.Verification { v.CheckedAt = v.CheckedAt.Truncate(1 << 62); return v }
	unknown, rawUnknown := verify("ZZZZZ-ZZZZZ")
	malformed, _ := verify("not-a-code")
	if unknown.Result != wallet.ResultUnverifiable || same(unknown) != same(malformed) {
		t.Errorf("unknown %s, malformed %+v", rawUnknown, malformed)
	}
	if st, body, _ := nodetest.Call(t, "POST", base+"/v1/consents/"+consentID+"/pause", tok, nil); st != http.StatusOK {
		t.Fatalf("pause: %d %v", st, body)
	}
	paused, rawPaused := verify(card.Code)
	if same(paused) != same(unknown) || len(rawPaused) != len(rawUnknown) {
		t.Errorf("a paused wallet's code %s, an unknown one %s", rawPaused, rawUnknown)
	}
	if st, body, _ := nodetest.Call(t, "GET", base+"/v1/wallet/"+holder, tok, nil); st != http.StatusForbidden || nodetest.ErrCode(body) != wallet.CodeWalletClosed {
		t.Errorf("paused wallet: %d %v", st, body)
	}
	if st, body, _ := nodetest.Call(t, "POST", base+"/v1/consents/"+consentID+"/resume", tok, nil); st != http.StatusOK {
		t.Fatalf("resume: %d %v", st, body)
	}

	// A seal that does not verify, then a revoked licence.
	if _, err := m.Pool.Exec(ctx, `UPDATE licence.licences SET holder_name = holder_name || '某' WHERE number = $1`, lic.Number); err != nil {
		t.Fatal(err)
	}
	if v, raw := verify(card.Code); v.Result != wallet.ResultInvalid || v.Seal != wallet.SealInvalid || v.AuthorityCode != "" {
		t.Errorf("altered licence: %s", raw)
	}
	if _, err := m.Pool.Exec(ctx, `UPDATE licence.licences SET holder_name = $2 WHERE number = $1`, lic.Number, lic.HolderName); err != nil {
		t.Fatal(err)
	}
	// As Store.Revoke leaves it (which also announces it, through the
	// department's outbox).
	if _, err := m.Pool.Exec(ctx, `UPDATE licence.licences SET status = 'revoked', revoked_at = now(), revocation_reason = 'test' WHERE number = $1`, lic.Number); err != nil {
		t.Fatal(err)
	}
	if v, raw := verify(card.Code); v.Result != wallet.ResultRevoked || v.Seal != wallet.SealValid {
		t.Errorf("revoked licence: %s", raw)
	}

	// The wallet's own fetches are among the holder's accesses, each with
	// a proof only the holder gets.
	st, body, raw = nodetest.Call(t, "GET", base+"/v1/subjects/"+holder+"/accesses", tok, nil)
	if st != http.StatusOK {
		t.Fatalf("accesses: %d %s", st, raw)
	}
	accesses, _ := body["accesses"].([]any)
	var reqID string
	for _, a := range accesses {
		a, _ := a.(map[string]any)
		if a["purpose"] == wallet.PurposeCode && a["outcome"] == ledger.Released && a["request_id"] == card.RequestID {
			reqID = card.RequestID
		}
	}
	if reqID == "" {
		t.Fatalf("the wallet's fetch %s is not among the holder's accesses: %s", card.RequestID, raw)
	}
	proofURL := base + "/v1/subjects/" + holder + "/accesses/" + reqID + "/proof"
	st, body, raw = nodetest.Call(t, "GET", proofURL, tok, nil)
	if st != http.StatusOK {
		t.Fatalf("proof: %d %s", st, raw)
	}
	check("GET", "/v1/subjects/{subject}/accesses/{request_id}/proof", st, raw)
	p, err := ledger.ParseProof(raw)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.VerifyProof(p, auth.PublicKey(m.Key.Public))
	if err != nil || rep.RequestID != reqID || !rep.ProviderSigned {
		t.Fatalf("proof: %+v %v", rep, err)
	}
	// A receipt over the entry alone: no one else's access travels with it.
	if len(p.Links) != 0 || !p.Checkpoint.Receipt || p.Checkpoint.Seq != p.Entry.Seq {
		t.Errorf("the proof carries %d other entries (receipt %v): %s", len(p.Links), p.Checkpoint.Receipt, raw)
	}
	p.Entry.Purpose = "something else"
	if _, err := ledger.VerifyProof(p, auth.PublicKey(m.Key.Public)); govx.ErrorCode(err) != ledger.CodeProofEntryAltered {
		t.Errorf("altered proof: %v", err)
	}
	// Not the stranger's, under either subject.
	if st, body, _ := nodetest.Call(t, "GET", proofURL, strangerTok, nil); st != http.StatusForbidden || nodetest.ErrCode(body) != "not_data_subject" {
		t.Errorf("a stranger's proof of the holder's access: %d %v", st, body)
	}
	st, body, raw = nodetest.Call(t, "GET", base+"/v1/subjects/"+stranger+"/accesses/"+reqID+"/proof", strangerTok, nil)
	if st != http.StatusNotFound || nodetest.ErrCode(body) != "audit_entry_not_found" {
		t.Errorf("the holder's access as the stranger's: %d %v", st, body)
	}
	check("GET", "/v1/subjects/{subject}/accesses/{request_id}/proof", st, raw)
}

// Codes cannot be tried at speed: an address past its budget is refused.
func TestWalletVerifyRateLimited(t *testing.T) {
	m := nodetest.Start(t, nodetest.Config(t))
	for i := range wallet.VerifyLimit.Burst + 5 {
		st, body, _ := nodetest.Call(t, "GET", m.URL()+"/v1/verify/ZZZZZ-ZZZZZ", "", nil)
		if st == http.StatusTooManyRequests {
			if nodetest.ErrCode(body) != "rate_limited" || i < wallet.VerifyLimit.Burst {
				t.Errorf("refused after %d: %v", i, body)
			}
			return
		}
	}
	t.Error("never refused")
}
