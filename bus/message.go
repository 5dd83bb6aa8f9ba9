package bus

import (
	"time"

	"govx"
)

// Request is the Avro envelope (schemas/govx.exchange.Request.avsc) the exchange
// sends to a provider department: a query, or a command with its payload.
type Request struct {
	RequestID   string    `avro:"request_id"`
	Resource    string    `avro:"resource"`
	Key         string    `avro:"key"`
	Fields      []string  `avro:"fields"`
	Purpose     string    `avro:"purpose"`
	Consumer    string    `avro:"consumer"`
	Caller      string    `avro:"caller"`
	ReplyTo     string    `avro:"reply_to"`
	RequestedAt time.Time `avro:"requested_at"`
	Deadline    time.Time `avro:"deadline"`
	// Payload is a command's body (a wire-format message of the command's
	// own subject, e.g. licence.issue-order); nil for queries. The exchange
	// sets it from the caller's payload when the resource is a command.
	Payload []byte `avro:"payload"`
}

// Reply is the Avro envelope (schemas/govx.exchange.Reply.avsc) a provider sends
// back. Exactly one of Record and Error is set.
type Reply struct {
	RequestID  string      `avro:"request_id"`
	Resource   string      `avro:"resource"`
	Provider   string      `avro:"provider"`
	Record     []byte      `avro:"record"`
	Error      *ReplyError `avro:"error"`
	AnsweredAt time.Time   `avro:"answered_at"`
}

// Event is the Avro envelope (schemas/govx.exchange.Event.avsc) of a change
// to a record, on the resource's event topic.
type Event struct {
	EventID    string    `avro:"event_id"`
	Resource   string    `avro:"resource"`
	Provider   string    `avro:"provider"`
	Key        string    `avro:"key"`
	Type       string    `avro:"type"`
	Reason     string    `avro:"reason"`
	OccurredAt time.Time `avro:"occurred_at"`
	Record     []byte    `avro:"record"`
}

// ReplyError carries a govx error across the bus as kind, code and a
// caller-safe message.
type ReplyError struct {
	Kind    string `avro:"kind"`
	Code    string `avro:"code"`
	Message string `avro:"message"`
}

// NewReplyError turns err into its wire form, never leaking an internal
// cause's text.
func NewReplyError(err error) *ReplyError {
	return &ReplyError{Kind: govx.ErrorKind(err).String(), Code: govx.ErrorCode(err), Message: govx.ErrorMessage(err)}
}

// Err turns the wire form back into a *govx.Error.
func (e *ReplyError) Err() error {
	return &govx.Error{Kind: govx.ParseKind(e.Kind), Code: e.Code, Message: e.Message}
}
