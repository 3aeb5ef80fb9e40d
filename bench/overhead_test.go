//go:build duckdb_arrow

package bench

import (
	"context"
	"testing"

	"github.com/quarry/quarry/planner"
)

// BenchmarkFixedOverhead is the per-query cost of each path on a query
// that does no work: the Arrow stream the engine uses against database/sql.
func BenchmarkFixedOverhead(b *testing.B) {
	e := setup(b)
	q := planner.SQL{Text: "SELECT 42 AS x"}
	b.Run("engine_arrow", func(b *testing.B) {
		for b.Loop() {
			r, err := e.RunSQL(context.Background(), q)
			if err != nil {
				b.Fatal(err)
			}
			for r.Reader.Next() {
			}
			r.Close()
		}
	})
	b.Run("database_sql", func(b *testing.B) {
		for b.Loop() {
			var x int
			if err := e.DB().QueryRow(q.Text).Scan(&x); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkQ1Paths splits the top-10 question's time: planning, and the
// same SQL through the Arrow stream and through database/sql.
func BenchmarkQ1Paths(b *testing.B) {
	e := setup(b)
	p, err := layoutQuestions[0].plan(e.Catalog())
	if err != nil {
		b.Fatal(err)
	}
	q, err := e.Compile(p)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("plan_compile", func(b *testing.B) {
		for b.Loop() {
			p, _ := layoutQuestions[0].plan(e.Catalog())
			if _, err := e.Compile(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("arrow", func(b *testing.B) {
		for b.Loop() {
			r, err := e.RunSQL(context.Background(), q)
			if err != nil {
				b.Fatal(err)
			}
			for r.Reader.Next() {
			}
			r.Close()
		}
	})
	b.Run("database_sql", func(b *testing.B) {
		for b.Loop() {
			r, err := e.DB().Query(q.Text, q.Args...)
			if err != nil {
				b.Fatal(err)
			}
			for r.Next() {
			}
			r.Close()
		}
	})
}
