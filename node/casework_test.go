package node_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/adapters"
	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/bus"
	"govx/casework"
	"govx/catalog"
	"govx/exchange"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/node"
	"govx/node/nodetest"
	"govx/schemas"
)

// The people who work cases in these tests.
var (
	clerk      = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "clerk:wang"}, Role: casework.RoleClerk, Dept: casework.DeptServiceCenter}
	otherClerk = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "clerk:li"}, Role: casework.RoleClerk, Dept: casework.DeptServiceCenter}
	popClerk   = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "clerk:zhao"}, Role: casework.RoleClerk, Dept: casework.DeptPopulation}
	marketRev  = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "reviewer:chen"}, Role: casework.RoleReviewer, Dept: casework.DeptMarket}
	fireRev    = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "reviewer:liu"}, Role: casework.RoleReviewer, Dept: casework.DeptFireRescue}
	urbanRev   = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "reviewer:sun"}, Role: casework.RoleReviewer, Dept: casework.DeptUrbanManagement}
	popRev     = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "reviewer:zhou"}, Role: casework.RoleReviewer, Dept: casework.DeptPopulation}
	supervisor = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "supervisor:wu"}, Role: casework.RoleSupervisor}
)

// demoApplicants are demo companies to apply with: one in business with a
// valid food business licence and a living representative, one
// deregistered, and one with a revoked licence.
type demoApplicants struct {
	company      legalentity.Company
	licence      licence.Licence
	deregistered legalentity.Company
	revoked      licence.Licence
	resident     population.Resident
}

func findApplicants(t *testing.T, residents int) demoApplicants {
	t.Helper()
	gens, err := node.NewGenerators(node.DemoRegisters(residents))
	if err != nil {
		t.Fatal(err)
	}
	people := map[string]population.Resident{}
	var d demoApplicants
	for i := range residents {
		p := gens.People.Resident(i)
		people[p.IDNumber] = p
		if d.resident.IDNumber == "" && p.Status == population.StatusNormal {
			d.resident = p
		}
	}
	companies := map[string]legalentity.Company{}
	for i := range node.DemoCompanies {
		c := gens.Companies.Company(i)
		companies[c.USCC] = c
		if d.deregistered.USCC == "" && c.Status == legalentity.StatusDeregistered {
			d.deregistered = c
		}
	}
	today := time.Now().UTC()
	for i := range node.DemoLicences {
		l := gens.Licences.Licence(i)
		c, ok := companies[l.HolderCode]
		if !ok || l.Type != licence.TypeFoodBusiness {
			continue
		}
		if d.revoked.Number == "" && l.Status == licence.StatusRevoked {
			d.revoked = l
		}
		if d.licence.Number == "" && l.EffectiveStatus(today) == licence.StatusValid && c.Status == legalentity.StatusInBusiness &&
			people[c.RepresentativeID].Status == population.StatusNormal {
			d.company, d.licence = c, l
		}
	}
	if d.licence.Number == "" || d.deregistered.USCC == "" || d.resident.IDNumber == "" {
		t.Fatalf("demo data lacks applicants: %+v", d)
	}
	return d
}

// runCaseSystem runs govx with the three registers' adapters and returns
// it with demo applicants.
func runCaseSystem(t *testing.T) (*node.Node, demoApplicants) {
	t.Helper()
	cfg := nodetest.Config(t)
	cfg.Adapters = node.ReferenceAdapters
	m := nodetest.Start(t, cfg)
	return m, findApplicants(t, cfg.Residents)
}

func companyParty(c legalentity.Company) casework.Party {
	return casework.Party{USCC: c.USCC, Company: c.Name, RepIDNumber: c.RepresentativeID, RepName: c.LegalRepresentative}
}

func mustState(t *testing.T, c *casework.Case, code, state string) *casework.Material {
	t.Helper()
	m := c.Material(code)
	if m == nil || m.State != state {
		t.Fatalf("material %s = %+v, want %s", code, m, state)
	}
	return m
}

