package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// timeline draws events in time, one track per row (a department that
// looked at someone's data), as inline SVG like the charts (chart.go):
// labelled by its title and description, text escaped, scaled by its
// viewBox. The page lists every event again in a table.
type timeline struct {
	ID, Title, Desc string
	Rows            []string // track labels, top to bottom
	Events          []timelineEvent
	From, To        time.Time // the axis; events outside are drawn at its ends
	FromText        string    // the axis' ends, written in the page's language
	ToText          string
}

// timelineEvent is one mark: on track Row at At; Class picks its colour
// (app.css), Title is what a pointer shows.
type timelineEvent struct {
	Row   int
	At    time.Time
	Class string
	Title string
}

// The geometry, in viewBox units.
const (
	tlPad    = 8.0  // left and right of the axis
	tlLabel  = 18.0 // a track's label line
	tlTrack  = 18.0 // a track's marks
	tlGap    = 6.0
	tlAxis   = 22.0 // the axis' dates under the tracks
	tlRadius = 5.0
)

// x is where t lies on the axis.
func (tl timeline) x(t time.Time) float64 {
	w := chartW - 2*tlPad
	span := tl.To.Sub(tl.From)
	if span <= 0 {
		return tlPad + w/2
	}
	f := float64(t.Sub(tl.From)) / float64(span)
	return tlPad + min(1, max(0, f))*w
}

// trackY is the middle of track i.
func trackY(i int) float64 {
	return tlGap + float64(i)*(tlLabel+tlTrack+tlGap) + tlLabel + tlTrack/2
}

// SVG renders the timeline.
func (tl timeline) SVG() template.HTML {
	var b strings.Builder
	id := esc(tl.ID)
	h := tlGap + float64(len(tl.Rows))*(tlLabel+tlTrack+tlGap) + tlAxis
	fmt.Fprintf(&b, `<figure class="chart timeline" id="%s">`, id)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %s %s" width="100%%" role="img" aria-labelledby="%s-title %s-desc" preserveAspectRatio="xMinYMin meet">`,
		num(chartW), num(h), id, id)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, esc(tl.Title), id, esc(tl.Desc))
	for i, row := range tl.Rows {
		y := trackY(i)
		fmt.Fprintf(&b, `<text class="label" x="%s" y="%s" font-size="14">%s</text>`, num(tlPad), num(y-tlTrack/2-4), esc(row))
		fmt.Fprintf(&b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(tlPad), num(y), num(chartW-tlPad), num(y))
	}
	for _, e := range tl.Events {
		if e.Row < 0 || e.Row >= len(tl.Rows) {
			continue
		}
		fmt.Fprintf(&b, `<circle class="dot %s" cx="%s" cy="%s" r="%s" data-row="%d"><title>%s</title></circle>`,
			esc(e.Class), num(tl.x(e.At)), num(trackY(e.Row)), num(tlRadius), e.Row, esc(e.Title))
	}
	axis := h - tlAxis + 4
	fmt.Fprintf(&b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(tlPad), num(axis), num(chartW-tlPad), num(axis))
	fmt.Fprintf(&b, `<text class="axis" x="%s" y="%s" font-size="13">%s</text>`, num(tlPad), num(h-2), esc(tl.FromText))
	fmt.Fprintf(&b, `<text class="axis" x="%s" y="%s" text-anchor="end" font-size="13">%s</text>`, num(chartW-tlPad), num(h-2), esc(tl.ToText))
	b.WriteString(`</svg>`)
	fmt.Fprintf(&b, `<figcaption>%s <span class="muted">%s</span></figcaption></figure>`, esc(tl.Title), esc(tl.Desc))
	return template.HTML(b.String())
}
