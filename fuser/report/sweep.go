package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// SweepPoint is one measured setup of a sweep.
type SweepPoint struct {
	Setup          string // e.g. "(A,B) (C) 512 MB @ aws/us-east-1"
	Source         string
	LatencyMs      float64 // at the sweep's percentile
	CostPerMillion float64
	Failed         string // why it is not comparable; empty if it is
	Front, Best    bool
}

// SweepData is what a sweep's page shows.
type SweepData struct {
	App        string
	Percentile string // "p50" or "p95"
	Objective  string
	Profile    string
	Note       string
	Points     []SweepPoint
}

// WriteSweep renders a sweep as HTML to w: latency against cost for every
// measured setup, the Pareto front drawn as a line, and the table.
func WriteSweep(w io.Writer, d SweepData) error {
	page := struct {
		SweepData
		Chart template.HTML
	}{SweepData: d, Chart: scatter(d)}
	return sweepTmpl.Execute(w, page)
}

// scatter draws latency (x) against cost (y) as SVG: front points filled
// and joined, the others hollow, the best ringed.
func scatter(d SweepData) template.HTML {
	const w, h = 720.0, 380.0
	maxX, maxY := 0.0, 0.0
	for _, p := range d.Points {
		if p.Failed == "" {
			maxX, maxY = math.Max(maxX, p.LatencyMs), math.Max(maxY, p.CostPerMillion)
		}
	}
	if maxX <= 0 || maxY <= 0 {
		return ""
	}
	maxX, maxY = maxX*1.1, maxY*1.1
	x := func(v float64) float64 { return padL + v/maxX*(w-padL-padR) }
	y := func(v float64) float64 { return h - padB - v/maxY*(h-padB-padT) }
	var b strings.Builder
	title := fmt.Sprintf("%s latency (ms) against cost per million requests ($)", d.Percentile)
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s">`, w, h, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="18" class="t">%s</text>`, padL, template.HTMLEscapeString(title))
	for i := 0; i <= 4; i++ {
		vy, vx := maxY*float64(i)/4, maxX*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="g"/><text x="%.1f" y="%.1f" class="a" text-anchor="end">%s</text>`,
			padL, w-padR, y(vy), y(vy), padL-6, y(vy)+4, num(vy))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="a" text-anchor="middle">%s</text>`, x(vx), h-padB+16, num(vx))
	}
	var front []string
	for _, p := range d.Points {
		if p.Front {
			front = append(front, fmt.Sprintf("%.1f,%.1f", x(p.LatencyMs), y(p.CostPerMillion)))
		}
	}
	if len(front) > 1 {
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#16a34a" stroke-width="2"/>`, strings.Join(front, " "))
	}
	for _, p := range d.Points {
		if p.Failed != "" {
			continue
		}
		fill, stroke := "#fff", "#64748b"
		if p.Front {
			fill, stroke = "#16a34a", "#166534"
		}
		label := fmt.Sprintf("%s (%s): %s ms, $%s/M", p.Setup, p.Source, num(p.LatencyMs), num(p.CostPerMillion))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="5" fill="%s" stroke="%s" stroke-width="1.5"><title>%s</title></circle>`,
			x(p.LatencyMs), y(p.CostPerMillion), fill, stroke, template.HTMLEscapeString(label))
		if p.Best {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="9" fill="none" stroke="#2563eb" stroke-width="2"/>`, x(p.LatencyMs), y(p.CostPerMillion))
		}
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" class="a" text-anchor="middle">%s latency (ms)</text></svg>`, (padL+w)/2, h-2, d.Percentile)
	return template.HTML(b.String())
}

var sweepTmpl = template.Must(template.New("sweep").Funcs(template.FuncMap{
	"f1": func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f2": func(v float64) string { return fmt.Sprintf("%.2f", v) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fusionize sweep: {{.App}}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#0f172a;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} .sub{color:#475569;margin-top:0} svg{background:#f8fafc;border-radius:10px}
.t{font-weight:600;font-size:13px} .a{font-size:11px;fill:#475569} .g{stroke:#e2e8f0}
table{border-collapse:collapse;margin:1rem 0;font-size:13px} th,td{padding:.35rem .6rem;border-bottom:1px solid #e2e8f0;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums} tr.front td{background:#f0fdf4}
</style></head><body>
<h1>Fusionize sweep: {{.App}}</h1>
<p class="sub">objective: {{.Objective}}{{if .Profile}} · {{.Profile}}{{end}}</p>
{{if .Note}}<p>{{.Note}}</p>{{end}}
{{.Chart}}
<p class="sub">filled, joined: the measured Pareto front · ringed: best under the objective · hollow: dominated</p>
<table><tr><th>setup</th><th>source</th><th>{{.Percentile}} ms</th><th>$ / million</th><th></th></tr>
{{range .Points}}<tr{{if .Front}} class="front"{{end}}><td>{{.Setup}}</td><td>{{.Source}}</td>{{if .Failed}}<td colspan="2">{{.Failed}}</td>{{else}}<td class="n">{{f1 .LatencyMs}}</td><td class="n">{{f2 .CostPerMillion}}</td>{{end}}<td>{{if .Best}}best{{else if .Front}}front{{end}}</td></tr>
{{end}}</table>
</body></html>
`))
