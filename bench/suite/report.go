//go:build duckdb_arrow

package suite

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Result statuses.
const (
	StatusOK       = "ok"
	StatusMismatch = "mismatch" // the answer differs from DuckDB direct's: not timed
	StatusError    = "error"
	StatusAbsent   = "absent" // the system has no form of the question, or is not installed
)

// Report is one run of the suite.
type Report struct {
	Started   time.Time         `json:"started"`
	Finished  time.Time         `json:"finished"`
	LoadStart string            `json:"loadavg_start"`
	LoadEnd   string            `json:"loadavg_end"`
	Machine   Machine           `json:"machine"`
	Config    ReportConfig      `json:"config"`
	Datasets  map[string]int64  `json:"dataset_rows"`
	Peers     []PeerStatus      `json:"peers"`
	Memory    string            `json:"memory_measure"`
	Workloads []WorkloadResult  `json:"workloads"`
	Targets   map[string]string `json:"targets"`
}

// Machine is the host.
type Machine struct {
	Host          string  `json:"host"`
	CPU           string  `json:"cpu"`
	Cores         int     `json:"cores"`
	MemoryGiB     float64 `json:"memory_gib"`
	OS            string  `json:"os"`
	GoVersion     string  `json:"go_version"`
	DuckDBVersion string  `json:"duckdb_version"`
}

// ReportConfig is the run's settings.
type ReportConfig struct {
	Rows      int64  `json:"rows"`
	Days      int    `json:"days"`
	Runs      int    `json:"runs"`
	Data      string `json:"data"`
	Peers     string `json:"peers"`
	Workloads string `json:"workloads,omitempty"`
}

