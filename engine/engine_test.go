//go:build duckdb_arrow

package engine_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/parser"
	"github.com/quarry/quarry/planner"
)

const tinySchema = `{
 "name": "tiny", "aliases": ["TinyData"], "time_column": "ts",
 "tenant_column": "org", "tenant_scope": "org", "sort_by": ["org", "ts"],
 "columns": [
  {"name": "org", "type": "VARCHAR", "role": "dimension"},
  {"name": "kind", "type": "VARCHAR", "role": "dimension", "nullable": true},
  {"name": "ts", "type": "TIMESTAMP", "role": "time"},
  {"name": "day_name", "type": "VARCHAR", "role": "dimension", "expr": "strftime(\"ts\", '%a')"},
  {"name": "v", "type": "DOUBLE", "role": "metric", "agg": "sum"},
  {"name": "n", "type": "BIGINT", "role": "metric", "agg": "max"}
 ]}`

// tinyData writes a user dataset of 3 days × 2 orgs × 100 rows.
func tinyData(t *testing.T) (string, *datasets.Dataset) {
	t.Helper()
	dir := t.TempDir()
	dsDir := filepath.Join(dir, "datasets", "tiny")
	if err := os.MkdirAll(dsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dsDir, "schema.json"), []byte(tinySchema), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, err := datasets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := cat.Lookup("tiny")
	store := datasets.NewStore(dir)
	var entries []datasets.FileEntry
	for day := 0; day < 3; day++ {
		date := time.Date(2026, 11, 19+day, 0, 0, 0, 0, time.UTC)
		pw, err := store.NewPart(d, date.Format(datasets.DayLayout))
		if err != nil {
			t.Fatal(err)
		}
		row := datasets.NewRow(d)
		for _, org := range []string{"acme", "globex"} {
			for i := 0; i < 100; i++ {
				row.Reset()
				row.String(0, org)
				if i%10 != 0 {
					row.String(1, []string{"Alpha", "beta", "Gamma"}[i%3])
				}
				row.Time(2, date.Add(time.Duration(i)*time.Minute*7))
				row.Float64(3, float64(i)*1.5+float64(day))
				row.Int64(4, int64(i*day))
				if err := pw.Write(row); err != nil {
					t.Fatal(err)
				}
			}
		}
		e, err := pw.Close()
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	if err := store.Commit("tiny", entries, nil); err != nil {
		t.Fatal(err)
	}
	return dir, d
}

func openTiny(t *testing.T, cfg engine.Config) (*engine.Engine, string) {
	t.Helper()
	dir, _ := tinyData(t)
	cfg.DataDir = dir
	if cfg.Clock == nil {
		cfg.Clock = func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }
	}
	e, err := engine.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, dir
}

