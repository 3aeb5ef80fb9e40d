//go:build duckdb_arrow

package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/gen"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/sandbox"
	"github.com/quarry/quarry/planner"
)

var (
	testDir string
	testEng *engine.Engine
	testNow = time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	admin   = planner.Scope{Admin: true}
	contoso = planner.Scope{Account: "pub-contoso"}
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "quarry-sandbox-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cat, err := datasets.Load(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := gen.Generate(ctx, datasets.NewStore(dir), cat, gen.Options{
		Datasets: []string{"usage", "transactions", "exchange_rates"}, Rows: 20000, Days: 30, Seed: 1,
		End: testNow.Truncate(24 * time.Hour),
	}); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		return 1
	}
	eng, err := engine.Open(ctx, engine.Config{DataDir: dir, Clock: func() time.Time { return testNow }})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer eng.Close()
	testDir, testEng = dir, eng
	return m.Run()
}

func newSandbox(t testing.TB, cfg sandbox.Config) *sandbox.Sandbox {
	t.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	sb := sandbox.New(testEng, cfg)
	t.Cleanup(func() { sb.Close() })
	return sb
}

// rows runs text and returns its cells as text.
func rows(t testing.TB, sb *sandbox.Sandbox, sc planner.Scope, text string) ([]string, [][]string) {
	t.Helper()
	res, err := sb.Query(context.Background(), sc, text, sandbox.Options{})
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	defer res.Close()
	var cols []string
	for _, f := range res.Schema().Fields() {
		cols = append(cols, f.Name)
	}
	var out [][]string
	for res.Reader.Next() {
		rec := res.Reader.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for c := range row {
				row[c] = engine.FormatValue(engine.Value(rec.Column(c), i))
			}
			out = append(out, row)
		}
	}
	if err := res.Err(); err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return cols, out
}

// oracle runs SQL on the engine's own (unsandboxed) DuckDB over the
// dataset's files.
func oracle(t testing.TB, dataset, query string) string {
	t.Helper()
	d, _ := testEng.Catalog().Lookup(dataset)
	src, err := testEng.Source(d, planner.Window{})
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := testEng.DB().QueryRow(strings.ReplaceAll(query, "$src", src)).Scan(&s); err != nil {
		t.Fatalf("oracle %s: %v", query, err)
	}
	return s
}

func sandboxErr(t testing.TB, err error) *sandbox.Error {
	t.Helper()
	var e *sandbox.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want a *sandbox.Error", err, err)
	}
	return e
}

