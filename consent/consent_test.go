package consent_test

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/catalog"
	"govx/consent"
	"govx/internal/auth"
	"govx/internal/postgres/postgrestest"
	"govx/internal/redis"
	"govx/internal/redis/redistest"
)

// Demo data subjects: valid check characters.
const (
	person  = "110101199003074477"
	person2 = "360103199809198822"
)

var company = func() string {
	c, err := govx.USCCCheckChar("91350100M000100Y4")
	if err != nil {
		panic(err)
	}
	return "91350100M000100Y4" + string(c)
}()

var (
	clerk   = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "clerk:window-3"}, Dept: catalog.DeptServiceCenter, Role: consent.RoleClerk}
	citizen = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: person}, Role: consent.RoleCitizen}
)

type env struct {
	pool   *pgxpool.Pool
	store  *consent.Store
	rdb    *redis.Client
	policy *catalog.PolicyCache
	key    *auth.Key
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool := postgrestest.NewMigrated(t, catalog.MigrationSource(), consent.MigrationSource())
	cat := catalog.NewStore(pool)
	if err := catalog.SeedDemo(ctx, cat); err != nil {
		t.Fatal(err)
	}
	rdb := redistest.New(t)
	policy, err := catalog.NewPolicyCache(catalog.PolicyConfig{Store: cat, Grants: catalog.NewGrantStore(pool, nil), Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(policy.Close)
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	store, err := consent.NewStore(consent.StoreConfig{Pool: pool, Key: key, Entitlement: policy})
	if err != nil {
		t.Fatal(err)
	}
	return &env{pool: pool, store: store, rdb: rdb, policy: policy, key: key}
}

func identityRequest(subject string) consent.Request {
	return consent.Request{Subject: subject, Items: []consent.Item{{Resource: "population.identity", Fields: []string{"name", "address"}}},
		CaseID: "2026-000123", PurposeCode: "food-business-licence", Purpose: "Check the applicant's identity for a food business licence",
		ValidUntil: time.Now().Add(24 * time.Hour)}
}

func need(subject string) consent.Need {
	return consent.Need{Subject: subject, Consumer: catalog.DeptServiceCenter, Resource: "population.identity",
		Fields: []string{"name"}, Purpose: "case:2026-000123", At: time.Now()}
}

func TestCreateAndDecide(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c, err := e.store.Create(ctx, clerk, identityRequest(person))
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != consent.Active || c.Consumer != catalog.DeptServiceCenter || c.GivenVia != consent.AtWindow || c.SubjectType != consent.Person {
		t.Fatalf("created %+v", c)
	}
	cs, err := e.store.ForDecisions(ctx, person)
	if err != nil || len(cs) != 1 {
		t.Fatalf("ForDecisions = %v, %v", cs, err)
	}
	got, err := consent.Decide(cs, need(person))
	if err != nil || got.ID != c.ID {
		t.Fatalf("Decide = %v, %v; want %s", got, err, c.ID)
	}
	refuse := func(name string, n consent.Need, code string) {
		t.Helper()
		if _, err := consent.Decide(cs, n); govx.ErrorCode(err) != code || govx.ErrorKind(err) != govx.KindForbidden {
			t.Errorf("%s: Decide = %v, want %s", name, err, code)
		}
	}
	n := need(person)
	n.Fields = []string{"name", "birth_date"}
	refuse("field not covered", n, "consent_required")
	n = need(person)
	n.Purpose = "case:2026-999999"
	refuse("another case", n, "consent_required")
	n = need(person)
	n.Consumer = "tax"
	refuse("another consumer", n, "consent_required")
	refuse("another subject", need(person2), "consent_required")
	n = need(person)
	n.At = c.ValidUntil.Add(time.Second)
	refuse("after its validity", n, "consent_expired")
	n = need(person)
	n.ConsentID = "cs00000000000000000000"
	refuse("another consent named", n, "consent_required")
	n = need(person)
	n.ConsentID, n.Purpose = c.ID, "case:other"
	refuse("named consent, wrong purpose", n, "consent_mismatch")
}

func TestCreateRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		caller *auth.Claims
		edit   func(*consent.Request)
		code   string
	}{
		{"unknown subject format", clerk, func(r *consent.Request) { r.Subject = "12345" }, "invalid_subject"},
		{"bad check digit", clerk, func(r *consent.Request) { r.Subject = "110101199003074478" }, "invalid_subject"},
		{"dates out of order", clerk, func(r *consent.Request) { r.ValidFrom = time.Now().Add(48 * time.Hour) }, "validity_invalid"},
		{"already past", clerk, func(r *consent.Request) {
			r.ValidFrom, r.ValidUntil = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
		}, "validity_invalid"},
		{"unknown resource", clerk, func(r *consent.Request) { r.Items[0].Resource = "tax.income" }, "resource_not_found"},
		{"unknown field", clerk, func(r *consent.Request) { r.Items[0].Fields = []string{"salary"} }, "unknown_field"},
		{"field the grant does not cover", clerk, func(r *consent.Request) {
			r.Items = []consent.Item{{Resource: catalog.DemoHousehold, Fields: []string{"members"}}}
		}, "consumer_not_entitled"},
		{"conditional resource without a grant", &auth.Claims{RegisteredClaims: clerk.RegisteredClaims, Dept: "tax", Role: consent.RoleClerk},
			func(r *consent.Request) { r.Items = []consent.Item{{Resource: catalog.DemoHousehold}} }, "consumer_not_entitled"},
		{"company for a person's resource", clerk, func(r *consent.Request) { r.Subject = company }, "subject_mismatch"},
		{"clerk for another department", clerk, func(r *consent.Request) { r.Consumer = "tax" }, "consumer_mismatch"},
		{"a service token", &auth.Claims{Dept: catalog.DeptServiceCenter, Role: "service"}, func(*consent.Request) {}, "not_allowed"},
		{"a citizen for someone else", citizen, func(r *consent.Request) { r.Subject, r.Consumer = person2, catalog.DeptServiceCenter }, "not_allowed"},
		{"bad fetch", clerk, func(r *consent.Request) { r.Fetch = "always" }, "invalid_fetch"},
		{"no purpose", clerk, func(r *consent.Request) { r.Purpose = " " }, "invalid_purpose"},
	}
	for _, tt := range tests {
		r := identityRequest(person)
		tt.edit(&r)
		if _, err := e.store.Create(ctx, tt.caller, r); govx.ErrorCode(err) != tt.code {
			t.Errorf("%s: Create = %v, want %s", tt.name, err, tt.code)
		}
	}
	// Nothing was recorded, and every refusal is in the log.
	var consents, refused int
	e.pool.QueryRow(ctx, `SELECT count(*) FROM consent.consents`).Scan(&consents)
	e.pool.QueryRow(ctx, `SELECT count(*) FROM consent.log WHERE outcome = 'refused' AND action = 'create'`).Scan(&refused)
	if consents != 0 || refused != len(tests) {
		t.Errorf("%d consents recorded, %d refusals logged; want 0 and %d", consents, refused, len(tests))
	}
	// A hostile subject is not stored in the log.
	var stored int
	e.pool.QueryRow(ctx, `SELECT count(*) FROM consent.log WHERE subject = '12345'`).Scan(&stored)
	if stored != 0 {
		t.Error("an invalid subject was written to the log")
	}
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// The data subject gives it directly, starting tomorrow: pending.
	r := identityRequest(person)
	r.Consumer, r.ValidFrom = catalog.DeptServiceCenter, time.Now().Add(24*time.Hour)
	r.ValidUntil = r.ValidFrom.Add(24 * time.Hour)
	c, err := e.store.Create(ctx, citizen, r)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != consent.Pending || c.GivenVia != consent.BySubject {
		t.Fatalf("status %s via %s, want pending by subject", c.Status, c.GivenVia)
	}
	step := func(caller *auth.Claims, action string, version int, want consent.Status, code string) {
		t.Helper()
		got, err := e.store.Change(ctx, caller, c.ID, action, "no longer needed", version)
		if code != "" {
			if govx.ErrorCode(err) != code {
				t.Fatalf("%s: %v, want %s", action, err, code)
			}
			return
		}
		if err != nil || got.Status != want {
			t.Fatalf("%s: %v, %v; want %s", action, got, err, want)
		}
	}
	step(clerk, consent.ActionRevoke, 0, "", "not_data_subject")
	step(citizen, consent.ActionResume, 0, "", "consent_not_paused")
	step(citizen, consent.ActionPause, 0, consent.Paused, "")
	step(citizen, consent.ActionPause, 0, "", "consent_paused")
	step(citizen, consent.ActionResume, 1, "", "version_conflict")
	step(citizen, consent.ActionResume, 2, consent.Pending, "") // resumed, but not valid before tomorrow
	step(citizen, consent.ActionRevoke, 0, consent.Revoked, "")
	step(citizen, consent.ActionResume, 0, "", "consent_terminal")
	step(citizen, consent.ActionRevoke, 0, "", "consent_terminal")

	hist, err := e.store.History(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, h := range hist {
		actions = append(actions, h.Action+":"+h.Outcome)
	}
	want := "create:ok revoke:refused resume:refused pause:ok pause:refused resume:refused resume:ok revoke:ok resume:refused revoke:refused"
	if strings.Join(actions, " ") != want {
		t.Errorf("history\n got %s\nwant %s", strings.Join(actions, " "), want)
	}
	// A revoked consent decides consent_revoked, also once it has expired.
	cs, _ := e.store.ForDecisions(ctx, person)
	n := need(person)
	n.At = r.ValidFrom.Add(time.Hour)
	if _, err := consent.Decide(cs, n); govx.ErrorCode(err) != "consent_revoked" {
		t.Errorf("Decide after revocation = %v, want consent_revoked", err)
	}
}

func TestOnceOnlyIsUsedOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := identityRequest(person)
	r.Fetch = consent.Once
	c, err := e.store.Create(ctx, clerk, r)
	if err != nil {
		t.Fatal(err)
	}
	// Ten accesses race for it: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.store.Use(ctx, c, "req-"+string(rune('a'+i)))
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case govx.ErrorCode(err) == "consent_used":
		default:
			t.Errorf("Use = %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d accesses used a once-only consent", won)
	}
	got, _ := e.store.Get(ctx, c.ID)
	if got.Status != consent.Used || got.UsedAt == nil || !strings.HasPrefix(got.UsedBy, "req-") {
		t.Errorf("after use: %+v", got)
	}
	cs, _ := e.store.ForDecisions(ctx, person)
	if _, err := consent.Decide(cs, need(person)); govx.ErrorCode(err) != "consent_used" {
		t.Errorf("replay: Decide = %v, want consent_used", err)
	}
}

