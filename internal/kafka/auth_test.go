package kafka_test

import (
	"os"
	"path/filepath"
	"testing"

	"govx"
	"govx/internal/kafka"
)

// Passwords are made once, kept in a 0600 file and reused; a principal
// added later gets one of its own without changing the others.
func TestCredentialsKeptAndReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kafka", "credentials.json")
	first, err := kafka.LoadOrCreateCredentials(path, "admin", "casework")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	again, err := kafka.LoadOrCreateCredentials(path, "admin", "casework", "adapter-population")
	if err != nil {
		t.Fatal(err)
	}
	if again["admin"] != first["admin"] || again["casework"] != first["casework"] || again["adapter-population"] == "" ||
		again["admin"] == again["casework"] || len(first["admin"]) < 24 {
		t.Errorf("first %v, again %v", first, again)
	}
	if _, err := again.Config(kafka.Config{}, "adapter-licence"); err == nil {
		t.Error("a principal without a password got a config")
	}
}

// A broker with SASL on refuses a wrong password with its own code.
func TestWrongPasswordRefused(t *testing.T) {
	e, err := kafka.StartEmbedded(kafka.EmbeddedConfig{AdminPassword: "right"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = kafka.EnsureTopics(t.Context(), kafka.Config{Brokers: e.Addrs(), User: kafka.PrincipalAdmin, Password: "wrong"},
		kafka.Topic{Name: "t", Partitions: 1})
	if govx.ErrorCode(err) != kafka.CodeBusAuthFailed {
		t.Errorf("EnsureTopics with a wrong password: %v", err)
	}
	if err := kafka.EnsureTopics(t.Context(), kafka.Config{Brokers: e.Addrs(), User: kafka.PrincipalAdmin, Password: "right"},
		kafka.Topic{Name: "t", Partitions: 1}); err != nil {
		t.Errorf("EnsureTopics as admin: %v", err)
	}
}
