package server

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/planner"
)

// sqlResult is POST /api/sql's JSON answer.
type sqlResult struct {
	Columns   []struct{ Name, Type string }
	Rows      [][]any
	RowCount  int64   `json:"row_count"`
	Truncated bool    `json:"truncated"`
	ElapsedMS float64 `json:"elapsed_ms"`
	Statement string
	Language  string
	Limit     int64
}

type sqlError struct {
	Error struct {
		Code, Message, Detail string
		Line, Column          int
		Position              *int
	}
}

func (ts *testServer) sql(t testing.TB, secret string, body any, query string) response {
	t.Helper()
	b, _ := json.Marshal(body)
	return ts.do(t, http.MethodPost, "/api/sql"+query, "Bearer "+secret, bytes.NewReader(b), "Content-Type", "application/json")
}

func (ts *testServer) sqlRows(t testing.TB, secret, q string) sqlResult {
	t.Helper()
	r := ts.sql(t, secret, map[string]any{"sql": q}, "")
	wantStatus(t, r, 200)
	var out sqlResult
	r.json(t, &out)
	return out
}

// oracleScalar runs SQL on the engine's own DuckDB over a dataset's
// files ($src).
func oracleScalar(t testing.TB, dataset, q string) string {
	t.Helper()
	d, _ := testEngine.Catalog().Lookup(dataset)
	src, err := testEngine.Source(d, planner.Window{})
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := testEngine.DB().QueryRow(strings.ReplaceAll(q, "$src", src)).Scan(&s); err != nil {
		t.Fatalf("oracle: %v", err)
	}
	return s
}

func TestConsoleQueryMatchesOracle(t *testing.T) {
	ts := startServer(t, serverSetup{})
	got := ts.sqlRows(t, ts.Admin, `SELECT "PublisherId", count(*) AS n, round(sum("NormalizedUsage"), 6) AS u FROM usage GROUP BY 1 ORDER BY 1`)
	want := oracleScalar(t, "usage", `SELECT string_agg(printf('%s=%d=%.6f', "PublisherId", n, u), ',' ORDER BY "PublisherId") FROM
		(SELECT "PublisherId", count(*) AS n, round(sum("NormalizedUsage"), 6) AS u FROM $src GROUP BY 1)`)
	var parts []string
	for _, r := range got.Rows {
		parts = append(parts, fmt.Sprintf("%v=%v=%.6f", r[0], r[1], r[2]))
	}
	if strings.Join(parts, ",") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(parts, ","), want)
	}
	if got.Columns[0].Name != "PublisherId" || got.Columns[0].Type != "VARCHAR" || got.Columns[1].Type != "BIGINT" ||
		got.Columns[2].Type != "DOUBLE" || got.Statement != "select" || got.Language != "sql" || got.Truncated {
		t.Fatalf("result %+v", got)
	}
}

// Each escape attempt is refused over HTTP with a clear message (403), a
// syntax error is a 400 with its position.
func TestConsoleEscapes(t *testing.T) {
	ts := startServer(t, serverSetup{})
	member := ts.key(t, meta.Key{Name: "m", Account: "pub-contoso"})
	for _, c := range []struct {
		sql    string
		status int
		want   string
	}{
		{"SELECT * FROM read_csv('/etc/passwd')", 403, "table function read_csv is not allowed"},
		{"COPY (SELECT * FROM usage) TO '/tmp/out.csv'", 403, "COPY statements are not allowed"},
		{"ATTACH '/tmp/other.db' AS o", 403, "ATTACH statements are not allowed"},
		{"INSTALL httpfs", 403, "INSTALL statements are not allowed"},
		{"LOAD httpfs", 403, "LOAD statements are not allowed"},
		{"SET enable_external_access = true", 403, "SET is not allowed"},
		{"PRAGMA memory_limit = '100GB'", 403, "PRAGMA is not allowed"},
		{"CREATE TABLE t AS SELECT 1", 403, "CREATE statements are not allowed"},
		{"INSERT INTO usage SELECT * FROM usage", 403, "INSERT statements are not allowed"},
		{"SELECT 1; SELECT 2", 403, "one statement per request"},
		{"SELECT * FROM read_parquet('" + testDataDir + "/datasets/usage/*/*.parquet')", 403, "read_parquet is not allowed"},
	} {
		r := ts.sql(t, member, map[string]any{"sql": c.sql}, "")
		var e sqlError
		r.json(t, &e)
		if r.Status != c.status || !strings.Contains(e.Error.Message, c.want) {
			t.Errorf("%s: %d %s; want %d containing %q", c.sql, r.Status, r.Body, c.status, c.want)
		}
	}
	r := ts.sql(t, member, map[string]any{"sql": "SELECT\n  UsageDat\nFROM usage"}, "")
	var e sqlError
	r.json(t, &e)
	if r.Status != 400 || e.Error.Code != "query_error" || e.Error.Line != 2 || e.Error.Column != 3 || e.Error.Position == nil ||
		*e.Error.Position != 9 || !strings.Contains(e.Error.Message, "UsageDat") {
		t.Fatalf("binder error: %d %s", r.Status, r.Body)
	}
}

