//go:build duckdb_arrow

package compact_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets/compact"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/ingest"
	"github.com/quarry/quarry/planner"
)

// BenchmarkCompactSmallIngests builds a dataset from many small ingests
// (QUARRY_BENCH_INGESTS of QUARRY_BENCH_ROWS rows, default 200 × 1,000,
// every ingest spanning two days) and compacts it, reporting files per
// partition before and after, compaction rows/s, and a full-scan query's
// time before and after.
//
//	go test ./datasets/compact -run '^$' -bench CompactSmallIngests -benchtime 1x
func BenchmarkCompactSmallIngests(b *testing.B) {
	ingests, rows := envInt("QUARRY_BENCH_INGESTS", 200), envInt("QUARRY_BENCH_ROWS", 1000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := newFixture(b)
		in := b.TempDir()
		start := time.Now()
		for k := 0; k < ingests; k++ {
			if _, err := ingest.File(context.Background(), f.store, f.d, writeNDJSON(b, in, k, rows), ingest.Options{}); err != nil {
				b.Fatal(err)
			}
		}
		ingestTime := time.Since(start)
		m, _ := f.store.Manifest("tiny")
		before := float64(len(m.Files)) / float64(len(perDay(m)))
		e, err := engine.Open(context.Background(), engine.Config{DataDir: f.dir})
		if err != nil {
			b.Fatal(err)
		}
		q0 := scanTime(b, e, f)
		b.StartTimer()
		st, err := compact.Compact(context.Background(), f.store, f.cat, "tiny", compact.Options{})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		m, _ = f.store.Manifest("tiny")
		after := float64(len(m.Files)) / float64(len(perDay(m)))
		q1 := scanTime(b, e, f)
		e.Close()
		b.ReportMetric(before, "files/partition-before")
		b.ReportMetric(after, "files/partition-after")
		b.ReportMetric(float64(st.Rows)/st.Elapsed.Seconds(), "rows/s")
		b.Logf("%d ingests of %d rows in %.1fs: %d files before, %d after; compacted %d rows in %.3fs (%.0f rows/s); full scan %.1f ms before, %.1f ms after",
			ingests, rows, ingestTime.Seconds(), st.FilesBefore, st.FilesAfter, st.Rows, st.Elapsed.Seconds(),
			float64(st.Rows)/st.Elapsed.Seconds(), q0, q1)
	}
}

// scanTime is the median time of a group-by over every file, in ms.
func scanTime(b *testing.B, e *engine.Engine, f *fixture) float64 {
	var ts []time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		src, err := e.Source(f.d, planner.Window{})
		if err != nil {
			b.Fatal(err)
		}
		rows, err := e.DB().Query("SELECT org, count(*), sum(v) FROM " + src + " GROUP BY org")
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
		ts = append(ts, time.Since(start))
	}
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			if ts[j] < ts[i] {
				ts[i], ts[j] = ts[j], ts[i]
			}
		}
	}
	return float64(ts[len(ts)/2].Microseconds()) / 1000
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
