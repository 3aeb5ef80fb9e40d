package metering

import (
	"encoding/json"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"
)

// prefersHTML reports whether an Accept header prefers text/html strictly
// over application/json (the v1 API's rule for sample lists): by q value,
// a missing type counting 0 and */* standing for both.
func prefersHTML(accept string) bool {
	q := map[string]float64{}
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(strings.TrimSpace(part), ";")
		typ := strings.ToLower(strings.TrimSpace(fields[0]))
		w := 1.0
		for _, p := range fields[1:] {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					w = f
				}
			}
		}
		if w > q[typ] {
			q[typ] = w
		}
	}
	htmlQ, jsonQ := max(q["text/html"], q["text/*"]), q["application/json"]
	if all := q["*/*"]; all > 0 {
		if _, ok := q["text/html"]; !ok {
			htmlQ = max(htmlQ, all)
		}
		if _, ok := q["application/json"]; !ok {
			jsonQ = max(jsonQ, all)
		}
	}
	return htmlQ > jsonQ
}

// samplesHTML renders a sample list for a browser: a line of the
// counter volumes over time (inline SVG) above the samples' table, and
// the JSON the API answers.
func samplesHTML(title string, body []byte) ([]byte, error) {
	var doc struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("samples page: %w", err)
	}
	type point struct {
		t time.Time
		v float64
	}
	var pts []point
	for _, e := range doc.Events {
		ts, _ := e["timestamp"].(string)
		t, err := time.Parse("2006-01-02T15:04:05.000000", ts)
		v, ok := e["counter_volume"].(float64)
		if err == nil && ok {
			pts = append(pts, point{t, v})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title>"+
		"<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"+
		"pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body><h1>%s</h1><p>%d samples</p>\n",
		html.EscapeString(title), html.EscapeString(title), len(doc.Events))
	if len(pts) > 1 {
		// events are newest first; the line runs left to right in time
		t0, t1 := pts[len(pts)-1].t, pts[0].t
		lo, hi := pts[0].v, pts[0].v
		for _, p := range pts {
			lo, hi = min(lo, p.v), max(hi, p.v)
		}
		span, rng := t1.Sub(t0).Seconds(), hi-lo
		if span == 0 {
			span = 1
		}
		if rng == 0 {
			rng = 1
		}
		b.WriteString(`<svg width="720" height="200" viewBox="0 0 720 200"><polyline fill="none" stroke="#36c" stroke-width="2" points="`)
		for i := len(pts) - 1; i >= 0; i-- {
			x := 10 + 700*pts[i].t.Sub(t0).Seconds()/span
			y := 190 - 180*(pts[i].v-lo)/rng
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		fmt.Fprintf(&b, `"/></svg><p>counter_volume from %s to %s, %g to %g</p>`+"\n",
			t0.Format(time.RFC3339), t1.Format(time.RFC3339), lo, hi)
	}
	b.WriteString("<table><tr><th>timestamp</th><th>resource_id</th><th>counter_name</th><th>counter_volume</th><th>counter_unit</th></tr>\n")
	for _, e := range doc.Events {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			cell(e["timestamp"]), cell(e["resource_id"]), cell(e["counter_name"]), cell(e["counter_volume"]), cell(e["counter_unit"]))
	}
	b.WriteString("</table><h2>JSON</h2><pre>")
	b.WriteString(html.EscapeString(string(body)))
	b.WriteString("</pre></body></html>\n")
	return []byte(b.String()), nil
}

func cell(v any) string {
	if v == nil {
		return ""
	}
	return html.EscapeString(fmt.Sprint(v))
}
