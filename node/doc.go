// Package node builds and runs one complete govx node from a Config: the
// embedded Kafka-protocol broker or the addresses of a real one, the
// database and its migrations, Redis, the exchange with every HTTP API on
// one router, the case workflow, the reference department adapters, the
// background jobs (audit checkpoints, grant expiry, outbox relays, case
// deadlines) and, on request, the demo data.
//
//	n := node.New(cfg)
//	addrs, err := n.Start(ctx)
//	...
//	n.Close()
//
// It is the composition root of govx: the only package that wires the
// domain packages (exchange, catalog, consent, casework, openapi, adapters)
// to each other and to the plumbing under internal/. cmd/govx reads flags
// and the environment into a Config and starts a node; tests start whole
// nodes through it, several in one process, each with its own database,
// Redis key prefix and broker. Nothing else imports it.
package node
