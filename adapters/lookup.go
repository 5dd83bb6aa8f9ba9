package adapters

import (
	"context"
	"time"

	"govx"
)

// LookupTimeout bounds one register lookup, so that a department database
// that is down gives the caller an Unavailable error well before the
// exchange stops waiting (5 s by default).
const LookupTimeout = 2 * time.Second

// Lookup runs a register lookup under LookupTimeout and turns its error into
// what the caller may see: NotFound as notFound when given (the register's
// own code and message), Invalid, NotFound and Conflict as they are, and
// anything else — the database down, slow or failing — as Unavailable
// provider_unavailable naming the register, never with the cause's text.
func Lookup[T any](ctx context.Context, register string, notFound *govx.Error, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	defer cancel()
	v, err := fn(ctx)
	if err == nil {
		return v, nil
	}
	switch govx.ErrorKind(err) {
	case govx.KindNotFound:
		if notFound != nil {
			e := *notFound
			return v, &e
		}
		return v, err
	case govx.KindInvalid, govx.KindConflict:
		return v, err
	}
	return v, &govx.Error{Kind: govx.KindUnavailable, Code: "provider_unavailable",
		Message: "the " + register + " is unavailable", Err: err}
}
