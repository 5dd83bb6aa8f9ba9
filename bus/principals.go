package bus

import (
	"strings"

	"govx/internal/kafka"
)

// Who may speak on the bus. Every service connects as a principal of its
// own (SASL SCRAM-SHA-512) and the broker allows it the ACLs below and
// nothing else; the admin principal (kafka.PrincipalAdmin) is the
// superuser that creates users and ACLs and is used by no service. The
// embedded broker of `govx up` is set up from these functions, and so is
// the one-shot job that sets up Apache Kafka: change them here, and the
// README's table with them.

// ExchangePrincipal is the principal of the exchange instance named
// instance.
func ExchangePrincipal(instance string) string { return "exchange-" + instance }

// AdapterPrincipal is the principal of the department's adapter.
func AdapterPrincipal(department string) string { return "adapter-" + department }

// CaseworkPrincipal is the principal of the one-stop window's case
// workflow.
const CaseworkPrincipal = "casework"

// CaseworkEventTopic is the event topic the case workflow writes (through
// its outbox relay): the events of resource casework.case.
var CaseworkEventTopic = EventTopic("casework.case")

// ExchangeACLs: an exchange instance alone writes requests (to any
// provider), alone reads its own reply topic, and reads every resource's
// events (which it serves to subscribers through its own API, audited).
// It may create the topics it writes or reads, and describe the adapters'
// consumer groups: a provider whose group has no member is answered
// "provider_unavailable" at once instead of after the timeout.
func ExchangeACLs(instance string) []kafka.ACL {
	return []kafka.ACL{
		{Resource: kafka.ResourceTopic, Name: RequestTopic(""), Prefixed: true, Operation: kafka.OpWrite},
		{Resource: kafka.ResourceTopic, Name: RequestTopic(""), Prefixed: true, Operation: kafka.OpCreate},
		{Resource: kafka.ResourceTopic, Name: ReplyTopic(instance), Operation: kafka.OpRead},
		{Resource: kafka.ResourceTopic, Name: ReplyTopic(instance), Operation: kafka.OpCreate},
		{Resource: kafka.ResourceTopic, Name: EventTopic(""), Prefixed: true, Operation: kafka.OpRead},
		{Resource: kafka.ResourceTopic, Name: EventTopic(""), Prefixed: true, Operation: kafka.OpCreate},
		{Resource: kafka.ResourceGroup, Name: AdapterGroup(""), Prefixed: true, Operation: kafka.OpDescribe},
	}
}

// AdapterACLs: department D's adapter alone reads D's request topic (in
// its consumer group), writes replies (to whichever instance asked), the
// change events of the resources it provides and its dead letters.
func AdapterACLs(department string, eventResources []string) []kafka.ACL {
	acls := []kafka.ACL{
		{Resource: kafka.ResourceTopic, Name: RequestTopic(department), Operation: kafka.OpRead},
		{Resource: kafka.ResourceTopic, Name: RequestTopic(department), Operation: kafka.OpCreate},
		{Resource: kafka.ResourceGroup, Name: AdapterGroup(department), Operation: kafka.OpRead},
		{Resource: kafka.ResourceTopic, Name: ReplyTopic(""), Prefixed: true, Operation: kafka.OpWrite},
		{Resource: kafka.ResourceTopic, Name: DeadLetterTopic(department), Operation: kafka.OpWrite},
		{Resource: kafka.ResourceTopic, Name: DeadLetterTopic(department), Operation: kafka.OpCreate},
	}
	for _, r := range eventResources {
		acls = append(acls,
			kafka.ACL{Resource: kafka.ResourceTopic, Name: EventTopic(r), Operation: kafka.OpWrite},
			kafka.ACL{Resource: kafka.ResourceTopic, Name: EventTopic(r), Operation: kafka.OpCreate})
	}
	return acls
}

// CaseworkACLs: the case workflow writes its own cases' events, and
// nothing else. It reads no request, reply or event: the register changes
// its cases rely on come through the exchange's event subscription, where
// they are decided and audited like any consumer's reads.
func CaseworkACLs() []kafka.ACL {
	return []kafka.ACL{
		{Resource: kafka.ResourceTopic, Name: CaseworkEventTopic, Operation: kafka.OpWrite},
		{Resource: kafka.ResourceTopic, Name: CaseworkEventTopic, Operation: kafka.OpCreate},
	}
}

// AdapterGroup is the consumer group of a department's adapters.
func AdapterGroup(department string) string { return "govx.adapter." + department }

// RequestGroup is the consumer group that reads the request topic topic
// (AdapterGroup of its department), or "" for a topic that is not one.
func RequestGroup(topic string) string {
	dept, ok := strings.CutPrefix(topic, RequestTopic(""))
	if !ok || dept == "" {
		return ""
	}
	return AdapterGroup(dept)
}
