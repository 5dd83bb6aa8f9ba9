package bus

import (
	"crypto/rand"
	"encoding/hex"

	"govx/internal/kafka"
)

// RequestTopic is the Kafka topic on which a provider department receives
// requests.
func RequestTopic(department string) string { return "govx.requests." + department }

// ReplyTopic is the Kafka topic on which the exchange instance named
// instance receives replies: one per instance, so that instances scale out
// without reading each other's replies.
func ReplyTopic(instance string) string { return "govx.replies." + instance }

// EventTopic is the Kafka topic of a resource's change events.
func EventTopic(resource string) string { return "govx.events." + resource }

// EventPartitions is how many partitions a resource's event topic gets:
// events of one record stay in order because they share a key and so a
// partition.
const EventPartitions = 4

// DeadLetterTopic is where a department's undecodable or unanswerable
// requests are parked with the reason.
func DeadLetterTopic(department string) string { return "govx.dlq." + department }

// Headers of a request and its reply. The transport sets and reads them
// (kafka.Requester), so that correlation never needs to decode an Avro
// body; an adapter answers a request by sending its reply to the topic in
// HeaderReplyTo with the request's HeaderRequestID.
const (
	HeaderRequestID = kafka.HeaderRequestID
	HeaderReplyTo   = kafka.HeaderReplyTo
)

// NewRequestID returns a random 128-bit request id in hex.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
