// Package workday is a working-day calendar: weekends and public holidays
// are off, and adjusted working days (调休: a weekend worked to bridge a
// holiday) are on. Deadlines that the rules state in working days — a
// provider answers a grant application within 10 working days — are counted
// on it.
//
// Dates are civil dates in China Standard Time (UTC+8, no daylight saving),
// the zone the rules are stated in. The default calendar holds the State
// Council's 2026 arrangement; an operator adds further years, local
// holidays or extra working days through Config.
package workday

import (
	"fmt"
	"time"

	"govx"
)

// Zone is China Standard Time. A fixed zone needs no tzdata on the host.
var Zone = time.FixedZone("CST", 8*60*60)

// China2026Holidays are the days off of the State Council's arrangement for
// 2026 (国务院办公厅关于2026年部分节假日安排的通知).
var China2026Holidays = []string{
	"2026-01-01", "2026-01-02", "2026-01-03", // 元旦
	"2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", // 春节
	"2026-02-20", "2026-02-21", "2026-02-22", "2026-02-23",
	"2026-04-04", "2026-04-05", "2026-04-06", // 清明节
	"2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05", // 劳动节
	"2026-06-19", "2026-06-20", "2026-06-21", // 端午节
	"2026-09-25", "2026-09-26", "2026-09-27", // 中秋节
	"2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07", // 国庆节
}

// China2026Workdays are the weekends worked in 2026 to bridge holidays (调休).
var China2026Workdays = []string{
	"2026-01-04",               // 元旦
	"2026-02-14", "2026-02-28", // 春节
	"2026-05-09",               // 劳动节
	"2026-09-20", "2026-10-10", // 国庆节
}

// Config adds to or replaces the default calendar. Dates are YYYY-MM-DD.
type Config struct {
	Holidays []string // extra days off
	Workdays []string // extra working days (weekends worked)
	// NoDefaults leaves out China's 2026 arrangement.
	NoDefaults bool
}

// Calendar tells working days from days off. It is immutable and safe for
// concurrent use.
type Calendar struct {
	off map[string]bool // true: day off; false: working day; absent: by weekday
}

// New builds a calendar. A date both a holiday and a working day, or one
// that does not parse, is an error: a calendar that contradicts itself
// would silently move deadlines.
func New(cfg Config) (*Calendar, error) {
	c := &Calendar{off: map[string]bool{}}
	holidays, workdays := cfg.Holidays, cfg.Workdays
	if !cfg.NoDefaults {
		holidays = append(append([]string(nil), China2026Holidays...), holidays...)
		workdays = append(append([]string(nil), China2026Workdays...), workdays...)
	}
	set := func(days []string, off bool) error {
		for _, d := range days {
			t, err := time.ParseInLocation(time.DateOnly, d, Zone)
			if err != nil {
				return govx.Errorf(govx.KindInvalid, "config_invalid", "workday: %q is not a date (YYYY-MM-DD)", d)
			}
			d = t.Format(time.DateOnly)
			if was, ok := c.off[d]; ok && was != off {
				return govx.Errorf(govx.KindInvalid, "config_invalid", "workday: %s is listed both as a holiday and as a working day", d)
			}
			c.off[d] = off
		}
		return nil
	}
	if err := set(holidays, true); err != nil {
		return nil, err
	}
	if err := set(workdays, false); err != nil {
		return nil, err
	}
	return c, nil
}

// Default is China's 2026 calendar.
func Default() *Calendar {
	c, err := New(Config{})
	if err != nil {
		panic(fmt.Sprintf("workday: default calendar: %v", err)) // fixed data
	}
	return c
}

// Date is t's civil date in Zone as YYYY-MM-DD.
func Date(t time.Time) string { return t.In(Zone).Format(time.DateOnly) }

// ParseDate parses a YYYY-MM-DD date as midnight in Zone.
func ParseDate(s string) (time.Time, error) { return time.ParseInLocation(time.DateOnly, s, Zone) }

// IsWorkday reports whether t's date (in Zone) is a working day.
func (c *Calendar) IsWorkday(t time.Time) bool {
	t = t.In(Zone)
	if off, ok := c.off[t.Format(time.DateOnly)]; ok {
		return !off
	}
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// AddWorkdays returns the date (midnight in Zone) of the n-th working day
// after t's date; n ≤ 0 returns t's own date. An application made on any
// day and answered within 10 working days is due by AddWorkdays(t, 10).
func (c *Calendar) AddWorkdays(t time.Time, n int) time.Time {
	t = t.In(Zone)
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, Zone)
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if c.IsWorkday(d) {
			n--
		}
	}
	return d
}

// Between counts the working days after from's date up to and including
// to's date (0 when to is not after from).
func (c *Calendar) Between(from, to time.Time) int {
	from, to = from.In(Zone), to.In(Zone)
	d := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, Zone)
	end := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, Zone)
	n := 0
	for d.Before(end) {
		d = d.AddDate(0, 0, 1)
		if c.IsWorkday(d) {
			n++
		}
	}
	return n
}
