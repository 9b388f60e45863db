// Package report writes the fuser's history as a self-contained HTML page:
// charts of latency (p50, p95) and cost per million requests for every
// iteration (with the strategy's predictions beside them), the iteration
// table with prediction, measurement and error, the loop's verdict, and a picture of the final fusion groups
// with the calls between tasks. No scripts, no external assets: inline SVG.
//
//	err := report.Write(f, report.Data{App: "iot", Iterations: its, Final: best, Edges: edges})
package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/setup"
)

// Edge is a call between two tasks.
type Edge struct {
	Caller, Callee string
	Async          bool
}

// Data is what the report shows.
type Data struct {
	App        string
	Strategy   string
	Profile    string // e.g. "emulated AWS us-east-1 / GCP us-east4"
	Iterations []api.Iteration
	Final      *setup.Setup
	Edges      []Edge
	Note       string // how the figures were measured
	Verdict    string // how the loop ended (loop.Result.Verdict)
}

// Write renders d as HTML to w.
func Write(w io.Writer, d Data) error {
	var lat, p95, cost, plat, pcost []point
	for _, it := range d.Iterations {
		if !it.Measured() {
			continue
		}
		lat = append(lat, point{it.Index, it.P50Ms})
		p95 = append(p95, point{it.Index, it.P95Ms})
		cost = append(cost, point{it.Index, it.CostPerMillionUSD})
		if p := it.Predicted; p != nil {
			plat = append(plat, point{it.Index, p.P50Ms})
			pcost = append(pcost, point{it.Index, p.CostPerMillionUSD})
		}
	}
	page := struct {
		Data
		LatencyChart, CostChart, Groups template.HTML
	}{
		Data:         d,
		LatencyChart: chart("Latency per iteration (ms)", []series{{"p50", "#2563eb", lat}, {"p95", "#93c5fd", p95}, {"predicted p50", "#f59e0b", plat}}),
		CostChart:    chart("Cost per million requests ($)", []series{{"cost", "#16a34a", cost}, {"predicted cost", "#f59e0b", pcost}}),
		Groups:       groups(d.Final, d.Edges),
	}
	return tmpl.Execute(w, page)
}

type point struct {
	x int
	y float64
}

type series struct {
	name, color string
	pts         []point
}

const (
	cw, ch = 560.0, 260.0
	padL   = 56.0
	padB   = 32.0
	padT   = 28.0
	padR   = 16.0
)

