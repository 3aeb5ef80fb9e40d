//go:build duckdb_arrow

package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/quarry/quarry/bench/suite"
	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/gen"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/planner"
)

var (
	setupOnce sync.Once
	benchEng  *engine.Engine
	setupErr  error
	// The data ends the day before "now".
	benchNow = suite.Now
)

// benchDays is the span of the generated data: QUARRY_BENCH_DAYS, default
// 400 day files, as `quarry gen` writes by default.
func benchDays() int {
	if s := os.Getenv("QUARRY_BENCH_DAYS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 400
}

func benchRows() int64 {
	if s := os.Getenv("QUARRY_BENCH_ROWS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return n
		}
	}
	return 10_000_000
}

// setup generates transactions and usage at the benchmark scale once and
// keeps them for later runs.
func setup(b *testing.B) *engine.Engine {
	setupOnce.Do(func() {
		rows, days := benchRows(), benchDays()
		dir := os.Getenv("QUARRY_BENCH_DIR")
		if dir == "" {
			dir = filepath.Join(os.TempDir(), fmt.Sprintf("quarry-bench-%d-%dd", rows, days))
		}
		cat, err := datasets.Load(dir)
		if err != nil {
			setupErr = err
			return
		}
		store := datasets.NewStore(dir)
		for _, ds := range []string{"transactions", "usage"} {
			m, err := store.Manifest(ds)
			if err != nil {
				setupErr = err
				return
			}
			// reuse data of the same size and span
			first, _ := m.Days()
			if m.Rows() >= rows*9/10 && first == benchNow.Truncate(24*time.Hour).AddDate(0, 0, -days).Format("2006-01-02") {
				continue
			}
			start := time.Now()
			st, err := gen.Generate(context.Background(), store, cat, gen.Options{
				Datasets: []string{ds}, Rows: rows, Seed: 1, End: benchNow.AddDate(0, 0, -1).Truncate(24 * time.Hour), Days: days,
			})
			if err != nil {
				setupErr = err
				return
			}
			fmt.Fprintf(os.Stderr, "generated %d %s rows in %s\n", st[ds].Rows, ds, time.Since(start).Round(time.Millisecond))
		}
		benchEng, setupErr = engine.Open(context.Background(), engine.Config{DataDir: dir, Clock: func() time.Time { return benchNow }})
	})
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	return benchEng
}

// question is a named plan; the definitions live in bench/suite so that
// `quarry bench` and these benchmarks ask the same questions.
type question = suite.Question

func window(days int) planner.TimeRange { return suite.Window(days) }

// The five questions of ARCHITECTURE.md's layout table.
var layoutQuestions = suite.LayoutQuestions()

// BenchmarkLayout runs each layout question through the engine (plan
// compile, manifest lookup, Arrow stream) and straight through DuckDB on the
// same SQL text and parameters.
func BenchmarkLayout(b *testing.B) {
	e := setup(b)
	for _, q := range layoutQuestions {
		runBoth(b, e, q)
	}
}

// BenchmarkUsageReport is an aggregation report over the usage dataset.
// Target: Quarry within 1.10× of DuckDB direct.
func BenchmarkUsageReport(b *testing.B) {
	e := setup(b)
	runBoth(b, e, suite.UsageReportQuestion())
}

func runBoth(b *testing.B, e *engine.Engine, q question) {
	b.Run(q.Name+"/quarry", func(b *testing.B) {
		var rows int64
		for b.Loop() {
			p, err := q.Plan(e.Catalog())
			if err != nil {
				b.Fatal(err)
			}
			res, err := e.Run(context.Background(), p)
			if err != nil {
				b.Fatal(err)
			}
			rows = 0
			for res.Reader.Next() {
				rows += res.Reader.RecordBatch().NumRows()
			}
			if err := res.Reader.Err(); err != nil {
				b.Fatal(err)
			}
			res.Close()
		}
		b.ReportMetric(float64(rows), "rows")
	})
	b.Run(q.Name+"/duckdb", func(b *testing.B) {
		p, err := q.Plan(e.Catalog())
		if err != nil {
			b.Fatal(err)
		}
		sql, err := e.Compile(p)
		if err != nil {
			b.Fatal(err)
		}
		var rows int64
		for b.Loop() {
			r, err := e.DB().Query(sql.Text, sql.Args...)
			if err != nil {
				b.Fatal(err)
			}
			cols, _ := r.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows = 0
			for r.Next() {
				if err := r.Scan(ptrs...); err != nil {
					b.Fatal(err)
				}
				rows++
			}
			r.Close()
		}
		b.ReportMetric(float64(rows), "rows")
	})
}
