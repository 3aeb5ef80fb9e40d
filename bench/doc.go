// Package bench holds Quarry's benchmarks: the layout questions of
// ARCHITECTURE.md and report aggregations, each run through the engine and
// straight through DuckDB on the same compiled SQL, so the ratio is
// Quarry's overhead. Run them with
//
//	go test -tags duckdb_arrow -run '^$' -bench . ./bench/
//
// QUARRY_BENCH_ROWS sets the rows per dataset (default 10,000,000),
// QUARRY_BENCH_DAYS the days they span (default 400, one file per day, as
// `quarry gen` writes by default) and QUARRY_BENCH_DIR where the
// generated data is kept between runs (default
// $TMPDIR/quarry-bench-<rows>-<days>d).
package bench
