package node

import (
	"context"

	"govx/adapters"
	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/kafka"
)

// ReferenceAdapters are the departments whose reference adapter this
// binary runs, in the order `govx up` starts them.
var ReferenceAdapters = []string{population.Department, legalentity.Department, licence.Department}

// DepartmentSchemas are the database schemas of the reference departments'
// own registers (and their outboxes and provider logs), by department.
var DepartmentSchemas = map[string]string{population.Department: population.Schema,
	legalentity.Department: legalentity.Schema, licence.Department: licence.Schema}

// startAdapter runs a department's reference adapter and the relay of its
// change-event outbox until Close; both are restarted if they fail.
func (n *Node) startAdapter(ctx, runCtx context.Context, dept string, codec *avro.Codec) error {
	kcfg, err := n.KafkaConfig(bus.AdapterPrincipal(dept))
	if err != nil {
		return err
	}
	prod, err := n.producer(kcfg)
	if err != nil {
		return err
	}
	store0 := catalog.NewStore(n.Pool)
	signer, err := n.busSigner(ctx, store0, dept, dept)
	if err != nil {
		return err
	}
	verifier, err := n.busVerifier(store0)
	if err != nil {
		return err
	}
	schema := DepartmentSchemas[dept]
	if n.cfg.UnsignedBus {
		signer, verifier = nil, nil
	}
	rt, err := adapters.New(adapters.Config{Kafka: kcfg, Codec: codec, Producer: prod, Department: dept, Partitions: requestPartitions, Logger: n.log,
		Signer: signer, Verifier: verifier, Log: adapters.NewProviderLog(n.Pool, schema)})
	if err != nil {
		return err
	}
	var outbox *adapters.Outbox
	switch dept {
	case population.Department:
		store := population.NewStore(n.Pool)
		population.Register(rt, store)
		outbox = store.Outbox(codec, n.log)
		n.Population, n.PopulationOutbox = rt, outbox
	case legalentity.Department:
		outbox = legalentity.NewOutbox(n.Pool, codec, n.log)
		legalentity.Register(rt, legalentity.NewStore(n.Pool, outbox))
		n.LegalEntity = rt
	case licence.Department:
		outbox = adapters.NewOutbox(n.Pool, licence.Schema, licence.Department, codec, n.log)
		store := licence.NewStore(n.Pool, outbox)
		licence.Register(rt, store)
		// Approved cases at the one-stop window order licences over the bus.
		licence.RegisterIssuing(rt, store, codec, licence.IssuingConfig{})
		n.Licence = rt
	}
	outbox.SignWith(signer.Sign)  // events speak for the department
	events := adapterEvents(dept) // resources whose change events the department publishes
	topics := make([]kafka.Topic, len(events))
	for i, r := range events {
		topics[i] = kafka.Topic{Name: bus.EventTopic(r), Partitions: bus.EventPartitions}
	}
	if err := kafka.EnsureTopics(ctx, kcfg, topics...); err != nil {
		return err
	}
	n.keepRunning(runCtx, dept+" outbox relay", func(ctx context.Context) error {
		outbox.Relay(ctx, prod, 0)
		return nil
	})
	n.runAdapter(runCtx, rt)
	return nil
}
