package kafka

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedConfig configures the embedded Kafka-protocol broker of `govx up`.
type EmbeddedConfig struct {
	Port       int    // on 127.0.0.1; 0 picks a free port
	DataDir    string // persist topics, offsets and groups here; "" keeps them in memory
	SyncWrites bool   // fsync every produced batch
}

// Embedded is a single-node Kafka-protocol broker in this process. Clients
// reach it over the real wire protocol on loopback, exactly as they reach
// Apache Kafka.
type Embedded struct {
	c *kfake.Cluster
}

func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	opts := []kfake.Opt{
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
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	return &Embedded{c: c}, nil
}

// Addrs are the broker's listen addresses (host:port).
func (e *Embedded) Addrs() []string { return e.c.ListenAddrs() }

// Close stops the broker, writing its state to DataDir first.
func (e *Embedded) Close() { e.c.Close() }
