package bus

import (
	"time"

	"govx"
	"govx/internal/avro"
	"govx/internal/outbox"
	"govx/schemas"
)

// Change is a change to a record that its owner announces on the bus.
type Change struct {
	Resource string // catalogue code; the event goes to EventTopic(Resource)
	Subject  string // schema subject the record is encoded with (usually Resource)
	Key      string // the record's key
	Type     string // e.g. "licence.revoked"
	Reason   string
	Record   any // the record after the change, encodable with Subject's schema; nil for none
}

// ChangeMessage encodes c, made by provider (a catalogue department code),
// as the Event on its resource's event topic, with a new event id: the
// message an outbox keeps in the transaction of the change. Departments and
// the case workflow encode their changes here, so every event on the bus
// has one shape.
func ChangeMessage(codec *avro.Codec, provider string, c Change) (outbox.Message, error) {
	const op = "bus.ChangeMessage"
	var rec []byte
	if c.Record != nil {
		var err error
		if rec, err = codec.Marshal(c.Subject, c.Record); err != nil {
			return outbox.Message{}, govx.E(op, err)
		}
	}
	ev := Event{EventID: NewRequestID(), Resource: c.Resource, Provider: provider, Key: c.Key,
		Type: c.Type, Reason: c.Reason, OccurredAt: time.Now().UTC().Truncate(time.Millisecond), Record: rec}
	value, err := codec.Marshal(schemas.Event, ev)
	if err != nil {
		return outbox.Message{}, govx.E(op, err)
	}
	return outbox.Message{Topic: EventTopic(c.Resource), Key: []byte(c.Key), Value: value, EventID: ev.EventID}, nil
}
