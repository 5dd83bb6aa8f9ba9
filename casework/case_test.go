package casework

import (
	"testing"
	"time"

	"govx"
	"govx/internal/workday"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testClock(t *testing.T, holidays ...string) *Clock {
	t.Helper()
	cal, err := workday.New(workday.Config{Holidays: holidays})
	if err != nil {
		t.Fatal(err)
	}
	return &Clock{cal: cal, warnDays: 1, supplementDays: 5, recheck: time.Hour}
}

func TestDemoItemsAreValid(t *testing.T) {
	cat, err := NewCatalogue(DemoItems())
	if err != nil {
		t.Fatal(err)
	}
	bundled := 0
	for _, it := range cat.All() {
		if it.Bundled() {
			bundled++
		}
	}
	if bundled == 0 || len(cat.TakenBy(DeptServiceCenter)) != 4 || len(cat.TakenBy(DeptPopulation)) != 1 {
		t.Errorf("demo catalogue: %d bundled, %d at the service center", bundled, len(cat.TakenBy(DeptServiceCenter)))
	}
}

func TestCatalogueRefusesBadItems(t *testing.T) {
	good := DemoItems()[0]
	for name, mutate := range map[string]func(*Item){
		"no code":                 func(it *Item) { it.Code = "" },
		"promised over statutory": func(it *Item) { it.Promised = it.Statutory + 1 },
		"no reviewing department": func(it *Item) { it.Departments = nil },
		"person material for a company": func(it *Item) {
			it.Materials = append(it.Materials, MaterialSpec{Code: "x", Source: FromExchange, Resource: "population.identity", About: AboutApplicant})
		},
		"licence without its number": func(it *Item) {
			it.Materials = append(it.Materials, MaterialSpec{Code: "x", Source: FromExchange, Resource: "licence.food-business", About: AboutLicence})
		},
		"unknown source": func(it *Item) { it.Materials = append(it.Materials, MaterialSpec{Code: "x", Source: "fax"}) },
	} {
		t.Run(name, func(t *testing.T) {
			it := good
			it.Materials = append([]MaterialSpec(nil), good.Materials...)
			mutate(&it)
			if _, err := NewCatalogue([]Item{it}); govx.ErrorCode(err) != "item_invalid" {
				t.Errorf("NewCatalogue: %v", err)
			}
		})
	}
	if _, err := NewCatalogue([]Item{good, good}); err == nil {
		t.Error("a repeated code is accepted")
	}
}

func TestPartyValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Party
		ok   bool
	}{
		{"person", Party{Kind: Person, IDNumber: "11010519491231002X"}, true},
		{"bad check digit", Party{Kind: Person, IDNumber: "110105194912310021"}, false},
		{"company", Party{Kind: Company, USCC: "91350100M000100Y43", RepIDNumber: "11010519491231002X"}, true},
		{"company with a bad representative", Party{Kind: Company, USCC: "91350100M000100Y43", RepIDNumber: "1101"}, false},
		{"bad USCC", Party{Kind: Company, USCC: "91350100M000100Y44", RepIDNumber: "11010519491231002X"}, false},
		{"no kind", Party{IDNumber: "11010519491231002X"}, false},
		{"NUL in a name", Party{Kind: Person, IDNumber: "11010519491231002X", Name: "a\x00b"}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v", tc.name, err)
		}
	}
}

// A case accepted on Friday 20 November 2026 with a 10-day promise is due
// at the end of Friday 4 December; a holiday moves it.
func TestClockDueAndColours(t *testing.T) {
	it := &Item{Promised: 10, Statutory: 20}
	for _, tc := range []struct {
		holidays []string
		due      string
	}{
		{nil, "2026-12-04"},
		{[]string{"2026-11-30"}, "2026-12-07"},
	} {
		k := testClock(t, tc.holidays...)
		accepted := at(t, "2026-11-20T16:30:00+08:00")
		c := &Case{Status: InReview, AcceptedAt: &accepted}
		k.reschedule(c, it)
		if got := workday.Date(*c.Due); got != tc.due {
			t.Errorf("holidays %v: due %s, want %s", tc.holidays, got, tc.due)
		}
	}
	k := testClock(t)
	accepted := at(t, "2026-11-20T16:30:00+08:00")
	c := &Case{Status: InReview, AcceptedAt: &accepted}
	k.reschedule(c, it)
	for _, tc := range []struct {
		now, colour string
		remaining   int
	}{
		{"2026-11-23T09:00:00+08:00", Green, 9},
		{"2026-12-02T09:00:00+08:00", Green, 2},
		{"2026-12-03T09:00:00+08:00", Yellow, 1},
		{"2026-12-04T23:59:00+08:00", Yellow, 0},
		{"2026-12-05T00:00:01+08:00", Red, 0}, // Saturday: overdue, no working day yet
		{"2026-12-07T10:00:00+08:00", Red, -1},
	} {
		now := at(t, tc.now)
		if got := k.Colour(c, now); got != tc.colour {
			t.Errorf("%s: colour %s, want %s", tc.now, got, tc.colour)
		}
		if got := k.Remaining(c, now); got != tc.remaining {
			t.Errorf("%s: remaining %d, want %d", tc.now, got, tc.remaining)
		}
	}
	c.Status = Supplement
	if got := k.Colour(c, at(t, "2026-12-07T10:00:00+08:00")); got != Paused {
		t.Errorf("waiting on the applicant: %s", got)
	}
}

func TestReviewOfBundledItem(t *testing.T) {
	k := testClock(t)
	it := &Item{Code: "b", Departments: []string{"a", "b"}, Promised: 5, Statutory: 10}
	now := at(t, "2026-11-23T09:00:00+08:00")
	c := &Case{ID: "GX20261123000001", Status: Draft}
	if err := c.accept(it, nil, k, now); err != nil {
		t.Fatal(err)
	}
	if err := c.review("c", "r", Approve, "", k, it, now); govx.ErrorCode(err) != "not_your_department" {
		t.Errorf("a department that does not review it: %v", err)
	}
	if err := c.review("a", "r", Approve, "", k, it, now); err != nil || c.Status != InReview {
		t.Fatalf("first approval: %v %s", err, c.Status)
	}
	if err := c.review("a", "r", Approve, "", k, it, now); govx.ErrorCode(err) != "review_not_pending" {
		t.Errorf("approving twice: %v", err)
	}
	if err := c.review("b", "r", Reject, "", k, it, now); govx.ErrorCode(err) != "reason_required" {
		t.Errorf("a rejection without reason: %v", err)
	}
	if err := c.review("b", "r", Approve, "", k, it, now); err != nil || c.Status != Approved {
		t.Fatalf("second approval: %v %s", err, c.Status)
	}
}
