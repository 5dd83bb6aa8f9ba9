package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Charts are drawn on the server as inline SVG: no script, nothing to
// load, and the same figures as the tables around them. Each is a figure
// with a title and a description the SVG is labelled by (role="img"), the
// bars' values in <title>s for a pointer, and every number again in a
// table under it, for screen readers and for copying. The SVG has a
// viewBox and no fixed size, so that it shrinks to the width of a phone;
// colours come from app.css (the page's CSP allows no inline styles).
// Every text that reaches the SVG or the table is escaped here.

// chart is one bar chart: a group of bars per label, one bar per series.
type chart struct {
	ID    string // unique on the page; the ids of its title and description derive from it
	Title string
	Desc  string
	// Labels name the groups: the x axis of columns, the rows of a
	// horizontal chart.
	Labels []string
	Series []series
	// Rows draws one row per label with horizontal bars, for long labels
	// (departments); else columns, for many short ones (days).
	Rows bool
	// Format writes a value as text (default: an integer).
	Format func(float64) string
	// Head names the label column and Data the fold of the table of
	// numbers under the chart.
	Head, Data string
}

// series is one kind of bar, e.g. cases opened; Class picks its colour
// from app.css (s-0, s-1, …).
type series struct {
	Name   string
	Values []float64 // one per chart label
}

// The geometry, in viewBox units.
const (
	chartW      = 400.0
	colH        = 232.0
	colLeft     = 38.0 // room for the y axis' numbers
	colRight    = 6.0
	colTop      = 12.0
	colBottom   = 42.0 // room for the x axis' labels and the legend
	colMaxTicks = 6    // x labels shown at most; the others are in the table
	rowLabel    = 18.0 // a row's label line
	rowBar      = 16.0 // one bar of a row
	rowGap      = 10.0
	rowValue    = 64.0 // room right of the longest bar for its value
)

func (c chart) format(v float64) string {
	if c.Format != nil {
		return c.Format(v)
	}
	return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
}

// max is the largest value of the chart, at least 1 so that an empty
// chart draws no bars rather than dividing by zero.
func (c chart) max() float64 {
	m := 0.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if v > m && !math.IsInf(v, 1) {
				m = v
			}
		}
	}
	if m <= 0 || math.IsNaN(m) {
		return 1
	}
	return m
}

// value is series s's value at label i; missing, negative and NaN count
// as 0.
func (c chart) value(s, i int) float64 {
	vs := c.Series[s].Values
	if i >= len(vs) || !(vs[i] > 0) || math.IsInf(vs[i], 1) {
		return 0
	}
	return vs[i]
}

// esc escapes s for SVG text and attribute values inside HTML.
func esc(s string) string { return html.EscapeString(s) }

// num writes a coordinate with at most two decimals.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) }

// SVG renders the chart as a <figure>: the SVG and the table of its
// numbers.
func (c chart) SVG() template.HTML {
	var b strings.Builder
	id := esc(c.ID)
	fmt.Fprintf(&b, `<figure class="chart" id="%s">`, id)
	var h float64
	if c.Rows {
		h = rowGap + float64(len(c.Labels))*(rowLabel+float64(len(c.Series))*rowBar+rowGap)
	} else {
		h = colH
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %s %s" width="100%%" role="img" aria-labelledby="%s-title %s-desc" preserveAspectRatio="xMinYMin meet">`,
		num(chartW), num(h), id, id)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, esc(c.Title), id, esc(c.Desc))
	if c.Rows {
		c.rows(&b)
	} else {
		c.columns(&b, h)
	}
	b.WriteString(`</svg>`)
	fmt.Fprintf(&b, `<figcaption>%s <span class="muted">%s</span></figcaption>`, esc(c.Title), esc(c.Desc))
	c.table(&b)
	b.WriteString(`</figure>`)
	return template.HTML(b.String())
}

