package govx

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it. Kinds travel
// inside Avro replies on the bus, so they are append-only: never renumber or
// rename one, only add new ones at the end.
type Kind uint8

const (
	KindInternal        Kind = iota // a fault of ours; the caller can only retry later
	KindNotFound                    // the thing asked for does not exist
	KindInvalid                     // the request is malformed
	KindForbidden                   // the caller is known but may not do this
	KindConflict                    // the request clashes with the current state
	KindUnavailable                 // a dependency is down; retry later
	KindTimeout                     // a dependency did not answer in time
	KindUnauthenticated             // no or bad credentials
	KindTooLarge                    // the request body is over the limit
)

var kindNames = [...]string{
	KindInternal:        "Internal",
	KindNotFound:        "NotFound",
	KindInvalid:         "Invalid",
	KindForbidden:       "Forbidden",
	KindConflict:        "Conflict",
	KindUnavailable:     "Unavailable",
	KindTimeout:         "Timeout",
	KindUnauthenticated: "Unauthenticated",
	KindTooLarge:        "TooLarge",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Internal"
}

// ParseKind maps a kind's name back to the kind. Unknown names, which a newer
// peer may send, become KindInternal.
func ParseKind(s string) Kind {
	for k, name := range kindNames {
		if name == s {
			return Kind(k)
		}
	}
	return KindInternal
}

// Kinds lists every kind in wire order.
func Kinds() []Kind {
	out := make([]Kind, len(kindNames))
	for i := range kindNames {
		out[i] = Kind(i)
	}
	return out
}

// Error is the one error type of govx. Code is a stable, machine-readable
// identifier clients may switch on ("scope_missing", "invalid_id_number");
// Message is safe to show to the caller; Err, the cause, is never shown.
type Error struct {
	Kind    Kind
	Code    string
	Op      string
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	var inner *Error
	switch {
	case e.Err == nil:
	case msg == "", errors.As(e.Err, &inner) && inner.Message == msg:
		// E copies the wrapped error's message; say it once.
		msg = e.Err.Error()
	default:
		msg += ": " + e.Err.Error()
	}
	if e.Op != "" {
		return e.Op + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a caller-safe message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// E wraps err with an operation name, keeping the kind and code of the first
// *Error in its chain; any other error becomes KindInternal.
func E(op string, err error) error {
	if err == nil {
		return nil
	}
	var ge *Error
	if errors.As(err, &ge) {
		return &Error{Kind: ge.Kind, Code: ge.Code, Op: op, Message: ge.Message, Err: err}
	}
	return &Error{Kind: KindInternal, Code: "internal", Op: op, Err: err}
}

// ErrorKind returns the kind of the first *Error in err's chain, KindInternal
// when there is none.
func ErrorKind(err error) Kind {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Kind
	}
	return KindInternal
}

// ErrorCode returns the stable code of the first *Error in err's chain.
func ErrorCode(err error) string {
	var ge *Error
	if errors.As(err, &ge) && ge.Code != "" {
		return ge.Code
	}
	return "internal"
}

// ErrorMessage returns the caller-safe message of err: the message of the
// first *Error in its chain that has one, never the text of an internal
// cause (which may hold SQL or another person's data).
func ErrorMessage(err error) string {
	for err != nil {
		var ge *Error
		if !errors.As(err, &ge) {
			break
		}
		if ge.Message != "" {
			return ge.Message
		}
		err = ge.Err
	}
	return "internal error"
}
