// Package bus is the contract between the exchange and the department
// adapters: what travels on the Kafka bus and where. It holds the Avro
// envelopes (Request, Reply, Event) and the wire form of an error
// (ReplyError), the names of the topics (a request topic per provider
// department, a reply topic per exchange instance, an event topic per
// resource, a dead-letter topic per department), the headers that
// correlate a reply with its request, the request id generator, and Call,
// the one request/reply round trip every sender of a request uses.
//
// Both sides import it: the exchange (govx/exchange) to send requests and
// relay events, the adapters (govx/adapters and the departments under it)
// to answer them, and cmd to create the topics. It imports none of them,
// nor the catalogue or the case workflow: only the root govx package for
// errors and the Kafka transport it names messages in. Whatever changes
// here changes the wire for every department.
//
// Next it will carry the envelopes' signatures: who signed a request, a
// reply or an event, and how a receiver checks it.
package bus
