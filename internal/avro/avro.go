// Package avro encodes and decodes bus messages in the Confluent wire
// format: a zero magic byte, the 4-byte big-endian schema id, then the Avro
// binary body. Schema ids come from a Registry (the catalog's schema store);
// parsed schemas are cached so the hot path never asks the registry twice.
package avro

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/hamba/avro/v2"

	"govx"
)

// Registry assigns and resolves schema ids. The catalog's schema store
// satisfies it. Both methods must be safe for concurrent use.
type Registry interface {
	// RegisterSchema stores schema under subject (or finds it there) and
	// returns its global id.
	RegisterSchema(ctx context.Context, subject, schema string) (int, error)
	// SchemaByID returns the schema text of a global id.
	SchemaByID(ctx context.Context, id int) (string, error)
}

const (
	magicByte  = 0
	headerSize = 5
)

// decodeAPI bounds how many elements an array may claim. hamba/avro
// allocates a block's whole count up front, so without a bound a message of
// a few bytes from the bus claiming billions of elements exhausts memory.
// Bus messages carry one record; no array in them comes near this.
var decodeAPI = avro.Config{MaxSliceAllocSize: 1 << 16}.Freeze()

type entry struct {
	id     int
	schema avro.Schema
}

// Codec is safe for concurrent use.
type Codec struct {
	reg Registry

	mu        sync.RWMutex
	bySubject map[string]entry
	byID      map[int]avro.Schema
}

func NewCodec(reg Registry) *Codec {
	return &Codec{reg: reg, bySubject: map[string]entry{}, byID: map[int]avro.Schema{}}
}

// Register parses schema, registers it under subject and makes it the schema
// Marshal uses for that subject.
func (c *Codec) Register(ctx context.Context, subject, schema string) (int, error) {
	const op = "avro.Register"
	s, err := parse(schema)
	if err != nil {
		return 0, &govx.Error{Kind: govx.KindInvalid, Code: "invalid_schema", Op: op,
			Message: fmt.Sprintf("schema for %s does not parse: %v", subject, err), Err: err}
	}
	id, err := c.reg.RegisterSchema(ctx, subject, schema)
	if err != nil {
		return 0, govx.E(op, err)
	}
	c.mu.Lock()
	c.bySubject[subject] = entry{id: id, schema: s}
	c.byID[id] = s
	c.mu.Unlock()
	return id, nil
}

// Marshal encodes v with the registered schema of subject.
func (c *Codec) Marshal(subject string, v any) ([]byte, error) {
	c.mu.RLock()
	e, ok := c.bySubject[subject]
	c.mu.RUnlock()
	if !ok {
		return nil, govx.E("avro.Marshal", fmt.Errorf("subject %q is not registered", subject))
	}
	body, err := avro.Marshal(e.schema, v)
	if err != nil {
		return nil, govx.E("avro.Marshal", fmt.Errorf("%s: %w", subject, err))
	}
	out := make([]byte, headerSize+len(body))
	out[0] = magicByte
	binary.BigEndian.PutUint32(out[1:headerSize], uint32(e.id))
	copy(out[headerSize:], body)
	return out, nil
}

// SchemaID reads the schema id of a wire-format message.
func SchemaID(data []byte) (int, error) {
	if len(data) < headerSize || data[0] != magicByte {
		return 0, govx.Errorf(govx.KindInvalid, "invalid_message", "not a Confluent wire-format message")
	}
	return int(binary.BigEndian.Uint32(data[1:headerSize])), nil
}