// Every way out of the sandbox is refused with a clear message, before
// it runs; the settings are locked whatever gets through.
func TestEscapesRefused(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{})
	cases := []struct {
		sql, code, want string
	}{
		{"SELECT * FROM read_csv('/etc/passwd')", sandbox.CodeNotAllowed, "table function read_csv is not allowed"},
		{"SELECT * FROM read_text('/etc/hostname')", sandbox.CodeNotAllowed, "read_text is not allowed"},
		{"select count(*) from (select * from read_parquet('" + testDir + "/datasets/usage/*/*.parquet'))", sandbox.CodeNotAllowed, "read_parquet is not allowed"},
		{"SELECT * FROM '/etc/passwd.csv'", sandbox.CodeNotAllowed, "table '/etc/passwd.csv' is not allowed"},
		{"FROM 'x.parquet'", sandbox.CodeNotAllowed, "not files"},
		{"SELECT * FROM glob('/etc/*')", sandbox.CodeNotAllowed, "glob is not allowed"},
		{"SELECT * FROM query('SELECT 1')", sandbox.CodeNotAllowed, "query is not allowed"},
		{"WITH a AS (SELECT * FROM read_json('/etc/x.json')) SELECT * FROM a", sandbox.CodeNotAllowed, "read_json is not allowed"},
		{"SELECT (SELECT count(*) FROM read_csv('/etc/passwd'))", sandbox.CodeNotAllowed, "read_csv is not allowed"},
		{"COPY (SELECT 1) TO '/tmp/x.csv'", sandbox.CodeNotAllowed, "COPY statements are not allowed"},
		{"COPY usage TO '/tmp/x.parquet'", sandbox.CodeNotAllowed, "COPY statements are not allowed"},
		{"EXPORT DATABASE '/tmp/x'", sandbox.CodeNotAllowed, "EXPORT statements are not allowed"},
		{"ATTACH '/tmp/x.db' AS x", sandbox.CodeNotAllowed, "ATTACH statements are not allowed"},
		{"ATTACH ':memory:' AS m", sandbox.CodeNotAllowed, "ATTACH statements are not allowed"},
		{"INSTALL httpfs", sandbox.CodeNotAllowed, "INSTALL statements are not allowed"},
		{"LOAD httpfs", sandbox.CodeNotAllowed, "LOAD statements are not allowed"},
		{"SET enable_external_access = true", sandbox.CodeNotAllowed, "SET is not allowed"},
		{"SET lock_configuration = false", sandbox.CodeNotAllowed, "settings are locked"},
		{"RESET memory_limit", sandbox.CodeNotAllowed, "RESET is not allowed"},
		{"PRAGMA threads = 64", sandbox.CodeNotAllowed, "PRAGMA is not allowed"},
		{"CALL pragma_version()", sandbox.CodeNotAllowed, "CALL statements are not allowed"},
		{"CREATE TABLE t AS SELECT 1", sandbox.CodeNotAllowed, "CREATE statements are not allowed"},
		{"CREATE OR REPLACE VIEW usage AS SELECT 1", sandbox.CodeNotAllowed, "CREATE statements are not allowed"},
		{"INSERT INTO usage SELECT * FROM usage", sandbox.CodeNotAllowed, "INSERT statements are not allowed"},
		{"DROP VIEW usage", sandbox.CodeNotAllowed, "DROP statements are not allowed"},
		{"SELECT 1; SELECT 2", sandbox.CodeNotAllowed, "one statement per request: this text holds 2 statements"},
		{"SELECT 1; DROP VIEW usage", sandbox.CodeNotAllowed, "one statement per request"},
		{"SELECT 1; SET enable_external_access = true", sandbox.CodeNotAllowed, "one statement per request"},
		{"EXPLAIN SELECT * FROM read_csv('/etc/passwd')", sandbox.CodeNotAllowed, "read_csv is not allowed"},
		{"EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/x.csv'", sandbox.CodeNotAllowed, "COPY statements are not allowed"},
		{"DESCRIBE SELECT * FROM read_csv('/etc/passwd')", sandbox.CodeNotAllowed, "read_csv is not allowed"},
		{"SUMMARIZE '/etc/passwd.csv'", sandbox.CodeNotAllowed, "not files"},
		{"BEGIN TRANSACTION", sandbox.CodeNotAllowed, "BEGIN statements are not allowed"},
		{"", sandbox.CodeSyntax, "empty statement"},
		{"SELECT * FRM usage", sandbox.CodeSyntax, "syntax error"},
	}
	for _, c := range cases {
		t.Run(c.sql, func(t *testing.T) {
			res, err := sb.Query(context.Background(), contoso, c.sql, sandbox.Options{})
			if err == nil {
				res.Close()
				t.Fatalf("%s ran; want it refused", c.sql)
			}
			e := sandboxErr(t, err)
			if e.Code != c.code || !strings.Contains(e.Message, c.want) {
				t.Fatalf("%s: code %s %q, want %s containing %q", c.sql, e.Code, e.Message, c.code, c.want)
			}
		})
	}
	// Nothing was changed: the view still answers, the files are still
	// unreadable directly, and no table appeared.
	_, got := rows(t, sb, contoso, "SELECT count(*) FROM usage")
	if got[0][0] == "0" {
		t.Fatal("usage is empty after the escape attempts")
	}
	_, tables := rows(t, sb, contoso, "SHOW TABLES")
	for _, r := range tables {
		if r[0] != "exchange_rates" && r[0] != "usage" && r[0] != "customers" && !strings.HasPrefix(r[0], "") {
			t.Errorf("unexpected table %s", r[0])
		}
	}
}

