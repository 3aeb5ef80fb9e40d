package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/planner"
)

// eventsSchema is a user dataset for the ingest tests: tenant org.
const eventsSchema = `{"name":"events","time_column":"ts","tenant_column":"org","tenant_scope":"org","sort_by":["org","ts"],
 "columns":[{"name":"org","type":"VARCHAR","role":"dimension"},{"name":"ts","type":"TIMESTAMP","role":"time"},
  {"name":"id","type":"BIGINT","role":"dimension"},{"name":"proxy","type":"VARCHAR","role":"dimension","nullable":true},
  {"name":"latency","type":"DOUBLE","role":"metric","agg":"sum","nullable":true}]}`

// ingestServer is a server over a fresh data dir holding the events
// dataset (and the built-in ones, empty).
func ingestServer(t *testing.T, cfg Config) (*testServer, *engine.Engine) {
	t.Helper()
	return ingestServerFor(t, cfg)
}

func ingestServerFor(t testing.TB, cfg Config) (*testServer, *engine.Engine) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "datasets", "events"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "datasets", "events", "schema.json"), []byte(eventsSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(context.Background(), engine.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return startServer(t, serverSetup{cfg: cfg, engine: eng}), eng
}

// eventsCount is the oracle: rows per org over the manifest's files.
func eventsCount(t *testing.T, eng *engine.Engine) map[string]int64 {
	t.Helper()
	m, err := eng.Store().Manifest("events")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	if len(m.Files) == 0 {
		return out
	}
	var files []string
	for _, f := range m.Files {
		files = append(files, "'"+eng.Store().Abs("events", f)+"'")
	}
	rows, err := eng.DB().Query(`SELECT org, count(*) FROM read_parquet([` + strings.Join(files, ",") + `]) GROUP BY org`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var org string
		var n int64
		rows.Scan(&org, &n)
		out[org] = n
	}
	return out
}

func ndjsonRows(org string, from, n int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, `{"org":%q,"ts":"2026-03-%02dT10:00:00Z","id":%d,"proxy":"p%d","latency":%d.5}`+"\n", org, 1+i%28, i, i%5, i)
	}
	return b.String()
}

func (ts *testServer) ingest(t *testing.T, secret, query, ctype string, body io.Reader, hdr ...string) (response, IngestResult) {
	t.Helper()
	r := ts.do(t, http.MethodPost, "/api/ingest/events"+query, "Bearer "+secret, body, append([]string{"Content-Type", ctype}, hdr...)...)
	var res IngestResult
	if r.Status == http.StatusOK {
		r.json(t, &res)
	}
	return r, res
}