// Unmarshal decodes a wire-format message into v with the writer's schema,
// fetched from the registry by the id in the message if not cached.
func (c *Codec) Unmarshal(ctx context.Context, data []byte, v any) error {
	const op = "avro.Unmarshal"
	id, err := SchemaID(data)
	if err != nil {
		return govx.E(op, err)
	}
	s, err := c.schema(ctx, id)
	if err != nil {
		return govx.E(op, err)
	}
	// Not avro.Unmarshal: it reports running out of data at a value
	// boundary (io.EOF) as success, so a truncated message would decode
	// with its missing fields zero. Every datum must be complete.
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(decodeAPI)).Reset(data[headerSize:])
	r.ReadVal(s, v)
	if r.Error != nil {
		return &govx.Error{Kind: govx.KindInvalid, Code: "invalid_message", Op: op,
			Message: "message does not decode with its schema", Err: r.Error}
	}
	if m, ok := v.(*map[string]any); ok {
		plain(s, *m)
	}
	return nil
}

// UnmarshalAs is Unmarshal for a message that must be of subject's record
// type: a message of another record (a reply on a request topic) decodes
// without error into the wrong struct, with its fields empty, so it is
// refused here, before anything reads it.
func (c *Codec) UnmarshalAs(ctx context.Context, subject string, data []byte, v any) error {
	const op = "avro.UnmarshalAs"
	c.mu.RLock()
	e, ok := c.bySubject[subject]
	c.mu.RUnlock()
	if !ok {
		return govx.E(op, fmt.Errorf("subject %q is not registered", subject))
	}
	id, err := SchemaID(data)
	if err != nil {
		return govx.E(op, err)
	}
	if id != e.id {
		writer, err := c.schema(ctx, id)
		if err != nil {
			return govx.E(op, err)
		}
		if fullName(writer) != fullName(e.schema) {
			return &govx.Error{Kind: govx.KindInvalid, Code: "invalid_message", Op: op,
				Message: fmt.Sprintf("message is a %s, not a %s", fullName(writer), subject)}
		}
	}
	return c.Unmarshal(ctx, data, v)
}

// plain takes the union wrappers out of a generically decoded value: hamba
// decodes a union holding a map, an array or a named type into `any` as
// {"<type name>": value}, which is Avro's JSON encoding but not what a
// consumer of a record expects to read ({"items": {"map": {...}}}). The
// schema says which single-key maps are such wrappers. Records and maps
// are unwrapped in place; the (possibly new) value is returned.
func plain(s avro.Schema, v any) any {
	switch s := s.(type) {
	case *avro.RefSchema:
		return plain(s.Schema(), v)
	case *avro.UnionSchema:
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return v
		}
		for k, inner := range m {
			for _, t := range s.Types() {
				if unionName(t) == k {
					return plain(t, inner)
				}
			}
		}
	case *avro.RecordSchema:
		if m, ok := v.(map[string]any); ok {
			for _, f := range s.Fields() {
				if x, ok := m[f.Name()]; ok {
					m[f.Name()] = plain(f.Type(), x)
				}
			}
		}
	case *avro.ArraySchema:
		if a, ok := v.([]any); ok {
			for i, x := range a {
				a[i] = plain(s.Items(), x)
			}
		}
	case *avro.MapSchema:
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				m[k] = plain(s.Values(), x)
			}
		}
	}
	return v
}

// unionName is the key under which a union branch of type t is wrapped.
func unionName(t avro.Schema) string {
	if r, ok := t.(*avro.RefSchema); ok {
		t = r.Schema()
	}
	return fullName(t)
}

func fullName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

func (c *Codec) schema(ctx context.Context, id int) (avro.Schema, error) {
	c.mu.RLock()
	s, ok := c.byID[id]
	c.mu.RUnlock()
	if ok {
		return s, nil
	}
	text, err := c.reg.SchemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	s, err = parse(text)
	if err != nil {
		return nil, &govx.Error{Kind: govx.KindInvalid, Code: "invalid_schema",
			Message: fmt.Sprintf("schema %d does not parse", id), Err: err}
	}
	c.mu.Lock()
	c.byID[id] = s
	c.mu.Unlock()
	return s, nil
}

// parse gives every schema its own name cache: two versions of one record
// name must not resolve each other's named types.
func parse(text string) (avro.Schema, error) {
	return avro.ParseWithCache(text, "", &avro.SchemaCache{})
}
