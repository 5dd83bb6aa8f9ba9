package workday_test

import (
	"testing"
	"time"

	"govx"
	"govx/internal/workday"
)

func day(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := workday.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestChina2026(t *testing.T) {
	c := workday.Default()
	for _, tc := range []struct {
		date string
		work bool
	}{
		{"2026-01-01", false}, // 元旦, Thursday
		{"2026-01-04", true},  // Sunday worked
		{"2026-01-05", true},  // ordinary Monday
		{"2026-01-10", false}, // ordinary Saturday
		{"2026-02-14", true},  // Saturday worked before the Spring Festival
		{"2026-02-17", false}, // 春节
		{"2026-02-23", false}, // Monday, last day of the Spring Festival
		{"2026-02-24", true},
		{"2026-02-28", true}, // Saturday worked after it
		{"2026-04-06", false},
		{"2026-05-05", false},
		{"2026-05-09", true},
		{"2026-06-19", false},
		{"2026-09-20", true},
		{"2026-09-25", false},
		{"2026-10-07", false},
		{"2026-10-10", true},
		{"2026-10-11", false}, // ordinary Sunday
	} {
		if got := c.IsWorkday(day(t, tc.date)); got != tc.work {
			t.Errorf("IsWorkday(%s) = %v, want %v", tc.date, got, tc.work)
		}
	}
}

func TestAddWorkdays(t *testing.T) {
	c := workday.Default()
	for _, tc := range []struct {
		from string
		n    int
		want string
	}{
		{"2026-03-02", 10, "2026-03-16"}, // two ordinary weeks
		{"2026-03-06", 1, "2026-03-09"},  // Friday to Monday
		{"2026-02-10", 10, "2026-03-02"}, // across the Spring Festival: 11,12,13,14(Sat worked),24,25,26,27,28(Sat worked),03-02
		{"2026-09-28", 10, "2026-10-16"}, // across the National Day: 29,30,10-08,09,10(Sat worked),12..16
		{"2025-12-30", 3, "2026-01-05"},  // 31, 01-04 (Sunday worked), 01-05
		{"2026-03-02", 0, "2026-03-02"},
	} {
		got := workday.Date(c.AddWorkdays(day(t, tc.from), tc.n))
		if got != tc.want {
			t.Errorf("AddWorkdays(%s, %d) = %s, want %s", tc.from, tc.n, got, tc.want)
		}
		if tc.n > 0 {
			if n := c.Between(day(t, tc.from), day(t, got)); n != tc.n {
				t.Errorf("Between(%s, %s) = %d, want %d", tc.from, got, n, tc.n)
			}
		}
	}
	// The zone is China's: 20:00 UTC on 1 March is already 2 March there.
	if got := workday.Date(c.AddWorkdays(time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC), 1)); got != "2026-03-03" {
		t.Errorf("AddWorkdays from 2026-03-01T20:00Z = %s, want 2026-03-03", got)
	}
}

func TestConfig(t *testing.T) {
	c, err := workday.New(workday.Config{Holidays: []string{"2026-03-09"}, Workdays: []string{"2026-03-14"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.IsWorkday(day(t, "2026-03-09")) || !c.IsWorkday(day(t, "2026-03-14")) || c.IsWorkday(day(t, "2026-02-17")) {
		t.Error("extra holiday, extra working day or the defaults not honoured")
	}
	bare, err := workday.New(workday.Config{NoDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bare.IsWorkday(day(t, "2026-02-17")) {
		t.Error("NoDefaults still holds the 2026 holidays")
	}
	for name, cfg := range map[string]workday.Config{
		"bad date":      {Holidays: []string{"2026-13-01"}},
		"contradiction": {Holidays: []string{"2026-03-09"}, Workdays: []string{"2026-03-09"}},
		"vs default":    {Workdays: []string{"2026-10-01"}},
	} {
		if _, err := workday.New(cfg); govx.ErrorCode(err) != "config_invalid" {
			t.Errorf("%s: err = %v, want config_invalid", name, err)
		}
	}
}
