//go:build duckdb_arrow

package suite

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSuiteTiny runs the whole suite at a tiny scale without peers and
// checks its outputs, and that a wrong answer is caught and not timed.
func TestSuiteTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("generates data and runs every workload")
	}
	out := t.TempDir()
	const tampered = "filtered_count_all"
	cfg := Config{Data: t.TempDir(), Rows: 20_000, Days: 30, Runs: 1, Out: out, Peers: "none",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tamper: func(w, sys string, a *Answer) {
			if w == tampered && sys == Quarry {
				// a deliberately wrong answer: another sum
				a.Sum++
				if len(a.rows) > 0 {
					a.rows[0][0] = num(a.rows[0][0].f*2 + 1)
				}
			}
		}}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"results.json", "results.md", "results.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if len(got.Workloads) != len(rep.Workloads) || len(got.Workloads) < 20 {
		t.Fatalf("%d workloads in the JSON, %d run", len(got.Workloads), len(rep.Workloads))
	}
	for _, w := range got.Workloads {
		d := w.Results[DuckDBDirect]
		if d == nil || d.Status != StatusOK || d.MedianMS <= 0 {
			t.Errorf("%s: no DuckDB direct measurement: %+v", w.Name, d)
			continue
		}
		q := w.Results[Quarry]
		if w.Name == tampered {
			if q.Status != StatusMismatch || len(q.TimesMS) != 0 {
				t.Errorf("%s: the wrong answer was not caught: %+v", w.Name, q)
			}
			continue
		}
		if q == nil || q.Status != StatusOK || q.RatioVsDuckDBDirect == nil {
			t.Errorf("%s: quarry has no ratio to DuckDB direct: %+v", w.Name, q)
		}
		if n := w.Results[DuckDBNative]; n == nil || n.Status != StatusOK {
			t.Errorf("%s: DuckDB native: %+v", w.Name, n)
		}
		if p := w.Results[Postgres]; p == nil || p.Status != StatusAbsent {
			t.Errorf("%s: postgres should be absent with --peers none: %+v", w.Name, p)
		}
	}
	if !strings.Contains(string(b), `"ratio_vs_duckdb_direct"`) || !strings.Contains(string(b), `"ratio_vs_duckdb_native"`) {
		t.Error("results.json names no ratio_vs_duckdb_direct / ratio_vs_duckdb_native")
	}
	svg, _ := os.ReadFile(filepath.Join(out, "results.svg"))
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("results.svg is not XML: %v", err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "results.md"))
	for _, s := range []string{"cores", "DuckDB v", "mismatch", "results.svg"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("results.md lacks %q", s)
		}
	}
}

func TestCompare(t *testing.T) {
	col := func(rows ...[]any) *Answer {
		c := newCollector()
		for _, r := range rows {
			c.add(r)
		}
		return c.answer()
	}
	want := col([]any{"a", int64(1), 0.1 + 0.2}, []any{"b", int64(2), nil})
	if err := compare(col([]any{"b", "2", nil}, []any{"a", 1.0, 0.3}), want, 0); err != nil {
		t.Errorf("same rows in another order and types: %v", err)
	}
	if err := compare(col([]any{"a", int64(1), 0.3000001}, []any{"b", int64(2), nil}), want, 0); err != nil {
		t.Errorf("within the float tolerance: %v", err)
	}
	if err := compare(col([]any{"a", int64(1), 0.31}, []any{"b", int64(2), nil}), want, 0); err == nil {
		t.Error("a different value passed")
	}
	if err := compare(col([]any{"a", int64(1), 0.3}), want, 0); err == nil {
		t.Error("a missing row passed")
	}
	if err := compare(col([]any{"b", int64(2), nil}), want, 1); err != nil {
		t.Errorf("a one-row preview: %v", err)
	}
	if err := compare(col([]any{"c", int64(2), nil}), want, 1); err == nil {
		t.Error("a preview row that is not in the answer passed")
	}
}