func TestArtefact(t *testing.T) {
	e := newEnv(t)
	c, err := e.store.Create(context.Background(), clerk, identityRequest(person))
	if err != nil {
		t.Fatal(err)
	}
	a, err := consent.VerifyArtefact(c.Artefact, e.key)
	if err != nil {
		t.Fatalf("VerifyArtefact: %v", err)
	}
	if a.ID != c.ID || a.Subject != person || a.Audience[0] != catalog.DeptServiceCenter || a.CaseID != c.CaseID ||
		!a.ValidUntil().Equal(c.ValidUntil) || len(a.Items) != 1 || strings.Join(a.Items[0].Fields, ",") != "address,name" {
		t.Errorf("artefact states %+v", a)
	}
	// Altered: the consumer changed in the payload, signature kept.
	parts := strings.Split(c.Artefact, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), catalog.DeptServiceCenter, "tax-bureau-xx", 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	other, _ := auth.GenerateKey()
	otherSigned, _ := consent.Sign(&auth.Key{ID: e.key.ID, Private: other.Private, Public: other.Public}, c)
	for name, s := range map[string]string{
		"altered payload":         strings.Join(parts, "."),
		"signed by another key":   otherSigned,
		"not a JWS":               "hello",
		"unsigned (alg none)":     "eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"a key not published (1)": mustSign(t, other, c),
	} {
		if _, err := consent.VerifyArtefact(s, e.key); govx.ErrorCode(err) != "consent_signature_invalid" {
			t.Errorf("%s: VerifyArtefact = %v, want consent_signature_invalid", name, err)
		}
	}
}

func mustSign(t *testing.T, k *auth.Key, c *consent.Consent) string {
	t.Helper()
	s, err := consent.Sign(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStatusAt(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	c := consent.Consent{Status: consent.Active, Request: consent.Request{ValidFrom: from, ValidUntil: from.Add(24 * time.Hour)}}
	for _, tt := range []struct {
		stored consent.Status
		at     time.Time
		want   consent.Status
	}{
		{consent.Active, from.Add(-time.Second), consent.Pending},
		{consent.Active, from, consent.Active},
		{consent.Pending, from.Add(time.Hour), consent.Active},
		{consent.Paused, from.Add(time.Hour), consent.Paused},
		{consent.Active, from.Add(24 * time.Hour), consent.Expired},
		{consent.Paused, from.Add(25 * time.Hour), consent.Expired},
		{consent.Revoked, from.Add(time.Hour), consent.Revoked},
		{consent.Used, from.Add(48 * time.Hour), consent.Used},
	} {
		c.Status = tt.stored
		if got := c.StatusAt(tt.at); got != tt.want {
			t.Errorf("%s at %v: %s, want %s", tt.stored, tt.at, got, tt.want)
		}
	}
}