// Good and bad rows, each format, atomic mode, and the oracle's counts.
func TestIngestHTTP(t *testing.T) {
	ts, eng := ingestServer(t, Config{})
	body := ndjsonRows("acme", 0, 100) + `{"org":"acme","ts":"not a time","id":1}` + "\n" + ndjsonRows("acme", 100, 20) + `{"org":"acme","id":2}` + "\n"
	r, res := ts.ingest(t, ts.Admin, "", "application/x-ndjson", strings.NewReader(body))
	wantStatus(t, r, http.StatusOK)
	if res.Accepted != 120 || res.Rejected != 2 || len(res.Errors) != 2 || res.Errors[0].Line != 101 || res.Errors[0].Column != "ts" ||
		res.Errors[1].Line != 122 || !strings.Contains(res.Errors[1].Reason, "time column is required") {
		t.Fatalf("result %+v", res)
	}
	if got := eventsCount(t, eng); got["acme"] != 120 {
		t.Fatalf("oracle count %v, want 120", got)
	}
	// atomic: one bad row and nothing is ingested
	r, _ = ts.ingest(t, ts.Admin, "?atomic=true", "application/x-ndjson", strings.NewReader(body))
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `line 101: column \"ts\"`) {
		t.Errorf("atomic: %d %s", r.Status, r.Body)
	}
	if got := eventsCount(t, eng); got["acme"] != 120 {
		t.Errorf("after a refused atomic body: %v", got)
	}
	// CSV, and gzipped NDJSON
	csv := "org,ts,id,proxy,latency\nglobex,2026-03-02T00:00:00Z,1,p,1.5\nglobex,2026-03-03T00:00:00Z,2,,\n"
	r, res = ts.ingest(t, ts.Admin, "?format=csv", "application/octet-stream", strings.NewReader(csv))
	if r.Status != 200 || res.Accepted != 2 {
		t.Errorf("csv: %d %s", r.Status, r.Body)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(ndjsonRows("initech", 0, 30)))
	zw.Close()
	r, res = ts.ingest(t, ts.Admin, "", "application/x-ndjson", &gz, "Content-Encoding", "gzip")
	if r.Status != 200 || res.Accepted != 30 {
		t.Errorf("gzip: %d %s", r.Status, r.Body)
	}
	// Parquet, made by DuckDB
	pq := filepath.Join(t.TempDir(), "x.parquet")
	if _, err := eng.DB().Exec(`COPY (SELECT 'hooli' AS org, TIMESTAMP '2026-03-05 01:00:00' + INTERVAL (i) MINUTE AS ts, i::BIGINT AS id FROM range(500) t(i)) TO '` + pq + `' (FORMAT parquet)`); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(pq)
	defer f.Close()
	r, res = ts.ingest(t, ts.Admin, "", "application/vnd.apache.parquet", f)
	if r.Status != 200 || res.Accepted != 500 {
		t.Errorf("parquet: %d %s", r.Status, r.Body)
	}
	if got := eventsCount(t, eng); got["globex"] != 2 || got["initech"] != 30 || got["hooli"] != 500 || got["acme"] != 120 {
		t.Errorf("oracle counts %v", got)
	}
	// the engine sees the new rows at once
	res2, err := eng.RunSQL(context.Background(), mustCompileCount(t, eng))
	if err != nil {
		t.Fatal(err)
	}
	res2.Reader.Next()
	if n := engine.Value(res2.Reader.RecordBatch().Column(0), 0); fmt.Sprint(n) != "652" {
		t.Errorf("engine count %v, want 652", n)
	}
	res2.Close()
	// errors
	for _, c := range []struct {
		path, ctype string
		status      int
		want        string
	}{
		{"/api/ingest/nope", "application/x-ndjson", 404, "unknown dataset"},
		{"/api/ingest/events", "text/plain", 400, "say the body's format"},
		{"/api/ingest/events?format=xml", "", 400, `is not ndjson, csv or parquet`},
		{"/api/ingest/events?atomic=maybe", "application/x-ndjson", 400, "atomic"},
		{"/api/ingest/events?format=csv", "", 400, "unknown column"},
	} {
		r := ts.do(t, http.MethodPost, c.path, "Bearer "+ts.Admin, strings.NewReader("x,y\n1,2\n"), "Content-Type", c.ctype)
		if r.Status != c.status || !strings.Contains(string(r.Body), c.want) {
			t.Errorf("%s (%s): %d %s", c.path, c.ctype, r.Status, r.Body)
		}
	}
}

func mustCompileCount(t *testing.T, eng *engine.Engine) planner.SQL {
	t.Helper()
	d, _ := eng.Catalog().Lookup("events")
	from, err := eng.Source(d, planner.Window{})
	if err != nil {
		t.Fatal(err)
	}
	return planner.SQL{Text: "SELECT count(*) FROM " + from}
}

// A member key writes only its org's rows: missing orgs are filled,
// other orgs rejected; a key without an org, or a shared dataset, is 403.
func TestIngestScope(t *testing.T) {
	ts, eng := ingestServer(t, Config{})
	member := ts.key(t, meta.Key{Name: "m", User: "u", Org: "acme"})
	body := `{"ts":"2026-03-01T00:00:00Z","id":1}` + "\n" + `{"org":"acme","ts":"2026-03-01T00:00:00Z","id":2}` + "\n" + `{"org":"globex","ts":"2026-03-01T00:00:00Z","id":3}` + "\n"
	r, res := ts.ingest(t, member, "", "application/x-ndjson", strings.NewReader(body))
	if r.Status != 200 || res.Accepted != 2 || res.Rejected != 1 || res.Errors[0].Line != 3 || !strings.Contains(res.Errors[0].Reason, `may only write rows of "acme"`) {
		t.Fatalf("member: %d %s", r.Status, r.Body)
	}
	if got := eventsCount(t, eng); got["acme"] != 2 || got["globex"] != 0 {
		t.Errorf("oracle %v", got)
	}
	project := ts.key(t, meta.Key{Name: "p", User: "u", Project: "proj-a"})
	if r, _ := ts.ingest(t, project, "", "application/x-ndjson", strings.NewReader(body)); r.Status != http.StatusForbidden {
		t.Errorf("key without an org: %d %s", r.Status, r.Body)
	}
	r = ts.do(t, http.MethodPost, "/api/ingest/exchange_rates", "Bearer "+member, strings.NewReader(`{"date":"2026-03-01","currency":"USD","rate_to_usd":1}`), "Content-Type", "application/x-ndjson")
	if r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "shared") {
		t.Errorf("member writing a shared dataset: %d %s", r.Status, r.Body)
	}
}