// A member key reads only its tenant's rows; the oracle counts them over
// the same files. GET /api/datasets shows its own row count too.
func TestConsoleMemberSeesOnlyItsTenant(t *testing.T) {
	ts := startServer(t, serverSetup{})
	member := ts.key(t, meta.Key{Name: "m", Account: "pub-contoso"})
	want := oracleScalar(t, "usage", `SELECT CAST(count(*) AS VARCHAR) FROM $src WHERE "PublisherId" = 'pub-contoso'`)
	all := oracleScalar(t, "usage", `SELECT CAST(count(*) AS VARCHAR) FROM $src`)
	got := ts.sqlRows(t, member, `SELECT count(*), count(DISTINCT "PublisherId") FROM usage`)
	if fmt.Sprint(got.Rows[0][0]) != want || fmt.Sprint(got.Rows[0][1]) != "1" || want == all {
		t.Fatalf("member sees %v rows, want %s of %s", got.Rows, want, all)
	}
	got = ts.sqlRows(t, member, `SELECT count(*) FROM usage WHERE "PublisherId" <> 'pub-contoso'`)
	if fmt.Sprint(got.Rows[0][0]) != "0" {
		t.Fatalf("member reads %v rows of other tenants", got.Rows)
	}
	// A dataset of a scope the key lacks is not a table at all.
	r := ts.sql(t, member, map[string]any{"sql": "SELECT count(*) FROM transactions"}, "")
	if r.Status != 400 || !strings.Contains(string(r.Body), "transactions") {
		t.Fatalf("transactions for an account key: %d %s", r.Status, r.Body)
	}
	list := ts.get(t, "/api/datasets", member)
	wantStatus(t, list, 200)
	var body struct {
		Datasets []struct {
			Name string
			Rows int64
		}
	}
	list.json(t, &body)
	for _, d := range body.Datasets {
		if d.Name == "usage" && fmt.Sprint(d.Rows) != want {
			t.Fatalf("/api/datasets shows the member %d usage rows, want %s", d.Rows, want)
		}
	}
}

