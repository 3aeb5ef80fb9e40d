package server

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/gen"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/meta"
)

// The tenant isolation matrix (issue 10 §1): tenant A makes an object in
// every family, then a member key of tenant B calls EVERY route of the
// route table with A's ids: each route naming one of A's objects answers
// 404, and no answer of any route carries A's data. The matrix is built
// from the table, so a new route with a path parameter the matrix does
// not know fails this test until it is added here.
func TestTenantIsolationMatrix(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cat, err := datasets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	end := testNow.Truncate(24 * time.Hour)
	if _, err := gen.Generate(ctx, datasets.NewStore(dir), cat, gen.Options{
		Datasets: []string{"usage", "transactions", "energy", "exchange_rates"}, Rows: 3000, Days: 400, Seed: 1, End: end,
	}); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, engine.Config{DataDir: dir, Clock: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ts := startServer(t, serverSetup{engine: eng, cfg: Config{IngestRatePerSecond: -1}})
	a := ts.key(t, meta.Key{Name: "a", User: "alice", Account: "acct-1", Org: "acme", Project: "proj-a"})
	b := ts.key(t, meta.Key{Name: "b", User: "bob", Account: "acct-2", Org: "globex", Project: "proj-b"})

	call := func(secret, method, path, ctype, body string) response {
		return ts.do(t, method, path, "Bearer "+secret, strings.NewReader(body), "Content-Type", ctype)
	}
	mustOK := func(r response, what string) response {
		t.Helper()
		if r.Status >= 300 {
			t.Fatalf("%s: %d %s", what, r.Status, r.Body)
		}
		return r
	}
	// Tenant A's objects, one per family.
	var env struct{ Value []map[string]any }
	json.Unmarshal(mustOK(call(a, http.MethodPost, "/insights/v1.1/cmp/ScheduledQueries", "application/json",
		`{"Name":"secret-A-query","Query":"SELECT CustomerId, NormalizedUsage FROM ISVUsage TIMESPAN LAST_7_DAYS"}`), "query").Body, &env)
	queryID := env.Value[0]["queryId"].(string)
	json.Unmarshal(mustOK(call(a, http.MethodPost, "/insights/v1.1/cmp/ScheduledReport", "application/json",
		`{"ReportName":"secret-A-report","QueryId":"`+queryID+`","ExecuteNow":true}`), "report").Body, &env)
	insightsReport := env.Value[0]["reportId"].(string)
	var ax struct{ Self string }
	json.Unmarshal(mustOK(call(a, http.MethodPost, axPath("acme", "prod"), "application/json",
		`{"metrics":[{"name":"message_count","function":"sum","alias":"secret_A_metric"}],"timeRange":"last7days"}`), "analytics").Body, &ax)
	axID := ax.Self[strings.LastIndex(ax.Self, "/")+1:]
	tpl := mustOK(call(a, http.MethodPost, "/reports/templates", "application/xml",
		`<reportTemplate><name>secret-A-template</name><metrics><id>273</id></metrics></reportTemplate>`), "template")
	ids := regexp.MustCompile(`link="/reports/(templates/)?(\d+)"`).FindAllStringSubmatch(string(tpl.Body), -1)
	if len(ids) != 2 {
		t.Fatalf("template answer %s", tpl.Body)
	}
	templateID, energyReport := ids[0][2], ids[1][2]
	var job struct{ ID string }
	json.Unmarshal(mustOK(call(a, http.MethodPost, "/api/sql/jobs", "application/json", `{"sql":"SELECT 'secret-A-job' AS s"}`), "console job").Body, &job)
	meters := `{"source":"openstack","counter_name":"cpu","counter_type":"cumulative","counter_unit":"ns","counter_volume":7,` +
		`"user_id":"user-secret-a","project_id":"proj-a","resource_id":"res-secret-a","timestamp":"2026-03-30T10:00:00Z","resource_metadata":{"k":"secret-A-meta"}}` + "\n"
	mustOK(call(ts.Admin, http.MethodPost, "/api/ingest/meters", "application/x-ndjson", meters), "meters")
	time.Sleep(200 * time.Millisecond) // the ExecuteNow report runs

	// A's data, as it may show in an answer.
	markers := []string{"secret-A", "secret_A", "res-secret-a", "user-secret-a", queryID, insightsReport, axID, job.ID, "acme"}
	// Path parameters naming A's objects (404 expected), and parameters
	// that only narrow a listing (the answer must not carry A's data).
	objectParam := func(route, name string) (string, bool) {
		switch name {
		case "queryId":
			return queryID, true
		case "reportId":
			if strings.HasPrefix(route, "/insights/") {
				return insightsReport, true
			}
			return energyReport, true
		case "templateId":
			return templateID, true
		case "id":
			switch {
			case strings.HasPrefix(route, "/api/sql/jobs"):
				return job.ID, true
			case strings.HasPrefix(route, "/api/sql/queries"):
				return "q-secret-a", true
			}
			return axID, true
		case "org":
			return "acme", true
		case "project":
			return "proj-a", true
		}
		return "", false
	}
	narrowing := map[string]string{"env": "prod", "meter": "cpu", "resource": "res-secret-a", "user": "user-secret-a",
		"source": "openstack", "dimensions": "apiproxy", "dataset": "meters"}
	// Bodies for routes that take one; a POST that makes an object makes
	// B's own, and those that name A's objects in the body must refuse.
	bodies := map[string]struct{ ctype, body string }{
		"POST /insights/v1.1/cmp/ScheduledQueries":         {"application/json", `{"Name":"b","Query":"SELECT CustomerId FROM ISVUsage TIMESPAN LAST_7_DAYS"}`},
		"POST /insights/v1.1/cmp/ScheduledReport":          {"application/json", `{"ReportName":"b","QueryId":"` + queryID + `","ExecuteNow":true}`},
		"PUT /insights/v1.1/cmp/ScheduledReport/:reportId": {"application/json", `{"ReportName":"taken"}`},
		"POST /api/sql":         {"application/json", `{"sql":"SELECT DISTINCT organization FROM transactions"}`},
		"POST /api/sql/explain": {"application/json", `{"sql":"SELECT DISTINCT organization FROM transactions"}`},
		"POST /api/sql/jobs":    {"application/json", `{"sql":"SELECT DISTINCT organization FROM transactions"}`},
		"POST /api/ingest/:dataset": {"application/x-ndjson", `{"source":"openstack","counter_name":"cpu","counter_type":"cumulative","counter_unit":"ns",` +
			`"counter_volume":1,"user_id":"u","project_id":"proj-a","resource_id":"r","timestamp":"2026-03-30T10:00:00Z"}` + "\n"},
		"POST /v1/organizations/:org/environments/:env/queries": {"application/json", `{"metrics":[{"name":"message_count"}],"timeRange":"last7days"}`},
		"POST /v1/mint/organizations/:org/async-reports":        {"application/json", `{"billingMonth":"MARCH","billingYear":2026}`},
		"POST /reports/templates":                               {"application/xml", `<reportTemplate><name>b</name><metrics><id>273</id></metrics></reportTemplate>`},
		"PUT /reports/templates/:templateId":                    {"application/xml", `<reportTemplate><name>taken</name><metrics><id>273</id></metrics></reportTemplate>`},
		"PUT /reports/:reportId":                                {"application/xml", `<report><timeframe><singlePeriod><periodEndingDate><month>12</month><year>2025</year></periodEndingDate></singlePeriod></timeframe><properties><id>1</id></properties></report>`},
	}
	param := regexp.MustCompile(`:([A-Za-z]+)`)
	tried := 0
	for _, r := range ts.Routes() {
		if r.Public {
			continue
		}
		// aliases (/insights/v1/…, /ws/reports/…) take the canonical
		// route's bodies and expectations, under their own prefix
		route, prefix := r.Path, ""
		for _, p := range []string{"/insights/v1/cmp", "/insights/v1/mpn"} {
			if strings.HasPrefix(route, p) {
				route, prefix = "/insights/v1.1/cmp"+strings.TrimPrefix(route, p), p
			}
		}
		if strings.HasPrefix(route, "/ws/") {
			route, prefix = strings.TrimPrefix(route, "/ws"), "/ws"
		}
		path, names := route, param.FindAllStringSubmatch(route, -1)
		wantNotFound := false
		for _, m := range names {
			if v, ok := objectParam(route, m[1]); ok {
				path = strings.Replace(path, m[0], v, 1)
				wantNotFound = true
			} else if v, ok := narrowing[m[1]]; ok {
				path = strings.Replace(path, m[0], v, 1)
			} else {
				t.Errorf("%s %s: the isolation matrix does not know path parameter :%s; add it to this test", r.Method, r.Path, m[1])
			}
		}
		if prefix == "/ws" {
			path = "/ws" + path
		} else if prefix != "" {
			path = prefix + strings.TrimPrefix(path, "/insights/v1.1/cmp")
		}
		switch {
		case strings.HasSuffix(path, "/download"):
			path += "?type=XML"
		case strings.HasSuffix(path, "/result") && strings.HasPrefix(path, "/api/sql"):
			path += "?format=json"
		}
		bd := bodies[r.Method+" "+route]
		resp := call(b, r.Method, path, bd.ctype, bd.body)
		tried++
		if wantNotFound && resp.Status != http.StatusNotFound {
			t.Errorf("%s %s (A's object) as B: %d %.200s; want 404", r.Method, path, resp.Status, resp.Body)
		}
		if r.Method+" "+route == "POST /insights/v1.1/cmp/ScheduledReport" && resp.Status < 400 {
			t.Errorf("B made a report of A's query: %d %.200s", resp.Status, resp.Body)
		}
		for _, m := range markers {
			// an id B itself sent may be named back in the error
			if strings.Contains(path, m) || strings.Contains(bd.body, m) {
				continue
			}
			if strings.Contains(string(resp.Body), m) {
				t.Errorf("%s %s as B answers %d with A's %q: %.300s", r.Method, path, resp.Status, m, resp.Body)
			}
		}
	}
	if tried < 60 {
		t.Errorf("only %d routes tried", tried)
	}
	// A still has everything B tried to change or delete.
	mustOK(call(a, http.MethodGet, "/reports/templates/"+templateID, "", ""), "A's template after B")
	mustOK(call(a, http.MethodGet, "/v1"+ax.Self, "", ""), "A's analytics query after B")
	var qs struct{ Value []map[string]any }
	json.Unmarshal(mustOK(call(a, http.MethodGet, "/insights/v1.1/cmp/ScheduledQueries?queryId="+queryID, "", ""), "A's query after B").Body, &qs)
	if len(qs.Value) != 1 || qs.Value[0]["name"] != "secret-A-query" {
		t.Errorf("A's query after B: %v", qs.Value)
	}
	r := call(a, http.MethodGet, "/v1/resources", "", "")
	if !strings.Contains(string(r.Body), "res-secret-a") {
		t.Errorf("A cannot see its own resource: %s", r.Body)
	}
}

// Every path parameter of every route, given a traversal ("../../etc/passwd"
// encoded or not), answers a 4xx naming nothing on disk: ids are looked
// up in the metadata store, never joined into a path.
func TestPathTraversalInIDs(t *testing.T) {
	ts := startServer(t, serverSetup{})
	member := ts.key(t, meta.Key{Name: "m", User: "u", Account: "pub-contoso", Org: "acme", Project: "proj-a"})
	param := regexp.MustCompile(`:([A-Za-z]+)`)
	tried := 0
	for _, r := range ts.Routes() {
		if !param.MatchString(r.Path) {
			continue
		}
		for _, evil := range []string{"..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e", "..%5C..%5Cwindows", "job_..%2Fx"} {
			path := param.ReplaceAllString(r.Path, evil)
			for _, secret := range []string{ts.Admin, member} {
				resp := ts.do(t, r.Method, path, "Bearer "+secret, strings.NewReader(""), "Content-Type", "application/json")
				tried++
				if resp.Status >= 500 || strings.Contains(string(resp.Body), "root:") {
					t.Errorf("%s %s: %d %.200s", r.Method, path, resp.Status, resp.Body)
				}
				if resp.Status == http.StatusOK && (strings.Contains(r.Path, ":reportId") || strings.Contains(r.Path, ":id") ||
					strings.Contains(r.Path, ":queryId") || strings.Contains(r.Path, ":templateId") || strings.Contains(r.Path, ":executionId")) {
					t.Errorf("%s %s answers 200 for a made-up id: %.200s", r.Method, path, resp.Body)
				}
			}
		}
	}
	if tried < 100 {
		t.Errorf("only %d requests", tried)
	}
}
