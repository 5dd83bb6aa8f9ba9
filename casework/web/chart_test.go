package web

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// svgRect is a bar as the SVG draws it.
type svgRect struct {
	class, value string
	x, y, w, h   float64
	title        string
}

// parseChart reads the figure back as XML, which it must be, and returns
// its bars, its texts and the SVG's title and description.
func parseChart(t *testing.T, out string) (bars []svgRect, texts []string, title, desc string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(out))
	d.Strict = true
	var stack []string
	var cur *svgRect
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed: %v\n%s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name.Local)
			if tok.Name.Local == "rect" {
				r := svgRect{}
				for _, a := range tok.Attr {
					f, _ := strconv.ParseFloat(a.Value, 64)
					switch a.Name.Local {
					case "class":
						r.class = a.Value
					case "data-value":
						r.value = a.Value
					case "x":
						r.x = f
					case "y":
						r.y = f
					case "width":
						r.w = f
					case "height":
						r.h = f
					}
				}
				if strings.HasPrefix(r.class, "bar ") {
					bars = append(bars, r)
					cur = &bars[len(bars)-1]
				}
			}
		case xml.EndElement:
			if tok.Name.Local == "rect" {
				cur = nil
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			s := string(tok)
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			switch {
			case parent == "title" && cur != nil:
				cur.title += s
			case parent == "title" && len(stack) >= 2 && stack[len(stack)-2] == "svg":
				title += s
			case parent == "desc":
				desc += s
			case parent == "text":
				texts = append(texts, s)
			}
		}
	}
	return bars, texts, title, desc
}

func TestChartColumns(t *testing.T) {
	c := chart{ID: "days", Title: "受理与办结", Desc: "近 30 天", Head: "日期", Data: "数据",
		Labels: []string{"12-01", "12-02", "12-03", "12-04"},
		Series: []series{{Name: "受理", Values: []float64{4, 0, 2, 1}}, {Name: "办结", Values: []float64{2, 1, 0, 4}}}}
	out := string(c.SVG())
	bars, texts, title, desc := parseChart(t, out)
	if title != "受理与办结" || desc != "近 30 天" {
		t.Errorf("title %q, desc %q", title, desc)
	}
	if len(bars) != 8 {
		t.Fatalf("%d bars, want 4 days × 2 series", len(bars))
	}
	plotH := colH - colTop - colBottom
	base := colTop + plotH
	for i, b := range bars {
		day, s := i/2, i%2
		v := c.Series[s].Values[day]
		if want := v / 4 * plotH; math.Abs(b.h-want) > 0.01 { // 4, the largest, is even
			t.Errorf("bar %d (%s, %s) height %v, want %v", i, c.Labels[day], c.Series[s].Name, b.h, want)
		}
		if math.Abs(b.y+b.h-base) > 0.01 {
			t.Errorf("bar %d does not stand on the axis: y %v + h %v", i, b.y, b.h)
		}
		if b.class != fmt.Sprintf("bar s-%d", s) || b.value != strconv.Itoa(int(v)) {
			t.Errorf("bar %d: class %q, value %q", i, b.class, b.value)
		}
		if want := fmt.Sprintf("%s · %s: %d", c.Labels[day], c.Series[s].Name, int(v)); b.title != want {
			t.Errorf("bar %d title %q, want %q", i, b.title, want)
		}
		if b.x < colLeft || b.x+b.w > chartW-colRight+0.01 {
			t.Errorf("bar %d outside the plot: x %v w %v", i, b.x, b.w)
		}
	}
	if bars[0].x >= bars[2].x {
		t.Error("days are not left to right")
	}
	// The axis says the maximum; the table holds every number.
	if !contains(texts, "4") || !contains(texts, "12-01") {
		t.Errorf("axis texts %q", texts)
	}
	for _, want := range []string{`viewBox="0 0 400 232"`, `width="100%"`, `role="img"`, `aria-labelledby="days-title days-desc"`,
		`<th scope="row">12-04</th><td>1</td><td>4</td>`, `<summary>数据</summary>`} {
		if !strings.Contains(out, want) {
			t.Errorf("the chart lacks %s", want)
		}
	}
	if strings.Contains(out, "style=") || strings.Contains(out, "<script") {
		t.Error("the chart has inline style or script, which the page's CSP refuses")
	}
}

