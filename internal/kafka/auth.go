package kafka

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/scram"

	"govx"
)

// PrincipalAdmin is the broker's superuser: it creates topics, users and
// ACLs, and is used by no service.
const PrincipalAdmin = "admin"

// Operation is what an ACL allows on a resource.
type Operation string

const (
	OpRead     Operation = "Read"
	OpWrite    Operation = "Write"
	OpCreate   Operation = "Create"
	OpDescribe Operation = "Describe"
)

// ResourceType is what an ACL is about.
type ResourceType string

const (
	ResourceTopic ResourceType = "Topic"
	ResourceGroup ResourceType = "Group"
)

// ACL allows a principal one operation on a topic or group: the one named,
// or every one whose name starts with Name when Prefixed.
type ACL struct {
	Resource  ResourceType
	Name      string
	Prefixed  bool
	Operation Operation
}

func (a ACL) String() string {
	pattern := "literal"
	if a.Prefixed {
		pattern = "prefixed"
	}
	return fmt.Sprintf("%s %s %s (%s)", a.Operation, a.Resource, a.Name, pattern)
}

// User is a SCRAM-SHA-512 principal of the broker and what it may do.
type User struct {
	Name     string
	Password string
	ACLs     []ACL
}

// Credentials are principals' passwords by principal name, as kept in a
// credentials file.
type Credentials map[string]string

// Config returns cfg authenticating as principal with its password from c;
// a principal c does not hold is KindInvalid.
func (c Credentials) Config(cfg Config, principal string) (Config, error) {
	pass, ok := c[principal]
	if !ok || pass == "" {
		return Config{}, govx.Errorf(govx.KindInvalid, "config_invalid", "kafka: no credentials for principal %q", principal)
	}
	cfg.User, cfg.Password = principal, pass
	return cfg, nil
}

// ReadCredentials reads a credentials file: a JSON object of passwords by
// principal name.
func ReadCredentials(path string) (Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("kafka credentials %s: %w", path, err)
	}
	return c, nil
}

// LoadOrCreateCredentials reads the credentials file at path (mode 0600),
// adds a random password for each principal it does not hold yet and
// writes it back. Existing passwords are kept: the broker knows them.
func LoadOrCreateCredentials(path string, principals ...string) (Credentials, error) {
	c, err := ReadCredentials(path)
	if errors.Is(err, os.ErrNotExist) {
		c, err = Credentials{}, nil
	}
	if err != nil {
		return nil, err
	}
	changed := false
	for _, p := range principals {
		if c[p] != "" {
			continue
		}
		b := make([]byte, 24)
		rand.Read(b)
		c[p] = base64.RawURLEncoding.EncodeToString(b)
		changed = true
	}
	if !changed {
		return c, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return c, nil
}

// Names are the principals c holds, sorted.
func (c Credentials) Names() []string {
	out := make([]string, 0, len(c))
	for p := range c {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// mechanism is the SASL mechanism of cfg, nil without credentials.
func (c Config) mechanism() (sasl.Mechanism, error) {
	if c.User == "" {
		return nil, nil
	}
	m, err := scram.Mechanism(scram.SHA512, c.User, c.Password)
	if err != nil {
		return nil, govx.Errorf(govx.KindInvalid, "config_invalid", "kafka: SCRAM credentials: %v", err)
	}
	return m, nil
}

// Transport is a kafka-go transport authenticating as c says, for code
// that speaks kafka-go itself (tests acting as outside clients).
func (c Config) Transport() (*kafkago.Transport, error) {
	m, err := c.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafkago.Transport{ClientID: c.ClientID, SASL: m, TLS: c.TLS, IdleTimeout: 5 * time.Minute, MetadataTTL: time.Second}, nil
}

// Dialer is a kafka-go dialer authenticating as c says, likewise.
func (c Config) Dialer() (*kafkago.Dialer, error) {
	m, err := c.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafkago.Dialer{ClientID: c.ClientID, Timeout: 10 * time.Second, SASLMechanism: m, TLS: c.TLS}, nil
}

// client is a kafka-go admin client authenticating as cfg says.
func (c Config) client() (*kafkago.Client, error) {
	t, err := c.Transport()
	if err != nil {
		return nil, err
	}
	return &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Timeout: 10 * time.Second, Transport: t}, nil
}

// refused tells the broker's refusals apart from its absence: a bad
// password is KindUnauthenticated (bus_auth_failed), an ACL that does not
// allow the operation KindForbidden (bus_forbidden).
func refused(op string, err error) error {
	var we kafkago.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil {
				err = e
				break
			}
		}
	}
	switch {
	case errors.Is(err, kafkago.SASLAuthenticationFailed), errors.Is(err, kafkago.UnsupportedSASLMechanism),
		errors.Is(err, kafkago.IllegalSASLState):
		return &govx.Error{Kind: govx.KindUnauthenticated, Code: CodeBusAuthFailed, Op: op,
			Message: "the message bus refused this service's credentials", Err: err}
	case errors.Is(err, kafkago.TopicAuthorizationFailed), errors.Is(err, kafkago.GroupAuthorizationFailed),
		errors.Is(err, kafkago.ClusterAuthorizationFailed):
		return &govx.Error{Kind: govx.KindForbidden, Code: CodeBusForbidden, Op: op,
			Message: "the message bus does not allow this service that operation", Err: err}
	}
	return nil
}

// Codes of the broker's refusals.
const (
	CodeBusAuthFailed = "bus_auth_failed"
	CodeBusForbidden  = "bus_forbidden"
)

// explain tells a refused password from a broker that is gone: the broker
// closes the connection of a client it does not authenticate, which
// kafka-go's transport reports as an unexpected EOF or a broker not
// available. One dial with the credentials says which it was.
func (c Config) explain(ctx context.Context, err error) error {
	if err == nil || c.User == "" || len(c.Brokers) == 0 || errors.Is(err, context.Canceled) ||
		!(errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, kafkago.BrokerNotAvailable)) {
		return err
	}
	d, derr := c.Dialer()
	if derr != nil {
		return err
	}
	conn, derr := d.DialContext(ctx, "tcp", c.Brokers[0])
	if derr != nil {
		if errors.Is(derr, kafkago.SASLAuthenticationFailed) {
			return derr
		}
		return err
	}
	conn.Close()
	return err
}
