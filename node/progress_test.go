package node_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"govx/casework"
	"govx/node"
	"govx/node/nodetest"
)

// addrClient is a client whose connections come from one loopback
// address of its own (127.0.0.k): a stand-in for one of many addresses.
type addrClient struct {
	t *testing.T
	c *http.Client
}

func fromAddr(t *testing.T, k int) *addrClient {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(k))}}
	return &addrClient{t: t, c: &http.Client{Jar: jar, Transport: &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (a *addrClient) do(req *http.Request) (int, string) {
	a.t.Helper()
	res, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
		a.t.Errorf("429 without Retry-After: %s", b)
	}
	return res.StatusCode, string(b)
}

// api looks a case up through the JSON API of m.
func (a *addrClient) api(m *node.Node, id, last4 string) (int, string) {
	req, _ := http.NewRequest("GET", m.URL()+"/v1/progress/"+id+"?last4="+last4, nil)
	return a.do(req)
}

var formErrRe = regexp.MustCompile(`(?s)<div class="form-error"[^>]*>(.*?)</div>`)

// page looks a case up through the progress page of m and returns the
// status and the form's error.
func (a *addrClient) page(m *node.Node, id, last4 string) (int, string) {
	req, _ := http.NewRequest("GET", m.URL()+"/ui/progress", nil)
	_, page := a.do(req)
	f := formOf(a.t, page, "progress-form")
	f.Set("case_id", id)
	f.Set("last4", last4)
	req, _ = http.NewRequest("POST", m.URL()+"/ui/progress", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, page := a.do(req)
	return status, formErrRe.FindString(page)
}

// TestProgressGuessingAcrossInstances: the public progress lookup, through
// the JSON API and the page, on two instances sharing Redis, draws on one
// budget per client address and one per case number; a real case with a
// wrong last four and a case that does not exist answer alike, limited or
// not.
func TestProgressGuessingAcrossInstances(t *testing.T) {
	cfg := nodetest.Config(t)
	m1 := nodetest.Start(t, cfg)
	m2 := nodetest.Start(t, nodetest.SecondInstance(t, cfg, m1, "test-2"))
	nodes := []*node.Node{m1, m2}
	ctx := context.Background()

	residents := nodetest.NormalResidents(2)
	open := func(resident string) string {
		c, err := m1.Casework.Open(ctx, clerk, casework.OpenInput{Item: "resident-certificate", Applicant: casework.Party{IDNumber: resident}})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	caseA, caseB := open(residents[0]), open(residents[1])
	last4A, last4B := residents[0][14:], residents[1][14:]
	wrong := func(last4 string) string {
		if last4 == "0000" {
			return "0001"
		}
		return "0000"
	}

	t.Run("a wrong last four and a missing case answer alike", func(t *testing.T) {
		missing := "GX" + strings.Repeat("9", 14)
		c := fromAddr(t, 2)
		s1, b1 := c.api(m1, caseA, wrong(last4A))
		s2, b2 := c.api(m2, missing, wrong(last4A))
		if s1 != http.StatusNotFound || s1 != s2 || b1 != b2 {
			t.Errorf("API: real case %d %s; missing case %d %s", s1, b1, s2, b2)
		}
		s1, b1 = c.page(m2, caseA, wrong(last4A))
		s2, b2 = c.page(m1, missing, wrong(last4A))
		if s1 != http.StatusNotFound || s1 != s2 || b1 != b2 || b1 == "" {
			t.Errorf("page: real case %d %q; missing case %d %q", s1, b1, s2, b2)
		}
		if s, b := c.page(m1, caseA, last4A); s != http.StatusOK {
			t.Errorf("the right last four: %d %s", s, b)
		}
	})

	t.Run("guesses at one case from many addresses", func(t *testing.T) {
		missing := "GX" + strings.Repeat("8", 14)
		limited := 0
		for i := range casework.ProgressCaseLimit.Burst + 3 {
			c := fromAddr(t, 10+i) // a fresh address every time
			m := nodes[i%2]
			ask := c.api
			if i%3 == 1 {
				ask = c.page
			}
			guess := strconv.Itoa(1000 + i)
			if guess == last4B {
				guess = "9999"
			}
			s1, b1 := ask(m, caseB, guess)
			s2, b2 := ask(m, missing, guess)
			if s1 != s2 || strings.ReplaceAll(b1, caseB, missing) != b2 {
				t.Errorf("guess %d: real case %d %s; missing case %d %s", i, s1, b1, s2, b2)
			}
			switch {
			case s1 == http.StatusTooManyRequests && strings.Contains(b1, "rate_limited"):
				limited++
			case s1 != http.StatusNotFound:
				t.Errorf("guess %d: %d %s", i, s1, b1)
			}
			if i < casework.ProgressCaseLimit.Burst && s1 != http.StatusNotFound {
				t.Errorf("guess %d within the burst: %d", i, s1)
			}
		}
		if limited == 0 {
			t.Fatalf("%d guesses at one case from as many addresses, none refused", casework.ProgressCaseLimit.Burst+3)
		}
		// The right last four from yet another address is refused too: a
		// success must not tell a guesser they hit it.
		if s, b := fromAddr(t, 60).api(m2, caseB, last4B); s != http.StatusTooManyRequests {
			t.Errorf("the right last four of a limited case: %d %s", s, b)
		}
	})

	t.Run("guesses from one address at many cases", func(t *testing.T) {
		c := fromAddr(t, 70)
		limited := 0
		for i := range casework.ProgressLimit.Burst + 3 {
			id := "GX2026010170" + strconv.Itoa(1000+i) // a case number of its own each time
			ask := c.api
			if i%2 == 1 {
				ask = c.page
			}
			s, b := ask(nodes[i%2], id, "1234")
			switch {
			case s == http.StatusTooManyRequests && strings.Contains(b, "rate_limited"):
				limited++
			case s != http.StatusNotFound:
				t.Errorf("lookup %d: %d %s", i, s, b)
			}
		}
		if limited == 0 {
			t.Fatalf("%d lookups from one address, none refused", casework.ProgressLimit.Burst+3)
		}
		// Another address is not held back by this one.
		if s, b := fromAddr(t, 71).api(m1, caseA, last4A); s != http.StatusOK {
			t.Errorf("another address: %d %s", s, b)
		}
	})
}