// chart draws line series over iteration indexes as SVG.
func chart(title string, ss []series) template.HTML {
	maxX, maxY := 1, 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			maxX = max(maxX, p.x)
			maxY = math.Max(maxY, p.y)
		}
	}
	if maxY <= 0 {
		maxY = 1
	}
	maxY *= 1.1
	x := func(i int) float64 { return padL + float64(i)/float64(maxX)*(cw-padL-padR) }
	y := func(v float64) float64 { return ch - padB - v/maxY*(ch-padB-padT) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s">`, cw, ch, cw, ch, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="18" class="t">%s</text>`, padL, template.HTMLEscapeString(title))
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="g"/><text x="%.1f" y="%.1f" class="a" text-anchor="end">%s</text>`,
			padL, cw-padR, y(v), y(v), padL-6, y(v)+4, num(v))
	}
	for i := 0; i <= maxX; i++ {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="a" text-anchor="middle">%d</text>`, x(i), ch-padB+16, i)
	}
	for k, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		var pts []string
		for _, p := range s.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.x), y(p.y)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2.5"/>`, strings.Join(pts, " "), s.color)
		for _, p := range s.pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s #%d: %s</title></circle>`, x(p.x), y(p.y), s.color, s.name, p.x, num(p.y))
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="12" height="4" fill="%s"/><text x="%.0f" y="%.0f" class="a">%s</text>`,
			cw-padR-110+float64(k)*55, 12.0, s.color, cw-padR-94+float64(k)*55, 17.0, s.name)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" class="a" text-anchor="middle">iteration</text></svg>`, (padL+cw)/2, ch-2)
	return template.HTML(b.String())
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// groups draws each group as a box of its tasks, and the calls between
// tasks as lines: solid for sync, dashed for async.
func groups(s *setup.Setup, edges []Edge) template.HTML {
	if s == nil || len(s.Groups) == 0 {
		return ""
	}
	gs := append([]setup.Group(nil), s.Groups...)
	sort.Slice(gs, func(i, j int) bool {
		return len(gs[i].Tasks) > len(gs[j].Tasks) || (len(gs[i].Tasks) == len(gs[j].Tasks) && gs[i].Name < gs[j].Name)
	})
	const boxW, taskH, gap, perRow = 170.0, 26.0, 70.0, 4
	type pos struct{ x, y float64 }
	type box struct{ right float64 }
	boxOf := map[string]box{}
	at := map[string]pos{}
	var b strings.Builder
	rowY, rowH := 10.0, 0.0
	width := 10 + perRow*(boxW+gap)
	var boxes strings.Builder
	for i, g := range gs {
		if i > 0 && i%perRow == 0 {
			rowY += rowH + gap
			rowH = 0
		}
		bx := 10 + float64(i%perRow)*(boxW+gap)
		h := 40 + float64(len(g.Tasks))*taskH
		rowH = math.Max(rowH, h)
		fmt.Fprintf(&boxes, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" rx="10" class="box"/>`, bx, rowY, boxW, h)
		name := g.Name
		if r := []rune(name); len(r) > 24 {
			name = string(r[:23]) + "…"
		}
		fmt.Fprintf(&boxes, `<text x="%.0f" y="%.0f" class="gh"><title>%s</title>%s</text><text x="%.0f" y="%.0f" class="a">%d MB · %s</text>`,
			bx+10, rowY+16, template.HTMLEscapeString(g.Name), template.HTMLEscapeString(name), bx+10, rowY+30, g.MemoryMB, template.HTMLEscapeString(g.Place.String()))
		for k, t := range g.Tasks {
			ty := rowY + 40 + float64(k)*taskH
			at[t] = pos{bx + boxW/2, ty + taskH/2 - 2}
			boxOf[t] = box{right: bx + boxW - 12}
			fmt.Fprintf(&boxes, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" rx="6" class="task"/><text x="%.0f" y="%.0f" text-anchor="middle" class="tk">%s</text>`,
				bx+12, ty, boxW-24, taskH-6, bx+boxW/2, ty+14, template.HTMLEscapeString(t))
		}
	}
	height := rowY + rowH + 10
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="final fusion groups">`, width, height, width, height)
	b.WriteString(`<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#64748b"/></marker></defs>`)
	b.WriteString(boxes.String())
	bend := map[float64]float64{} // per box: how far the next in-box arc bulges
	for _, e := range edges {
		p, q := at[e.Caller], at[e.Callee]
		if p == (pos{}) || q == (pos{}) {
			continue
		}
		dash := ""
		if e.Async {
			dash = ` stroke-dasharray="5,4"`
		}
		title := template.HTMLEscapeString(e.Caller) + " → " + template.HTMLEscapeString(e.Callee)
		if bp, bq := boxOf[e.Caller], boxOf[e.Callee]; bp == bq {
			// A call inside a group: an arc on the box's right side.
			x := bp.right
			out := 14 + bend[x]
			bend[x] = math.Mod(bend[x]+8, 48)
			fmt.Fprintf(&b, `<path d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" class="e"%s marker-end="url(#arr)"><title>%s</title></path>`,
				x, p.y, x+out, p.y, x+out, q.y, x+2, q.y, dash, title)
			continue
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="e"%s marker-end="url(#arr)"><title>%s</title></line>`,
			p.x+60, p.y, q.x-60, q.y, dash, title)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var tmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"part": func(s *setup.Setup) string {
		if s == nil {
			return ""
		}
		return s.Partition()
	},
	"mem": func(s *setup.Setup) string {
		if s == nil {
			return ""
		}
		var parts []string
		for _, g := range s.Groups {
			parts = append(parts, fmt.Sprintf("%d", g.MemoryMB))
		}
		return strings.Join(parts, "/")
	},
	"f1": func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"short": func(note string) string {
		if i := strings.Index(note, "(predicted"); i >= 0 {
			return strings.TrimSuffix(strings.TrimPrefix(note[i:], "("), ")")
		}
		return note
	},
	"f2": func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"pred": func(it api.Iteration) string {
		p := it.Predicted
		if p == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f / %.1f / %.2f (±%.0f%%)", p.P50Ms, p.P95Ms, p.CostPerMillionUSD, p.Confidence*100)
	},
	"errs": func(it api.Iteration) string {
		p := it.Predicted
		if p == nil || !it.Measured() {
			return "–"
		}
		var out []string
		for _, f := range [][2]float64{{p.P50Ms, it.P50Ms}, {p.P95Ms, it.P95Ms}, {p.CostPerMillionUSD, it.CostPerMillionUSD}} {
			if v, ok := api.ErrorPct(f[0], f[1]); ok {
				out = append(out, fmt.Sprintf("%+.0f%%", v))
			} else {
				out = append(out, "–")
			}
		}
		return strings.Join(out, " / ")
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fusionize: {{.App}}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#0f172a;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} .sub{color:#475569;margin-top:0}
.charts{display:flex;gap:1.5rem;flex-wrap:wrap} svg{background:#f8fafc;border-radius:10px}
.t{font-weight:600;font-size:13px} .a{font-size:11px;fill:#475569} .g{stroke:#e2e8f0}
table{border-collapse:collapse;margin:1rem 0;font-size:13px} th,td{padding:.35rem .6rem;border-bottom:1px solid #e2e8f0;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.box{fill:#eef2ff;stroke:#6366f1;stroke-width:1.5} .task{fill:#fff;stroke:#a5b4fc} .gh{font-weight:700;font-size:13px} .tk{font-size:12px}
.e{stroke:#64748b;stroke-width:1.4}
</style></head><body>
<h1>Fusionize: {{.App}}</h1>
<p class="sub">strategy <b>{{.Strategy}}</b>{{if .Profile}} · {{.Profile}}{{end}}</p>
{{if .Note}}<p>{{.Note}}</p>{{end}}
{{if .Verdict}}<p><b>{{.Verdict}}</b></p>{{end}}
<div class="charts">{{.LatencyChart}}{{.CostChart}}</div>
<h2>Iterations</h2>
<table><tr><th>#</th><th>decision</th><th>groups</th><th>memory (MB)</th><th>p50 ms</th><th>p95 ms</th><th>$ / million</th><th>predicted p50 / p95 / $</th><th>error p50 / p95 / $</th><th>change</th></tr>
{{range .Iterations}}<tr><td>{{.Index}}</td><td>{{.Decision}}</td><td>{{part .Setup}}</td><td>{{mem .Setup}}</td><td class="n">{{f1 .P50Ms}}</td><td class="n">{{f1 .P95Ms}}</td><td class="n">{{f2 .CostPerMillionUSD}}</td><td class="n">{{pred .}}</td><td class="n">{{errs .}}</td><td>{{short .Note}}</td></tr>
{{end}}</table>
<h2>Final fusion groups</h2>
<p class="sub">solid: sync call · dashed: async call</p>
{{.Groups}}
</body></html>
`))