func TestCaseRenewalEndToEnd(t *testing.T) {
	m, d := runCaseSystem(t)
	ctx := context.Background()
	svc := m.Casework

	// Intake: three verifications through the exchange, at once.
	c, err := svc.Open(ctx, clerk, casework.OpenInput{Item: "food-business-renewal", Applicant: companyParty(d.company),
		LicenceNumber: d.licence.Number, FormID: "form-renewal-1"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if c.Status != casework.Draft || len(c.Consents) != 2 {
		t.Fatalf("opened case: %+v", c)
	}
	reg := mustState(t, c, "company_registration", casework.Verified)
	if reg.Provider != legalentity.Department || reg.RequestID == "" || reg.VerifiedAt == nil || reg.Facts["name"] != d.company.Name {
		t.Errorf("company registration: %+v", reg)
	}
	lic := mustState(t, c, "current_licence", casework.Verified)
	if lic.Seal != "valid" || lic.Provider != licence.Department {
		t.Errorf("licence: %+v, want a checked seal", lic)
	}
	mustState(t, c, "representative_identity", casework.Verified)
	mustState(t, c, "self_inspection", casework.Missing)

	// The same form again opens nothing new.
	again, err := svc.Open(ctx, clerk, casework.OpenInput{Item: "food-business-renewal", Applicant: companyParty(d.company),
		LicenceNumber: d.licence.Number, FormID: "form-renewal-1"})
	if err != nil || again.ID != c.ID {
		t.Fatalf("double submission: %v, case %v, want %s", err, again, c.ID)
	}

	// A required upload missing cannot be accepted; a commitment can stand in.
	if _, err := svc.Accept(ctx, clerk, c.ID, casework.ChangeInput{Version: c.Version}, map[string]casework.Choice{
		"self_inspection": casework.ChoiceMissing}); govx.ErrorCode(err) != "material_required" {
		t.Fatalf("accept without a required material: %v", err)
	}
	// Two clerks accept the same version at once: one wins, the other is told.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, who := range []*auth.Claims{clerk, otherClerk} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = svc.Accept(ctx, who, c.ID, casework.ChangeInput{Version: c.Version, FormID: "accept-" + who.Subject[6:] + "-xyz"},
				map[string]casework.Choice{"self_inspection": casework.ChoiceCommitment})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case govx.ErrorCode(err) == "case_changed":
			if !strings.Contains(govx.ErrorMessage(err), "clerk:") {
				t.Errorf("the loser is not told who: %v", err)
			}
		default:
			t.Errorf("concurrent accept: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("concurrent accepts: %v, want exactly one to win", errs)
	}
	c, _ = svc.Get(ctx, clerk, c.ID)
	if c.Status != casework.InReview || c.Due == nil || c.Colour != casework.Green || len(c.PendingDepts()) != 1 {
		t.Fatalf("accepted case: %+v", c)
	}

	// A reviewer of another department may not decide it.
	if _, err := svc.Review(ctx, fireRev, c.ID, casework.ChangeInput{}, casework.Approve, ""); govx.ErrorCode(err) != "not_your_department" {
		t.Errorf("review by another department: %v", err)
	}
	if _, err := svc.Get(ctx, fireRev, c.ID); govx.ErrorKind(err) != govx.KindForbidden {
		t.Errorf("another department reads the case: %v", err)
	}
	queue, err := svc.Queue(ctx, marketRev)
	if err != nil || len(queue) != 1 || queue[0].ID != c.ID {
		t.Fatalf("market regulation's queue: %v %v", err, queue)
	}
	// Supplement: the clock stands, then runs again.
	c, err = svc.Review(ctx, marketRev, c.ID, casework.ChangeInput{Version: c.Version}, casework.AskForSupplement, "请补充食品安全自查报告原件")
	if err != nil || c.Status != casework.Supplement || c.PausedSince == nil || c.Colour != casework.Paused {
		t.Fatalf("ask for supplement: %v %+v", err, c)
	}
	c, err = svc.Supplied(ctx, clerk, c.ID, casework.ChangeInput{Version: c.Version})
	if err != nil || c.Status != casework.InReview || c.PausedSince != nil {
		t.Fatalf("supplied: %v %+v", err, c)
	}
	c, err = svc.Review(ctx, marketRev, c.ID, casework.ChangeInput{Version: c.Version}, casework.Approve, "")
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if c.Status != casework.Ready || c.Result == nil || c.Result.Number == "" {
		t.Fatalf("approved renewal: %+v %+v", c, c.Result)
	}
	// The loop closes: the new licence is verifiable through the exchange.
	next, err := svc.Open(ctx, clerk, casework.OpenInput{Item: "food-business-renewal", Applicant: companyParty(d.company),
		LicenceNumber: c.Result.Number})
	if err != nil {
		t.Fatalf("open with the issued licence: %v", err)
	}
	if m := mustState(t, next, "current_licence", casework.Verified); m.Seal != "valid" {
		t.Errorf("issued licence: %+v", m)
	}
	c, err = svc.Deliver(ctx, clerk, c.ID, casework.ChangeInput{Version: c.Version})
	if err != nil || c.Status != casework.Delivered {
		t.Fatalf("deliver: %v %+v", err, c)
	}

	// The applicant looks the case up and rates it; no personal data shows.
	last4 := d.company.USCC[14:]
	if _, err := svc.Progress(ctx, c.ID, "0000"); govx.ErrorKind(err) != govx.KindNotFound && last4 != "0000" {
		t.Errorf("progress with the wrong last four: %v", err)
	}
	p, err := svc.Rate(ctx, c.ID, last4, 5, "不用跑腿，很方便")
	if err != nil || !p.Rated {
		t.Fatalf("rate: %v %+v", err, p)
	}
	if _, err := svc.Rate(ctx, c.ID, last4, 4, ""); govx.ErrorCode(err) != "already_rated" {
		t.Errorf("rated twice: %v", err)
	}
	b, _ := json.Marshal(p)
	for _, secret := range []string{d.company.USCC, d.company.Name, d.company.RepresentativeID, d.company.LegalRepresentative, "clerk:", "reviewer:"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("public progress shows %q: %s", secret, b)
		}
	}
	var actions []string
	for _, e := range p.Timeline {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, ","); got != "opened,accepted,reviewed,supplement_requested,supplied,reviewed,approved,issued,delivered,rated" {
		t.Errorf("timeline = %s", got)
	}
	// The history keeps who did what; it cannot be rewritten.
	hist, err := svc.History(ctx, supervisor, c.ID)
	if err != nil || len(hist) < 10 {
		t.Fatalf("history: %v %d", err, len(hist))
	}
	if _, err := m.Pool.Exec(ctx, `UPDATE casework.history SET actor = 'nobody' WHERE case_id = $1`, c.ID); err == nil {
		t.Error("history rows can be changed")
	}
	sup, err := svc.Supervise(ctx, supervisor)
	if err != nil {
		t.Fatal(err)
	}
	var market *casework.DeptStats
	for i := range sup.Depts {
		if sup.Depts[i].Dept == casework.DeptMarket {
			market = &sup.Depts[i]
		}
	}
	if market == nil || market.Cases != 1 || market.Closed != 1 || market.Ratings != 1 || market.AvgRating != 5 {
		t.Errorf("supervision of market regulation: %+v", market)
	}
	if !slices.Equal(sup.Ratings, []int{0, 0, 0, 0, 1}) {
		t.Errorf("ratings by score = %v, want the one 5", sup.Ratings)
	}
	// Every case here was opened, and this one closed, within the last
	// 30 days: on a working day, or among the days off.
	var opened, closed, cases, closedCases int
	for i, day := range sup.Days {
		if i > 0 && day.Date <= sup.Days[i-1].Date {
			t.Errorf("days out of order: %s after %s", day.Date, sup.Days[i-1].Date)
		}
		opened, closed = opened+day.Opened, closed+day.Closed
	}
	opened, closed = opened+sup.RestDays.Opened, closed+sup.RestDays.Closed
	if err := m.Pool.QueryRow(ctx, `SELECT count(*), count(closed_at) FROM casework.cases`).Scan(&cases, &closedCases); err != nil {
		t.Fatal(err)
	}
	if len(sup.Days) < 15 || len(sup.Days) > 23 || opened != cases || closed != closedCases || closed < 1 {
		t.Errorf("activity: %d working days, %d opened and %d closed; want 15–23 days, %d and %d", len(sup.Days), opened, closed, cases, closedCases)
	}
}