// The settings SPEC.md §6 asks for hold, can be read back, and cannot be
// changed — even by a statement that would pass the check.
func TestSettingsLocked(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{MemoryLimit: "1GB"})
	if err := sb.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, got := rows(t, sb, admin, "SELECT name, CAST(value AS VARCHAR) FROM duckdb_settings() WHERE name IN "+
		"('enable_external_access','lock_configuration','autoinstall_known_extensions','autoload_known_extensions','memory_limit') ORDER BY name")
	want := map[string]string{"enable_external_access": "false", "lock_configuration": "true",
		"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
	for _, r := range got {
		if w, ok := want[r[0]]; ok && r[1] != w {
			t.Errorf("%s = %s, want %s", r[0], r[1], w)
		}
		if r[0] == "memory_limit" && !strings.Contains(r[1], "MiB") && !strings.Contains(r[1], "GiB") && !strings.Contains(r[1], "MB") {
			t.Errorf("memory_limit = %s", r[1])
		}
	}
	if len(got) != 5 {
		t.Fatalf("settings %v", got)
	}
	// set_config-like scalar functions do not exist; the only writer of
	// settings is SET, which is refused above and locked below.
	res, err := sb.Query(context.Background(), admin, "SELECT current_setting('enable_external_access')", sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res.Close()
}

// A member key's tables hold only its tenant's rows, and datasets of a
// scope it lacks are not there at all. The oracle counts the same files
// with the engine's own DuckDB.
func TestMemberSeesOnlyItsRows(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{})
	all := oracle(t, "usage", `SELECT CAST(count(*) AS VARCHAR) FROM $src`)
	mine := oracle(t, "usage", `SELECT CAST(count(*) AS VARCHAR) FROM $src WHERE "PublisherId" = 'pub-contoso'`)
	if mine == "0" || mine == all {
		t.Fatalf("test data: %s of %s rows are pub-contoso's", mine, all)
	}
	_, got := rows(t, sb, contoso, `SELECT count(*), count(DISTINCT "PublisherId"), min("PublisherId") FROM usage`)
	if got[0][0] != mine || got[0][1] != "1" || got[0][2] != "pub-contoso" {
		t.Fatalf("member sees %v, want %s rows of pub-contoso only", got, mine)
	}
	_, got = rows(t, sb, admin, `SELECT count(*) FROM usage`)
	if got[0][0] != all {
		t.Fatalf("admin sees %v rows, want %s", got, all)
	}
	// Another tenant's rows, asked for by name: none.
	_, got = rows(t, sb, contoso, `SELECT count(*) FROM usage WHERE "PublisherId" = 'pub-fabrikam'`)
	if got[0][0] != "0" {
		t.Fatalf("member reads %s rows of another tenant", got[0][0])
	}
	// transactions are scoped by org, which the key lacks: no table.
	_, err := sb.Query(context.Background(), contoso, "SELECT count(*) FROM transactions", sandbox.Options{})
	e := sandboxErr(t, err)
	if e.Code != sandbox.CodeQuery || !strings.Contains(e.Message, "transactions") {
		t.Fatalf("transactions for an account key: %v", e)
	}
	// The view's own definition cannot be bypassed through the catalog.
	_, got = rows(t, sb, contoso, `SELECT count(*) FROM duckdb_views() WHERE NOT internal`)
	if got[0][0] != fmt.Sprint(len(sb.Tables(contoso))) {
		t.Fatalf("views %v, tables %v", got, sb.Tables(contoso))
	}
	// An org key sees its org's transactions.
	acme := planner.Scope{Org: "acme"}
	n := oracle(t, "transactions", `SELECT CAST(count(*) AS VARCHAR) FROM $src WHERE organization = 'acme'`)
	_, got = rows(t, sb, acme, `SELECT count(*), count(DISTINCT organization) FROM transactions`)
	if got[0][0] != n || got[0][1] != "1" {
		t.Fatalf("org key sees %v, want %s rows of acme", got, n)
	}
}

