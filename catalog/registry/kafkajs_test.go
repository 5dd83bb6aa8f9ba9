package registry_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"

	"govx/catalog"
	"govx/catalog/registry"
)

// kafkajsPackage is the independent client the test drives, pinned so the
// cached install stays valid.
const kafkajsPackage = "@kafkajs/confluent-schema-registry@3.9.0"

// kafkajsScript registers a schema on a new subject with a compatibility
// level, as producers written with KafkaJS do, then again and under a
// second subject, and encodes and decodes a record in the wire format.
const kafkajsScript = `
const { SchemaRegistry, SchemaType, COMPATIBILITY } = require('@kafkajs/confluent-schema-registry');
const [host, token] = process.argv.slice(2);
const bearer = () => ({ request: (req) => req.enhance({ headers: { Authorization: 'Bearer ' + token } }) });
const registry = new SchemaRegistry({ host, middlewares: [bearer], retry: { retries: 0 } });
const schema = {
  type: SchemaType.AVRO,
  schema: JSON.stringify({
    type: 'record', name: 'Licence', namespace: 'govx.test',
    fields: [
      { name: 'number', type: 'string' },
      { name: 'holder', type: 'string' },
      { name: 'tags', type: { type: 'array', items: 'string' }, default: [] },
    ],
  }),
};
(async () => {
  const { id } = await registry.register(schema, { subject: 'test.kafkajs', compatibility: COMPATIBILITY.FULL });
  const again = await registry.register(schema, { subject: 'test.kafkajs', compatibility: COMPATIBILITY.FULL });
  const copy = await registry.register(schema, { subject: 'test.kafkajs-copy', compatibility: COMPATIBILITY.BACKWARD });
  const latest = await registry.getLatestSchemaId('test.kafkajs');
  const record = { number: 'JY15201010000123', holder: '91520102MA6DJ4XX3Q', tags: ['food', 'renewal'] };
  const encoded = await registry.encode(id, record);
  const decoded = await registry.decode(encoded);
  process.stdout.write(JSON.stringify({ id, again: again.id, copy: copy.id, latest, encoded: encoded.toString('hex'), decoded }));
})().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
`

// kafkajsModules installs the client once per machine under the temp
// directory and returns its node_modules, or skips the test when node or
// npm is missing or the npm registry cannot be reached.
func kafkajsModules(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH: skipping the check with %s", tool, kafkajsPackage)
		}
	}
	root := filepath.Join(os.TempDir(), "govx-npm-cache")
	final := filepath.Join(root, "confluent-schema-registry-3.9.0")
	modules := filepath.Join(final, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "@kafkajs", "confluent-schema-registry", "package.json")); err == nil {
		return modules
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// Install beside the cache and move it in whole, so a test running at
	// the same time never sees half an install.
	tmp, err := os.MkdirTemp(root, "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", tmp, "--no-audit", "--no-fund", "--loglevel=error", kafkajsPackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("npm could not install %s (is the npm registry reachable?): %v\n%s", kafkajsPackage, err, tail(out, 2000))
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, serr := os.Stat(modules); serr != nil {
			t.Fatalf("moving the install into the cache: %v", err)
		}
	}
	return modules
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// @kafkajs/confluent-schema-registry, a client govx did not write,
// registers with a compatibility level on a new subject (it asks the
// subject's own level and sets it only on a 404), finds the latest id, and
// round-trips a record; govx's side reads the bytes it wrote.
func TestRegistryWithKafkaJSClient(t *testing.T) {
	modules := kafkajsModules(t)
	f := mustRegistry(t)
	admin := f.token(t, "ops", catalog.RoleAdmin, registry.ScopeWrite)
	script := filepath.Join(t.TempDir(), "client.js")
	if err := os.WriteFile(script, []byte(kafkajsScript), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, f.base, admin)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the KafkaJS client failed: %v\n%s", err, stderr.Bytes())
	}
	var got struct {
		ID, Again, Copy, Latest int
		Encoded                 string
		Decoded                 map[string]any
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if got.ID < 1 || got.Again != got.ID || got.Copy != got.ID || got.Latest != got.ID {
		t.Errorf("ids: registered %d, again %d, under another subject %d, latest %d; want one id", got.ID, got.Again, got.Copy, got.Latest)
	}
	want := map[string]any{"number": "JY15201010000123", "holder": "91520102MA6DJ4XX3Q", "tags": []any{"food", "renewal"}}
	if !reflect.DeepEqual(got.Decoded, want) {
		t.Errorf("decoded %v, want %v", got.Decoded, want)
	}
	if c, ok, err := f.store.OwnCompatibility(context.Background(), "test.kafkajs"); err != nil || !ok || c != catalog.Full {
		t.Errorf("level of the new subject = %q (set %v), %v; want FULL as the client asked", c, ok, err)
	}

	msg, err := hex.DecodeString(got.Encoded)
	if err != nil || len(msg) < 5 || msg[0] != 0 {
		t.Fatalf("encoded %q is not in the wire format: %v", got.Encoded, err)
	}
	if id := int(binary.BigEndian.Uint32(msg[1:5])); id != got.ID {
		t.Errorf("wire id %d, want %d", id, got.ID)
	}
	text, err := f.store.SchemaByID(context.Background(), got.ID)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Number string   `avro:"number"`
		Holder string   `avro:"holder"`
		Tags   []string `avro:"tags"`
	}
	if err := hamba.Unmarshal(hamba.MustParse(text), msg[5:], &rec); err != nil {
		t.Fatalf("govx's side decoding the client's bytes: %v", err)
	}
	if rec.Number != "JY15201010000123" || !reflect.DeepEqual(rec.Tags, []string{"food", "renewal"}) {
		t.Errorf("decoded %+v", rec)
	}
}