func TestChartManyColumnsLabelsSome(t *testing.T) {
	c := chart{ID: "d", Series: []series{{Name: "n"}}}
	for i := range 22 {
		c.Labels = append(c.Labels, fmt.Sprintf("L%02d", i))
	}
	bars, texts, _, _ := parseChart(t, string(c.SVG()))
	if len(bars) != 22 {
		t.Fatalf("%d bars, want 22", len(bars))
	}
	labels := 0
	for _, s := range texts {
		if strings.HasPrefix(s, "L") {
			labels++
		}
	}
	if labels > colMaxTicks || labels < colMaxTicks/2 {
		t.Errorf("%d x labels for 22 columns, want at most %d", labels, colMaxTicks)
	}
	// All zero: no bar has height, nothing divides by zero, and the axis
	// counts whole cases (0, 1, 2), not 0, 0.5 and 1.
	if !contains(texts, "2") || !contains(texts, "1") || contains(texts, "0.5") {
		t.Errorf("axis of an empty chart: %q", texts)
	}
	for _, b := range bars {
		if b.h != 0 || math.IsNaN(b.y) {
			t.Fatalf("empty chart bar %+v", b)
		}
	}
}

func TestChartRows(t *testing.T) {
	c := chart{ID: "overdue", Rows: true, Labels: []string{"market-regulation", "population", "fire-rescue"},
		Series: []series{{Name: "逾期率", Values: []float64{0.5, 0, 0.25}}},
		Format: func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }}
	out := string(c.SVG())
	bars, texts, _, _ := parseChart(t, out)
	if len(bars) != 3 {
		t.Fatalf("%d bars, want 3", len(bars))
	}
	plotW := chartW - rowValue
	for i, want := range []float64{plotW, 0, plotW / 2} {
		if math.Abs(bars[i].w-want) > 0.01 {
			t.Errorf("bar %d width %v, want %v", i, bars[i].w, want)
		}
	}
	for _, want := range []string{"market-regulation", "50%", "0%", "25%"} {
		if !contains(texts, want) {
			t.Errorf("texts %q lack %q", texts, want)
		}
	}
	if !strings.Contains(out, `viewBox="0 0 400 `) || !strings.Contains(out, `width="100%"`) {
		t.Error("the chart does not scale to its container")
	}
}

// TestChartEscapesLabels feeds hostile text everywhere text goes: it comes
// out as text, the SVG stays well-formed, nothing becomes markup.
func TestChartEscapesLabels(t *testing.T) {
	hostile := `</title><script>alert(1)</script><a href="javascript:x" onload='y'>&amp;`
	for _, rows := range []bool{false, true} {
		c := chart{ID: `x" onload="z`, Title: hostile, Desc: hostile, Head: hostile, Data: hostile, Rows: rows,
			Labels: []string{hostile, "ok"}, Series: []series{{Name: hostile, Values: []float64{1, 2}}, {Name: "b", Values: []float64{3, 1}}},
			Format: func(f float64) string { return hostile }}
		out := string(c.SVG())
		bars, texts, title, desc := parseChart(t, out)
		if title != hostile || desc != hostile {
			t.Errorf("title %q, desc %q: want the hostile text back as text", title, desc)
		}
		if len(bars) != 4 || !strings.HasPrefix(bars[0].title, hostile) {
			t.Errorf("bars %+v", bars)
		}
		if !contains(texts, hostile) {
			t.Errorf("texts %q lack the label as text", texts)
		}
		for _, bad := range []string{"<script", "<a ", "</title><script", `" onload="`, "onload='"} {
			if strings.Contains(out, bad) {
				t.Errorf("rows=%v: %q reaches the markup:\n%s", rows, bad, out)
			}
		}
	}
}
