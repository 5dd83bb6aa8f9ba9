package web_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"govx"
	"govx/casework/web"
	"govx/internal/browsertest"
)

// TestBrowserCheckPage signs in as a demo clerk in a real Chromium, sees
// the inline check catch a bad ID number as it is typed, fixes it, submits,
// reads the server's answer and switches to English, screenshotting each
// step.
func TestBrowserCheckPage(t *testing.T) {
	var e *env
	e = newEnv(t, demoConfig(&e))
	b := browsertest.New(t)
	t.Logf("screenshots in %s", b.ArtifactsDir())

	b.Navigate(t, e.srv.URL+"/ui/check")
	b.WaitText(t, "#login-reason", "请先登录")
	b.Screenshot(t, "01-login")

	b.Click(t, `button[data-role="clerk"]`)
	b.WaitText(t, "#who", "clerk:window-1")
	if !strings.HasSuffix(b.Location(t), "/ui/check") {
		t.Fatalf("after sign-in at %s, want back at /ui/check", b.Location(t))
	}
	b.WaitText(t, "#flash", "已登录：clerk:window-1")
	b.Screenshot(t, "02-signed-in")

	// A letter is caught as soon as it is typed.
	b.Fill(t, "#id_number", "11010A")
	b.WaitText(t, "#id_number-error", "第 6 位应为数字")
	// A wrong check digit is caught when the 18th character arrives.
	b.Fill(t, "#id_number", "110105194912310021")
	b.WaitText(t, "#id_number-error", "校验位是 1，按前 17 位计算应为 X")
	if v, _ := b.Attr(t, "#id_number", "aria-invalid"); v != "true" {
		t.Errorf("aria-invalid = %q, want true", v)
	}
	b.Screenshot(t, "03-inline-error")
	// Submitting is held back while a field is wrong: the page stays, with
	// a mark a navigation would wipe, and the invalid field has the focus.
	browsertest.Eval[bool](t, b, `window.stayed = true`)
	b.Click(t, "#check-submit")
	time.Sleep(500 * time.Millisecond)
	if !browsertest.Eval[bool](t, b, `window.stayed === true && document.activeElement.id === "id_number"`) {
		t.Fatal("the form was sent with an invalid ID number")
	}

	// Typed with a Chinese input method: full-width digits and a
	// lowercase x. The note says what the number is normalised to.
	b.Fill(t, "#id_number", "１１０１０５１９４９１２３１００２ｘ")
	b.WaitText(t, "#id_number-note", "已规范为 11010519491231002X")
	b.Fill(t, "#uscc", "91350100m000100y43")
	b.WaitText(t, "#uscc-note", "91350100M000100Y43")
	if v := browsertest.Eval[string](t, b, `document.getElementById("id_number").value`); v != "11010519491231002X" {
		t.Errorf("after leaving the field it holds %q, want the normalised number", v)
	}
	if got := b.Text(t, "#id_number-error"); got != "" {
		t.Errorf("error still shown after the fix: %q", got)
	}
	if _, set := b.Attr(t, "#id_number", "aria-invalid"); set {
		t.Error("aria-invalid still set after the fix")
	}
	b.Screenshot(t, "04-fixed")

	b.Click(t, "#check-submit")
	answer := b.WaitText(t, "#flash", "服务器校验通过")
	if !strings.Contains(answer, "110105********002X") || !strings.Contains(answer, "91350100M000100Y43") {
		t.Errorf("server answer = %q", answer)
	}
	b.Screenshot(t, "05-server-answer")

	b.Click(t, "#lang-en")
	b.WaitText(t, "h1", "Check ID numbers and credit codes")
	b.Fill(t, "#uscc", "91350100M000100Y44")
	b.WaitText(t, "#uscc-error", "the first 17 characters call for 3")
	b.WaitText(t, "#who", "Window clerk")
	b.Screenshot(t, "06-english")

	t.Run("JavaScript agrees with the Go validators", func(t *testing.T) {
		compareValidators(t, b)
	})
	t.Run("JavaScript normalises as Go does", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(20261202, 1))
		inputs := append(idVectors(rng), usccVectors(rng)...)
		inputs = append(inputs, " ９１３５０１００ｍ０００１００ｙ４３\u3000", "\u00a0x\u2003", "ａｂｃ～！", "\ufeffX", "é ")
		data, _ := json.Marshal(inputs)
		got := browsertest.Eval[[]string](t, b, fmt.Sprintf(`%s.map(s => govxValidate.normalise(s))`, data))
		for i, in := range inputs {
			if want := web.NormaliseCode(in); got[i] != want {
				t.Errorf("normalise(%q): JavaScript %q, Go %q", in, got[i], want)
			}
		}
	})
}

