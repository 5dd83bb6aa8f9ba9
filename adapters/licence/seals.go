package licence

import (
	"context"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"govx"
)

// FromRecord rebuilds a licence from its record as the exchange's JSON
// answer carries it (dates as YYYY-MM-DD, the seal in base64, the face
// items as an object), so that its seal can be checked.
func FromRecord(rec map[string]any) (Licence, error) {
	str := func(name string) string { s, _ := rec[name].(string); return s }
	var bad error
	date := func(name string) time.Time {
		d, err := time.Parse(time.DateOnly, str(name))
		if err != nil && bad == nil {
			bad = govx.Errorf(govx.KindInvalid, "licence_record_invalid", "the licence record's %s is not a date", name)
		}
		return d
	}
	l := Licence{ID: str("id"), Type: str("type"), Number: str("number"), HolderName: str("holder_name"),
		HolderCode: str("holder_code"), Authority: str("authority"), AuthorityCode: str("authority_code"),
		IssueDate: date("issue_date"), ValidFrom: date("valid_from"), ValidUntil: date("valid_until"),
		Status: str("status"), SealKeyID: str("seal_key_id"), Items: map[string]string{}}
	if bad != nil {
		return Licence{}, bad
	}
	seal, err := base64.StdEncoding.DecodeString(str("seal"))
	if err != nil || len(seal) == 0 {
		return Licence{}, govx.Errorf(govx.KindInvalid, "licence_record_invalid", "the licence record carries no seal")
	}
	l.Seal = seal
	items, _ := rec["items"].(map[string]any)
	if inner, ok := items["map"].(map[string]any); ok && len(items) == 1 {
		items = inner // Avro's union form, if a consumer passes it on as is
	}
	for k, v := range items {
		s, _ := v.(string)
		l.Items[k] = s
	}
	return l, nil
}

// SealChecker checks licences' seals against the licensing department's
// keys in the catalogue, fetched once and again when a licence names a
// key the set lacks (a key added since). It is safe for concurrent use.
type SealChecker struct {
	base   string
	client *http.Client

	mu      sync.Mutex
	keys    KeySet
	fetched time.Time
}

// NewSealChecker checks seals with the keys the catalogue at base (the
// exchange API's address) lists.
func NewSealChecker(base string, client *http.Client) *SealChecker {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &SealChecker{base: base, client: client}
}

// CheckSeal checks the seal of a licence record as the exchange answered
// it. It returns nil when the seal is valid.
func (c *SealChecker) CheckSeal(ctx context.Context, rec map[string]any) error {
	l, err := FromRecord(rec)
	if err != nil {
		return err
	}
	ks, err := c.keySet(ctx, l.SealKeyID)
	if err != nil {
		return err
	}
	return ks.Verify(l)
}

// keySet returns the keys, fetching them when none are held or the set
// lacks keyID (at most once a minute for an unknown key).
func (c *SealChecker) keySet(ctx context.Context, keyID string) (KeySet, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.keys[keyID]; ok {
		return c.keys, nil
	}
	if c.keys != nil && time.Since(c.fetched) < time.Minute {
		return c.keys, nil
	}
	ks, err := FetchKeySet(ctx, c.client, c.base)
	if err != nil {
		if c.keys != nil {
			return c.keys, nil
		}
		return nil, err
	}
	c.keys, c.fetched = ks, time.Now()
	return ks, nil
}
