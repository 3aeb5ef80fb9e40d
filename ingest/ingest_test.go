package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/quarry/quarry/datasets"
)

// ---- helpers ----

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// fileList is the DuckDB list literal of the manifest's files.
func fileList(t *testing.T, store *datasets.Store, d *datasets.Dataset) string {
	t.Helper()
	m, err := store.Manifest(d.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) == 0 {
		t.Fatal("manifest is empty")
	}
	var q []string
	for _, f := range m.Files {
		q = append(q, "'"+strings.ReplaceAll(store.Abs(d.Name, f), "'", "''")+"'")
	}
	return "[" + strings.Join(q, ",") + "]"
}

// readBack returns every row of the dataset, ordered by orderBy.
func readBack(t *testing.T, store *datasets.Store, d *datasets.Dataset, cols, orderBy string) []map[string]any {
	t.Helper()
	db := openDB(t)
	rows, err := db.Query("SELECT " + cols + " FROM read_parquet(" + fileList(t, store, d) + ", hive_partitioning=false) ORDER BY " + orderBy)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	names, _ := rows.Columns()
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for i, n := range names {
			m[n] = vals[i]
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// snapshot lists every file under the dataset directory (names and the
// manifest's content).
func snapshot(t *testing.T, store *datasets.Store, d *datasets.Dataset) ([]string, string) {
	t.Helper()
	var files []string
	filepath.WalkDir(store.Dir(d.Name), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && e.Name() != ".manifest.lock" {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	b, _ := os.ReadFile(filepath.Join(store.Dir(d.Name), "_manifest.json"))
	return files, string(b)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func rowErr(t *testing.T, err error) *RowError {
	t.Helper()
	var re *RowError
	if !errors.As(err, &re) {
		t.Fatalf("want *RowError, got %T: %v", err, err)
	}
	return re
}

// goodNDJSON exercises every conversion. Expected values are in goodWant.
const goodNDJSON = `{"org":"acme","ts":"2024-03-01T10:00:00Z","proxy":"orders","app":"a1","status":200,"latency":12.5,"bytes":100,"is_error":false,"day":"2024-03-01","meta":{"k": 1, "tags": ["x", "y"]},"country":"US","note":"n1"}
{"ORG":"acme","TS":"2024-03-01 11:30:15.123456","APIPROXY":"pay\"ments\u00e9","status":"201","latency":"7","bytes":2.0,"is_error":"TRUE","day":"2024-03-01T00:00:00Z","meta":"{\"a\": [1, 2]}","note":"n2"}

{"org":"globex","ts":1709290800000,"proxy":"orders","app":null,"status":500.0,"latency":1e2,"bytes":"3","is_error":1,"meta":null,"country":"DE","note":"n3"}
{"org":"globex","ts":"2024-03-01T12:00:00+02:00","proxy":"login","app":42,"status":404,"latency":-0.25,"bytes":9007199254740993,"is_error":"0","day":"2024-02-29","meta":[1,"two"],"country":"","note":"n4"}
{"org":"initech","ts":"2024-03-01T23:59:59.5","proxy":"x","app":true,"status":204,"latency":0,"bytes":-5,"is_error":"False","note":"n5"}
`

var goodWant = []map[string]any{
	{"org": "acme", "ts": ts("2024-03-01T10:00:00Z"), "proxy": "orders", "app": "a1", "status": int32(200), "latency": 12.5, "bytes": int64(100), "is_error": false, "day": day("2024-03-01"), "meta": `{"k":1,"tags":["x","y"]}`, "country": "US", "note": "n1"},
	{"org": "acme", "ts": ts("2024-03-01T11:30:15.123456Z"), "proxy": "pay\"mentsé", "app": nil, "status": int32(201), "latency": 7.0, "bytes": int64(2), "is_error": true, "day": day("2024-03-01"), "meta": `{"a":[1,2]}`, "country": nil, "note": "n2"},
	{"org": "globex", "ts": ts("2024-03-01T11:00:00Z"), "proxy": "orders", "app": nil, "status": int32(500), "latency": 100.0, "bytes": int64(3), "is_error": true, "day": nil, "meta": nil, "country": "DE", "note": "n3"},
	{"org": "globex", "ts": ts("2024-03-01T10:00:00Z"), "proxy": "login", "app": "42", "status": int32(404), "latency": -0.25, "bytes": int64(9007199254740993), "is_error": false, "day": day("2024-02-29"), "meta": `[1,"two"]`, "country": "", "note": "n4"},
	{"org": "initech", "ts": ts("2024-03-01T23:59:59.5Z"), "proxy": "x", "app": "true", "status": int32(204), "latency": 0.0, "bytes": int64(-5), "is_error": false, "day": nil, "meta": nil, "country": nil, "note": "n5"},
}

const allCols = "org, ts, proxy, app, status, latency, bytes, is_error, day, meta, country, note"

func checkRows(t *testing.T, got, want []map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		for k, w := range want[i] {
			g := got[i][k]
			if gt, ok := g.(time.Time); ok {
				g = gt.UTC()
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("row %d column %s: got %#v (%T), want %#v (%T)", i, k, g, g, w, w)
			}
		}
	}
}

// ---- tests ----

func TestNDJSONGood(t *testing.T) {
	d := testDataset(t)
	store := datasets.NewStore(t.TempDir())
	p := writeFile(t, t.TempDir(), "events.ndjson", goodNDJSON)
	res, err := File(context.Background(), store, d, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 5 || len(res.Files) != 1 || res.Files[0].Day != "2024-03-01" {
		t.Fatalf("result %+v", res)
	}
	checkRows(t, readBack(t, store, d, allCols, "note"), goodWant)
	// The types as DuckDB sees them.
	db := openDB(t)
	var typ string
	if err := db.QueryRow("SELECT string_agg(column_type, ',' ORDER BY column_name) FROM (DESCRIBE SELECT * FROM read_parquet(" + fileList(t, store, d) + ", hive_partitioning=false))").Scan(&typ); err != nil {
		t.Fatal(err)
	}
	// app, bytes, country, day, is_error, latency, meta, note, org, proxy, status, ts
	if typ != "VARCHAR,BIGINT,VARCHAR,DATE,BOOLEAN,DOUBLE,VARCHAR,VARCHAR,VARCHAR,VARCHAR,INTEGER,TIMESTAMP" {
		t.Errorf("types: %s", typ)
	}
}

const goodCSV = "org,ts,APIProxy,app,status,latency,bytes,is_error,day,meta,country,note\r\n" +
	"acme,2024-03-01T10:00:00Z,orders,a1,200,12.5,100,false,2024-03-01,\"{\"\"k\"\": 1, \"\"tags\"\": [\"\"x\"\", \"\"y\"\"]}\",US,n1\r\n" +
	"acme,2024-03-01 11:30:15.123456,\"pay\"\"mentsé\",,201,7,2.0,TRUE,2024-03-01T00:00:00Z,\"{\"\"a\"\": [1, 2]}\",,n2\r\n" +
	"globex,1709290800000,orders,,500.0,1e2,3,1,,,DE,n3\r\n" +
	"globex,2024-03-01T12:00:00+02:00,login,42,404,-0.25,9007199254740993,0,2024-02-29,\"[1,\"\"two\"\"]\",\"\",n4\r\n" +
	"initech,2024-03-01T23:59:59.5,x,true,204,0,-5,False,,,,\"n5\"\n"

func TestCSVGood(t *testing.T) {
	d := testDataset(t)
	store := datasets.NewStore(t.TempDir())
	p := writeFile(t, t.TempDir(), "events.csv", goodCSV)
	res, err := File(context.Background(), store, d, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 5 {
		t.Fatalf("result %+v", res)
	}
	want := make([]map[string]any, len(goodWant))
	for i, w := range goodWant {
		want[i] = map[string]any{}
		for k, v := range w {
			want[i][k] = v
		}
	}
	want[3]["country"] = nil // an empty CSV field is NULL, quoted or not
	checkRows(t, readBack(t, store, d, allCols, "note"), want)
}

func TestCSVQuotedNewlineAndLines(t *testing.T) {
	d := testDataset(t)
	store := datasets.NewStore(t.TempDir())
	csv := "org,ts,status,note\n" +
		"acme,2024-03-01,200,\"multi\nline, with comma\"\n" +
		"acme,2024-03-01,abc,bad\n"
	p := writeFile(t, t.TempDir(), "q.csv", csv)
	_, err := File(context.Background(), store, d, p, Options{})
	re := rowErr(t, err)
	if re.Line != 4 || re.Column != "status" {
		t.Fatalf("got %v", err)
	}
	if want := `q.csv:4: column "status": "abc" is not a INTEGER`; !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("got %q, want suffix %q", err, want)
	}
}

func TestParquetGood(t *testing.T) {
	d := testDataset(t)
	store := datasets.NewStore(t.TempDir())
	// DuckDB writes the input: TIMESTAMP micros, DATE, VARCHAR, INTEGER,
	// BIGINT, DOUBLE, BOOLEAN, plus a TIMESTAMP_MS and a DECIMAL.
	src := filepath.Join(t.TempDir(), "in.parquet")
	db := openDB(t)
	q := `COPY (SELECT * FROM (VALUES
	  ('acme', TIMESTAMP '2024-03-01 10:00:00', 'orders', 'a1', 200, 12.5::DECIMAL(10,2), 100::BIGINT, false, DATE '2024-03-01', '{"k":1}', 'US', 'n1'),
	  ('globex', TIMESTAMP '2024-03-02 11:30:15.123456', 'pay', NULL, 500, -0.25, 3::BIGINT, true, NULL, NULL, NULL, 'n2')
	) v(Org, ts, proxy, app, status, latency, bytes, is_error, day, meta, country, note)) TO '` + src + `' (FORMAT parquet)`
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
	res, err := File(context.Background(), store, d, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 2 || len(res.Files) != 2 {
		t.Fatalf("result %+v", res)
	}
	checkRows(t, readBack(t, store, d, allCols, "note"), []map[string]any{
		{"org": "acme", "ts": ts("2024-03-01T10:00:00Z"), "proxy": "orders", "app": "a1", "status": int32(200), "latency": 12.5, "bytes": int64(100), "is_error": false, "day": day("2024-03-01"), "meta": `{"k":1}`, "country": "US", "note": "n1"},
		{"org": "globex", "ts": ts("2024-03-02T11:30:15.123456Z"), "proxy": "pay", "app": nil, "status": int32(500), "latency": -0.25, "bytes": int64(3), "is_error": true, "day": nil, "meta": nil, "country": nil, "note": "n2"},
	})

	// A Parquet file Quarry wrote itself reads back the same (round trip).
	store2 := datasets.NewStore(t.TempDir())
	m, _ := store.Manifest(d.Name)
	for _, f := range m.Files {
		if _, err := File(context.Background(), store2, d, store.Abs(d.Name, f), Options{}); err != nil {
			t.Fatal(err)
		}
	}
	checkRows(t, readBack(t, store2, d, allCols, "note"), readBack(t, store, d, allCols, "note"))

	// Bad value: a row number names the row.
	bad := filepath.Join(t.TempDir(), "bad.parquet")
	if _, err := db.Exec(`COPY (SELECT 'o' AS org, TIMESTAMP '2024-03-01' + INTERVAL (i) HOUR AS ts, CASE WHEN i = 7 THEN 'x' ELSE i::VARCHAR END AS status FROM range(10) t(i)) TO '` + bad + `' (FORMAT parquet)`); err != nil {
		t.Fatal(err)
	}
	_, err = File(context.Background(), store2, d, bad, Options{})
	re := rowErr(t, err)
	if re.Line != 8 || re.Column != "status" {
		t.Fatalf("got %v", err)
	}
}

func TestBadRowRejectsFile(t *testing.T) {
	d := testDataset(t)
	store := datasets.NewStore(t.TempDir())
	dir := t.TempDir()
	// A first good ingest, so there is a manifest to keep.
	if _, err := File(context.Background(), store, d, writeFile(t, dir, "ok.ndjson", goodNDJSON), Options{}); err != nil {
		t.Fatal(err)
	}
	files0, man0 := snapshot(t, store, d)

	// 40,000 rows over three days; line 39,017 is bad. Small FlushRows
	// and MaxRowsPerFile make parts get written before the bad line.
	var b strings.Builder
	for i := 1; i <= 40000; i++ {
		v := fmt.Sprintf("%d.5", i)
		if i == 39017 {
			v = `"abc"`
		}
		fmt.Fprintf(&b, `{"org":"o%d","ts":"2024-04-0%dT01:02:03Z","latency":%s}`+"\n", i%7, 1+i%3, v)
	}
	p := writeFile(t, dir, "events.ndjson", b.String())
	_, err := File(context.Background(), store, d, p, Options{FlushRows: 5000, MaxRowsPerFile: 1000})
	re := rowErr(t, err)
	want := p + `:39017: column "latency": "abc" is not a DOUBLE`
	if err.Error() != want || re.Line != 39017 || re.Column != "latency" {
		t.Fatalf("got %q, want %q", err, want)
	}
	files1, man1 := snapshot(t, store, d)
	if !reflect.DeepEqual(files0, files1) || man0 != man1 {
		t.Fatalf("files changed:\n%v\n%v", files0, files1)
	}
}

func TestRejections(t *testing.T) {
	d := testDataset(t)
	cases := []struct {
		name, content, want string
	}{
		{"unknown.ndjson", `{"org":"a","ts":"2024-01-01","latncy":1}`,
			`:1: column "latncy": unknown column in dataset events; did you mean "latency"?`},
		{"unknown.csv", "org,ts,Proxxy\na,2024-01-01,b\n",
			`:1: column "Proxxy": unknown column in dataset events; did you mean "proxy"?`},
		{"derived.ndjson", `{"org":"a","ts":"2024-01-01","hour":3}`,
			`:1: column "hour": is derived from hour(ts); remove it`},
		{"notime.ndjson", "{\"org\":\"a\",\"ts\":\"2024-01-01\"}\n{\"org\":\"a\"}",
			`:2: column "ts": missing; the time column is required`},
		{"nulltime.ndjson", `{"org":"a","ts":null}`,
			`:1: column "ts": is NULL; the time column is required`},
		{"notenant.ndjson", `{"ts":"2024-01-01"}`,
			`:1: column "org": missing; the tenant column is required`},
		{"notenant.csv", "ts,proxy\n2024-01-01,x\n",
			`:1: column "org": missing from the header; the tenant column is required`},
		{"nullreq.ndjson", `{"org":"a","ts":"2024-01-01","proxy":null}`,
			`:1: column "proxy": is NULL but the column is not nullable`},
		{"nullreq.csv", "org,ts,status\na,2024-01-01,\n",
			`:2: column "status": is NULL but the column is not nullable`},
		{"int.ndjson", `{"org":"a","ts":"2024-01-01","status":3000000000}`,
			`:1: column "status": 3000000000 is out of range for an INTEGER`},
		{"frac.ndjson", `{"org":"a","ts":"2024-01-01","bytes":1.5}`,
			`:1: column "bytes": 1.5 is not a BIGINT`},
		{"bool.ndjson", `{"org":"a","ts":"2024-01-01","is_error":"yes"}`,
			`:1: column "is_error": "yes" is not a BOOLEAN`},
		{"date.ndjson", `{"org":"a","ts":"2024-01-01","day":"2024-01-01T10:00:00Z"}`,
			`:1: column "day": "2024-01-01T10:00:00Z" is not a DATE (its UTC time of day is not midnight)`},
		{"ts.ndjson", `{"org":"a","ts":"2024-13-01"}`,
			`:1: column "ts": "2024-13-01" is not a TIMESTAMP`},
		{"json.ndjson", `{"org":"a","ts":"2024-01-01","meta":"{bad"}`,
			`:1: column "meta": "{bad" is not valid JSON`},
		{"obj.ndjson", `{"org":{"a":1},"ts":"2024-01-01"}`,
			`:1: column "org": a JSON object is not a VARCHAR`},
		{"dup.ndjson", `{"org":"a","ORG":"b","ts":"2024-01-01"}`,
			`:1: column "org": given twice in one row`},
		{"syntax.ndjson", "{\"org\":\"a\",\"ts\":\"2024-01-01\"}\n{\"org\":\"a\" \"ts\":1}",
			`:2: expected ',' or '}', found`},
		{"fields.csv", "org,ts\na,2024-01-01,extra\n",
			`:2: CSV: wrong number of fields`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := datasets.NewStore(t.TempDir())
			p := writeFile(t, t.TempDir(), c.name, c.content)
			_, err := File(context.Background(), store, d, p, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			rowErr(t, err)
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got  %q\nwant …%q", err, c.want)
			}
			files, man := snapshot(t, store, d)
			if len(files) != 0 || man != "" {
				t.Fatalf("left files %v", files)
			}
		})
	}
}

func TestDaysAndSortOrder(t *testing.T) {
	d := testDataset(t)
	store := datasets.NewStore(t.TempDir())
	// Unordered input over three days.
	var b strings.Builder
	n := 0
	for _, dd := range []string{"03", "01", "02", "01", "03"} {
		for i := 0; i < 50; i++ {
			n++
			fmt.Fprintf(&b, `{"org":"%s","ts":"2024-05-%sT%02d:%02d:00Z","note":"r%d"}`+"\n",
				orgs[(n*7)%len(orgs)], dd, (n*13)%24, (n*17)%60, n)
		}
	}
	p := writeFile(t, t.TempDir(), "days.ndjson", b.String())
	res, err := File(context.Background(), store, d, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 3 {
		t.Fatalf("want 3 files, got %+v", res.Files)
	}
	db := openDB(t)
	seen := map[string]bool{}
	var total int64
	for _, f := range res.Files {
		if seen[f.Day] {
			t.Fatalf("two files for %s", f.Day)
		}
		seen[f.Day] = true
		total += f.Rows
		if !strings.HasPrefix(f.Path, "date="+f.Day+"/part-") {
			t.Fatalf("path %s", f.Path)
		}
		rows, err := db.Query("SELECT org, ts FROM read_parquet('" + store.Abs(d.Name, f) + "')")
		if err != nil {
			t.Fatal(err)
		}
		var prevOrg string
		var prevTS time.Time
		k := 0
		for rows.Next() {
			var org string
			var tm time.Time
			rows.Scan(&org, &tm)
			if tm.UTC().Format("2006-01-02") != f.Day {
				t.Fatalf("row of %s in file of %s", tm, f.Day)
			}
			if k > 0 && (org < prevOrg || (org == prevOrg && tm.Before(prevTS))) {
				t.Fatalf("%s not sorted by (org, ts) at row %d", f.Path, k)
			}
			prevOrg, prevTS = org, tm
			k++
		}
		rows.Close()
		if int64(k) != f.Rows {
			t.Fatalf("file %s: %d rows, entry says %d", f.Path, k, f.Rows)
		}
	}
	if total != 250 || res.Rows != 250 {
		t.Fatalf("rows %d %d", total, res.Rows)
	}
}

func TestOrderedInputOneFilePerDay(t *testing.T) {
	// Time-ordered input is handed to the writer day by day while reading
	// goes on; each day must still be exactly one file.
	d := testDataset(t)
	store := datasets.NewStore(t.TempDir())
	p := filepath.Join(t.TempDir(), "ordered.ndjson")
	writeNDJSON(t, p, 120000, 3)
	res, err := File(context.Background(), store, d, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 120000 || len(res.Files) != 3 {
		t.Fatalf("rows %d files %+v", res.Rows, res.Files)
	}
	got := readBack(t, store, d, "count(*) AS n, count(DISTINCT note) AS u, min(ts) AS lo, max(ts) AS hi", "1")
	if got[0]["n"] != int64(120000) || got[0]["u"] != int64(120000) {
		t.Fatalf("got %v", got)
	}

	// Split: a day over MaxRowsPerFile becomes several files.
	store2 := datasets.NewStore(t.TempDir())
	res, err = File(context.Background(), store2, d, p, Options{MaxRowsPerFile: 15000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 9 {
		t.Fatalf("want 9 files, got %d", len(res.Files))
	}
}

// failingReader returns an error after n bytes.
type failingReader struct {
	r io.Reader
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	k, err := f.r.Read(p)
	f.n -= k
	return k, err
}

func TestAtomicOnReadFailure(t *testing.T) {
	d := testDataset(t)
	store := datasets.NewStore(t.TempDir())
	p := filepath.Join(t.TempDir(), "big.ndjson")
	writeNDJSON(t, p, 200000, 4)
	data, _ := os.ReadFile(p)
	r := &failingReader{r: bytes.NewReader(data), n: len(data) * 9 / 10}
	_, err := Reader(context.Background(), store, d, r, "big.ndjson", "", Options{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.HasPrefix(err.Error(), "big.ndjson:") {
		t.Fatalf("got %v", err)
	}
	files, man := snapshot(t, store, d)
	if len(files) != 0 || man != "" {
		t.Fatalf("left %v", files)
	}
	// Cancellation is a failure too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = File(ctx, store, d, p, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if files, _ := snapshot(t, store, d); len(files) != 0 {
		t.Fatalf("left %v", files)
	}
}

func TestGzip(t *testing.T) {
	d := testDataset(t)
	dir := t.TempDir()
	for _, c := range []struct{ name, content string }{
		{"events.ndjson.gz", goodNDJSON},
		{"events.csv.gz", goodCSV},
		{"events.jsonl", goodNDJSON}, // gzip detected by magic bytes even without .gz
	} {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(c.content))
		zw.Close()
		p := writeFile(t, dir, c.name, buf.String())
		store := datasets.NewStore(t.TempDir())
		res, err := File(context.Background(), store, d, p, Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if res.Rows != 5 {
			t.Fatalf("%s: rows %d", c.name, res.Rows)
		}
		got := readBack(t, store, d, allCols, "note")
		if got[0]["meta"] != `{"k":1,"tags":["x","y"]}` || got[1]["proxy"] != "pay\"mentsé" {
			t.Fatalf("%s: %v", c.name, got[:2])
		}
	}
}

func TestConcurrentIngests(t *testing.T) {
	d := testDataset(t)
	store := datasets.NewStore(t.TempDir())
	dir := t.TempDir()
	var paths []string
	for i := 0; i < 4; i++ {
		var b strings.Builder
		for k := 0; k < 3000; k++ {
			fmt.Fprintf(&b, `{"org":"o%d","ts":"2024-06-0%dT00:00:%02dZ","note":"f%d-%d"}`+"\n", k%5, 1+k%2, k%60, i, k)
		}
		paths = append(paths, writeFile(t, dir, fmt.Sprintf("f%d.ndjson", i), b.String()))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(paths))
	for i, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = File(context.Background(), store, d, p, Options{})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, _ := store.Manifest(d.Name)
	if m.Rows() != 12000 || len(m.Files) != 8 || m.Version != 4 {
		t.Fatalf("manifest rows %d files %d version %d", m.Rows(), len(m.Files), m.Version)
	}
	got := readBack(t, store, d, "count(DISTINCT note) AS u", "1")
	if got[0]["u"] != int64(12000) {
		t.Fatalf("got %v", got)
	}
}

func TestFormatDetection(t *testing.T) {
	for name, want := range map[string]Format{
		"a.ndjson": NDJSON, "a.JSONL": NDJSON, "a.json.gz": NDJSON, "x/y.csv": CSV, "a.csv.gz": CSV, "a.parquet": Parquet,
	} {
		if f, _, err := DetectFormat(name); err != nil || f != want {
			t.Errorf("%s: %v %v", name, f, err)
		}
	}
	for _, name := range []string{"a.txt", "a.parquet.gz", "a"} {
		if _, _, err := DetectFormat(name); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// An explicit format overrides the name.
	d := testDataset(t)
	store := datasets.NewStore(t.TempDir())
	p := writeFile(t, t.TempDir(), "data.txt", "org,ts\na,2024-01-01\n")
	if res, err := File(context.Background(), store, d, p, Options{Format: CSV}); err != nil || res.Rows != 1 {
		t.Fatal(res, err)
	}
}

func TestParseTimeText(t *testing.T) {
	for in, want := range map[string]string{
		"2024-03-01":                     "2024-03-01T00:00:00Z",
		"2024-03-01T10:11:12Z":           "2024-03-01T10:11:12Z",
		"2024-03-01t10:11:12z":           "2024-03-01T10:11:12Z",
		"2024-03-01T10:11:12.5Z":         "2024-03-01T10:11:12.5Z",
		"2024-03-01T10:11:12.123456789Z": "2024-03-01T10:11:12.123456Z",
		"2024-03-01 10:11:12.000001":     "2024-03-01T10:11:12.000001Z",
		"2024-03-01T10:11":               "2024-03-01T10:11:00Z",
		"2024-03-01T10:11:12-05:30":      "2024-03-01T15:41:12Z",
		"2024-03-01T01:00:00+0200":       "2024-02-29T23:00:00Z",
		"2024-03-01 10:11:12+00":         "2024-03-01T10:11:12Z",
		"2024-03-01 10:11:12 UTC":        "2024-03-01T10:11:12Z",
		"1969-12-31T23:59:59.999999Z":    "1969-12-31T23:59:59.999999Z",
		"0001-01-01T00:00:00Z":           "0001-01-01T00:00:00Z",
		"2000-02-29T00:00:00Z":           "2000-02-29T00:00:00Z",
	} {
		us, ok := parseTimeText([]byte(in))
		if !ok {
			t.Errorf("%s: not parsed", in)
			continue
		}
		if got := time.UnixMicro(us).UTC().Format(time.RFC3339Nano); got != want {
			t.Errorf("%s: got %s want %s", in, got, want)
		}
	}
	for _, in := range []string{"", "2024-3-01", "2023-02-29", "2024-03-01T24:00:00", "2024-03-01T10:11:12+", "2024-03-01X10", "2024-03-01T10:11:12.Z", "2024-03-01T10:11:12ZZ"} {
		if _, ok := parseTimeText([]byte(in)); ok {
			t.Errorf("%q: parsed", in)
		}
	}
}

func TestCompactJSON(t *testing.T) {
	for in, want := range map[string]string{
		` { "a" : [ 1 , 2.5e3 , "x y" , true , null ] , "b" : { } } `: `{"a":[1,2.5e3,"x y",true,null],"b":{}}`,
		`"s\u00e9\n"`: `"s\u00e9\n"`,
		`[]`:          `[]`,
	} {
		got, err := appendCompactJSON(nil, []byte(in))
		if err != nil || string(got) != want {
			t.Errorf("%s: %s %v", in, got, err)
		}
	}
	for _, in := range []string{`{`, `{"a"}`, `[1,]`, `{"a":1}x`, `01`, `"\x"`, `tru`, ``} {
		if _, err := appendCompactJSON(nil, []byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
