package kafka

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EmbeddedConfig configures the embedded Kafka-protocol broker of `govx up`.
type EmbeddedConfig struct {
	Port       int    // on 127.0.0.1; 0 picks a free port
	DataDir    string // persist topics, offsets and groups here; "" keeps them in memory
	SyncWrites bool   // fsync every produced batch
	// AdminPassword, when set, makes the broker require SASL
	// SCRAM-SHA-512 from every client and enforce ACLs: PrincipalAdmin
	// with this password is its superuser, and Users are the other
	// principals, each allowed its ACLs and nothing else.
	AdminPassword string
	Users         []User
	// Retention is what the broker keeps of a topic created without
	// retention configs of its own (events, dead letters, and topics of a
	// data folder from before they had any); default
	// DefaultEmbeddedRetention. Request and reply topics carry their own
	// (Config.RequestRetention).
	Retention Retention
	// RetentionCheck is how often the broker deletes what its topics no
	// longer keep; default 30s. The broker holds an index entry in memory
	// for every batch it keeps, so this and the retention bound its memory.
	RetentionCheck time.Duration
}

// DefaultEmbeddedRetention is the embedded broker's retention of topics
// without their own: Kafka's default week, and at most 256 MiB a partition.
var DefaultEmbeddedRetention = Retention{Time: 7 * 24 * time.Hour, Bytes: 256 << 20}

// Embedded is a single-node Kafka-protocol broker in this process. Clients
// reach it over the real wire protocol on loopback, exactly as they reach
// Apache Kafka.
type Embedded struct {
	c    *kfake.Cluster
	stop chan struct{}
	done chan struct{}
}

func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Retention.Time == 0 {
		cfg.Retention.Time = DefaultEmbeddedRetention.Time
	}
	if cfg.Retention.Bytes == 0 {
		cfg.Retention.Bytes = DefaultEmbeddedRetention.Bytes
	}
	if cfg.RetentionCheck <= 0 {
		cfg.RetentionCheck = 30 * time.Second
	}
	brokerCfgs := map[string]string{}
	for _, c := range cfg.Retention.topicConfigs() {
		// The broker-wide names of the same settings.
		switch c.ConfigName {
		case "retention.ms":
			brokerCfgs["log.retention.ms"] = c.ConfigValue
		case "retention.bytes":
			brokerCfgs["log.retention.bytes"] = c.ConfigValue
		case "segment.bytes":
			brokerCfgs["log.segment.bytes"] = c.ConfigValue
		}
	}
	opts := []kfake.Opt{
		kfake.BrokerConfigs(brokerCfgs),
		kfake.NumBrokers(1),
		kfake.Ports(cfg.Port),
		kfake.ClusterID("govx"),
		kfake.DefaultNumPartitions(1),
		// Groups re-join fast in a one-process deployment.
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.AdminPassword != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.EnableACLs(),
			kfake.Superuser(scramSHA512, PrincipalAdmin, cfg.AdminPassword))
		for _, u := range cfg.Users {
			if u.Name == "" || u.Password == "" || u.Name == PrincipalAdmin {
				return nil, fmt.Errorf("embedded kafka: user %q needs a name of its own and a password", u.Name)
			}
			acls := make([]kfake.ACL, len(u.ACLs))
			for i, a := range u.ACLs {
				ka, err := kfakeACL(a)
				if err != nil {
					return nil, err
				}
				acls[i] = ka
			}
			opts = append(opts, kfake.User(scramSHA512, u.Name, u.Password, acls...))
		}
	} else if len(cfg.Users) > 0 {
		return nil, fmt.Errorf("embedded kafka: users need SASL (an admin password)")
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	e := &Embedded{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	go e.applyRetention(cfg.RetentionCheck)
	return e, nil
}

// applyRetention deletes, every interval, what the topics' retention no
// longer keeps. kfake applies retention.ms and retention.bytes (topic
// configs, else the broker's log.retention.*) when asked; left to itself it
// does so only every log.cleaner.backoff.ms, an hour by default.
func (e *Embedded) applyRetention(interval time.Duration) {
	defer close(e.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.c.ApplyRetention()
		}
	}
}

const scramSHA512 = "SCRAM-SHA-512"

func kfakeACL(a ACL) (kfake.ACL, error) {
	k := kfake.ACL{Name: a.Name, Allow: true, Pattern: kmsg.ACLResourcePatternTypeLiteral}
	if a.Prefixed {
		k.Pattern = kmsg.ACLResourcePatternTypePrefixed
	}
	switch a.Resource {
	case ResourceTopic:
		k.Resource = kmsg.ACLResourceTypeTopic
	case ResourceGroup:
		k.Resource = kmsg.ACLResourceTypeGroup
	default:
		return k, fmt.Errorf("embedded kafka: ACL on %q", a.Resource)
	}
	switch a.Operation {
	case OpRead:
		k.Operation = kmsg.ACLOperationRead
	case OpWrite:
		k.Operation = kmsg.ACLOperationWrite
	case OpCreate:
		k.Operation = kmsg.ACLOperationCreate
	case OpDescribe:
		k.Operation = kmsg.ACLOperationDescribe
	default:
		return k, fmt.Errorf("embedded kafka: ACL operation %q", a.Operation)
	}
	return k, nil
}

// Addrs are the broker's listen addresses (host:port).
func (e *Embedded) Addrs() []string { return e.c.ListenAddrs() }

// Close stops the broker, writing its state to DataDir first.
func (e *Embedded) Close() {
	close(e.stop)
	<-e.done
	e.c.Close()
}
