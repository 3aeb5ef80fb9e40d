package ingest

import (
	"context"
	"database/sql"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
)

// The benchmarks ingest 1M rows of the 12-column test dataset spread over
// 30 days, in time order (as logs and exports usually are), and report
// rows/s. Run:
//
//	go test -run '^$' -bench Ingest -benchtime 3x ./ingest/
func benchIngest(b *testing.B, path string, rows int) {
	d := testDataset(b)
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		store := datasets.NewStore(b.TempDir())
		res, err := File(context.Background(), store, d, path, benchOpts)
		if err != nil {
			b.Fatal(err)
		}
		if res.Rows != int64(rows) {
			b.Fatalf("rows %d", res.Rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	// CPU seconds per op: on a busy machine wall time is not ours alone;
	// with two idle cores, wall ≈ max(reading CPU, cpu-s/op / 2).
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

func BenchmarkIngestNDJSON1M(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "events.ndjson")
	writeNDJSON(b, path, n, 30)
	benchIngest(b, path, n)
}

// genSQL selects n rows like writeNDJSON's.
const genSQL = `SELECT
  (['acme','globex','initech','umbrella','hooli','stark','wayne','wonka'])[1 + (hash(i) % 8)::INT] AS org,
  TIMESTAMP '2024-03-01' + to_milliseconds((i * 2592)::BIGINT) AS ts,
  (['orders','payments','catalog','search','login','checkout'])[1 + (hash(i + 1) % 6)::INT] AS proxy,
  'app-' || (hash(i + 2) % 50) AS app,
  CASE WHEN hash(i + 3) % 20 = 0 THEN 500 ELSE 200 END AS status,
  ((hash(i + 4) % 300000) / 1000.0)::DOUBLE AS latency,
  (hash(i + 5) % 1048576)::BIGINT AS bytes,
  status >= 500 AS is_error,
  ts::DATE AS day,
  '{"k":' || (hash(i + 6) % 10) || ',"tags":["a","b"]}' AS meta,
  (['US','DE','FR','JP','BR','IN'])[1 + (hash(i + 7) % 6)::INT] AS country,
  'row ' || i AS note
FROM range(1000000) t(i)`

func duckCopy(b *testing.B, to, opts string) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("COPY (" + genSQL + ") TO '" + to + "' (" + opts + ")"); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkIngestCSV1M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "events.csv")
	duckCopy(b, path, "FORMAT csv, HEADER true")
	benchIngest(b, path, 1_000_000)
}

func BenchmarkIngestParquet1M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "events.parquet")
	duckCopy(b, path, "FORMAT parquet")
	benchIngest(b, path, 1_000_000)
}

var benchOpts = Options{}
