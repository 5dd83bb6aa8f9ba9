package bus

import (
	"context"
	"fmt"

	"govx"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/schemas"
)

// Requester sends a request and waits for its reply: the request/reply
// half of the bus. *kafka.Requester satisfies it; it is safe for
// concurrent use.
type Requester interface {
	// Request publishes m with id as its request id and waits for the
	// reply, until ctx ends or the requester's own timeout (KindTimeout,
	// "provider_timeout").
	Request(ctx context.Context, id string, m kafka.Message) (kafka.Message, error)
	// ReplyTopic is where providers send replies to this requester.
	ReplyTopic() string
}

// Codec encodes and decodes Avro wire-format messages. *avro.Codec
// satisfies it.
type Codec interface {
	Marshal(subject string, v any) ([]byte, error)
	UnmarshalAs(ctx context.Context, subject string, data []byte, v any) error
}

var (
	_ Requester = (*kafka.Requester)(nil)
	_ Codec     = (*avro.Codec)(nil)
)

// CodeProviderUnavailable is the code of a request to a department whose
// adapter has never joined the bus.
const CodeProviderUnavailable = "provider_unavailable"

// CodeReplyUnverified is the code of a reply that does not carry a valid
// signature of the provider the request went to (KindUnavailable: the
// provider's answer cannot be relied on).
const CodeReplyUnverified = "reply_unverified"

// CallOptions are how Call signs a request and checks its reply.
type CallOptions struct {
	// Signer signs the request; nil sends it unsigned (only adapters that
	// verify nothing, in tests, answer it).
	Signer *Signer
	// Verifier checks that the reply is signed by the provider; nil
	// accepts any reply.
	Verifier *Verifier
	// Signature, when not nil, receives the verified reply's signature and
	// the Digest it covers, for the audit record.
	Signature *Signature
	// Headers are sent with the request (a command's order signature).
	Headers []kafka.Header
}

// Call sends req to the request topic of the provider department, keyed
// by key (requests with one key land on one partition, in order), and
// waits for the reply. It sets req.ReplyTo to r's reply topic; the caller
// fills in the rest, request id and deadline included.
//
// The reply it returns holds a record, of the subject the provider
// answers the resource with. A provider's refusal comes back as the
// *govx.Error its ReplyError carries; a provider whose adapter never
// joined the bus (no request topic yet) is KindUnavailable
// ("provider_unavailable"), not a bus outage; a provider that does not
// answer in time is what r says (KindTimeout for *kafka.Requester).
func Call(ctx context.Context, r Requester, codec Codec, provider string, key []byte, req Request, opt CallOptions) (*Reply, error) {
	const op = "bus.Call"
	req.ReplyTo = r.ReplyTopic()
	body, err := codec.Marshal(schemas.Request, req)
	if err != nil {
		return nil, govx.E(op, err)
	}
	out := kafka.Message{Topic: RequestTopic(provider), Key: key, Value: body, Headers: opt.Headers}
	if opt.Signer != nil {
		opt.Signer.Sign(&out)
	}
	msg, err := r.Request(ctx, req.RequestID, out)
	if govx.ErrorCode(err) == kafka.CodeTopicUnknown {
		return nil, &govx.Error{Kind: govx.KindUnavailable, Code: CodeProviderUnavailable, Op: op,
			Message: fmt.Sprintf("the provider %s has no adapter on the bus", provider), Err: err}
	}
	if err != nil {
		return nil, govx.E(op, err)
	}
	if opt.Verifier != nil {
		sig, err := opt.Verifier.Verify(ctx, msg, provider)
		if err != nil {
			if govx.ErrorKind(err) == govx.KindUnavailable {
				return nil, govx.E(op, err)
			}
			return nil, &govx.Error{Kind: govx.KindUnavailable, Code: CodeReplyUnverified, Op: op,
				Message: fmt.Sprintf("the reply is not signed by the provider %s (%s)", provider, govx.ErrorCode(err)), Err: err}
		}
		if opt.Signature != nil {
			*opt.Signature = sig
		}
	}
	var reply Reply
	if err := codec.UnmarshalAs(ctx, schemas.Reply, msg.Value, &reply); err != nil {
		return nil, govx.E(op, err)
	}
	if reply.RequestID != req.RequestID {
		return nil, govx.E(op, fmt.Errorf("reply for %s matched request %s", reply.RequestID, req.RequestID))
	}
	if reply.Error != nil {
		return nil, reply.Error.Err()
	}
	if reply.Record == nil {
		return nil, govx.E(op, fmt.Errorf("provider %s sent neither record nor error", reply.Provider))
	}
	return &reply, nil
}