// Ordinary queries answer what DuckDB answers over the same files.
func TestResultsMatchOracle(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{})
	for _, q := range []struct{ ds, sandbox, oracle string }{
		{"usage", `SELECT CAST(round(sum("NormalizedUsage"), 6) AS VARCHAR) FROM usage WHERE "SKUBillingType" = 'Paid'`,
			`SELECT CAST(round(sum("NormalizedUsage"), 6) AS VARCHAR) FROM $src WHERE "SKUBillingType" = 'Paid'`},
		{"transactions", `SELECT string_agg(apiproxy || '=' || n, ',' ORDER BY apiproxy) FROM (SELECT apiproxy, count(*) n FROM transactions GROUP BY 1)`,
			`SELECT string_agg(apiproxy || '=' || n, ',' ORDER BY apiproxy) FROM (SELECT apiproxy, count(*) n FROM $src GROUP BY 1)`},
		{"transactions", `SELECT string_agg(DISTINCT ax_day_of_week, ',' ORDER BY ax_day_of_week) FROM transactions`,
			`SELECT string_agg(DISTINCT strftime("timestamp", '%a'), ',' ORDER BY strftime("timestamp", '%a')) FROM $src`},
	} {
		_, got := rows(t, sb, admin, q.sandbox)
		if want := oracle(t, q.ds, q.oracle); got[0][0] != want {
			t.Errorf("%s\n got %s\nwant %s", q.sandbox, got[0][0], want)
		}
	}
	// The SELECT-like statements all run.
	for _, q := range []string{
		"WITH x AS (SELECT 1 AS a) SELECT * FROM x", "VALUES (1), (2)", "FROM usage LIMIT 1",
		"DESCRIBE usage", "SHOW usage", "SUMMARIZE SELECT * FROM exchange_rates", "SHOW TABLES", "SHOW ALL TABLES",
		"EXPLAIN SELECT count(*) FROM usage", "EXPLAIN ANALYZE SELECT count(*) FROM usage",
		"SELECT * FROM range(3)", "SELECT * FROM (PIVOT exchange_rates ON currency IN ('EUR', 'GBP') USING max(rate_to_usd) GROUP BY date) LIMIT 1",
		"-- a comment\nSELECT 1 /* and another */", "SELECT 1;",
	} {
		rows(t, sb, contoso, q)
	}
}

// Errors carry DuckDB's message and the position it points at.
func TestErrorPosition(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{})
	for _, c := range []struct {
		sql          string
		line, column int
		want         string
	}{
		{"SELECT * FRM usage", 1, 14, "syntax error at or near"},
		{"SELECT\n  nosuchcolumn\nFROM usage", 2, 3, "nosuchcolumn"},
		{"SELECT 1,\n  2 FROM read_csv('/etc/passwd')", 2, 10, "read_csv"},
		{"EXPLAIN SELECT * FROM read_csv('x')", 1, 23, "read_csv"},
	} {
		_, err := sb.Query(context.Background(), contoso, c.sql, sandbox.Options{})
		e := sandboxErr(t, err)
		if e.Line != c.line || e.Column != c.column || !strings.Contains(e.Message, c.want) || strings.Contains(e.Message, "LINE ") {
			t.Errorf("%q: line %d column %d %q, want %d:%d containing %q", c.sql, e.Line, e.Column, e.Message, c.line, c.column, c.want)
		}
	}
}

