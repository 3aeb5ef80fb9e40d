//go:build !duckdb_arrow

package engine

// The engine streams results through DuckDB's Arrow interface, which
// duckdb-go compiles only with the duckdb_arrow build tag. Build and test
// with `-tags duckdb_arrow` (the Makefile sets it).
var _ = quarry_must_be_built_with_tags_duckdb_arrow