func plan(t *testing.T, e *engine.Engine, text string, scope planner.Scope) *planner.Plan {
	t.Helper()
	q, err := parser.ParseQuery(text)
	if err != nil {
		t.Fatal(err)
	}
	p, err := planner.FromQuery(q, e.Catalog(), planner.Options{Now: e.Now(), Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// oracle runs hand-written SQL over every file of the dataset by glob.
func oracle(t *testing.T, db *sql.DB, dir, query string, args ...any) [][]string {
	t.Helper()
	return sqlRows(t, db, strings.ReplaceAll(query, "TINY", fmt.Sprintf("read_parquet('%s/datasets/tiny/*/*.parquet')", dir)), args...)
}

func TestRunMatchesOracle(t *testing.T) {
	e, dir := openTiny(t, engine.Config{})
	cases := []struct{ query, oracle string }{
		{"SELECT org, v FROM tiny ORDER BY v TIMESPAN LIFETIME",
			"SELECT org, sum(v) AS v FROM TINY GROUP BY org ORDER BY v DESC, org"},
		{"SELECT kind, day_name, n FROM TinyData WHERE kind IN ('alpha','GAMMA') ORDER BY kind ASC, day_name ASC TIMESPAN LAST_7_DAYS",
			"SELECT kind, strftime(ts, '%a') AS day_name, max(n) FROM TINY WHERE lower(kind) IN ('alpha','gamma') GROUP BY ALL ORDER BY 1, 2, 3"},
		{"SELECT org, kind FROM tiny WHERE kind LIKE 'B%' AND v > 100 ORDER BY org ASC TIMESPAN YESTERDAY",
			"SELECT org, kind FROM TINY WHERE kind ILIKE 'b%' AND ts >= '2026-11-21' AND ts < '2026-11-22' GROUP BY ALL HAVING sum(v) > 100 ORDER BY 1, 2"},
		// a TIMESTAMP at midnight stays a timestamp, not a date
		{"SELECT ts, org FROM tiny ORDER BY ts ASC LIMIT 1 TIMESPAN LIFETIME",
			"SELECT ts, org FROM TINY ORDER BY ts, org LIMIT 1"},
		{"SELECT DISTINCT org, kind FROM tiny WHERE kind != 'beta' LIMIT 3 TIMESPAN LIFETIME",
			"SELECT DISTINCT org, kind FROM TINY WHERE lower(kind) <> 'beta' ORDER BY 1, 2 LIMIT 3"},
	}
	for _, c := range cases {
		got := resultRows(t, must(e.Run(context.Background(), plan(t, e, c.query, planner.Scope{Admin: true}))))
		want := oracle(t, e.DB(), dir, c.oracle)
		if len(want) == 0 {
			t.Fatalf("%s: oracle has no rows; the test data does not exercise the query", c.query)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s\n got %v\nwant %v", c.query, got, want)
		}
	}
	if got := resultRows(t, must(e.Run(context.Background(), plan(t, e, "SELECT ts, org FROM tiny ORDER BY ts ASC LIMIT 1 TIMESPAN LIFETIME", planner.Scope{Admin: true})))); got[0][0] != "2026-11-19 00:00:00" {
		t.Errorf("midnight timestamp printed as %q", got[0][0])
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestTenantScope(t *testing.T) {
	e, _ := openTiny(t, engine.Config{})
	got := resultRows(t, must(e.Run(context.Background(),
		plan(t, e, "SELECT org, v FROM tiny TIMESPAN LIFETIME", planner.Scope{Org: "globex"}))))
	if len(got) != 1 || got[0][0] != "globex" {
		t.Fatalf("member of globex sees %v; want only globex", got)
	}
	q, _ := parser.ParseQuery("SELECT org FROM tiny")
	if _, err := planner.FromQuery(q, e.Catalog(), planner.Options{Now: e.Now(), Scope: planner.Scope{Account: "x"}}); err == nil {
		t.Fatal("a key without an org scope read an org-scoped dataset")
	}
}

func TestSourceUsesManifestWindow(t *testing.T) {
	e, _ := openTiny(t, engine.Config{})
	d, _ := e.Catalog().Lookup("tiny")
	day := func(s string) *time.Time { tm, _ := time.Parse("2006-01-02", s); return &tm }
	src, err := e.Source(d, planner.Window{Start: day("2026-11-20"), End: day("2026-11-21")})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(src, ".parquet") != 1 || !strings.Contains(src, "date=2026-11-20/") || strings.Contains(src, "*") {
		t.Errorf("source for one day = %s; want exactly that day's file, no glob", src)
	}
	all, _ := e.Source(d, planner.Window{})
	if strings.Count(all, ".parquet") != 3 {
		t.Errorf("unbounded source = %s; want 3 files", all)
	}
	// A window with no files is an empty relation of the right columns.
	got := resultRows(t, must(e.Run(context.Background(), plan(t, e, "SELECT org, v FROM tiny TIMESPAN LAST_MONTH", planner.Scope{Admin: true}))))
	if len(got) != 0 {
		t.Errorf("LAST_MONTH has no files but returned %v", got)
	}
}

func TestExportFormats(t *testing.T) {
	e, dir := openTiny(t, engine.Config{})
	p := plan(t, e, "SELECT org, kind, v FROM tiny ORDER BY org ASC, kind ASC TIMESPAN LIFETIME", planner.Scope{Admin: true})
	want := oracle(t, e.DB(), dir, "SELECT org, kind, sum(v) FROM TINY GROUP BY ALL ORDER BY 1, 2 NULLS LAST")
	out := t.TempDir()
	readers := map[engine.Format]string{
		engine.CSV: "read_csv('%s', header=true)", engine.TSV: "read_csv('%s', header=true, delim='\t')",
		engine.CSVGzip: "read_csv('%s', header=true)", engine.NDJSON: "read_json('%s')", engine.NDJSONGz: "read_json('%s')",
		engine.Parquet: "read_parquet('%s')",
	}
	for f, reader := range readers {
		path := filepath.Join(out, "result."+string(f))
		st, err := e.Export(context.Background(), p, f, path)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if st.Rows != int64(len(want)) || st.Bytes == 0 {
			t.Errorf("%s: stats %+v; want %d rows", f, st, len(want))
		}
		got := oracle(t, e.DB(), dir, "SELECT * FROM "+fmt.Sprintf(reader, path)+" ORDER BY 1, 2 NULLS LAST")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: file holds %v\nwant %v", f, got, want)
		}
	}
	entries, _ := os.ReadDir(out)
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".") {
			t.Errorf("temporary file %s left behind", en.Name())
		}
	}
}

func TestExportFailureLeavesNoFile(t *testing.T) {
	e, _ := openTiny(t, engine.Config{})
	out := t.TempDir()
	path := filepath.Join(out, "bad.csv")
	// A query that fails at run time (division of a string) leaves nothing.
	_, err := e.ExportSQL(context.Background(), planner.SQL{Text: "SELECT CAST('x' AS INTEGER)"}, engine.CSV, path)
	if err == nil {
		t.Fatal("export of a failing query succeeded")
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 0 {
		t.Errorf("failed export left %v", entries)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	e, _ := openTiny(t, engine.Config{QueryTimeout: 200 * time.Millisecond})
	slow := planner.SQL{Text: "SELECT count(*) FROM range(10000000000) a"}
	start := time.Now()
	r, err := e.RunSQL(context.Background(), slow)
	if err == nil {
		for r.Reader.Next() {
		}
		err = r.Reader.Err()
		r.Close()
	}
	if err == nil || !errors.Is(err, engine.ErrTimeout) && !strings.Contains(err.Error(), "nterrupt") {
		t.Fatalf("slow query: err = %v; want a timeout", err)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("timeout took %s to take effect", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err = e.ExportSQL(ctx, slow, engine.CSV, filepath.Join(t.TempDir(), "x.csv"))
	if err == nil {
		t.Fatal("cancelled export succeeded")
	}
}

// A window with partial days keeps its time predicate; a whole-day window
// relies on the day files alone. Both agree with the oracle.
func TestPartialAndWholeDayWindows(t *testing.T) {
	e, dir := openTiny(t, engine.Config{})
	at := func(s string) *time.Time { tm, _ := time.Parse(time.RFC3339, s); return &tm }
	q, _ := parser.ParseQuery("SELECT org, n FROM tiny")
	cases := []struct {
		start, end string
		timeFilter bool
	}{
		{"2026-11-20T10:00:00Z", "2026-11-21T05:00:00Z", true},
		{"2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", false},
	}
	for _, c := range cases {
		p, err := planner.FromQuery(q, e.Catalog(), planner.Options{Now: e.Now(), Scope: planner.Scope{Admin: true}, Start: at(c.start), End: at(c.end)})
		if err != nil {
			t.Fatal(err)
		}
		sql, err := e.Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(sql.Text, `"ts" >=`); has != c.timeFilter {
			t.Errorf("[%s, %s): time predicate present = %v, want %v\n%s", c.start, c.end, has, c.timeFilter, sql.Text)
		}
		got := resultRows(t, must(e.Run(context.Background(), p)))
		want := oracle(t, e.DB(), dir, "SELECT org, max(n) FROM TINY WHERE ts >= CAST($1 AS TIMESTAMP) AND ts < CAST($2 AS TIMESTAMP) GROUP BY 1 ORDER BY 1", c.start[:19], c.end[:19])
		if !reflect.DeepEqual(sorted(got), want) {
			t.Errorf("[%s, %s): got %v, want %v", c.start, c.end, got, want)
		}
	}
}

func TestOnQueryReportsEachQuery(t *testing.T) {
	var ops []string
	e, _ := openTiny(t, engine.Config{OnQuery: func(op string, d time.Duration, err error) {
		if d <= 0 {
			t.Errorf("%s: elapsed %s", op, d)
		}
		ops = append(ops, fmt.Sprintf("%s:%v", op, err == nil))
	}})
	p := plan(t, e, "SELECT org, v FROM tiny TIMESPAN LIFETIME", planner.Scope{Admin: true})
	resultRows(t, must(e.Run(context.Background(), p)))
	if _, err := e.Export(context.Background(), p, engine.CSV, filepath.Join(t.TempDir(), "x.csv")); err != nil {
		t.Fatal(err)
	}
	e.ExportSQL(context.Background(), planner.SQL{Text: "SELECT CAST('x' AS INTEGER)"}, engine.CSV, filepath.Join(t.TempDir(), "y.csv"))
	if got := strings.Join(ops, " "); got != "run:true export:true export:false" {
		t.Errorf("OnQuery saw %q", got)
	}
}