// PeerStatus says whether a peer ran.
type PeerStatus struct {
	System  string `json:"system"`
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// WorkloadResult is one workload's measurements.
type WorkloadResult struct {
	Name       string                   `json:"name"`
	Group      string                   `json:"group"`
	Question   string                   `json:"question"`
	InputRows  int64                    `json:"input_rows"`
	SQL        string                   `json:"duckdb_sql,omitempty"`
	LoadBefore string                   `json:"loadavg_before"`
	LoadAfter  string                   `json:"loadavg_after"`
	Results    map[string]*SystemResult `json:"results"`
}

// SystemResult is one system's answer and times for one workload.
type SystemResult struct {
	Status     string    `json:"status"`
	Note       string    `json:"note,omitempty"`
	Error      string    `json:"error,omitempty"`
	Rows       int64     `json:"rows"`
	AnswerRows int64     `json:"answer_rows"`
	Checksum   string    `json:"checksum,omitempty"`
	TimesMS    []float64 `json:"times_ms,omitempty"`
	MedianMS   float64   `json:"median_ms,omitempty"`
	P95MS      float64   `json:"p95_ms,omitempty"`
	RowsPerSec float64   `json:"rows_per_s,omitempty"`
	PeakMemMB  float64   `json:"peak_mem_mb,omitempty"`
	MemDeltaMB float64   `json:"mem_delta_mb,omitempty"`
	// Ratios: this system's median over the baseline's.
	RatioVsDuckDBDirect *float64 `json:"ratio_vs_duckdb_direct,omitempty"`
	RatioVsDuckDBNative *float64 `json:"ratio_vs_duckdb_native,omitempty"`
	RatioVsPostgres     *float64 `json:"ratio_vs_postgres,omitempty"`
	RatioVsClickHouse   *float64 `json:"ratio_vs_clickhouse,omitempty"`
	RatioVsQuarry       *float64 `json:"ratio_vs_quarry,omitempty"`
}

const memoryMeasure = "peak_mem_mb: the highest proportional set size (Pss, /proc/<pid>/smaps_rollup, sampled every 10 ms) " +
	"during the timed runs of the processes serving the system — this process for Quarry, Quarry over HTTP and both DuckDB " +
	"systems (so it includes DuckDB's buffer pool and every earlier workload's caches), the server's process tree for " +
	"PostgreSQL and ClickHouse; mem_delta_mb: that peak minus the value when the runs started"

func (r *Report) ratios() {
	r.Memory = memoryMeasure
	r.Targets = map[string]string{
		"ratio_vs_duckdb_direct": "quarry ≤ 1.10 for queries over 100 ms",
		"ratio_vs_duckdb_native": "quarry ≤ 1.5",
		"ratio_vs_postgres":      "quarry < 1 (ahead)",
		"ratio_vs_clickhouse":    "quarry < 1 (ahead)",
	}
	for _, w := range r.Workloads {
		med := func(s string) float64 {
			if x := w.Results[s]; x != nil && x.Status == StatusOK {
				return x.MedianMS
			}
			return 0
		}
		for sys, res := range w.Results {
			if res.Status != StatusOK || res.MedianMS <= 0 {
				continue
			}
			ratio := func(base string) *float64 {
				b := med(base)
				if base == sys || b <= 0 {
					return nil
				}
				v := math.Round(res.MedianMS/b*1000) / 1000
				return &v
			}
			res.RatioVsDuckDBDirect = ratio(DuckDBDirect)
			res.RatioVsDuckDBNative = ratio(DuckDBNative)
			res.RatioVsPostgres = ratio(Postgres)
			res.RatioVsClickHouse = ratio(ClickHouse)
			res.RatioVsQuarry = ratio(Quarry)
		}
	}
}

// Write writes results.json, results.md and results.svg under dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("results json: %w", err)
	}
	files := map[string][]byte{"results.json": append(b, '\n'), "results.md": []byte(r.Markdown()), "results.svg": []byte(r.SVG())}
	for name, data := range files {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

var systemTitle = map[string]string{
	Quarry: "Quarry", QuarryHTTP: "Quarry HTTP", DuckDBDirect: "DuckDB direct", DuckDBNative: "DuckDB native",
	Postgres: "PostgreSQL", ClickHouse: "ClickHouse",
}

func fmtMS(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtRate(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtRatio(p *float64) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("%.2f×", *p)
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# Quarry benchmark results\n\n")
	fmt.Fprintf(&b, "- **Date**: %s (%.0f s)\n", r.Started.Format("2006-01-02 15:04 MST"), r.Finished.Sub(r.Started).Seconds())
	fmt.Fprintf(&b, "- **Machine**: %s, %d cores, %.1f GiB RAM, %s\n", m.CPU, m.Cores, m.MemoryGiB, m.OS)
	fmt.Fprintf(&b, "- **Versions**: %s, DuckDB %s", m.GoVersion, m.DuckDBVersion)
	for _, p := range r.Peers {
		if p.Version != "" {
			fmt.Fprintf(&b, ", %s %s", systemTitle[p.System], p.Version)
		}
	}
	fmt.Fprintf(&b, "\n- **Data**: %d transactions rows over %d day files", r.Config.Rows, r.Config.Days)
	for _, n := range []string{"usage", "meters"} {
		if v, ok := r.Datasets[n]; ok {
			fmt.Fprintf(&b, "; %d %s", v, n)
		}
	}
	fmt.Fprintf(&b, "\n- **Runs**: 1 warm-up (which is also the correctness check) + %d timed runs per system; median and p95 (nearest rank)\n", r.Config.Runs)
	fmt.Fprintf(&b, "- **Load** (/proc/loadavg): %s at start, %s at end; per workload in results.json\n", r.LoadStart, r.LoadEnd)
	fmt.Fprintf(&b, "- **Peers**:")
	for i, p := range r.Peers {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s %s", systemTitle[p.System], p.Status)
	}
	fmt.Fprintf(&b, "\n- **Memory**: %s\n", r.Memory)
	b.WriteString("- **Rows/s**: the rows the question reads (its window's rows), or rows written for exports and ingest, over the median time\n\n")
	b.WriteString("![chart](results.svg)\n\n")

	b.WriteString("## Ratios (median over median)\n\n")
	b.WriteString("Targets: Quarry ≤ 1.10× DuckDB direct for queries over 100 ms; ≤ 1.5× DuckDB native; ahead of PostgreSQL and ClickHouse.\n\n")
	b.WriteString("| workload | Quarry ms | Quarry / DuckDB direct | Quarry / DuckDB native | Quarry / PostgreSQL | Quarry / ClickHouse | Quarry HTTP / DuckDB direct | over target |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, w := range r.Workloads {
		q := w.Results[Quarry]
		if q == nil || q.Status != StatusOK {
			st := "—"
			if q != nil {
				st = q.Status + " " + q.Error
			}
			fmt.Fprintf(&b, "| %s | %s | | | | | | |\n", w.Name, st)
			continue
		}
		h := ""
		if x := w.Results[QuarryHTTP]; x != nil && x.Status == StatusOK {
			h = fmtRatio(x.RatioVsDuckDBDirect)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", w.Name, fmtMS(q.MedianMS), fmtRatio(q.RatioVsDuckDBDirect),
			fmtRatio(q.RatioVsDuckDBNative), fmtRatio(q.RatioVsPostgres), fmtRatio(q.RatioVsClickHouse), h, strings.Join(w.Over(), ", "))
	}

	group := ""
	for _, w := range r.Workloads {
		if w.Group != group {
			group = w.Group
			fmt.Fprintf(&b, "\n## %s\n", group)
		}
		fmt.Fprintf(&b, "\n### %s\n\n%s", w.Name, w.Question)
		if w.InputRows > 0 {
			fmt.Fprintf(&b, " — %d input rows", w.InputRows)
		}
		fmt.Fprintf(&b, ". Load %s → %s.\n\n", w.LoadBefore, w.LoadAfter)
		b.WriteString("| system | median ms | p95 ms | rows/s | peak mem MB (Δ) | × DuckDB direct | × DuckDB native | × PostgreSQL | × ClickHouse | answer |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, s := range Systems {
			x := w.Results[s]
			if x == nil {
				continue
			}
			switch x.Status {
			case StatusOK:
				ans := fmt.Sprintf("%d rows, %s", x.AnswerRows, x.Checksum)
				if s != DuckDBDirect {
					ans = "matches; " + ans
				}
				if x.Note != "" {
					ans += "; " + x.Note
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f (%+.0f) | %s | %s | %s | %s | %s |\n", systemTitle[s], fmtMS(x.MedianMS), fmtMS(x.P95MS),
					fmtRate(x.RowsPerSec), x.PeakMemMB, x.MemDeltaMB, fmtRatio(x.RatioVsDuckDBDirect), fmtRatio(x.RatioVsDuckDBNative),
					fmtRatio(x.RatioVsPostgres), fmtRatio(x.RatioVsClickHouse), ans)
			default:
				msg := x.Note
				if x.Error != "" {
					msg = x.Error
				}
				fmt.Fprintf(&b, "| %s | %s | | | | | | | | %s |\n", systemTitle[s], x.Status, strings.ReplaceAll(msg, "|", "\\|"))
			}
		}
	}
	return b.String()
}

// Over lists the targets Quarry in-process misses on this workload.
func (w WorkloadResult) Over() []string {
	q := w.Results[Quarry]
	if q == nil || q.Status != StatusOK {
		return nil
	}
	var out []string
	if p := q.RatioVsDuckDBDirect; p != nil && *p > 1.10 && q.MedianMS > 100 {
		out = append(out, "direct")
	}
	if p := q.RatioVsDuckDBNative; p != nil && *p > 1.5 {
		out = append(out, "native")
	}
	if p := q.RatioVsPostgres; p != nil && *p >= 1 {
		out = append(out, "postgres")
	}
	if p := q.RatioVsClickHouse; p != nil && *p >= 1 {
		out = append(out, "clickhouse")
	}
	return out
}

var systemColor = map[string]string{
	Quarry: "#1f77b4", QuarryHTTP: "#7fb3e0", DuckDBDirect: "#ff7f0e", DuckDBNative: "#ffbb78",
	Postgres: "#2ca02c", ClickHouse: "#d62728",
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// SVG is a horizontal bar chart of median times: one group of bars per
// workload, one bar per system that answered correctly, on a log scale.
func (r *Report) SVG() string {
	const (
		left, right, top, barH, gap, width = 210, 70, 60, 7, 8, 980
	)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, w := range r.Workloads {
		for _, x := range w.Results {
			if x.Status == StatusOK && x.MedianMS > 0 {
				lo, hi = math.Min(lo, x.MedianMS), math.Max(hi, x.MedianMS)
			}
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 1, 10
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo {
		hi = lo * 10
	}
	plotW := float64(width - left - right)
	xOf := func(v float64) float64 {
		return left + plotW*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
	}
	var body strings.Builder
	y := top
	for _, w := range r.Workloads {
		var present []string
		for _, s := range Systems {
			if x := w.Results[s]; x != nil && (x.Status == StatusOK || x.Status == StatusMismatch || x.Status == StatusError) {
				present = append(present, s)
			}
		}
		if len(present) == 0 {
			continue
		}
		h := len(present)*barH + gap
		fmt.Fprintf(&body, `<text x="%d" y="%d" class="w">%s</text>`+"\n", left-6, y+h/2+2, xmlEscape(w.Name))
		for i, s := range present {
			x := w.Results[s]
			by := y + i*barH
			if x.Status != StatusOK {
				fmt.Fprintf(&body, `<text x="%d" y="%d" class="v">%s: %s</text>`+"\n", left+4, by+barH-1, systemTitle[s], x.Status)
				continue
			}
			x1 := xOf(x.MedianMS)
			fmt.Fprintf(&body, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s: %s ms</title></rect>`+"\n",
				left, by, math.Max(1, x1-left), barH-1, systemColor[s], xmlEscape(w.Name), systemTitle[s], fmtMS(x.MedianMS))
			fmt.Fprintf(&body, `<text x="%.1f" y="%d" class="v">%s</text>`+"\n", x1+3, by+barH-1, fmtMS(x.MedianMS))
		}
		y += h
	}
	height := y + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n", width, height, width, height)
	b.WriteString(`<style>.w{font-size:11px;text-anchor:end}.v{font-size:7px;fill:#333}.t{font-size:13px;font-weight:bold}.a{font-size:10px;fill:#555}.l{font-size:10px}</style>` + "\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="10" y="18" class="t">Median ms per workload (log scale) — %d transactions rows, %s, %d cores</text>`+"\n",
		r.Config.Rows, xmlEscape(r.Machine.CPU), r.Machine.Cores)
	lx := 10
	for _, s := range Systems {
		fmt.Fprintf(&b, `<rect x="%d" y="28" width="10" height="10" fill="%s"/><text x="%d" y="37" class="l">%s</text>`+"\n", lx, systemColor[s], lx+14, systemTitle[s])
		lx += 30 + 7*len(systemTitle[s])
	}
	for v := lo; v <= hi*1.0001; v *= 10 {
		x := xOf(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top-6, x, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="a" text-anchor="middle">%s ms</text>`+"\n", x, y+14, fmtMS(v))
	}
	b.WriteString(body.String())
	b.WriteString("</svg>\n")
	return b.String()
}