// The row cap truncates, and the formats carry the same rows.
func TestConsoleFormats(t *testing.T) {
	ts := startServer(t, serverSetup{})
	q := map[string]any{"sql": "SELECT range AS i, 'r' || range AS s FROM range(250) ORDER BY i", "limit": 100}
	r := ts.sql(t, ts.Admin, q, "")
	wantStatus(t, r, 200)
	var js sqlResult
	r.json(t, &js)
	if js.RowCount != 100 || !js.Truncated || len(js.Rows) != 100 || js.Rows[99][1] != "r99" || js.Limit != 100 {
		t.Fatalf("json: %d rows truncated=%v", js.RowCount, js.Truncated)
	}
	b, _ := json.Marshal(q)
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/sql?format=csv", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+ts.Admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(recs) != 101 || recs[0][0] != "i" || recs[100][1] != "r99" ||
		resp.Trailer.Get("X-Quarry-Truncated") != "true" || resp.Header.Get("X-Quarry-Row-Limit") != "100" {
		t.Fatalf("csv: %d %d records %v, trailer %v", resp.StatusCode, len(recs), err, resp.Trailer)
	}
	r = ts.do(t, http.MethodPost, "/api/sql", "Bearer "+ts.Admin, bytes.NewReader(b), "Accept", "application/vnd.apache.arrow.stream")
	wantStatus(t, r, 200)
	rd, err := ipc.NewReader(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for rd.Next() {
		n += rd.RecordBatch().NumRows()
	}
	if n != 100 || rd.Schema().Field(1).Name != "s" {
		t.Fatalf("arrow: %d rows, schema %v", n, rd.Schema())
	}
	rd.Release()
	r = ts.sql(t, ts.Admin, q, "?format=parquet")
	wantStatus(t, r, 200)
	if !bytes.HasPrefix(r.Body, []byte("PAR1")) || r.Header.Get("X-Quarry-Rows") != "100" || r.Header.Get("X-Quarry-Truncated") != "true" {
		t.Fatalf("parquet: %d bytes, headers %v", len(r.Body), r.Header)
	}
	// Under the cap: not truncated.
	r = ts.sql(t, ts.Admin, map[string]any{"sql": "SELECT 1 AS one", "limit": 1}, "")
	r.json(t, &js)
	if js.RowCount != 1 || js.Truncated {
		t.Fatalf("one row: %+v", js)
	}
	// Limits: over the maximum is a 400.
	r = ts.sql(t, ts.Admin, map[string]any{"sql": "SELECT 1", "limit": 2_000_000}, "")
	wantStatus(t, r, 400)
}

// A query over its time limit is cancelled and answered as such, and the
// server answers other requests meanwhile and after.
func TestConsoleTimeLimit(t *testing.T) {
	ts := startServer(t, serverSetup{})
	// The slow query runs 6 s; a quick one that had to wait for it would
	// take over 5 s, so 3 s tells waiting from a busy machine.
	slow := map[string]any{"sql": "SELECT count(*) FROM range(1000000000000) WHERE range % 7 = 5", "timeout_ms": 6000}
	var wg sync.WaitGroup
	wg.Add(1)
	var slowResp response
	started := time.Now()
	go func() {
		defer wg.Done()
		slowResp = ts.sql(t, ts.Admin, slow, "")
	}()
	time.Sleep(300 * time.Millisecond)
	quick := time.Now()
	got := ts.sqlRows(t, ts.Admin, "SELECT 42")
	if fmt.Sprint(got.Rows[0][0]) != "42" || time.Since(quick) > 3*time.Second {
		t.Fatalf("a quick query during the slow one: %v in %s", got.Rows, time.Since(quick))
	}
	wantStatus(t, ts.get(t, "/healthz", ""), 200)
	wg.Wait()
	var e sqlError
	slowResp.json(t, &e)
	if slowResp.Status != 400 || e.Error.Code != "timeout" || !strings.Contains(e.Error.Message, "6s") {
		t.Fatalf("slow query: %d %s", slowResp.Status, slowResp.Body)
	}
	if d := time.Since(started); d > 12*time.Second {
		t.Fatalf("the slow query answered after %s", d)
	}
	got = ts.sqlRows(t, ts.Admin, "SELECT count(*) FROM usage")
	if fmt.Sprint(got.Rows[0][0]) == "0" {
		t.Fatal("no rows after the timeout")
	}
}

// A running synchronous query shows DuckDB's progress and can be
// cancelled by its query_id; only its owner sees it.
func TestConsoleCancelRunningQuery(t *testing.T) {
	ts := startServer(t, serverSetup{})
	other := ts.key(t, meta.Key{Name: "o", User: "bob"})
	slow := map[string]any{"sql": "SELECT count(*) FROM transactions a, transactions b WHERE a.client_ip < b.client_ip", "query_id": "slow-1"}
	done := make(chan response, 1)
	go func() { done <- ts.sql(t, ts.Admin, slow, "") }()
	deadline := time.Now().Add(10 * time.Second)
	var prog struct {
		Progress float64
		Running  bool
	}
	for time.Now().Before(deadline) {
		r := ts.get(t, "/api/sql/queries/slow-1", ts.Admin)
		if r.Status == 200 {
			r.json(t, &prog)
			if prog.Progress > 0 {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if prog.Progress <= 0 || prog.Progress >= 100 {
		t.Fatalf("progress %+v", prog)
	}
	wantStatus(t, ts.get(t, "/api/sql/queries/slow-1", other), 404)
	wantStatus(t, ts.do(t, http.MethodDelete, "/api/sql/queries/slow-1", "Bearer "+other, nil), 404)
	wantStatus(t, ts.do(t, http.MethodDelete, "/api/sql/queries/slow-1", "Bearer "+ts.Admin, nil), 200)
	select {
	case r := <-done:
		var e sqlError
		r.json(t, &e)
		if r.Status != 409 || e.Error.Code != "cancelled" {
			t.Fatalf("cancelled query: %d %s", r.Status, r.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled query did not answer")
	}
	wantStatus(t, ts.get(t, "/api/sql/queries/slow-1", ts.Admin), 404)
}

type consoleJob struct {
	ID, State, Error, Result string
	Progress                 float64
	Rows                     int64
	Truncated                bool
}

func (ts *testServer) job(t testing.TB, secret, id string) consoleJob {
	t.Helper()
	r := ts.get(t, "/api/sql/jobs/"+id, secret)
	wantStatus(t, r, 200)
	var j consoleJob
	r.json(t, &j)
	return j
}

// Async jobs: progress while running, cancel, and a completed job's
// result in every format.
func TestConsoleJobs(t *testing.T) {
	ts := startServer(t, serverSetup{})
	submit := func(body map[string]any) consoleJob {
		b, _ := json.Marshal(body)
		r := ts.do(t, http.MethodPost, "/api/sql/jobs", "Bearer "+ts.Admin, bytes.NewReader(b))
		wantStatus(t, r, 202)
		var j consoleJob
		r.json(t, &j)
		return j
	}
	slow := submit(map[string]any{"sql": "SELECT count(*) FROM transactions a, transactions b WHERE a.client_ip < b.client_ip"})
	deadline := time.Now().Add(15 * time.Second)
	var j consoleJob
	for time.Now().Before(deadline) {
		if j = ts.job(t, ts.Admin, slow.ID); j.State == "running" && j.Progress > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if j.State != "running" || j.Progress <= 0 || j.Progress >= 100 {
		t.Fatalf("slow job %+v", j)
	}
	r := ts.do(t, http.MethodDelete, "/api/sql/jobs/"+slow.ID, "Bearer "+ts.Admin, nil)
	wantStatus(t, r, 200)
	if j = ts.job(t, ts.Admin, slow.ID); j.State != "cancelled" {
		t.Fatalf("cancelled job %+v", j)
	}
	wantStatus(t, ts.get(t, "/api/sql/jobs/"+slow.ID+"/result", ts.Admin), 409)

	ok := submit(map[string]any{"sql": `SELECT apiproxy, count(*) AS n FROM transactions GROUP BY 1 ORDER BY 1`, "limit": 3})
	deadline = time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if j = ts.job(t, ts.Admin, ok.ID); j.State == "completed" || j.State == "failed" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if j.State != "completed" || j.Rows != 3 || !j.Truncated {
		t.Fatalf("job %+v", j)
	}
	r = ts.get(t, "/api/sql/jobs/"+ok.ID+"/result", ts.Admin)
	wantStatus(t, r, 200)
	var res sqlResult
	r.json(t, &res)
	want := oracleScalar(t, "transactions", `SELECT string_agg(apiproxy || '=' || n, ',' ORDER BY apiproxy) FROM
		(SELECT apiproxy, count(*) AS n FROM $src GROUP BY 1 ORDER BY 1 LIMIT 3)`)
	var parts []string
	for _, row := range res.Rows {
		parts = append(parts, fmt.Sprintf("%v=%v", row[0], row[1]))
	}
	if strings.Join(parts, ",") != want {
		t.Fatalf("job result %s, want %s", strings.Join(parts, ","), want)
	}
	r = ts.get(t, "/api/sql/jobs/"+ok.ID+"/result?format=csv", ts.Admin)
	if recs, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll(); err != nil || len(recs) != 4 {
		t.Fatalf("csv result: %v %v", recs, err)
	}
	r = ts.get(t, "/api/sql/jobs/"+ok.ID+"/result?format=parquet", ts.Admin)
	if !bytes.HasPrefix(r.Body, []byte("PAR1")) {
		t.Fatalf("parquet result: %q", r.Body[:min(len(r.Body), 20)])
	}
	// Another user's job is a 404.
	other := ts.key(t, meta.Key{Name: "o", User: "bob"})
	wantStatus(t, ts.get(t, "/api/sql/jobs/"+ok.ID, other), 404)
	// A refused statement is refused at submission.
	b, _ := json.Marshal(map[string]any{"sql": "COPY usage TO '/tmp/x.csv'"})
	wantStatus(t, ts.do(t, http.MethodPost, "/api/sql/jobs", "Bearer "+ts.Admin, bytes.NewReader(b)), 403)
}

// Report queries run through the planner; EXPLAIN shows their plan and
// compiled SQL, and DuckDB's plan for SQL.
func TestConsoleReportLanguageAndExplain(t *testing.T) {
	ts := startServer(t, serverSetup{})
	member := ts.key(t, meta.Key{Name: "m", Account: "pub-contoso"})
	q := "SELECT CustomerName, BilledRevenueUSD FROM CustomersAndTenants ORDER BY BilledRevenueUSD LIMIT 5 TIMESPAN LAST_MONTH"
	got := ts.sqlRows(t, member, q)
	if got.Language != "report" || got.Statement != "report" || len(got.Rows) == 0 || len(got.Rows) > 5 || got.Columns[1].Name != "BilledRevenueUSD" {
		t.Fatalf("report query: %+v", got)
	}
	b, _ := json.Marshal(map[string]any{"sql": q})
	r := ts.do(t, http.MethodPost, "/api/sql/explain", "Bearer "+member, bytes.NewReader(b))
	wantStatus(t, r, 200)
	var ex struct{ Language, Statement, Plan, SQL string }
	r.json(t, &ex)
	if ex.Language != "report" || !strings.Contains(ex.Plan, "-- plan") || !strings.Contains(ex.SQL, `"PartnerId" = $`) {
		t.Fatalf("report explain: %+v", ex)
	}
	b, _ = json.Marshal(map[string]any{"sql": `SELECT "PublisherId", count(*) FROM usage GROUP BY 1`})
	r = ts.do(t, http.MethodPost, "/api/sql/explain", "Bearer "+member, bytes.NewReader(b))
	wantStatus(t, r, 200)
	r.json(t, &ex)
	if ex.Language != "sql" || ex.Statement != "select" || !strings.Contains(ex.Plan, "READ_PARQUET") && !strings.Contains(ex.Plan, "PARQUET_SCAN") {
		t.Fatalf("sql explain: %+v", ex)
	}
	// A report error keeps the planner's position.
	r = ts.sql(t, member, map[string]any{"sql": "SELECT CustomerNam FROM CustomersAndTenants TIMESPAN LAST_MONTH"}, "")
	var e sqlError
	r.json(t, &e)
	if r.Status != 400 || e.Error.Line != 1 || e.Error.Column != 8 || !strings.Contains(e.Error.Detail, "did you mean 'CustomerName'") {
		t.Fatalf("report error: %d %s", r.Status, r.Body)
	}
}

// The page and its files are public and embedded; they carry a strict
// content security policy. The API is not public.
func TestConsolePage(t *testing.T) {
	ts := startServer(t, serverSetup{})
	for _, p := range []string{"/console", "/console/console.js", "/console/console.css"} {
		r := ts.get(t, p, "")
		wantStatus(t, r, 200)
		if !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'self'") || len(r.Body) < 100 {
			t.Errorf("%s: %v", p, r.Header)
		}
	}
	if r := ts.get(t, "/console", ""); !strings.Contains(string(r.Body), `<textarea id="editor"`) || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("page: %s", r.Header.Get("Content-Type"))
	}
	wantStatus(t, ts.get(t, "/console/nope.js", ""), 404)
	wantStatus(t, ts.get(t, "/console/..%2fconsole.go", ""), 404)
	b, _ := json.Marshal(map[string]any{"sql": "SELECT 1"})
	wantStatus(t, ts.do(t, http.MethodPost, "/api/sql", "", bytes.NewReader(b)), 401)
}
