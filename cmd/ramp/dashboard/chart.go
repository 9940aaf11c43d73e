package dashboard

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"
)

// ChartSVG is a chart rendered on the server: an SVG document whose text
// is escaped here, so the page inserts it as it is; Points counts the
// plotted points of each series (the browser test reads them).
type ChartSVG struct {
	SVG    string         `json:"svg"`
	Points map[string]int `json:"points"`
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                 = 720, 220
	padL, padR, padT, padB         = 56, 12, 12, 28
	plotW, plotH                   = chartW - padL - padR, chartH - padT - padB
	gridLines                      = 4
	markerRadius                   = 5
	minSpan                float64 = 20_000 // the x axis spans at least 20 s
)

// xy is a value at a time (Unix milliseconds); ok false is a gap.
type xy struct {
	t  int64
	v  float64
	ok bool
}

// series is one line of a chart.
type series struct {
	name  string // data-series, and the legend
	class string // CSS class: its colour and dash
	step  bool   // drawn as steps (a weight holds until the next point)
	pts   []xy
}

// marker is an analysis look drawn on the time axis.
type marker struct {
	t     int64
	phase string
	title string
}

// chartSpec is a chart to render.
type chartSpec struct {
	id, title string
	unit      string // "%", "ms"
	yMin      float64
	yMax      float64 // 0: from the data
	t0, t1    int64
	series    []series
	markers   []marker
}

// render draws the chart as SVG.
func (c chartSpec) render() ChartSVG {
	out := ChartSVG{Points: map[string]int{}}
	t0, t1 := c.t0, c.t1
	if float64(t1-t0) < minSpan {
		t0 = t1 - int64(minSpan)
	}
	yMax := c.yMax
	if yMax == 0 {
		for _, s := range c.series {
			for _, p := range s.pts {
				if p.ok && p.v > yMax {
					yMax = p.v
				}
			}
		}
		yMax = niceCeil(yMax * 1.1)
	}
	x := func(t int64) float64 { return padL + float64(t-t0)/float64(t1-t0)*plotW }
	y := func(v float64) float64 {
		v = math.Max(c.yMin, math.Min(v, yMax))
		return padT + plotH - (v-c.yMin)/(yMax-c.yMin)*plotH
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title" class="chart" id="%s">`,
		chartW, chartH, c.id, c.id)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title>`, c.id, esc(c.title))
	// Grid and y labels.
	for i := 0; i <= gridLines; i++ {
		v := c.yMin + (yMax-c.yMin)*float64(i)/gridLines
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(v), y(v))
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y(v)+4, esc(formatValue(v, c.unit)))
	}
	// x labels: start, middle, end.
	for i, t := range []int64{t0, (t0 + t1) / 2, t1} {
		anchor := [...]string{"start", "middle", "end"}[i]
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(t), chartH-8, anchor,
			time.UnixMilli(t).Format("15:04:05"))
	}
	// Look markers, under the lines.
	for i, m := range c.markers {
		if m.t < t0 || m.t > t1 {
			continue
		}
		fmt.Fprintf(&b, `<g class="look look-%s" data-look="%d" tabindex="0"><title>%s</title>`, cssToken(m.phase), i, esc(m.title))
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d"/><circle cx="%.1f" cy="%d" r="%d"/></g>`,
			x(m.t), x(m.t), padT, padT+plotH, x(m.t), padT+markerRadius, markerRadius)
	}
	for _, s := range c.series {
		n := 0
		var seg []string
		flush := func() {
			if len(seg) > 1 {
				fmt.Fprintf(&b, `<polyline class="line %s" data-series="%s" points="%s"/>`, s.class, esc(s.name), strings.Join(seg, " "))
			} else if len(seg) == 1 {
				xy := strings.Split(seg[0], ",")
				fmt.Fprintf(&b, `<circle class="dot %s" data-series="%s" cx="%s" cy="%s" r="2.5"/>`, s.class, esc(s.name), xy[0], xy[1])
			}
			seg = seg[:0]
		}
		var prev *xy
		for i := range s.pts {
			p := s.pts[i]
			if p.t < t0 && s.step && p.ok {
				// A weight set before the axis begins holds at its start.
				p.t, s.pts[i].t = t0, t0
				if i+1 < len(s.pts) && s.pts[i+1].t <= t0 {
					continue
				}
			}
			if p.t < t0 || p.t > t1 {
				continue
			}
			if !p.ok {
				flush()
				prev = nil
				continue
			}
			if s.step && prev != nil {
				seg = append(seg, fmt.Sprintf("%.1f,%.1f", x(p.t), y(prev.v)))
			}
			seg = append(seg, fmt.Sprintf("%.1f,%.1f", x(p.t), y(p.v)))
			prev = &s.pts[i]
			n++
		}
		if s.step && prev != nil {
			seg = append(seg, fmt.Sprintf("%.1f,%.1f", x(t1), y(prev.v)))
		}
		flush()
		out.Points[s.name] = n
	}
	// Legend.
	lx := float64(padL + 8)
	for _, s := range c.series {
		fmt.Fprintf(&b, `<g class="legend"><line class="line %s" x1="%.0f" x2="%.0f" y1="%d" y2="%d"/><text class="axis" x="%.0f" y="%d">%s</text></g>`,
			s.class, lx, lx+18, padT+8, padT+8, lx+22, padT+12, esc(s.name))
		lx += 30 + 7*float64(len(s.name))
	}
	b.WriteString(`</svg>`)
	out.SVG = b.String()
	return out
}