func TestCaseBlockersAndBadInput(t *testing.T) {
	m, d := runCaseSystem(t)
	ctx := context.Background()
	svc := m.Casework

	for _, tc := range []struct {
		name   string
		who    *auth.Claims
		in     casework.OpenInput
		code   string
		status govx.Kind
	}{
		{"bad USCC", clerk, casework.OpenInput{Item: "food-business-new", Applicant: casework.Party{USCC: "91440106MA5D00000X", RepIDNumber: d.company.RepresentativeID}}, "", govx.KindInvalid},
		{"bad ID number", clerk, casework.OpenInput{Item: "resident-certificate", Applicant: casework.Party{IDNumber: "110101199003070000"}}, "", govx.KindInvalid},
		{"unknown item", clerk, casework.OpenInput{Item: "no-such-item", Applicant: casework.Party{IDNumber: d.resident.IDNumber}}, "item_not_found", govx.KindNotFound},
		{"item of another window", popClerk, casework.OpenInput{Item: "food-business-new", Applicant: companyParty(d.company)}, "item_not_handled", govx.KindForbidden},
		{"reviewer opens", marketRev, casework.OpenInput{Item: "food-business-new", Applicant: companyParty(d.company)}, "role_forbidden", govx.KindForbidden},
		{"malformed licence number", clerk, casework.OpenInput{Item: "food-business-renewal", Applicant: companyParty(d.company), LicenceNumber: "JY 1'; --"}, "licence_number_invalid", govx.KindInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.Open(ctx, tc.who, tc.in)
			if govx.ErrorKind(err) != tc.status || (tc.code != "" && govx.ErrorCode(err) != tc.code) {
				t.Errorf("Open: %v, want %v %s", err, tc.status, tc.code)
			}
		})
	}
	var n int
	m.Pool.QueryRow(ctx, `SELECT count(*) FROM casework.cases`).Scan(&n)
	if n != 0 {
		t.Errorf("%d cases written by refused intakes", n)
	}

	// One intake form sent twice at once (a double click): one case, its
	// consents recorded once.
	var wg sync.WaitGroup
	ids := make([]string, 4)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := svc.Open(ctx, clerk, casework.OpenInput{Item: "resident-certificate",
				Applicant: casework.Party{IDNumber: d.resident.IDNumber}, FormID: "double-click-0001"})
			if err != nil {
				t.Errorf("open %d: %v", i, err)
				return
			}
			ids[i] = c.ID
		}()
	}
	wg.Wait()
	var consents int
	m.Pool.QueryRow(ctx, `SELECT count(*) FROM consent.consents WHERE case_id = $1`, ids[0]).Scan(&consents)
	m.Pool.QueryRow(ctx, `SELECT count(*) FROM casework.cases`).Scan(&n)
	if n != 1 || consents != 1 || ids[0] == "" || ids[1] != ids[0] || ids[2] != ids[0] || ids[3] != ids[0] {
		t.Errorf("double submission: %d cases %v, %d consents", n, ids, consents)
	}

	// A deregistered company: shown as such, and it blocks acceptance.
	c, err := svc.Open(ctx, clerk, casework.OpenInput{Item: "food-business-new", Applicant: companyParty(d.deregistered)})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	reg := mustState(t, c, "company_registration", casework.Blocked)
	if !strings.Contains(reg.Reason, "deregistered") {
		t.Errorf("reason = %q", reg.Reason)
	}
	_, err = svc.Accept(ctx, clerk, c.ID, casework.ChangeInput{Version: c.Version}, map[string]casework.Choice{
		"premises_proof": casework.ChoiceReceived, "food_safety_rules": casework.ChoiceReceived})
	if govx.ErrorCode(err) != "material_blocked" || !strings.Contains(govx.ErrorMessage(err), "deregistered") {
		t.Errorf("accept a deregistered company: %v", err)
	}
	if d.revoked.Number != "" {
		c, err := svc.Open(ctx, clerk, casework.OpenInput{Item: "food-business-renewal", Applicant: companyParty(d.company), LicenceNumber: d.revoked.Number})
		if err != nil {
			t.Fatal(err)
		}
		mustState(t, c, "current_licence", casework.Blocked)
	}
}