// jsResult is what govxValidate returns for an invalid input.
type jsResult struct {
	Key  string `json:"key"`
	Args []any  `json:"args"`
}

// goReason turns a message of govx.ValidateIDNumber or govx.ValidateUSCC
// into the key and arguments app.js must report for the same input.
var goReasons = []struct {
	re  *regexp.Regexp
	key string
}{
	{regexp.MustCompile(`^ID number must have 18 characters, got (\d+)$`), "id.length"},
	{regexp.MustCompile(`^ID number must consist of ASCII digits`), "id.nonascii"},
	{regexp.MustCompile(`^ID number character (\d+) must be a digit$`), "id.digit"},
	{regexp.MustCompile(`not a lowercase x$`), "id.lower_x"},
	{regexp.MustCompile(`^ID number character 18 must be a digit or an uppercase X$`), "id.last"},
	{regexp.MustCompile(`^ID number birth date has month (\d+), which`), "id.month"},
	{regexp.MustCompile(`^ID number birth date has day (\d+) in month (\d+) of (\d+), which`), "id.day"},
	{regexp.MustCompile(`^ID number birth year (\d+) is before`), "id.year"},
	{regexp.MustCompile(`^ID number birth date is in the future$`), "id.future"},
	{regexp.MustCompile(`^ID number check character is (.), expected (.)$`), "id.check"},
	{regexp.MustCompile(`^a unified social credit code has 18 characters, got (\d+)$`), "uscc.length"},
	{regexp.MustCompile(`^positions 3–8 of a unified social credit code`), "uscc.division"},
	{regexp.MustCompile(`^unified social credit code holds '(.+)' at position (\d+);`), "uscc.char"},
	{regexp.MustCompile(`^the check character '(.+)' is not in the code's alphabet$`), "uscc.check_alphabet"},
	{regexp.MustCompile(`^the check character of the unified social credit code is wrong$`), "uscc.check"},
}

func goReason(t *testing.T, err error) (string, []string) {
	msg := govx.ErrorMessage(err)
	for _, r := range goReasons {
		if m := r.re.FindStringSubmatch(msg); m != nil {
			return r.key, m[1:]
		}
	}
	t.Fatalf("no JavaScript reason known for %q", msg)
	return "", nil
}

func compareValidators(t *testing.T, b *browsertest.Browser) {
	rng := rand.New(rand.NewPCG(20261121, 1))
	ids, usccs := idVectors(rng), usccVectors(rng)
	for _, c := range []struct {
		name   string
		inputs []string
		js     string
		goFn   func(string) error
	}{
		{"idnumber", ids, "govxValidate.idnumber", govx.ValidateIDNumber},
		{"uscc", usccs, "govxValidate.uscc", govx.ValidateUSCC},
	} {
		data, _ := json.Marshal(c.inputs)
		got := browsertest.Eval[[]*jsResult](t, b, fmt.Sprintf(`%s.map(s => %s(s))`, data, c.js))
		if len(got) != len(c.inputs) {
			t.Fatalf("%s: %d results for %d inputs", c.name, len(got), len(c.inputs))
		}
		valid, bad := 0, 0
		for i, in := range c.inputs {
			err := c.goFn(in)
			js := got[i]
			switch {
			case err == nil && js == nil:
				valid++
				continue
			case err == nil:
				t.Errorf("%s(%q): Go accepts, JavaScript says %s %v", c.name, in, js.Key, js.Args)
			case js == nil:
				t.Errorf("%s(%q): JavaScript accepts, Go says %v", c.name, in, err)
			default:
				key, args := goReason(t, err)
				jsArgs := make([]string, len(js.Args))
				for j, a := range js.Args {
					jsArgs[j] = fmt.Sprint(a)
				}
				if key == "uscc.check" {
					jsArgs = nil // Go does not name the expected character
				}
				if js.Key != key || strings.Join(jsArgs, ",") != strings.Join(args, ",") {
					t.Errorf("%s(%q): Go says %s %v (%v), JavaScript says %s %v", c.name, in, key, args, err, js.Key, jsArgs)
				}
			}
			bad++
			if bad > 20 && t.Failed() {
				t.Fatal("too many disagreements")
			}
		}
		if valid < len(c.inputs)/10 {
			t.Errorf("%s: only %d of %d inputs valid; the vectors test too little", c.name, valid, len(c.inputs))
		}
		t.Logf("%s: %d inputs, %d valid, all agree", c.name, len(c.inputs), valid)
	}
}

