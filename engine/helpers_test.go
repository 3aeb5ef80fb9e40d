//go:build duckdb_arrow

package engine_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/quarry/quarry/engine"
)

// sqlRows runs SQL through database/sql and renders every cell as text
// the way engine.FormatValue renders the engine's own results.
func sqlRows(t *testing.T, db *sql.DB, query string, args ...any) [][]string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("oracle: %v\n%s", err, query)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	types, _ := rows.ColumnTypes()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			switch x := v.(type) {
			case int32:
				v = int64(x)
			case int16:
				v = int64(x)
			case int8:
				v = int64(x)
			case float32:
				v = float64(x)
			case time.Time:
				v = x.UTC()
				if types[i].DatabaseTypeName() == "DATE" {
					v = engine.Date{Time: x.UTC()}
				}
			}
			row[i] = engine.FormatValue(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// resultRows drains an engine result into text cells and closes it.
func resultRows(t *testing.T, r *engine.Result) [][]string {
	t.Helper()
	defer r.Close()
	var out [][]string
	for r.Reader.Next() {
		rec := r.Reader.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for c := range row {
				row[c] = engine.FormatValue(engine.Value(rec.Column(c), i))
			}
			out = append(out, row)
		}
	}
	if err := r.Reader.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
