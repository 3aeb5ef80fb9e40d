//go:build duckdb_arrow

package sandbox

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// rawConn is the C connection handle under a duckdb-go connection, for the
// two C API calls duckdb-go does not expose on a connection:
// duckdb_query_progress (progress of the running query, safe to call from
// another goroutine) and duckdb_extract_statements (DuckDB's own
// statement splitter, parse only).
//
// duckdb-go keeps the handle in an unexported field (Conn.conn, a
// mapping.Connection holding the pointer); rawOf reads it by reflection.
// The module version is pinned in go.mod and TestRawConn fails if a new
// version moves the field.
type rawConn struct{ c mapping.Connection }

func rawOf(dc driver.Conn) (rawConn, error) {
	c, ok := dc.(*duckdb.Conn)
	if !ok || c == nil {
		return rawConn{}, errors.New("not a duckdb connection")
	}
	f := reflect.ValueOf(c).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != reflect.TypeOf(mapping.Connection{}) {
		return rawConn{}, fmt.Errorf("duckdb-go's Conn has no conn field of type mapping.Connection (a new duckdb-go version?)")
	}
	ptr := f.FieldByName("Ptr")
	if !ptr.IsValid() || ptr.Kind() != reflect.UnsafePointer || ptr.UnsafePointer() == nil {
		return rawConn{}, errors.New("duckdb connection handle not found")
	}
	return rawConn{c: mapping.Connection{Ptr: unsafe.Pointer(ptr.UnsafePointer())}}, nil
}

// progress is duckdb_query_progress: -1 (ok false) when no query runs or
// DuckDB has no estimate.
func (r rawConn) progress() (pct float64, rows, total uint64, ok bool) {
	p := mapping.QueryProgress(r.c)
	pct, rows, total = mapping.QueryProgressTypeMembers(&p)
	if pct < 0 {
		return 0, 0, 0, false
	}
	return pct, rows, total, true
}

// countStatements splits text with DuckDB's parser (nothing runs): the
// number of statements, or DuckDB's parser error.
func (r rawConn) countStatements(text string) (int, error) {
	var stmts mapping.ExtractedStatements
	n := mapping.ExtractStatements(r.c, text, &stmts)
	defer mapping.DestroyExtracted(&stmts)
	if n == 0 {
		if msg := mapping.ExtractStatementsError(stmts); msg != "" {
			return 0, errors.New(msg)
		}
		return 0, nil
	}
	return int(n), nil
}
