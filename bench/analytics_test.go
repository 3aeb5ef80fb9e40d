//go:build duckdb_arrow

package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/planner"
	ax "github.com/quarry/quarry/server/analytics"
)

// BenchmarkAnalyticsResultZip writes a ~1M-row async query result the way
// the analytics API does (one gzipped NDJSON part through DuckDB COPY,
// zipped) against DuckDB's own COPY … (FORMAT json, COMPRESSION gzip) of
// the same SQL. Target: within 1.3×.
func BenchmarkAnalyticsResultZip(b *testing.B) {
	e := setup(b)
	// one row per (proxy, call): every call of the busiest org over the
	// days that give about a million rows
	days := max(1, benchDays()*1_000_000/int(benchRows())*10/4)
	req := planner.AnalyticsRequest{
		Metrics:    []planner.AnalyticsMetric{{Name: "message_count", Function: "sum"}, {Name: "total_response_time", Function: "avg"}},
		Dimensions: []string{"apiproxy", "client_id", "timestamp"},
		TimeRange:  window(days),
		Limit:      1_000_000,
	}
	p, err := planner.FromAnalytics(req, e.Catalog(), planner.AnalyticsOptions{Org: "acme",
		Options: planner.Options{Now: benchNow, Scope: planner.Scope{Admin: true}}})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var rows int64
	b.Run("quarry_zip", func(b *testing.B) {
		for b.Loop() {
			res, err := ax.WriteResult(context.Background(), e, p, engine.NDJSONGz, ".json.gz", dir, "job_bench")
			if err != nil {
				b.Fatal(err)
			}
			rows = res.Rows
		}
		b.ReportMetric(float64(rows), "rows")
	})
	b.Run("duckdb_copy", func(b *testing.B) {
		q, err := e.Compile(p)
		if err != nil {
			b.Fatal(err)
		}
		out := filepath.Join(dir, "direct.json.gz")
		stmt := "COPY (" + q.Text + ") TO '" + strings.ReplaceAll(out, "'", "''") + "' (FORMAT json, COMPRESSION gzip)"
		for b.Loop() {
			res, err := e.DB().Exec(stmt, q.Args...)
			if err != nil {
				b.Fatal(err)
			}
			rows, _ = res.RowsAffected()
			os.Remove(out)
		}
		b.ReportMetric(float64(rows), "rows")
	})
}
