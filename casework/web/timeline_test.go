package web

import (
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"govx/exchange/ledger"
	"govx/internal/auth"
)

type svgDot struct {
	class    string
	cx, cy   float64
	row      int
	title    string
	inCircle bool
}

func parseDots(t *testing.T, out string) []svgDot {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(out))
	d.Strict = true
	var dots []svgDot
	var cur *svgDot
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return dots
		}
		if err != nil {
			t.Fatalf("the timeline is not well-formed: %v\n%s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Local == "circle" {
				var c svgDot
				for _, a := range tok.Attr {
					f, _ := strconv.ParseFloat(a.Value, 64)
					switch a.Name.Local {
					case "class":
						c.class = a.Value
					case "cx":
						c.cx = f
					case "cy":
						c.cy = f
					case "data-row":
						c.row = int(f)
					}
				}
				dots = append(dots, c)
				cur = &dots[len(dots)-1]
			}
		case xml.EndElement:
			if tok.Name.Local == "circle" {
				cur = nil
			}
		case xml.CharData:
			if cur != nil {
				cur.title += string(tok)
			}
		}
	}
}

func TestAccessTimeline(t *testing.T) {
	ui, err := New(Config{Verifier: testVerifier(t)})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	// Newest first, as the ledger lists them.
	accesses := []ledger.SubjectAccess{
		{At: t0.Add(9 * day), Consumer: "market-regulation", Resource: "population.identity", Outcome: ledger.Refused},
		{At: t0.Add(5 * day), Consumer: "service-center", Resource: "population.identity", Outcome: ledger.Released},
		{At: t0.Add(1 * day), Consumer: "market-regulation", Resource: "population.identity", Outcome: ledger.Answered},
		{At: t0, Consumer: "service-center", Resource: "population.household", Outcome: ledger.Released},
	}
	tl := ui.accessTimeline(accesses, "zh", t0.Add(10*day))
	if strings.Join(tl.Rows, ",") != "service-center,market-regulation" {
		t.Errorf("tracks %v, want the departments in the order of their first access", tl.Rows)
	}
	for _, want := range []string{"4 次", "2 个部门", "3 次提供了数据", "1 次未提供数据", "2026-11-02 至 2026-11-12"} {
		if !strings.Contains(tl.Desc, want) {
			t.Errorf("description %q lacks %q", tl.Desc, want)
		}
	}
	dots := parseDots(t, string(tl.SVG()))
	if len(dots) != 4 {
		t.Fatalf("%d marks, want 4", len(dots))
	}
	w := chartW - 2*tlPad
	for i, a := range accesses {
		want := tlPad + float64(a.At.Sub(t0))/float64(10*day)*w
		if math.Abs(dots[i].cx-want) > 0.01 {
			t.Errorf("access %d at x %v, want %v", i, dots[i].cx, want)
		}
		wantRow := map[string]int{"service-center": 0, "market-regulation": 1}[a.Consumer]
		if dots[i].row != wantRow || math.Abs(dots[i].cy-trackY(wantRow)) > 0.01 {
			t.Errorf("access %d on track %d (y %v), want %d", i, dots[i].row, dots[i].cy, wantRow)
		}
		if dots[i].class != "dot o-"+a.Outcome || !strings.Contains(dots[i].title, a.Consumer) {
			t.Errorf("access %d: class %q title %q", i, dots[i].class, dots[i].title)
		}
	}
	if !strings.Contains(dots[0].title, "已拒绝") {
		t.Errorf("a refused access's title %q does not say so", dots[0].title)
	}
	en := ui.accessTimeline(accesses, "en", t0.Add(10*day))
	if !strings.Contains(en.Desc, "2 departments accessed your data 4 times: 3 sent data, 1 did not") {
		t.Errorf("English description %q", en.Desc)
	}

	// One access: no span to divide by; it sits in the middle.
	one := ui.accessTimeline(accesses[3:], "zh", t0)
	if d := parseDots(t, string(one.SVG())); len(d) != 1 || d[0].cx != chartW/2 {
		t.Errorf("a single access drawn at %+v", d)
	}

	// Hostile names from the ledger stay text.
	hostile := `<script>alert(1)</script>"onmouseover="x`
	bad := ui.accessTimeline([]ledger.SubjectAccess{{At: t0, Consumer: hostile, Resource: hostile, Outcome: hostile}}, "en", t0.Add(day))
	out := string(bad.SVG())
	d := parseDots(t, out)
	if len(d) != 1 || !strings.Contains(d[0].title, hostile) || !strings.Contains(d[0].class, hostile) {
		t.Errorf("hostile access drawn as %+v", d)
	}
	if strings.Contains(out, "<script") || strings.Contains(out, `"onmouseover="`) {
		t.Errorf("hostile text reaches the markup: %s", out)
	}
}

func testVerifier(t *testing.T) *auth.Verifier {
	t.Helper()
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: "govx", Audience: "govx-exchange"}, key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
