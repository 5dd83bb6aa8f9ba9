package catalog

import (
	"context"
	"time"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx"
)

// Departments tells whether a department is in the catalogue. *Store reads
// PostgreSQL; *PolicyCache keeps the list in memory.
type Departments interface {
	DepartmentExists(ctx context.Context, code string) (bool, error)
}

var (
	_ Departments = (*Store)(nil)
	_ Departments = (*PolicyCache)(nil)
)

// ActAs decides whether caller's token may act for the department its dept
// claim names: query registers, subscribe to their events, change the
// catalogue, publish open data. It is the one rule for that, used wherever
// a department acts. A person's token (role citizen or legal_person) never
// does, whatever dept and scope it carries; any other must name a
// department the catalogue holds — a token is signed by an issuer, but the
// departments are the catalogue's to say. All refusals are Forbidden:
// department_missing, department_unknown, person_not_department.
func ActAs(ctx context.Context, deps Departments, caller *auth.Claims) error {
	switch {
	case caller.Person():
		return govx.Errorf(govx.KindForbidden, "person_not_department",
			"a %s token speaks for its subject, never for a department", caller.Role)
	case caller.Dept == "":
		// Every access must be traceable to a department, not just a token.
		return govx.Errorf(govx.KindForbidden, "department_missing", "the token names no department (dept claim)")
	}
	ok, err := deps.DepartmentExists(ctx, caller.Dept)
	if err != nil {
		return err
	}
	if !ok {
		return govx.Errorf(govx.KindForbidden, "department_unknown",
			"the token's department %q is not in the catalogue", httpx.Truncate(caller.Dept, 64))
	}
	return nil
}

// DepartmentExists reports whether the catalogue holds department code.
func (s *Store) DepartmentExists(ctx context.Context, code string) (bool, error) {
	if !ValidDepartmentCode(code) {
		return false, nil
	}
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM catalog.departments WHERE code = $1)`, code).Scan(&ok)
	if err != nil {
		return false, govx.E("catalog.DepartmentExists", err)
	}
	return ok, nil
}

// DepartmentExists reports whether the catalogue holds department code,
// from the list of departments kept in memory while the cache is trusted
// and for MaxAge; Store.PutDepartment's change announcement drops it on
// every instance.
func (c *PolicyCache) DepartmentExists(ctx context.Context, code string) (bool, error) {
	now := time.Now()
	trusted := c.Trusted()
	if trusted {
		c.mu.RLock()
		depts, at := c.depts, c.deptsAt
		c.mu.RUnlock()
		if depts != nil && now.Sub(at) < c.cfg.MaxAge {
			c.Stats.Hits.Add(1)
			return depts[code], nil
		}
	}
	c.Stats.Misses.Add(1)
	gen := c.gen.Load()
	ds, err := c.store.Departments(ctx)
	if err != nil {
		return false, err
	}
	depts := make(map[string]bool, len(ds))
	for _, d := range ds {
		depts[d.Code] = true
	}
	if trusted {
		c.mu.Lock()
		if c.gen.Load() == gen {
			c.depts, c.deptsAt = depts, now
		}
		c.mu.Unlock()
	}
	return depts[code], nil
}
