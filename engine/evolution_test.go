//go:build duckdb_arrow

package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/compact"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/ingest"
	"github.com/quarry/quarry/planner"
)

const evoSchemaV1 = `{
 "name": "evo", "time_column": "ts",
 "tenant_column": "org", "tenant_scope": "org", "sort_by": ["org", "ts"],
 "columns": [
  {"name": "org", "type": "VARCHAR", "role": "dimension"},
  {"name": "ts", "type": "TIMESTAMP", "role": "time"},
  {"name": "v", "type": "DOUBLE", "role": "metric", "agg": "sum"}%s
 ]}`

const evoRegion = `,
  {"name": "region", "type": "VARCHAR", "role": "dimension", "nullable": true},
  {"name": "w", "type": "BIGINT", "role": "metric", "agg": "sum", "nullable": true}`

func writeEvoSchema(t *testing.T, dir, extra string) {
	t.Helper()
	p := filepath.Join(dir, "datasets", "evo", "schema.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(fmt.Sprintf(evoSchemaV1, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// evoData writes two days of files with the first schema, then adds two
// nullable columns and ingests rows holding them over the second and a
// third day (day 2 holds files of both versions).
func evoData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeEvoSchema(t, dir, "")
	cat, err := datasets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := cat.Lookup("evo")
	store := datasets.NewStore(dir)
	for day := 0; day < 2; day++ {
		for part := 0; part < 2; part++ {
			date := time.Date(2026, 11, 19+day, 0, 0, 0, 0, time.UTC)
			pw, err := store.NewPart(d, date.Format(datasets.DayLayout))
			if err != nil {
				t.Fatal(err)
			}
			r := datasets.NewRow(d)
			for i := 0; i < 50; i++ {
				r.Reset()
				r.String(0, []string{"acme", "globex"}[(i+part)%2])
				r.Time(1, date.Add(time.Duration(i*600+part)*time.Second))
				r.Float64(2, float64(i)+0.5)
				if err := pw.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			e, err := pw.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Commit("evo", []datasets.FileEntry{e}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeEvoSchema(t, dir, evoRegion)
	cat, err = datasets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, _ = cat.Lookup("evo")
	var b strings.Builder
	for i := 0; i < 60; i++ {
		region := fmt.Sprintf(`"region":%q,`, []string{"eu", "us", "ap"}[i%3])
		if i%5 == 0 {
			region = "" // a new row may leave the new column NULL too
		}
		fmt.Fprintf(&b, `{"org":%q,%s"ts":"2026-11-%02dT%02d:00:00Z","v":%d,"w":%d}`+"\n",
			[]string{"acme", "globex"}[i%2], region, 20+i%2, i%24, i, i*10)
	}
	p := filepath.Join(t.TempDir(), "new.ndjson")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.File(context.Background(), store, d, p, ingest.Options{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openAt(t *testing.T, dir string) *engine.Engine {
	t.Helper()
	e, err := engine.Open(context.Background(), engine.Config{DataDir: dir,
		Clock: func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// evoOracle answers the test's query straight from the files on disk that
// the manifest lists, read by name (old files give NULL).
func evoOracle(t *testing.T, e *engine.Engine, dir string) [][]string {
	t.Helper()
	m, err := e.Store().Manifest("evo")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range m.Files {
		files = append(files, "'"+e.Store().Abs("evo", f)+"'")
	}
	return sqlRows(t, e.DB(), `SELECT org, region, sum(v), sum(w) FROM read_parquet([`+strings.Join(files, ",")+`], union_by_name = true)
		GROUP BY ALL ORDER BY org ASC, region ASC`)
}

const evoQuery = "SELECT org, region, v, w FROM evo ORDER BY org ASC, region ASC TIMESPAN LIFETIME"

func TestSchemaEvolutionNullableColumn(t *testing.T) {
	dir := evoData(t)
	e := openAt(t, dir)
	admin := planner.Scope{Admin: true}
	got := resultRows(t, must(e.Run(context.Background(), plan(t, e, evoQuery, admin))))
	want := evoOracle(t, e, dir)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	// old rows read the new columns as NULL: 100 rows of day 1 and 2's old files
	var nulls int
	p := plan(t, e, "SELECT org, v FROM evo TIMESPAN LIFETIME", admin)
	d := p.Dataset
	src, err := e.Source(d, planner.Window{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.DB().QueryRow(`SELECT count(*) FROM ` + src + ` WHERE w IS NULL`).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 200 {
		t.Errorf("%d rows with w NULL, want the 200 old rows", nulls)
	}
	if !strings.Contains(src, `CAST(NULL AS BIGINT) AS "w"`) || !strings.Contains(src, "UNION ALL") {
		t.Errorf("mixed window source:\n%s", src)
	}
	// the fast path stays when every file of the window has every column
	day3 := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	src, _ = e.Source(d, planner.Window{Start: &day3})
	if !strings.HasPrefix(src, "read_parquet([") {
		t.Errorf("new-only window source: %s", src)
	}
	// a filter on the new column: old rows are NULL, never 'eu'
	var eu, euOracle int
	if err := e.DB().QueryRow(`SELECT count(*) FROM ` + mustSource(t, e, d) + ` WHERE region = 'eu'`).Scan(&eu); err != nil {
		t.Fatal(err)
	}
	euOracle = 0
	for i := 0; i < 60; i++ {
		if i%3 == 0 && i%5 != 0 {
			euOracle++
		}
	}
	if eu != euOracle {
		t.Errorf("region = 'eu': %d rows, want %d", eu, euOracle)
	}

	// compaction across mixed-schema files: every day becomes one file
	// with the current columns, answers unchanged
	cat := e.Catalog()
	st, err := compact.Compact(context.Background(), e.Store(), cat, "evo", compact.Options{MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := e.Store().Manifest("evo")
	if len(m.Files) != 3 || st.FilesBefore != 6 {
		t.Fatalf("after compaction: %d files (stats %+v)", len(m.Files), st)
	}
	for _, f := range m.Files {
		if len(m.FileColumns(f)) != 5 {
			t.Errorf("%s holds %v", f.Path, m.FileColumns(f))
		}
	}
	src = mustSource(t, e, d)
	if !strings.HasPrefix(src, "read_parquet([") {
		t.Errorf("after compaction the fast path is back; source: %s", src)
	}
	if got2 := resultRows(t, must(e.Run(context.Background(), plan(t, e, evoQuery, admin)))); !reflect.DeepEqual(got2, want) {
		t.Errorf("after compaction:\n got  %v\nwant %v", got2, want)
	}
	if err := e.DB().QueryRow(`SELECT count(*) FROM ` + src + ` WHERE w IS NULL`).Scan(&nulls); err != nil || nulls != 200 {
		t.Errorf("after compaction: %d rows with w NULL (%v)", nulls, err)
	}
}

func mustSource(t *testing.T, e *engine.Engine, d *datasets.Dataset) string {
	t.Helper()
	src, err := e.Source(d, planner.Window{})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestSchemaEvolutionRefused(t *testing.T) {
	dir := evoData(t)
	for _, c := range []struct{ name, extra, col string }{
		{"non-nullable addition", evoRegion + `,
  {"name": "tier", "type": "VARCHAR", "role": "dimension"}`, `"tier"`},
		{"type change", `,
  {"name": "region", "type": "VARCHAR", "role": "dimension", "nullable": true},
  {"name": "w", "type": "DOUBLE", "role": "metric", "agg": "sum", "nullable": true}`, `"w"`},
		{"dropped column", `,
  {"name": "region", "type": "VARCHAR", "role": "dimension", "nullable": true}`, `"w"`},
	} {
		writeEvoSchema(t, dir, c.extra)
		_, err := datasets.Load(dir)
		if err == nil || !strings.Contains(err.Error(), c.col) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.col)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	writeEvoSchema(t, dir, evoRegion)
	if _, err := datasets.Load(dir); err != nil {
		t.Fatal(err)
	}
}

// A manifest written before file columns were recorded is brought up to
// date when the catalog loads, so an added column reads as NULL there too.
func TestSchemaEvolutionOldManifest(t *testing.T) {
	dir := t.TempDir()
	writeEvoSchema(t, dir, "")
	cat, err := datasets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := cat.Lookup("evo")
	store := datasets.NewStore(dir)
	pw, _ := store.NewPart(d, "2026-11-19")
	r := datasets.NewRow(d)
	for i := 0; i < 10; i++ {
		r.Reset()
		r.String(0, "acme")
		r.Time(1, time.Date(2026, 11, 19, i, 0, 0, 0, time.UTC))
		r.Float64(2, float64(i))
		if err := pw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	f, err := pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	old := fmt.Sprintf(`{"dataset":"evo","version":1,"files":[{"path":%q,"day":"2026-11-19","rows":10,"bytes":%d}]}`, f.Path, f.Bytes)
	if err := os.WriteFile(filepath.Join(dir, "datasets", "evo", "_manifest.json"), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	writeEvoSchema(t, dir, evoRegion)
	e := openAt(t, dir)
	got := resultRows(t, must(e.Run(context.Background(), plan(t, e, evoQuery, planner.Scope{Admin: true}))))
	if want := [][]string{{"acme", "", "45", ""}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
