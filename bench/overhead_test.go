//go:build duckdb_arrow

package bench

import (
	"context"
	"testing"

	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/planner"
)

// BenchmarkFixedOverhead is the per-query cost of each path on a query
// that does no work: the Arrow stream the engine uses against database/sql.
func BenchmarkFixedOverhead(b *testing.B) {
	e := setup(b)
	bothPaths(b, e, planner.SQL{Text: "SELECT 42 AS x"})
}

// BenchmarkQ1Paths splits the top-10 question's time: planning, and the
// same SQL through the Arrow stream and through database/sql.
func BenchmarkQ1Paths(b *testing.B) {
	e := setup(b)
	plan := func() planner.SQL {
		p, err := layoutQuestions[0].Plan(e.Catalog())
		if err != nil {
			b.Fatal(err)
		}
		q, err := e.Compile(p)
		if err != nil {
			b.Fatal(err)
		}
		return q
	}
	b.Run("plan_compile", func(b *testing.B) {
		for b.Loop() {
			plan()
		}
	})
	bothPaths(b, e, plan())
}

// bothPaths runs q through the engine's Arrow stream and through
// database/sql, draining every row.
func bothPaths(b *testing.B, e *engine.Engine, q planner.SQL) {
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
