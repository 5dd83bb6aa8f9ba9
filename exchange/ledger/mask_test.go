package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"govx"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
)

const personID = "110101199003074477"

func mustUSCC(t *testing.T) string {
	t.Helper()
	first := "91110108MA01C7X1B"
	c, err := govx.USCCCheckChar(first)
	if err != nil {
		t.Fatal(err)
	}
	return first + string(c)
}

func TestMaskSubject(t *testing.T) {
	uscc := mustUSCC(t)
	cases := []struct{ in, want string }{
		{personID, "110*************77"},
		{"11010119900307447X", "110*************7X"},
		{"110101199003074478", "110*************78"}, // wrong check character: still a person's
		{uscc, uscc},
		{"JY11101080000001", ledger.MaskedOther},
		{"not-a-key", ledger.MaskedOther},
		{"", ""},
	}
	for _, tc := range cases {
		if got := ledger.MaskSubject(tc.in); got != tc.want {
			t.Errorf("MaskSubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"citizen:" + personID, "citizen:110*************77"},
		{"svc:service-center-window", "svc:service-center-window"},
		{"case:" + personID + "/" + personID, "case:110*************77/110*************77"},
		{"old 110101900307447 id", "old 110**********47 id"},
		{"x" + personID, "x" + personID}, // one run of 19: not an ID number's shape
		{"", ""},
	}
	for _, tc := range cases {
		if got := ledger.MaskText(tc.in); got != tc.want {
			t.Errorf("MaskText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzMaskText(f *testing.F) {
	f.Add("citizen:" + personID)
	f.Add("a-" + personID + "-b")
	f.Fuzz(func(t *testing.T, s string) {
		got := ledger.MaskText(s)
		if len(got) != len(s) {
			t.Fatalf("MaskText(%q) = %q changed the length", s, got)
		}
		if strings.Contains(s, personID) && strings.Contains(got, personID) {
			if i := strings.Index(s, personID); (i == 0 || !isAlnum(s[i-1])) && (i+18 == len(s) || !isAlnum(s[i+18])) {
				t.Fatalf("MaskText(%q) = %q kept an ID number", s, got)
			}
		}
	})
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// auditFixture is a ledger with varied entries and the operator API on it.
type auditFixture struct {
	srv *httptest.Server
	key *auth.Key
	doc *openapicheck.Doc
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	l, pool := mustLedger(t)
	uscc := mustUSCC(t)
	base := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	for i := range 30 {
		e := ledger.Entry{At: base.Add(time.Duration(i) * time.Minute), RequestID: fmt.Sprintf("req-%02d", i),
			Caller: "svc:w", Consumer: "service-center", Resource: "population.identity", Provider: "population",
			SubjectKey: personID, Fields: []string{"name"}, Purpose: "case:" + personID, Outcome: ledger.Answered,
			Code: "ok", Status: 200, Rule: "unconditional"}
		if i%3 == 1 {
			e.Caller, e.Consumer, e.Resource, e.Provider, e.SubjectKey = "citizen:"+personID, "tax", "legal-entity.basic", "market-regulation", uscc
		}
		if i%3 == 2 {
			e.Resource, e.SubjectKey = "licence.food-business", "JY11101080000001"
		}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: "govx", Audience: "govx"}, key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ledger.NewHandler(ledger.HandlerConfig{Pool: pool, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	doc, err := openapicheck.Load(ledger.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	return &auditFixture{srv: srv, key: key, doc: doc}
}

func (f *auditFixture) token(t *testing.T, role string) string {
	t.Helper()
	tok, err := f.key.Mint(auth.TokenSpec{Issuer: "govx", Audience: "govx", Subject: "ops:1", Dept: "ops", Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// get calls GET /v1/audit?query, checks the answer against the document
// and that it holds no full ID number, and returns status and body.
func (f *auditFixture) get(t *testing.T, tok, query string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/audit?"+query, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := f.doc.CheckResponseJSON("GET", "/v1/audit", resp.StatusCode, resp.Header.Get("Content-Type"), body); err != nil {
		t.Errorf("GET /v1/audit?%s: %v\n%s", query, err, body)
	}
	if bytes.Contains(body, []byte(personID)) {
		t.Errorf("GET /v1/audit?%s exposes a full ID number: %s", query, body)
	}
	return resp.StatusCode, body
}

func TestAuditAPIPagesMaskedEntries(t *testing.T) {
	f := newAuditFixture(t)
	tok := f.token(t, ledger.RoleOperator)
	var seqs []int64
	query := "limit=7"
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		status, body := f.get(t, tok, query)
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		var page ledger.Page
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			seqs = append(seqs, e.Seq)
			switch e.Resource {
			case "population.identity":
				if e.SubjectKey != "110*************77" || e.Purpose != "case:110*************77" {
					t.Errorf("entry %d: subject %q purpose %q, want masked", e.Seq, e.SubjectKey, e.Purpose)
				}
			case "legal-entity.basic":
				if e.SubjectKey != mustUSCC(t) || e.Caller != "citizen:110*************77" {
					t.Errorf("entry %d: subject %q caller %q, want the USCC kept and the caller masked", e.Seq, e.SubjectKey, e.Caller)
				}
			case "licence.food-business":
				if e.SubjectKey != ledger.MaskedOther {
					t.Errorf("entry %d: subject %q, want %q", e.Seq, e.SubjectKey, ledger.MaskedOther)
				}
			}
		}
		if page.NextBefore == nil {
			break
		}
		query = fmt.Sprintf("limit=7&before=%d", *page.NextBefore)
	}
	if len(seqs) != 30 || seqs[0] != 30 || seqs[29] != 1 {
		t.Fatalf("paged through %v, want 30 down to 1", seqs)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]-1 {
			t.Fatalf("pages skip or repeat: %v", seqs)
		}
	}
}

func TestAuditAPIFilters(t *testing.T) {
	f := newAuditFixture(t)
	tok := f.token(t, ledger.RoleOperator)
	cases := []struct {
		query string
		want  []int64
	}{
		{"consumer=tax&limit=3", []int64{29, 26, 23}},
		{"resource=licence.food-business&before=10", []int64{9, 6, 3}},
		{"since=2026-11-21T08:25:00Z", []int64{30, 29, 28, 27, 26}},
		{"resource=legal-entity.basic&since=2026-11-21T08:20:00%2B00:00", []int64{29, 26, 23}},
		{"resource=nothing", nil},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			status, body := f.get(t, tok, tc.query)
			var page ledger.Page
			if status != 200 || json.Unmarshal(body, &page) != nil {
				t.Fatalf("status %d: %s", status, body)
			}
			var got []int64
			for _, e := range page.Entries {
				got = append(got, e.Seq)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("seqs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAuditAPIRefuses(t *testing.T) {
	f := newAuditFixture(t)
	op := f.token(t, ledger.RoleOperator)
	cases := []struct {
		name, tok, query string
		status           int
		code             string
	}{
		{"no token", "", "", 401, "token_missing"},
		{"bad token", "nonsense", "", 401, "token_invalid"},
		{"service role", f.token(t, "service"), "", 403, "role_required"},
		{"clerk role", f.token(t, "clerk"), "", 403, "role_required"},
		{"limit zero", op, "limit=0", 400, "invalid_limit"},
		{"limit too high", op, "limit=501", 400, "invalid_limit"},
		{"limit not a number", op, "limit=ten", 400, "invalid_limit"},
		{"before negative", op, "before=-1", 400, "invalid_before"},
		{"before not a number", op, "before=x", 400, "invalid_before"},
		{"since not a time", op, "since=yesterday", 400, "invalid_since"},
		{"resource too long", op, "resource=" + strings.Repeat("r", 129), 400, "invalid_resource"},
		{"twice", op, "limit=1&limit=2", 400, "invalid_parameter"},
		{"unknown", op, "subject=" + personID, 400, "unknown_parameter"},
		{"bad escape", op, "resource=%zz", 400, "invalid_query"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.get(t, tc.tok, tc.query)
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			json.Unmarshal(body, &e)
			if status != tc.status || e.Error.Code != tc.code {
				t.Errorf("status %d code %q, want %d %q: %s", status, e.Error.Code, tc.status, tc.code, body)
			}
		})
	}
}

func TestListAuditValidates(t *testing.T) {
	_, pool := mustLedger(t)
	_, err := ledger.List(context.Background(), pool, ledger.Filter{Limit: ledger.MaxLimit + 1})
	if govx.ErrorCode(err) != "invalid_limit" {
		t.Errorf("err = %v, want invalid_limit", err)
	}
	got, err := ledger.List(context.Background(), pool, ledger.Filter{})
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("empty ledger: %v, %v; want an empty list", got, err)
	}
}