// idVectors are the numbers of idnumber_test.go plus random and mutated
// ones, about a third valid.
func idVectors(rng *rand.Rand) []string {
	out := []string{
		"11010519491231002X", "440524188001010014", "310115199003071239", "65010219850615234X",
		"540102200002290014", "110101200812319994", "440305199912310003", "11010119491001001X",
		"", "110105491231002", "11010519491231002", "11010519491231002XX", "一二三",
		"1101051949123100AX", " 1010519491231002X", "110105-949123002X7", "11010519491231002x",
		"11010519491231002Y", "110105194912310021", "31011519900307123X", "11001519491231002X",
		"１１０１０５１９４９１２３１００２Ｘ", "一二三四五六", "11010519491231002é",
	}
	complete := func(body string) string {
		c, _ := govx.IDNumberCheckChar(body)
		return body + string(c)
	}
	now := time.Now().In(time.FixedZone("CST", 8*3600))
	for _, d := range []time.Time{now, now.AddDate(0, 0, 1), now.AddDate(0, 0, -1)} {
		out = append(out, complete("110101"+d.Format("20060102")+"002"))
	}
	for range 1500 {
		body := fmt.Sprintf("%06d%04d%02d%02d%03d", rng.IntN(1000000), 1790+rng.IntN(245), rng.IntN(14), rng.IntN(33), rng.IntN(1000))
		switch rng.IntN(6) {
		case 0, 1, 2:
			out = append(out, complete(body))
		case 3:
			out = append(out, body+string("0123456789Xx"[rng.IntN(12)]))
		case 4: // one character changed
			s := []byte(complete(body))
			s[rng.IntN(18)] = "0123456789Xx -"[rng.IntN(14)]
			out = append(out, string(s))
		default: // a valid-looking date, two digits swapped
			s := []byte(complete(fmt.Sprintf("%06d%04d%02d%02d%03d", 110000+rng.IntN(9000), 1950+rng.IntN(60), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(1000))))
			i := rng.IntN(16)
			s[i], s[i+1] = s[i+1], s[i]
			out = append(out, string(s))
		}
	}
	return out
}

// usccVectors are the codes of uscc_test.go plus random ones.
func usccVectors(rng *rand.Rand) []string {
	out := []string{
		"91350100M000100Y43", "91110000802100433B", "91440300708461136T",
		"", "91350100M000100Y4", "91350100M000100Y433", "91350100M000100Y44", "91350100m000100y43",
		"91350100I000100Y43", "9135A100M000100Y43", "91350100M000100Y4Z", "9135010０M000100Y4",
	}
	const alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	const noise = alphabet + "IOSVZaz-"
	for range 1500 {
		var s strings.Builder
		for i := range 17 {
			switch {
			case i >= 2 && i < 8 && rng.IntN(40) > 0:
				s.WriteByte(byte('0' + rng.IntN(10)))
			case rng.IntN(60) == 0:
				s.WriteByte(noise[rng.IntN(len(noise))])
			default:
				s.WriteByte(alphabet[rng.IntN(len(alphabet))])
			}
		}
		body := s.String()
		switch rng.IntN(4) {
		case 0, 1:
			if c, err := govx.USCCCheckChar(body); err == nil {
				out = append(out, body+string(c))
				continue
			}
			out = append(out, body+"0")
		case 2:
			out = append(out, body+string(noise[rng.IntN(len(noise))]))
		default:
			out = append(out, body[:rng.IntN(17)])
		}
	}
	return out
}