func (c chart) columns(b *strings.Builder, h float64) {
	max := c.max()
	if c.Format == nil {
		// Counts: an even whole maximum, so that the half tick is whole too.
		max = math.Ceil(max)
		if math.Mod(max, 2) == 1 {
			max++
		}
	}
	plotW, plotH := chartW-colLeft-colRight, h-colTop-colBottom
	base := colTop + plotH
	// The y axis: 0, half and the maximum, with grid lines.
	for _, f := range []float64{0, 0.5, 1} {
		y := base - f*plotH
		fmt.Fprintf(b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(colLeft), num(y), num(chartW-colRight), num(y))
		fmt.Fprintf(b, `<text class="axis" x="%s" y="%s" text-anchor="end" font-size="13">%s</text>`, num(colLeft-4), num(y+4), esc(c.format(f*max)))
	}
	n := len(c.Labels)
	if n == 0 {
		return
	}
	groupW := plotW / float64(n)
	barW := groupW * 0.8 / float64(max1(len(c.Series)))
	step := (n + colMaxTicks - 1) / colMaxTicks
	for i, label := range c.Labels {
		x0 := colLeft + float64(i)*groupW + groupW*0.1
		for s := range c.Series {
			v := c.value(s, i)
			bh := v / max * plotH
			fmt.Fprintf(b, `<rect class="bar s-%d" x="%s" y="%s" width="%s" height="%s" data-value="%s"><title>%s · %s: %s</title></rect>`,
				s, num(x0+float64(s)*barW), num(base-bh), num(barW), num(bh), num(v), esc(label), esc(c.Series[s].Name), esc(c.format(v)))
		}
		if i%step == 0 {
			fmt.Fprintf(b, `<text class="axis" x="%s" y="%s" text-anchor="middle" font-size="13">%s</text>`,
				num(colLeft+(float64(i)+0.5)*groupW), num(base+16), esc(label))
		}
	}
	c.legend(b, h-2)
}

func (c chart) rows(b *strings.Builder) {
	max := c.max()
	plotW := chartW - rowValue
	y := rowGap
	for i, label := range c.Labels {
		fmt.Fprintf(b, `<text class="label" x="0" y="%s" font-size="14">%s</text>`, num(y+rowLabel-4), esc(label))
		y += rowLabel
		for s := range c.Series {
			v := c.value(s, i)
			w := v / max * plotW
			fmt.Fprintf(b, `<rect class="bar s-%d" x="0" y="%s" width="%s" height="%s" data-value="%s"><title>%s · %s: %s</title></rect>`,
				s, num(y+1), num(w), num(rowBar-2), num(v), esc(label), esc(c.Series[s].Name), esc(c.format(v)))
			fmt.Fprintf(b, `<text class="value" x="%s" y="%s" font-size="13">%s</text>`, num(w+4), num(y+rowBar-3), esc(c.format(v)))
			y += rowBar
		}
		y += rowGap
	}
}

// legend names the series at the bottom right, when there is more than
// one.
func (c chart) legend(b *strings.Builder, y float64) {
	if len(c.Series) < 2 {
		return
	}
	// Too long to fit: the series are named in the table and the bars'
	// titles all the same.
	total := 0.0
	for _, s := range c.Series {
		total += 13*textWidth(s.Name) + 22
	}
	if total > chartW-colLeft-colRight {
		return
	}
	x := chartW - colRight
	for s := len(c.Series) - 1; s >= 0; s-- {
		name := c.Series[s].Name
		fmt.Fprintf(b, `<text class="legend" x="%s" y="%s" text-anchor="end" font-size="13">%s</text>`, num(x), num(y), esc(name))
		x -= 13 * textWidth(name)
		fmt.Fprintf(b, `<rect class="key s-%d" x="%s" y="%s" width="9" height="9"/>`, s, num(x-12), num(y-9))
		x -= 22
	}
}

// textWidth is a string's width in ems, roughly: a CJK character is one,
// anything else a little over half.
func textWidth(s string) float64 {
	w := 0.0
	for _, r := range s {
		if r >= 0x2E80 {
			w++
		} else {
			w += 0.65
		}
	}
	return w
}

// table writes the chart's numbers as a table, folded under the chart.
func (c chart) table(b *strings.Builder) {
	fmt.Fprintf(b, `<details class="chart-data"><summary>%s</summary><table><thead><tr><th scope="col">%s</th>`, esc(c.Data), esc(c.Head))
	for _, s := range c.Series {
		fmt.Fprintf(b, `<th scope="col">%s</th>`, esc(s.Name))
	}
	b.WriteString(`</tr></thead><tbody>`)
	for i, label := range c.Labels {
		fmt.Fprintf(b, `<tr><th scope="row">%s</th>`, esc(label))
		for s := range c.Series {
			fmt.Fprintf(b, `<td>%s</td>`, esc(c.format(c.value(s, i))))
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</tbody></table></details>`)
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}