// A query over its time limit is interrupted promptly and the instance
// keeps answering.
func TestTimeout(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{Timeout: 10 * time.Second})
	slow := "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3"
	started := time.Now()
	res, err := sb.Query(context.Background(), admin, slow, sandbox.Options{Timeout: 300 * time.Millisecond})
	if err == nil {
		for res.Reader.Next() {
		}
		err = res.Err()
		res.Close()
	}
	e := sandboxErr(t, err)
	if e.Code != sandbox.CodeTimeout || !errors.Is(err, sandbox.ErrTimeout) || !strings.Contains(e.Message, "300ms") {
		t.Fatalf("slow query: %v", e)
	}
	if d := time.Since(started); d > 3*time.Second {
		t.Fatalf("interrupted after %s", d)
	}
	// A request may not raise the limit: 1 h asked, the sandbox's 10 s apply.
	res, err = sb.Query(context.Background(), admin, "SELECT 1", sandbox.Options{Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Limit != 10*time.Second {
		t.Errorf("limit %s, want 10s", res.Limit)
	}
	res.Close()
	_, got := rows(t, sb, admin, "SELECT count(*) FROM usage")
	if got[0][0] == "0" {
		t.Fatal("no rows after the timeout")
	}
}

// Progress is DuckDB's own, readable while the query runs; cancelling
// the query's context interrupts it.
func TestProgress(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{})
	// A scan of real rows (range() reports no progress): usage cross a
	// large range, grouped.
	q := `SELECT count(*) FROM usage a, usage b WHERE a."CustomerId" < b."CustomerId"`
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var p sandbox.Progress
	var mu sync.Mutex
	var seen []float64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 500; i++ {
			if pct, ok := p.Get(); ok {
				mu.Lock()
				seen = append(seen, pct)
				n := len(seen)
				mu.Unlock()
				if n > 3 && pct > 0 {
					cancel()
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	started := time.Now()
	res, err := sb.Query(ctx, admin, q, sandbox.Options{Progress: &p})
	if err == nil {
		res.Close()
		t.Fatalf("query finished in %s before it was cancelled; progress %v", time.Since(started), seen)
	}
	<-done
	if e := sandboxErr(t, err); e.Code != sandbox.CodeCancelled {
		t.Fatalf("cancelled query: %v", e)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || seen[len(seen)-1] <= 0 || seen[len(seen)-1] >= 100 {
		t.Fatalf("progress %v", seen)
	}
}

// When a dataset's manifest changes, its view shows the new files at the
// next query.
func TestViewsFollowTheManifest(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{})
	_, before := rows(t, sb, admin, "SELECT count(*) FROM exchange_rates")
	cat := testEng.Catalog()
	if _, err := gen.Generate(context.Background(), testEng.Store(), cat, gen.Options{
		Datasets: []string{"exchange_rates"}, Rows: 100, Days: 5, Seed: 2, End: testNow.Truncate(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	want := oracle(t, "exchange_rates", `SELECT CAST(count(*) AS VARCHAR) FROM $src`)
	_, after := rows(t, sb, admin, "SELECT count(*) FROM exchange_rates")
	if after[0][0] != want || after[0][0] == before[0][0] {
		t.Fatalf("after regenerating: %s rows, want %s (before %s)", after[0][0], want, before[0][0])
	}
}

// The cache keeps at most MaxInstances instances; an evicted scope is
// rebuilt on its next query.
func TestInstanceCache(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{MaxInstances: 2})
	for i := 0; i < 2; i++ {
		for _, sc := range []planner.Scope{admin, contoso, {Account: "pub-fabrikam"}, {Org: "acme"}} {
			rows(t, sb, sc, "SELECT count(*) FROM exchange_rates")
		}
	}
}

// MaxRows stops a query after MaxRows+1 rows, keeping its order, and
// errors keep the user's positions.
func TestMaxRows(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{})
	ctx := context.Background()
	for _, q := range []string{
		"SELECT range AS i FROM range(100000) ORDER BY i DESC",
		"SELECT range AS i FROM range(100000) ORDER BY i DESC;",
		"SELECT range AS i FROM range(100000) ORDER BY i DESC -- newest first",
		"SELECT range AS i FROM range(100000) ORDER BY i DESC; -- newest first",
	} {
		res, err := sb.Query(ctx, admin, q, sandbox.Options{MaxRows: 10})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var got []int64
		for res.Reader.Next() {
			rec := res.Reader.RecordBatch()
			for i := 0; i < int(rec.NumRows()); i++ {
				got = append(got, engine.Value(rec.Column(0), i).(int64))
			}
		}
		res.Close()
		if !strings.HasSuffix(q, "newest first") || !strings.Contains(q, ";") {
			if len(got) != 11 || got[0] != 99999 || got[10] != 99989 {
				t.Errorf("%s: %v", q, got)
			}
		} else if len(got) != 100000 || got[0] != 99999 {
			t.Errorf("%s: %d rows", q, len(got))
		}
	}
	_, err := sb.Query(ctx, contoso, "SELECT 1,\n  nosuchcolumn FROM usage", sandbox.Options{MaxRows: 10})
	if e := sandboxErr(t, err); e.Line != 2 || e.Column != 3 {
		t.Errorf("capped error at %d:%d, want 2:3 (%s)", e.Line, e.Column, e.Message)
	}
}