func esc(s string) string { return html.EscapeString(s) }

// cssToken keeps letters only: a phase as a class name.
func cssToken(s string) string {
	return strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, s)
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatValue(v float64, unit string) string {
	if math.Abs(v) < 10 && v != math.Trunc(v) {
		return strings.TrimRight(strings.TrimRight(strconv.FormatFloat(v, 'f', 2, 64), "0"), ".") + unit
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + unit
}

// charts renders the Rollout page's charts: error rate and latency,
// canary against stable on the same axes, and the canary's weight.
func charts(d *Detail, now time.Time) map[string]ChartSVG {
	// The axes span the telemetry of this rollout (from the first point,
	// 5 s earlier), or the last 20 s before any.
	t1 := now.UnixMilli()
	t0 := t1
	if len(d.Points) > 0 {
		t0 = d.Points[0].T - 5000
	}
	side := func(name, class string, f func(Point) *Sample, v func(*Sample) float64) series {
		s := series{name: name, class: class}
		for _, p := range d.Points {
			if x := f(p); x != nil {
				s.pts = append(s.pts, xy{t: p.T, v: v(x), ok: true})
			} else {
				s.pts = append(s.pts, xy{t: p.T})
			}
		}
		return s
	}
	canary := func(p Point) *Sample { return p.Canary }
	stable := func(p Point) *Sample { return p.Stable }
	var markers []marker
	for _, l := range d.Looks {
		var lines []string
		lines = append(lines, fmt.Sprintf("%s look at %s", l.Phase, time.UnixMilli(l.Time).Format("15:04:05")))
		if l.Message != "" {
			lines = append(lines, l.Message)
		}
		for _, m := range l.Metrics {
			lines = append(lines, m.Name+" "+m.Phase+": "+m.Evidence)
		}
		markers = append(markers, marker{t: l.Time, phase: l.Phase, title: strings.Join(lines, "\n")})
	}
	errors := chartSpec{id: "chart-errors", title: "Error rate (5xx), canary against stable", unit: "%", t0: t0, t1: t1, markers: markers,
		series: []series{
			side("canary", "canary", canary, func(s *Sample) float64 { return 100 * s.ErrorRate }),
			side("stable", "stable", stable, func(s *Sample) float64 { return 100 * s.ErrorRate }),
		}}
	var lat []series
	for _, q := range []struct {
		name string
		f    func(*Sample) float64
	}{{"p50", func(s *Sample) float64 { return s.P50 }}, {"p90", func(s *Sample) float64 { return s.P90 }}, {"p99", func(s *Sample) float64 { return s.P99 }}} {
		lat = append(lat, side("canary "+q.name, "canary "+q.name, canary, q.f), side("stable "+q.name, "stable "+q.name, stable, q.f))
	}
	latency := chartSpec{id: "chart-latency", title: "Latency p50, p90 and p99, canary against stable", unit: "ms", t0: t0, t1: t1,
		markers: markers, series: lat}
	w := series{name: "canary weight", class: "canary", step: true}
	for _, p := range d.Weights {
		w.pts = append(w.pts, xy{t: p.T, v: float64(p.Weight), ok: true})
	}
	weight := chartSpec{id: "chart-weight", title: "Traffic to the canary", unit: "%", yMax: 100, t0: t0, t1: t1, series: []series{w}}
	return map[string]ChartSVG{"errors": errors.render(), "latency": latency.render(), "weight": weight.render()}
}