// Bodies over the server's body limit stream through ingest; the ingest
// limit, the per-key rate and the concurrency bound answer with
// Retry-After; the server stays usable after each.
func TestIngestLimits(t *testing.T) {
	// a rate of one request per 20 s: a key's first request passes, its
	// second is refused however slow the machine
	ts, eng := ingestServer(t, Config{BodyLimit: 64 << 10, IngestBodyLimit: 4 << 20, IngestRatePerSecond: 0.05, IngestConcurrent: 1})
	big := ndjsonRows("acme", 0, 20000) // ~1.8 MB, well over the 64 KiB body limit
	if len(big) < 1<<20 {
		t.Fatalf("body of %d bytes is too small for the test", len(big))
	}
	r, res := ts.ingest(t, ts.Admin, "", "application/x-ndjson", strings.NewReader(big))
	if r.Status != 200 || res.Accepted != 20000 {
		t.Fatalf("streamed body: %d %.300s", r.Status, r.Body)
	}
	if got := eventsCount(t, eng); got["acme"] != 20000 {
		t.Fatalf("oracle %v", got)
	}
	r, _ = ts.ingest(t, ts.Admin, "", "application/x-ndjson", strings.NewReader(ndjsonRows("acme", 0, 1)))
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("over the rate: %d %s", r.Status, r.Body)
	}
	wantStatus(t, ts.get(t, "/healthz", ""), 200)
	// over the ingest body limit (another key: its own rate)
	other := ts.key(t, meta.Key{Name: "a2", Role: meta.RoleAdmin})
	huge := ndjsonRows("acme", 0, 60000)
	r, _ = ts.ingest(t, other, "", "application/x-ndjson", strings.NewReader(huge))
	if r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("over the ingest limit: %d %.200s", r.Status, r.Body)
	}
	if got := eventsCount(t, eng); got["acme"] != 20000 {
		t.Errorf("after a refused body: %v", got)
	}
	// one ingest at once: a slow body holds the slot, the next gets 503
	third := ts.key(t, meta.Key{Name: "a3", Role: meta.RoleAdmin})
	fourth := ts.key(t, meta.Key{Name: "a4", Role: meta.RoleAdmin})
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/ingest/events", pr)
		req.Header.Set("Authorization", "Bearer "+third)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write([]byte(big)) // past the body limit: the handler runs and waits for more
	var busy response
	for i := 0; i < 100; i++ {
		k := fourth
		if i > 0 { // a fresh key each try: the rate limit is per key
			k = ts.key(t, meta.Key{Name: fmt.Sprintf("a4-%d", i), Role: meta.RoleAdmin})
		}
		busy, _ = ts.ingest(t, k, "", "application/x-ndjson", strings.NewReader(ndjsonRows("acme", 0, 1)))
		if busy.Status == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if busy.Status != http.StatusServiceUnavailable || busy.Header.Get("Retry-After") != "1" {
		t.Errorf("second ingest while one runs: %d %s", busy.Status, busy.Body)
	}
	pw.Close()
	if code := <-done; code != 200 {
		t.Errorf("the slow ingest: %d", code)
	}
	wantStatus(t, ts.get(t, "/healthz", ""), 200)
}

// Small concurrent requests share commits: 40 requests of 25 rows of one
// day become a handful of files, not 40; without batching, 40.
func TestIngestBatching(t *testing.T) {
	for _, c := range []struct {
		name   string
		window time.Duration
		check  func(files int) bool
	}{
		{"batched", 200 * time.Millisecond, func(n int) bool { return n >= 1 && n <= 8 }},
		{"unbatched", -1, func(n int) bool { return n == 40 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts, eng := ingestServer(t, Config{IngestRatePerSecond: -1, IngestConcurrent: 40, IngestBatchWindow: c.window})
			var wg sync.WaitGroup
			errs := make(chan string, 40)
			for r := 0; r < 40; r++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var b strings.Builder
					for i := 0; i < 25; i++ {
						fmt.Fprintf(&b, `{"org":"acme","ts":"2026-03-07T%02d:%02d:00Z","id":%d}`+"\n", i%24, r, r*100+i)
					}
					req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/ingest/events", strings.NewReader(b.String()))
					req.Header.Set("Authorization", "Bearer "+ts.Admin)
					req.Header.Set("Content-Type", "application/x-ndjson")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						errs <- err.Error()
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.Contains(string(body), `"accepted":25`) {
						errs <- fmt.Sprintf("%d %s", resp.StatusCode, body)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			if got := eventsCount(t, eng); got["acme"] != 1000 {
				t.Errorf("oracle %v, want 1000 rows", got)
			}
			m, _ := eng.Store().Manifest("events")
			if !c.check(len(m.Files)) {
				t.Errorf("%d files for 40 requests", len(m.Files))
			}
		})
	}
}
