package node

import (
	"path/filepath"

	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/bus"
	"govx/internal/kafka"
)

// adapterEvents are the resources whose change events a department's
// reference adapter publishes: the event topics its principal may write.
func adapterEvents(dept string) []string {
	switch dept {
	case population.Department:
		return []string{population.ResourceIdentity}
	case legalentity.Department:
		return []string{legalentity.ResourceStatus}
	case licence.Department:
		var out []string
		for _, typ := range licence.Types {
			out = append(out, licence.Resource(typ))
		}
		return out
	}
	return nil
}

// embeddedUsers are the principals of the embedded broker: this node's
// exchange instance, every reference adapter and the case workflow, with
// their passwords from creds (which holds them all).
func (n *Node) embeddedUsers(creds kafka.Credentials) []kafka.User {
	users := []kafka.User{
		{Name: bus.ExchangePrincipal(n.cfg.Instance), ACLs: bus.ExchangeACLs(n.cfg.Instance)},
		{Name: bus.CaseworkPrincipal, ACLs: bus.CaseworkACLs()},
	}
	for _, d := range ReferenceAdapters {
		users = append(users, kafka.User{Name: bus.AdapterPrincipal(d), ACLs: bus.AdapterACLs(d, adapterEvents(d))})
	}
	for i := range users {
		users[i].Password = creds[users[i].Name]
	}
	return users
}

// embeddedCredentials loads the embedded broker's credentials file,
// creating the passwords of principals it does not hold yet.
func (n *Node) embeddedCredentials() (kafka.Credentials, error) {
	names := []string{kafka.PrincipalAdmin, bus.ExchangePrincipal(n.cfg.Instance), bus.CaseworkPrincipal}
	for _, d := range ReferenceAdapters {
		names = append(names, bus.AdapterPrincipal(d))
	}
	return kafka.LoadOrCreateCredentials(filepath.Join(n.cfg.DataDir, "kafka", "credentials.json"), names...)
}

// KafkaConfig is how the component connecting as principal reaches the
// brokers: on the embedded broker with principal's own password; on
// external ones with KafkaUser when the Config sets one, else with
// principal's own password, else (no credentials at all) PLAINTEXT.
func (n *Node) KafkaConfig(principal string) (kafka.Config, error) {
	cfg := kafka.Config{Brokers: n.Brokers, ClientID: "govx-" + principal, TLS: n.cfg.KafkaTLS,
		RequestRetention: n.cfg.RequestRetention, SessionTimeout: n.cfg.SessionTimeout}
	switch {
	case n.cfg.KafkaUser != "" && !n.cfg.EmbeddedKafka:
		cfg.User, cfg.Password = n.cfg.KafkaUser, n.cfg.KafkaPassword
		return cfg, nil
	case len(n.kafkaCreds) > 0:
		return n.kafkaCreds.Config(cfg, principal)
	}
	return cfg, nil
}

// KafkaCredentials are the broker passwords this node holds (the embedded
// broker's, or those of its Config), by principal.
func (n *Node) KafkaCredentials() kafka.Credentials { return n.kafkaCreds }
