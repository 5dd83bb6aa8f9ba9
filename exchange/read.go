package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"net/http"

	"govx"
	"govx/catalog"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/httpx"
)

// MaxRead is the most events one Read returns.
const MaxRead = 100

// maxReadBytes bounds the records one Read returns, so that a batch fits
// in one answer of a node link.
const maxReadBytes = 512 << 10

// ReadRequest is a bounded read of a resource's change events: what a
// subscription made of separate calls asks for each time (another node's
// subscriber, through the node link). The policy is the subscription's:
// Authorize decides every read, and each event is delivered under the
// data subject's consent as on a stream.
type ReadRequest struct {
	// RequestID is the subscription the read belongs to: its ledger
	// entries are recorded under it.
	RequestID string
	Resource  string
	Fields    []string
	Purpose   string
	// Cursor is where to read from; nil reads nothing and answers the
	// current position, from which the next read gets the events
	// published from now on.
	Cursor Cursor
	// Max bounds the events returned (at most MaxRead; default MaxRead).
	Max int
	// Wait is how long the read waits for a first event when none is
	// there yet; 0 answers at once.
	Wait time.Duration
	// Open marks the read that opens a subscription: it is recorded in the
	// ledger as one, as GET /v1/resources/{code}/events records it.
	// Refused reads are recorded whether they open or not.
	Open bool
}

// ReadEvent is one event a Read delivered: its cursor (ID), the event,
// and the data subject and consent it was delivered under.
type ReadEvent struct {
	ID      string       `json:"id"`
	Event   EventMessage `json:"event"`
	Subject string       `json:"subject,omitempty"`
	Consent string       `json:"consent,omitempty"`
}

// ReadResult is what a Read delivered and where the next read goes on
// from. Cursor is after every message read, delivered or skipped; it is
// the last event's ID when the last message read was delivered.
type ReadResult struct {
	Events   []ReadEvent `json:"events"`
	Cursor   string      `json:"cursor"`
	Provider string      `json:"provider"`
	Fields   []string    `json:"fields"`
	Rule     string      `json:"rule"`
}

// Read reads the change events of rq.Resource after rq.Cursor for caller,
// deciding the access as a subscription does (Authorize, the subscribe
// method, the data subject's consent per event) and recording each event
// delivered, and the read itself when it opens a subscription or is
// refused, in the ledger under rq.RequestID. It returns once it has Max
// events, once no more follow the ones it has, or after Wait. Errors are
// those of GET /v1/resources/{code}/events.
func (e *Events) Read(ctx context.Context, caller *auth.Claims, rq ReadRequest) (*ReadResult, error) {
	entry := ledger.Entry{RequestID: rq.RequestID, Resource: httpx.Truncate(rq.Resource, 100), Caller: caller.Subject,
		Consumer: caller.Dept, Purpose: httpx.Truncate(rq.Purpose, 200)}
	sub, err := e.openRead(ctx, caller, rq, &entry)
	if err != nil || rq.Open {
		err = e.recordOpen(ctx, &entry, err)
	}
	if sub != nil {
		defer func() {
			sub.tail.Close()
			<-e.slots
		}()
	}
	if err != nil {
		return nil, err
	}
	entry.Outcome, entry.Code, entry.Status = ledger.Released, "ok", http.StatusOK // what each event delivered records
	out := &ReadResult{Events: []ReadEvent{}, Provider: sub.res.Provider, Fields: sub.fields, Rule: sub.acc.Rule}
	limit := rq.Max
	if limit <= 0 || limit > MaxRead {
		limit = MaxRead
	}
	deadline := time.Now().Add(max(rq.Wait, 0))
	size := 0
	for rq.Cursor != nil && len(out.Events) < limit && size < maxReadBytes {
		nctx, cancel := context.WithDeadline(ctx, deadline)
		m, err := sub.tail.Next(nctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			break
		}
		if err != nil {
			if len(out.Events) > 0 && ctx.Err() == nil {
				break // what was read is delivered; the next read meets the error
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, eventsUnavailable(err)
		}
		msg, ev, err := e.take(ctx, sub, m, entry)
		if err != nil {
			if len(out.Events) > 0 {
				break
			}
			return nil, err
		}
		sub.cursor[m.Partition] = m.Offset + 1
		// Once something was read, the read ends when nothing more
		// follows at once.
		if soon := time.Now().Add(50 * time.Millisecond); soon.Before(deadline) {
			deadline = soon
		}
		if msg == nil {
			continue
		}
		out.Events = append(out.Events, ReadEvent{ID: sub.cursor.String(), Event: *msg, Subject: ev.DataSubject, Consent: ev.ConsentID})
		if b, err := json.Marshal(msg); err == nil {
			size += len(b) + 128
		}
	}
	out.Cursor = sub.cursor.String()
	return out, nil
}

// openRead decides a read and positions its reader, as open does for a
// stream; entry is filled in as far as it got.
func (e *Events) openRead(ctx context.Context, caller *auth.Claims, rq ReadRequest, entry *ledger.Entry) (*subscription, error) {
	if len(rq.Fields) > 64 {
		return nil, govx.Errorf(govx.KindInvalid, "too_many_fields", "at most 64 fields may be asked for")
	}
	var d Decision
	acc, err := e.svc.Authorize(ctx, caller, rq.Resource, rq.Fields, rq.Purpose, &d)
	entry.Provider, entry.Fields, entry.Rule = d.Provider, d.Fields, d.Rule
	if err != nil {
		return nil, err
	}
	if !slices.Contains(acc.Resource.Methods, catalog.MethodSubscribe) {
		return nil, govx.Errorf(govx.KindForbidden, "subscribe_not_offered", "%s is not offered by subscription", acc.Resource.Code)
	}
	select {
	case e.slots <- struct{}{}:
	default:
		return nil, govx.Errorf(govx.KindUnavailable, "too_many_subscriptions",
			"this exchange instance serves %d subscriptions already; try again later or another instance", cap(e.slots))
	}
	tail, err := e.openTail(ctx, acc.Resource.Code, rq.Cursor)
	if err != nil {
		<-e.slots
		return nil, err
	}
	kt := acc.Resource.KeyType
	return &subscription{id: rq.RequestID, caller: caller, code: rq.Resource, fields: acc.Fields, purpose: rq.Purpose,
		res: acc.Resource, acc: acc, tail: tail, cursor: Cursor(tail.Start()),
		consent: acc.Personal || kt == catalog.KeyIDNumber || kt == catalog.KeyHolder}, nil
}
