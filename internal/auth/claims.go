package auth

import (
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the claims of a govx token.
type Claims struct {
	jwt.RegisteredClaims
	// Scope is the space-separated list of scopes granted; a scope names a
	// catalog resource code, e.g. "population.identity".
	Scope string `json:"scope,omitempty"`
	// Dept is the department code of the caller, e.g. "market-regulation".
	Dept string `json:"dept,omitempty"`
	// Role is the kind of caller: "service", "clerk", "citizen".
	Role string `json:"role,omitempty"`
}

// Scopes returns the scopes of the token, in order; nil when there are none.
func (c *Claims) Scopes() []string {
	if c.Scope == "" {
		return nil
	}
	return strings.Fields(c.Scope)
}

// HasScope reports whether the token grants scope s. It matches whole
// scopes only: "population" does not grant "population.identity".
func (c *Claims) HasScope(s string) bool {
	if s == "" {
		return false
	}
	for f := range strings.FieldsSeq(c.Scope) {
		if f == s {
			return true
		}
	}
	return false
}

// clone returns a deep copy, so that what one caller does to its claims
// cannot reach the cache or another caller.
func (c *Claims) clone() *Claims {
	out := *c
	out.Audience = slices.Clone(c.Audience)
	out.ExpiresAt = cloneDate(c.ExpiresAt)
	out.NotBefore = cloneDate(c.NotBefore)
	out.IssuedAt = cloneDate(c.IssuedAt)
	return &out
}

func cloneDate(d *jwt.NumericDate) *jwt.NumericDate {
	if d == nil {
		return nil
	}
	cp := *d
	return &cp
}

// The roles of a person acting for themselves: a resident (citizen) or a
// company's legal representative (legal_person). Such a token speaks for
// its subject alone, never for a department.
const (
	RoleCitizen     = "citizen"
	RoleLegalPerson = "legal_person"
)

// Person reports whether the token is a person's (RoleCitizen or
// RoleLegalPerson).
func (c *Claims) Person() bool { return c.Role == RoleCitizen || c.Role == RoleLegalPerson }
