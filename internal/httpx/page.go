package httpx

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"govx"
)

// Page is the paging of a newest-first listing: entries at or after
// Since, before entry Before (0: from the newest), at most Limit of them.
type Page struct {
	Since  time.Time
	Before int64
	Limit  int
}

// ParseListQuery reads a listing's query string: each parameter at most
// once; since (RFC 3339), before (a positive entry number) and limit (1 to
// maxLimit) into the Page; the names in filters into the map; anything
// else is refused with unknown_parameter. code is the error code of a
// query string that does not parse.
func ParseListQuery(raw, code string, maxLimit int, filters ...string) (Page, map[string]string, error) {
	var p Page
	got := map[string]string{}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return p, nil, govx.Errorf(govx.KindInvalid, code, "the query string does not parse")
	}
	for name, vs := range q {
		if len(vs) > 1 {
			return p, nil, govx.Errorf(govx.KindInvalid, "invalid_parameter", "parameter %q is given more than once", Truncate(name, 32))
		}
		v := vs[0]
		switch name {
		case "since":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return p, nil, govx.Errorf(govx.KindInvalid, "invalid_since", "since must be an RFC 3339 time, e.g. 2026-11-21T08:00:00Z")
			}
			p.Since = t
		case "before":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return p, nil, govx.Errorf(govx.KindInvalid, "invalid_before", "before must be a positive entry number")
			}
			p.Before = n
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > maxLimit {
				return p, nil, govx.Errorf(govx.KindInvalid, "invalid_limit", "limit must be 1 to %d", maxLimit)
			}
			p.Limit = n
		default:
			known := false
			for _, f := range filters {
				if name == f {
					known = true
					break
				}
			}
			if !known {
				return p, nil, govx.Errorf(govx.KindInvalid, "unknown_parameter", "unknown parameter %q (have %s, since, before, limit)",
					Truncate(name, 32), strings.Join(filters, ", "))
			}
			got[name] = v
		}
	}
	return p, got, nil
}

// CheckPage checks a listing's paging as any caller may have set it (the
// HTTP query, a command's flags) and fills in the default limit: limit 0
// means def, else 1 to max; before is 0 or a positive entry number.
func CheckPage(limit *int, before int64, def, max int) error {
	switch {
	case *limit < 0 || *limit > max:
		return govx.Errorf(govx.KindInvalid, "invalid_limit", "limit must be 1 to %d", max)
	case before < 0:
		return govx.Errorf(govx.KindInvalid, "invalid_before", "before must be a positive entry number")
	}
	if *limit == 0 {
		*limit = def
	}
	return nil
}