// A licence revoked after a case relied on it raises a flag on the case.
func TestCaseFlaggedWhenLicenceRevoked(t *testing.T) {
	m, d := runCaseSystem(t)
	ctx := context.Background()
	svc := m.Casework
	c, err := svc.Open(ctx, clerk, casework.OpenInput{Item: "food-business-renewal", Applicant: companyParty(d.company), LicenceNumber: d.licence.Number})
	if err != nil {
		t.Fatal(err)
	}
	c, err = svc.Accept(ctx, clerk, c.ID, casework.ChangeInput{Version: c.Version}, map[string]casework.Choice{"self_inspection": casework.ChoiceReceived})
	if err != nil {
		t.Fatal(err)
	}
	// The licensing department revokes it in its own register; its
	// adapter's outbox relay publishes the change.
	store := licence.NewStore(m.Pool, adapters.NewOutbox(m.Pool, licence.Schema, licence.Department, m.Codec, nil))
	if _, err := store.Revoke(ctx, d.licence.Number, "经营场所灭失"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, _ = svc.Get(ctx, marketRev, c.ID)
		if len(c.Flags) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(c.Flags) != 1 || c.Flags[0].Material != "current_licence" || !strings.Contains(c.Flags[0].Message, "经营场所灭失") {
		t.Fatalf("flags = %+v", c.Flags)
	}
	// The case workflow read the change through the exchange's
	// subscription, as its own subject, and the ledger says so: no
	// personal field asked for, so no consent needed.
	var caller, consumer, outcome string
	var fields []string
	err = m.Pool.QueryRow(ctx, `SELECT caller, consumer, outcome, fields FROM exchange.audit
		WHERE resource = $1 AND subject_key = $2 AND caller = $3`, licence.ResourceFoodBusiness, d.licence.Number, casework.System.Subject).Scan(&caller, &consumer, &outcome, &fields)
	if err != nil || caller != casework.System.Subject || consumer != catalog.DeptServiceCenter || !ledger.IsReleased(outcome) ||
		strings.Join(fields, ",") != "number,status" {
		t.Errorf("audit of the change's delivery: %s %s %s %v, %v", caller, consumer, outcome, fields, err)
	}
}

// A change published while the node is down flags the case once it is up
// again, and a change handled before the restart is not handled again:
// the subscription resumes from the cursor kept in the casework schema.
func TestCaseFlaggedAfterRestart(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Adapters = node.ReferenceAdapters
	m := nodetest.Start(t, cfg)
	d := findApplicants(t, cfg.Residents)
	ctx := context.Background()
	c, err := m.Casework.Open(ctx, clerk, casework.OpenInput{Item: "food-business-renewal", Applicant: companyParty(d.company), LicenceNumber: d.licence.Number})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = m.Casework.Accept(ctx, clerk, c.ID, casework.ChangeInput{Version: c.Version}, map[string]casework.Choice{"self_inspection": casework.ChoiceReceived}); err != nil {
		t.Fatal(err)
	}
	// Another licence, which no case relies on, revoked and handled
	// before the restart.
	other := otherValidLicence(t, d.licence.Number)
	revoke := func(pool *pgxpool.Pool, codec *avro.Codec, number string) {
		t.Helper()
		store := licence.NewStore(pool, adapters.NewOutbox(pool, licence.Schema, licence.Department, codec, nil))
		if _, err := store.Revoke(ctx, number, "经营场所灭失"); err != nil {
			t.Fatal(err)
		}
	}
	revoke(m.Pool, m.Codec, other)
	waitCursor(t, m, 0)
	m.Close()

	// While the node is down the register changes; its adapter publishes
	// the change when it is up again.
	pool, err := pgxpool.New(ctx, cfg.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	codec := avro.NewCodec(catalog.NewStore(pool))
	if err := schemas.RegisterAll(ctx, codec); err != nil {
		t.Fatal(err)
	}
	revoke(pool, codec, d.licence.Number)

	m2 := nodetest.Start(t, cfg)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, _ = m2.Casework.Get(ctx, marketRev, c.ID)
		if len(c.Flags) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(c.Flags) != 1 || c.Flags[0].Material != "current_licence" {
		t.Fatalf("flags after restart = %+v", c.Flags)
	}
	// Once the subscription has read everything on the topic, each change
	// was delivered to the case workflow once in all.
	waitCursor(t, m2, 2)
	for _, number := range []string{other, d.licence.Number} {
		var n int
		if err := m2.Pool.QueryRow(ctx, `SELECT count(*) FROM exchange.audit WHERE caller = $1 AND resource = $2 AND subject_key = $3`,
			casework.System.Subject, licence.ResourceFoodBusiness, number).Scan(&n); err != nil || n != 1 {
			t.Errorf("deliveries of %s's change = %d, %v; want 1", number, n, err)
		}
	}
}

// otherValidLicence is a demo food business licence, not number, valid
// today.
func otherValidLicence(t *testing.T, number string) string {
	t.Helper()
	gens, err := node.NewGenerators(node.DemoRegisters(nodetest.Residents))
	if err != nil {
		t.Fatal(err)
	}
	for i := range node.DemoLicences {
		l := gens.Licences.Licence(i)
		if l.Type == licence.TypeFoodBusiness && l.Number != number && l.EffectiveStatus(time.Now().UTC()) == licence.StatusValid {
			return l.Number
		}
	}
	t.Fatal("no other valid food business licence in the demo data")
	return ""
}

// waitCursor waits until the case workflow's kept cursor on the food
// business licences' changes covers the topic's events, and at least
// events of them.
func waitCursor(t *testing.T, m *node.Node, events int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tail, err := kafka.OpenTail(ctx, nodetest.Kafka(t, m, kafka.PrincipalAdmin), bus.EventTopic(licence.ResourceFoodBusiness), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	ends := tail.Start()
	tail.Close()
	var total int64
	for _, end := range ends {
		total += end
	}
	if total < events {
		// Not published yet: wait for the adapter's relay.
		events = max(events, total)
	}
	for {
		var text string
		m.Pool.QueryRow(ctx, `SELECT cursor FROM casework.change_cursors WHERE resource = $1`, licence.ResourceFoodBusiness).Scan(&text)
		cur, _ := exchange.ParseCursor(text)
		covered, seen := true, int64(0)
		for p, end := range ends {
			covered = covered && cur[p] >= end
			seen += cur[p]
		}
		if text != "" && covered && seen >= max(events, 1) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the case workflow's cursor stays at %q, topic ends %v", text, ends)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// caseEvents reads the case events on the bus until one of type want
// arrives for the case, and returns the types seen for it.
func caseEvents(t *testing.T, m *node.Node, caseID, want string) []string {
	t.Helper()
	cons, err := kafka.NewConsumer(nodetest.Kafka(t, m, kafka.PrincipalAdmin), kafka.ConsumerConfig{
		GroupID: "test-" + caseID + want, Topics: []string{bus.EventTopic(casework.Resource)}})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	codec := avro.NewCodec(catalog.NewStore(m.Pool))
	if err := schemas.RegisterAll(context.Background(), codec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var seen []string
	cons.Run(ctx, func(_ context.Context, msg kafka.Message) error {
		var ev bus.Event
		if err := codec.UnmarshalAs(ctx, schemas.Event, msg.Value, &ev); err != nil || ev.Key != caseID {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, ev.Type)
		if ev.Type == want {
			cancel()
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(seen, want) {
		t.Fatalf("case events of %s: %v, no %s", caseID, seen, want)
	}
	return seen
}

// The clock: yellow when one working day remains, red when overdue,
// standing still while the case waits on the applicant; each warning an
// event on the bus.
func TestCaseDeadlines(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Adapters = node.ReferenceAdapters
	var mu sync.Mutex
	now, _ := time.Parse(time.RFC3339, "2026-11-20T10:00:00+08:00") // a Friday
	cfg.CaseClock = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		now, _ = time.Parse(time.RFC3339, s)
	}
	m := nodetest.Start(t, cfg)
	d := findApplicants(t, cfg.Residents)
	ctx := context.Background()
	svc := m.Casework

	// food-business-new: promised in 10 working days.
	c, err := svc.Open(ctx, clerk, casework.OpenInput{Item: "food-business-new", Applicant: companyParty(d.company)})
	if err != nil {
		t.Fatal(err)
	}
	c, err = svc.Accept(ctx, clerk, c.ID, casework.ChangeInput{Version: c.Version}, map[string]casework.Choice{
		"premises_proof": casework.ChoiceReceived, "food_safety_rules": casework.ChoiceCommitment, "layout_plan": casework.ChoiceMissing})
	if err != nil {
		t.Fatal(err)
	}
	// Accepted on Friday 20 November: ten working days end Friday 4 December.
	if got := c.Due.Format(time.DateOnly); got != "2026-12-04" || c.Colour != casework.Green {
		t.Fatalf("due %s colour %s, want 2026-12-04 green", got, c.Colour)
	}
	if c.SupplementDue == nil || c.Material("layout_plan").State != casework.Missing {
		t.Errorf("accepted with a gap: supplement due %v, %+v", c.SupplementDue, c.Material("layout_plan"))
	}
	set("2026-12-03T09:00:00+08:00") // Thursday: one working day left
	if n, err := svc.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	c, _ = svc.Get(ctx, supervisor, c.ID)
	if c.Colour != casework.Yellow {
		t.Fatalf("colour on 3 December: %s", c.Colour)
	}
	// Waiting for supplements from Thursday to the next Tuesday: three
	// working days the clock stands.
	c, err = svc.Review(ctx, marketRev, c.ID, casework.ChangeInput{}, casework.AskForSupplement, "经营场所使用证明与营业执照地址不一致")
	if err != nil || c.Colour != casework.Paused {
		t.Fatalf("supplement: %v %s", err, c.Colour)
	}
	set("2026-12-08T09:00:00+08:00")
	c, err = svc.Supplied(ctx, clerk, c.ID, casework.ChangeInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Due.Format(time.DateOnly); c.PausedDays != 3 || got != "2026-12-09" {
		t.Errorf("after the pause: paused %d days, due %s; want 3 and 2026-12-09", c.PausedDays, got)
	}
	set("2026-12-10T09:00:00+08:00")
	svc.Sweep(ctx)
	c, _ = svc.Get(ctx, supervisor, c.ID)
	if c.Colour != casework.Red || svc.Clock().Remaining(c, now) != -1 {
		t.Fatalf("colour on 10 December: %s, remaining %d", c.Colour, svc.Clock().Remaining(c, now))
	}
	sup, err := svc.Supervise(ctx, supervisor)
	if err != nil || len(sup.Red) != 1 || sup.Red[0].ID != c.ID {
		t.Errorf("supervision red list: %v %+v", err, sup)
	}
	seen := caseEvents(t, m, c.ID, "case.deadline.red")
	if !slices.Contains(seen, "case.deadline.yellow") || !slices.Contains(seen, "case.accepted") {
		t.Errorf("case events: %v", seen)
	}
}

// An exchange whose provider does not answer: the case is accepted with
// the material "verification pending", nothing the clerk typed is lost,
// and the retry verifies it once the provider is back.
func TestCaseVerificationPendingWhileProviderDown(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Adapters = []string{population.Department, licence.Department} // market regulation's adapter is down
	cfg.Timeout = 500 * time.Millisecond
	cfg.CaseRetry = 200 * time.Millisecond
	m := nodetest.Start(t, cfg)
	d := findApplicants(t, cfg.Residents)
	ctx := context.Background()
	svc := m.Casework
	in := casework.OpenInput{Item: "food-business-new", Applicant: companyParty(d.company), Note: "申请人电话已核实"}
	c, err := svc.Open(ctx, clerk, in)
	if err != nil {
		t.Fatal(err)
	}
	reg := mustState(t, c, "company_registration", casework.Pending)
	if reg.NextTry == nil || !strings.Contains(reg.Reason, "retried") {
		t.Errorf("pending material: %+v", reg)
	}
	mustState(t, c, "representative_identity", casework.Verified)
	c, err = svc.Accept(ctx, clerk, c.ID, casework.ChangeInput{Version: c.Version}, map[string]casework.Choice{
		"premises_proof": casework.ChoiceReceived, "food_safety_rules": casework.ChoiceReceived, "layout_plan": casework.ChoiceReceived})
	if err != nil || c.Status != casework.InReview || c.Note != in.Note || c.Applicant.RepName != in.Applicant.RepName {
		t.Fatalf("accept with verification pending: %v %+v", err, c)
	}

	// The department's adapter comes back, in a process of its own.
	acfg := cfg
	acfg.DataDir, acfg.Exchange, acfg.Casework, acfg.Migrate, acfg.Demo = t.TempDir(), false, false, false, false
	acfg.EmbeddedKafka, acfg.KafkaBrokers, acfg.KafkaCredentials = false, m.Brokers, m.KafkaCredentials()
	acfg.Adapters = []string{legalentity.Department}
	nodetest.Start(t, acfg)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, _ = svc.Get(ctx, clerk, c.ID); c.Material("company_registration").State == casework.Verified {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	reg = mustState(t, c, "company_registration", casework.Verified)
	if reg.Provider != legalentity.Department || reg.Attempts < 2 {
		t.Errorf("verified on retry: %+v", reg)
	}
}
