package server

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server/analytics"
)

// The analytics tests query org acme, env prod of the test data, whose
// transactions end on 2026-03-31; the seed's explicit ranges (2018) are
// moved into the data's span, keeping their length.
const (
	axOrg   = "acme"
	axEnv   = "prod"
	axStart = "2026-03-01T11:00:00Z"
	axEnd   = "2026-03-30T11:00:00Z"
)

func axPath(org, env string) string {
	return "/v1/organizations/" + org + "/environments/" + env + "/queries"
}

// oracleFile runs hand-written SQL over the test data's files through
// DuckDB COPY with the given options and returns the file's bytes.
// {transactions} and {exchange_rates} name the datasets' files.
func oracleFile(t testing.TB, query, opts string) []byte {
	t.Helper()
	for _, ds := range []string{"transactions", "exchange_rates"} {
		glob := filepath.Join(testDataDir, "datasets", ds, "*", "*.parquet")
		query = strings.ReplaceAll(query, "{"+ds+"}", "read_parquet('"+glob+"')")
	}
	out := filepath.Join(t.TempDir(), "oracle")
	if _, err := testEngine.DB().ExecContext(context.Background(), "COPY ("+query+") TO '"+out+"' ("+opts+")"); err != nil {
		t.Fatalf("oracle: %v\n%s", err, query)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// submit posts an analytics query and returns its self path.
func (ts *testServer) submitQuery(t testing.TB, path, secret, body string) string {
	t.Helper()
	r := ts.do(t, http.MethodPost, path, "Bearer "+secret, strings.NewReader(body), "Content-Type", "application/json")
	if r.Status != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", path, r.Status, r.Body)
	}
	var v struct{ Self, Created, State, Error string }
	r.json(t, &v)
	if v.State != "enqueued" || v.Error != "false" || v.Created == "" || !strings.HasPrefix(v.Self, "/organizations/") {
		t.Fatalf("POST answer %s", r.Body)
	}
	if !bytes.HasPrefix(r.Body, []byte(`{"self":`)) {
		t.Errorf("POST answer keys out of the documented order: %s", r.Body)
	}
	return v.Self
}

// waitQuery polls GET /v1{self} until the query completes or fails.
func (ts *testServer) waitQuery(t testing.TB, self, secret string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := ts.get(t, "/v1"+self, secret)
		wantStatus(t, r, http.StatusOK)
		var v map[string]any
		r.json(t, &v)
		if s := v["state"]; s == "completed" || s == "failed" {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %s still %v", self, v["state"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// download fetches a completed query's zip and returns the name and the
// gunzipped content of its one part.
func (ts *testServer) download(t testing.TB, self, secret string) (string, []byte) {
	t.Helper()
	r := ts.get(t, "/v1"+self+"/result", secret)
	wantStatus(t, r, http.StatusOK)
	id := self[strings.LastIndex(self, "/")+1:]
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="OfflineQueryResult-`+id+`.zip"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	zr, err := zip.NewReader(bytes.NewReader(r.Body), int64(len(r.Body)))
	if err != nil {
		t.Fatalf("result is not a zip: %v", err)
	}
	if len(zr.File) != 1 {
		t.Fatalf("zip holds %d files, want 1 part", len(zr.File))
	}
	f := zr.File[0]
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	gz, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatalf("part %s is not gzipped: %v", f.Name, err)
	}
	b, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	return f.Name, b
}

// Every example request of the seed (timeRange moved into the data) runs
// over HTTP, and the unzipped, gunzipped result equals the oracle's.
func TestAnalyticsSeedExamples(t *testing.T) {
	ts := startServer(t, serverSetup{})
	const where = `organization = 'acme' AND environment = 'prod'`
	const custom = `"timestamp" >= TIMESTAMP '2026-03-01 11:00:00' AND "timestamp" < TIMESTAMP '2026-03-30 11:00:00'`
	const last24 = `"timestamp" >= TIMESTAMP '2026-03-30 12:00:00' AND "timestamp" < TIMESTAMP '2026-03-31 12:00:00'`
	const last60 = `"timestamp" >= TIMESTAMP '2026-03-31 11:00:00' AND "timestamp" < TIMESTAMP '2026-03-31 12:00:00'`
	const minute = `strftime(date_trunc('minute', "timestamp"), '%Y-%m-%d %H:%M:%S UTC')`
	rng := `{"start":"` + axStart + `","end":"` + axEnd + `"}`
	cases := []struct {
		name, body, oracle string
		nonEmpty           bool
	}{
		{"canonical", `{"metrics":[{"name":"message_count","function":"sum","alias":"sum_txn"}],
			"dimensions":["apiproxy"],"timeRange":"last24hours","limit":14400,"filter":"(message_count ge 0)"}`,
			`SELECT CAST(sum(message_count) AS VARCHAR) AS sum_txn, apiproxy FROM {transactions}
			 WHERE ` + where + ` AND ` + last24 + ` AND message_count >= 0 GROUP BY apiproxy ORDER BY apiproxy LIMIT 14400`, false},
		{"1 last60minutes", `{"metrics":[{"name":"message_count","function":"sum"}],"dimensions":["apiproxy"],
			"groupByTimeUnit":"minute","limit":1000,"timeRange":"last60minutes"}`,
			`SELECT CAST(sum(message_count) AS VARCHAR) AS sum_message_count, apiproxy, ` + minute + ` AS "minute"
			 FROM {transactions} WHERE ` + where + ` AND ` + last60 + ` GROUP BY apiproxy, 3 ORDER BY 3, apiproxy LIMIT 1000`, false},
		{"2 custom range", `{"metrics":[{"name":"message_count","function":"sum"},
			{"name":"total_response_time","function":"avg","alias":"average_response_time"}],
			"dimensions":["apiproxy"],"groupByTimeUnit":"minute","limit":1000,"timeRange":` + rng + `}`,
			`SELECT CAST(sum(message_count) AS VARCHAR) AS sum_message_count, avg(total_response_time) AS average_response_time,
			 apiproxy, ` + minute + ` AS "minute" FROM {transactions} WHERE ` + where + ` AND ` + custom + `
			 GROUP BY apiproxy, 4 ORDER BY 4, apiproxy LIMIT 1000`, true},
		{"3 tpm", `{"metrics":[{"name":"tpm"}],"dimensions":["apiproxy"],"groupByTimeUnit":"minute","limit":1000,"timeRange":` + rng + `}`,
			`SELECT count(*) * 60.0 / 60 AS tpm, apiproxy, ` + minute + ` AS "minute" FROM {transactions}
			 WHERE ` + where + ` AND ` + custom + ` GROUP BY apiproxy, 3 ORDER BY 3, apiproxy LIMIT 1000`, true},
		{"4 filter", `{"metrics":[{"name":"message_count","function":"sum"},
			{"name":"total_response_time","function":"avg","alias":"average_response_time"}],
			"filter":"(apiproxy ne \u0027proxy_1\u0027) and (apiproxy ne \u0027proxy_2\u0027)",
			"dimensions":["apiproxy"],"groupByTimeUnit":"minute","limit":1000,"timeRange":` + rng + `}`,
			`SELECT CAST(sum(message_count) AS VARCHAR) AS sum_message_count, avg(total_response_time) AS average_response_time,
			 apiproxy, ` + minute + ` AS "minute" FROM {transactions} WHERE ` + where + ` AND ` + custom + `
			 AND apiproxy <> 'proxy_1' AND apiproxy <> 'proxy_2' GROUP BY apiproxy, 4 ORDER BY 4, apiproxy LIMIT 1000`, true},
		{"5 metric expression", `{"metrics":[{"name":"message_count","function":"sum","operator":"/","value":"7"}],
			"dimensions":["apiproxy"],"groupByTimeUnit":"minute","limit":10,"timeRange":"last60minutes"}`,
			`SELECT sum(message_count) / 7.0 AS sum_message_count, apiproxy, ` + minute + ` AS "minute"
			 FROM {transactions} WHERE ` + where + ` AND ` + last60 + ` GROUP BY apiproxy, 3 ORDER BY 3, apiproxy LIMIT 10`, false},
		{"5 over the custom range", `{"metrics":[{"name":"message_count","function":"sum","operator":"/","value":"7"}],
			"dimensions":["apiproxy"],"groupByTimeUnit":"minute","limit":10,"timeRange":` + rng + `}`,
			`SELECT sum(message_count) / 7.0 AS sum_message_count, apiproxy, ` + minute + ` AS "minute"
			 FROM {transactions} WHERE ` + where + ` AND ` + custom + ` GROUP BY apiproxy, 3 ORDER BY 3, apiproxy LIMIT 10`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			self := ts.submitQuery(t, axPath(axOrg, axEnv), ts.Admin, c.body)
			st := ts.waitQuery(t, self, ts.Admin)
			if st["state"] != "completed" {
				t.Fatalf("query failed: %v", st)
			}
			name, got := ts.download(t, self, ts.Admin)
			id := self[strings.LastIndex(self, "/")+1:]
			if name != "QueryResult-"+id+"-000000000000.json.gz" {
				t.Errorf("part name %q", name)
			}
			want := oracleFile(t, c.oracle, "FORMAT json")
			if c.nonEmpty && len(want) == 0 {
				t.Fatal("the oracle returns no rows: the test data does not exercise this example")
			}
			if !bytes.Equal(got, want) {
				t.Errorf("result differs from the oracle\n got: %.600s\nwant: %.600s", got, want)
			}
			rows := bytes.Count(want, []byte("\n"))
			if n, _ := st["resultRows"].(float64); int(n) != rows {
				t.Errorf("resultRows %v, want %d", st["resultRows"], rows)
			}
		})
	}
}

// The result rows have the seed's shape: metrics, dimensions, then the
// time column; integers as strings, rates as numbers.
func TestAnalyticsRowShape(t *testing.T) {
	ts := startServer(t, serverSetup{})
	self := ts.submitQuery(t, axPath(axOrg, axEnv), ts.Admin, `{"metrics":[{"name":"message_count","function":"sum"},{"name":"tpm"}],
		"dimensions":["apiproxy"],"groupByTimeUnit":"hour","timeRange":{"start":"`+axStart+`","end":"`+axEnd+`"}}`)
	if st := ts.waitQuery(t, self, ts.Admin); st["state"] != "completed" {
		t.Fatalf("%v", st)
	}
	_, got := ts.download(t, self, ts.Admin)
	line, _, _ := bytes.Cut(got, []byte("\n"))
	dec := json.NewDecoder(bytes.NewReader(line))
	var keys []string
	var kinds []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, _ := dec.Token()
		v, _ := dec.Token()
		keys = append(keys, k.(string))
		kinds = append(kinds, fmt.Sprintf("%T", v))
	}
	if strings.Join(keys, ",") != "sum_message_count,tpm,apiproxy,hour" {
		t.Errorf("keys %v", keys)
	}
	if strings.Join(kinds, ",") != "string,float64,string,string" {
		t.Errorf("value types %v (line %s)", kinds, line)
	}
	var row map[string]any
	json.Unmarshal(line, &row)
	if h, _ := row["hour"].(string); len(h) != len("2018-08-07 19:26:00 UTC") || !strings.HasSuffix(h, ":00:00 UTC") {
		t.Errorf("hour %q, want the form 2018-08-07 19:00:00 UTC", h)
	}
}

// CSV output with each delimiter equals the oracle's CSV.
func TestAnalyticsCSVDelimiters(t *testing.T) {
	ts := startServer(t, serverSetup{})
	for _, d := range []struct{ json, sql string }{{",", ","}, {"|", "|"}, {`\t`, "\t"}} {
		t.Run(d.sql, func(t *testing.T) {
			body := `{"metrics":[{"name":"message_count","function":"sum"},{"name":"total_response_time","function":"avg"}],
				"dimensions":["apiproxy","response_status_code"],"groupByTimeUnit":"day","outputFormat":"csv","csvDelimiter":"` + d.json + `",
				"timeRange":{"start":"` + axStart + `","end":"` + axEnd + `"}}`
			self := ts.submitQuery(t, axPath(axOrg, axEnv), ts.Admin, body)
			if st := ts.waitQuery(t, self, ts.Admin); st["state"] != "completed" {
				t.Fatalf("%v", st)
			}
			name, got := ts.download(t, self, ts.Admin)
			if !strings.HasSuffix(name, "-000000000000.csv.gz") {
				t.Errorf("part %q", name)
			}
			want := oracleFile(t, `SELECT CAST(sum(message_count) AS VARCHAR) AS sum_message_count, avg(total_response_time) AS avg_total_response_time,
				apiproxy, CAST(response_status_code AS VARCHAR) AS response_status_code,
				strftime(date_trunc('day', "timestamp"), '%Y-%m-%d %H:%M:%S UTC') AS "day"
				FROM {transactions} WHERE organization = 'acme' AND environment = 'prod'
				AND "timestamp" >= TIMESTAMP '2026-03-01 11:00:00' AND "timestamp" < TIMESTAMP '2026-03-30 11:00:00'
				GROUP BY apiproxy, response_status_code, 5 ORDER BY 5, apiproxy, response_status_code`,
				"FORMAT csv, HEADER true, DELIMITER '"+d.sql+"'")
			if bytes.Count(want, []byte("\n")) < 20 {
				t.Fatalf("oracle has too few rows:\n%s", want)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("CSV differs from the oracle\n got: %.400q\nwant: %.400q", got, want)
			}
		})
	}
}

// A monetization report converts each transaction's price at its day's
// rate and answers through the queries endpoints.
func TestMintAsyncReport(t *testing.T) {
	ts := startServer(t, serverSetup{})
	body := `{"fromDate":"2026-03-01 00:00:00","toDate":"2026-03-15 00:00:00","currencyOption":"EUR",
		"ratePlanLevels":["STANDARD"],"devCriteria":[]}`
	self := ts.submitQuery(t, "/v1/mint/organizations/acme/async-reports?environment=prod", ts.Admin, body)
	if !strings.HasPrefix(self, "/organizations/acme/environments/prod/queries/") {
		t.Fatalf("self %q", self)
	}
	st := ts.waitQuery(t, self, ts.Admin)
	if st["state"] != "completed" {
		t.Fatalf("%v", st)
	}
	_, got := ts.download(t, self, ts.Admin)
	want := oracleFile(t, `SELECT strftime(t."timestamp", '%Y-%m-%d %H:%M:%S.%g UTC') AS transaction_time, t.organization, t.environment,
		t.developer, t.developer_email, t.developer_app, t.api_product, t.monetization_package, t.rate_plan, t.rate_plan_level,
		t.transaction_type, t.transaction_status, t.revenue_share_pct, t.price AS local_price, t.currency AS local_currency,
		r.rate_to_eur AS exchange_rate, t.price * r.rate_to_eur AS amount, 'EUR' AS currency
		FROM {transactions} t LEFT JOIN {exchange_rates} r ON r."date" = CAST(t."timestamp" AS DATE) AND r.currency = t.currency
		WHERE t.organization = 'acme' AND t.environment = 'prod' AND t.price IS NOT NULL AND t.rate_plan_level = 'STANDARD'
		AND t."timestamp" >= TIMESTAMP '2026-03-01' AND t."timestamp" < TIMESTAMP '2026-03-15'`, "FORMAT json")
	sortLines := func(b []byte) []string {
		l := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		slices.Sort(l)
		return l
	}
	g, w := sortLines(got), sortLines(want)
	if len(w) < 20 {
		t.Fatalf("the oracle has %d rows: too few to test", len(w))
	}
	if !slices.Equal(g, w) {
		t.Errorf("mint report differs from the oracle: %d vs %d rows\n got: %.300s\nwant: %.300s", len(g), len(w), got, want)
	}
	// oldest first
	var prev string
	for _, line := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		var row struct {
			T string `json:"transaction_time"`
			C string `json:"currency"`
		}
		json.Unmarshal([]byte(line), &row)
		if row.T < prev || row.C != "EUR" {
			t.Fatalf("row %s after %s", line, prev)
		}
		prev = row.T
	}
	// the list of the env shows it as a mint query
	var list []map[string]any
	ts.get(t, axPath("acme", "prod")+"?dataset=mint", ts.Admin).json(t, &list)
	if len(list) != 1 || list[0]["self"] != self {
		t.Errorf("list dataset=mint: %v", list)
	}
	// errors name what is wrong
	for _, c := range []struct{ body, want string }{
		{`{"fromDate":"2026-03-01"}`, "give both fromDate and toDate"},
		{`{}`, "billingMonth and billingYear"},
		{`{"billingMonth":"JUNO","billingYear":2026}`, "billingMonth 'JUNO' is not a month name"},
		{`{"billingMonth":"MARCH","billingYear":"2026","currencyOption":"JPY"}`, "currencyOption 'JPY'"},
		{`{"billingMonth":"MARCH","billingYear":2026,"appCriteria":[{"id":"app1","orgId":"globex"}]}`, "orgId 'globex'"},
		{`{"billingMonth":"MARCH","billingYear":2026,"ratePlanLevels":["GOLD"]}`, "'GOLD' is not DEVELOPER or STANDARD"},
	} {
		r := ts.do(t, http.MethodPost, "/v1/mint/organizations/acme/async-reports", "Bearer "+ts.Admin, strings.NewReader(c.body))
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), c.want) || !strings.Contains(string(r.Body), `"contexts":[]`) {
			t.Errorf("%s: %d %s, want 400 naming %q", c.body, r.Status, r.Body, c.want)
		}
	}
}

// Lifecycle with the queue held: enqueued, result not ready, then running
// to completed with the documented fields, list filters, and the error
// body of bad requests.
func TestAnalyticsLifecycleAndErrors(t *testing.T) {
	ts := startServer(t, serverSetup{holdJobs: true})
	body := `{"metrics":[{"name":"message_count","function":"sum","alias":"sum_txn"}],"dimensions":["apiproxy"],
		"timeRange":{"start":"` + axStart + `","end":"` + axEnd + `"}}`
	self := ts.submitQuery(t, axPath(axOrg, axEnv), ts.Admin, body)
	var v map[string]any
	ts.get(t, "/v1"+self, ts.Admin).json(t, &v)
	if v["state"] != "enqueued" || v["error"] != "false" {
		t.Errorf("enqueued query: %v", v)
	}
	r := ts.get(t, "/v1"+self+"/result", ts.Admin)
	if r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "poll GET") {
		t.Errorf("result before completion: %d %s", r.Status, r.Body)
	}
	if err := ts.Jobs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := ts.waitQuery(t, self, ts.Admin)
	res, _ := done["result"].(map[string]any)
	if done["state"] != "completed" || res["self"] != self+"/result" || res["expires"] == nil ||
		done["resultFileSize"] == nil || done["executionTime"] == nil || done["created"] == nil || done["updated"] == nil {
		t.Errorf("completed query: %v", done)
	}
	qp, _ := done["queryParams"].(map[string]any)
	if fmt.Sprint(qp["metrics"]) != "[name:message_count,func:sum,alias:sum_txn]" ||
		qp["startTimestamp"] != "2026-03-01T11:00:00.000Z" || qp["endTimestamp"] != "2026-03-30T11:00:00.000Z" {
		t.Errorf("queryParams %v", qp)
	}
	// list: a bare array with userId; filters
	var list []map[string]any
	r = ts.get(t, axPath(axOrg, axEnv)+"?status=completed", ts.Admin)
	wantStatus(t, r, http.StatusOK)
	if !bytes.HasPrefix(r.Body, []byte("[")) {
		t.Errorf("list is not a bare array: %s", r.Body)
	}
	r.json(t, &list)
	if len(list) != 1 || list[0]["self"] != self {
		t.Errorf("list: %v", list)
	}
	ts.get(t, axPath(axOrg, axEnv)+"?status=running", ts.Admin).json(t, &list)
	if len(list) != 0 {
		t.Errorf("status=running: %v", list)
	}
	ts.get(t, axPath(axOrg, "test"), ts.Admin).json(t, &list)
	if len(list) != 0 {
		t.Errorf("another env lists this env's query: %v", list)
	}
	// the same id under another env is not found
	id := self[strings.LastIndex(self, "/")+1:]
	if r := ts.get(t, axPath(axOrg, "test")+"/"+id, ts.Admin); r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), analytics.CodeNotFound) {
		t.Errorf("query under another env: %d %s", r.Status, r.Body)
	}
	bad := []struct{ body, query, want string }{
		{``, "", "the request body is empty"},
		{`{"metrics":[`, "", "not valid JSON"},
		{`{"metrics":[{"name":"message_count","function":"avg"}],"timeRange":"last24hours"}`, "", "function 'avg' is not supported for metric message_count; use sum"},
		{`{"metrics":[{"name":"mesage_count"}],"timeRange":"last24hours"}`, "", "did you mean 'message_count'?"},
		{`{"metrics":[{"name":"message_count"}],"dimensions":["apiproxxy"],"timeRange":"last24hours"}`, "", "invalid dimension 'apiproxxy'"},
		{`{"metrics":[{"name":"message_count"}],"timeRange":"yesterday"}`, "", "timeRange 'yesterday'"},
		{`{"metrics":[{"name":"message_count"}]}`, "", "timeRange is required"},
		{`{"metrics":[{"name":"message_count"}],"timeRange":{"start":"2025-01-01T00:00:00Z","end":"2026-03-01T00:00:00Z"}}`, "", "more than 365 days"},
		{`{"metrics":[{"name":"message_count"}],"timeRange":"last24hours","filter":"(apiproxy eq"}`, "", "Invalid filter"},
		{`{"metrics":[{"name":"message_count"}],"timeRange":"last24hours","groupByTimeUnit":"fortnight"}`, "", "groupByTimeUnit 'fortnight'"},
		{`{"metrics":[{"name":"message_count"}],"timeRange":"last24hours","outputFormat":"xml"}`, "", "outputFormat 'xml'"},
		{`{"metrics":[{"name":"message_count"}],"timeRange":"last24hours","outputFormat":"csv","csvDelimiter":";"}`, "", "csvDelimiter"},
		{`{"metrics":[{"name":"message_count"}],"timeRange":"last24hours"}`, "?tzo=abc", "tzo 'abc'"},
		{`{"metrics":[{"name":"message_count"}],"timeRange":"last24hours","limit":-1}`, "", "limit must be positive"},
	}
	many := `{"metrics":[{"name":"message_count"}],"timeRange":"last24hours","dimensions":[`
	for i := 0; i < 25; i++ {
		if i > 0 {
			many += ","
		}
		many += `"apiproxy"`
	}
	bad = append(bad, struct{ body, query, want string }{many + `]}`, "", "at most 25 are allowed"})
	for _, c := range bad {
		r := ts.do(t, http.MethodPost, axPath(axOrg, axEnv)+c.query, "Bearer "+ts.Admin, strings.NewReader(c.body))
		var e struct {
			Code     string
			Message  string
			Contexts []string
		}
		json.Unmarshal(r.Body, &e)
		if r.Status != http.StatusBadRequest || e.Code != analytics.CodeBadRequest || !strings.Contains(e.Message, c.want) || e.Contexts == nil {
			t.Errorf("%.60s%s: %d %s, want 400 %s naming %q", c.body, c.query, r.Status, r.Body, analytics.CodeBadRequest, c.want)
		}
	}
}

// A member key reads only its own org (403 elsewhere), sees only its own
// queries (another user's is a 404), and its rows carry its tenant.
func TestAnalyticsMemberScope(t *testing.T) {
	ts := startServer(t, serverSetup{})
	alice := ts.key(t, meta.Key{Name: "alice", User: "alice@acme.com", Org: "acme"})
	bob := ts.key(t, meta.Key{Name: "bob", User: "bob@acme.com", Org: "acme"})
	noOrg := ts.key(t, meta.Key{Name: "acct", User: "carol", Account: "pub-contoso"})
	body := `{"metrics":[{"name":"message_count","function":"sum"}],"dimensions":["organization"],"timeRange":{"start":"` + axStart + `","end":"` + axEnd + `"}}`
	for _, c := range []struct {
		secret, org, want string
		status            int
	}{
		{alice, "globex", "Organization 'globex' was not found", http.StatusNotFound},
		{noOrg, "acme", "no organization scope", http.StatusForbidden},
	} {
		r := ts.do(t, http.MethodPost, axPath(c.org, "prod"), "Bearer "+c.secret, strings.NewReader(body))
		if r.Status != c.status || !strings.Contains(string(r.Body), c.want) {
			t.Errorf("POST %s: %d %s", c.org, r.Status, r.Body)
		}
		if r := ts.get(t, axPath(c.org, "prod"), c.secret); r.Status != c.status {
			t.Errorf("GET list %s: %d %s", c.org, r.Status, r.Body)
		}
	}
	self := ts.submitQuery(t, axPath("acme", "prod"), alice, body)
	if st := ts.waitQuery(t, self, alice); st["state"] != "completed" {
		t.Fatalf("%v", st)
	}
	_, rows := ts.download(t, self, alice)
	if !bytes.Contains(rows, []byte(`"organization":"acme"`)) || bytes.Count(rows, []byte("\n")) != 1 {
		t.Errorf("alice's rows: %s", rows)
	}
	for _, p := range []string{"/v1" + self, "/v1" + self + "/result"} {
		if r := ts.get(t, p, bob); r.Status != http.StatusNotFound {
			t.Errorf("bob reads alice's %s: %d %s", p, r.Status, r.Body)
		}
	}
	var list []map[string]any
	ts.get(t, axPath("acme", "prod"), bob).json(t, &list)
	if len(list) != 0 {
		t.Errorf("bob lists alice's queries: %v", list)
	}
	ts.get(t, axPath("acme", "prod")+"?submittedBy=alice@acme.com", ts.Admin).json(t, &list)
	if len(list) != 1 || list[0]["userId"] != "alice@acme.com" {
		t.Errorf("admin list submittedBy: %v", list)
	}
}

// The limits: 7 submissions per hour per org/env (429 with Retry-After,
// sliding with the clock), 10 active queries (429), and results that
// expire after 7 days (404 saying so).
func TestAnalyticsLimitsAndExpiry(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	ts := startServer(t, serverSetup{holdJobs: true, jobs: &jobs.Config{Workers: 2, PollInterval: 50 * time.Millisecond, Clock: clk.Now}})
	body := `{"metrics":[{"name":"message_count","function":"sum"}],"timeRange":{"start":"` + axStart + `","end":"` + axEnd + `"}}`
	var selfs []string
	for i := 0; i < 7; i++ {
		selfs = append(selfs, ts.submitQuery(t, axPath(axOrg, axEnv), ts.Admin, body))
		clk.Set(clk.Now().Add(time.Minute))
	}
	r := ts.do(t, http.MethodPost, axPath(axOrg, axEnv), "Bearer "+ts.Admin, strings.NewReader(body))
	if r.Status != http.StatusTooManyRequests || !strings.Contains(string(r.Body), analytics.CodeRateLimited) ||
		!strings.Contains(string(r.Body), "already submitted 7 queries in the last hour") || r.Header.Get("Retry-After") != "3180" {
		t.Errorf("8th submission: %d %s (Retry-After %q)", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	// another env has its own budget
	ts.submitQuery(t, axPath(axOrg, "test"), ts.Admin, body)
	// an hour after the first, one more fits: the 8th active, then 9th, 10th
	clk.Set(clk.Now().Add(time.Hour))
	for i := 0; i < 3; i++ {
		selfs = append(selfs, ts.submitQuery(t, axPath(axOrg, axEnv), ts.Admin, body))
		clk.Set(clk.Now().Add(time.Minute))
	}
	clk.Set(clk.Now().Add(time.Hour))
	r = ts.do(t, http.MethodPost, axPath(axOrg, axEnv), "Bearer "+ts.Admin, strings.NewReader(body))
	if r.Status != http.StatusTooManyRequests || !strings.Contains(string(r.Body), analytics.CodeTooManyActive) ||
		!strings.Contains(string(r.Body), "already has 10 active queries") {
		t.Errorf("11th active query: %d %s", r.Status, r.Body)
	}
	if err := ts.Jobs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range selfs {
		if st := ts.waitQuery(t, s, ts.Admin); st["state"] != "completed" {
			t.Fatalf("%v", st)
		}
	}
	// once they completed there is room again
	ts.submitQuery(t, axPath(axOrg, axEnv), ts.Admin, body)
	// expiry: 7 days after completion the result is gone, with a message
	if r := ts.get(t, "/v1"+selfs[0]+"/result", ts.Admin); r.Status != http.StatusOK {
		t.Fatalf("result before expiry: %d %s", r.Status, r.Body)
	}
	clk.Set(clk.Now().Add(7*24*time.Hour + time.Minute))
	if err := ts.Jobs.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = ts.get(t, "/v1"+selfs[0]+"/result", ts.Admin)
	if r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), analytics.CodeExpired) || !strings.Contains(string(r.Body), "results are kept 7 days") {
		t.Errorf("expired result: %d %s", r.Status, r.Body)
	}
	var st map[string]any
	ts.get(t, "/v1"+selfs[0], ts.Admin).json(t, &st)
	if st["state"] != "completed" {
		t.Errorf("an expired query's state: %v", st["state"])
	}
}

// A bounded load test: 200 queries from 20 orgs submitted concurrently
// with the limits raised all complete; with the limits restored, 20
// concurrent submissions to one org/env admit exactly 7.
func TestAnalyticsLoad(t *testing.T) {
	ts := startServer(t, serverSetup{cfg: Config{Analytics: analytics.Config{SubmitsPerHour: -1, MaxActive: -1}},
		jobs: &jobs.Config{Workers: 2, PollInterval: 50 * time.Millisecond}})
	body := `{"metrics":[{"name":"message_count","function":"sum"}],"dimensions":["apiproxy"],"timeRange":{"start":"` + axStart + `","end":"` + axEnd + `"}}`
	var wg sync.WaitGroup
	selfs := make(chan string, 200)
	errs := make(chan string, 200)
	for o := 0; o < 20; o++ {
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func(org string) {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, ts.URL+axPath(org, "prod"), strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+ts.Admin)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				defer resp.Body.Close()
				var v struct{ Self string }
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &v) != nil {
					errs <- fmt.Sprintf("%d %s", resp.StatusCode, b)
					return
				}
				selfs <- v.Self
			}(fmt.Sprintf("org%02d", o))
		}
	}
	wg.Wait()
	close(selfs)
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	n := 0
	for s := range selfs {
		if st := ts.waitQuery(t, s, ts.Admin); st["state"] != "completed" {
			t.Errorf("%s: %v", s, st)
		}
		n++
	}
	if n != 200 {
		t.Errorf("%d queries completed, want 200", n)
	}
	// limits restored
	ts2 := startServer(t, serverSetup{holdJobs: true})
	var ok, limited, other int
	var mu sync.Mutex
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, ts2.URL+axPath("acme", "prod"), strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+ts2.Admin)
			resp, err := http.DefaultClient.Do(req)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				other++
			case resp.StatusCode == http.StatusCreated:
				ok++
			case resp.StatusCode == http.StatusTooManyRequests:
				limited++
			default:
				other++
			}
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if ok != 7 || limited != 13 || other != 0 {
		t.Errorf("20 concurrent submissions with the limits restored: %d created, %d limited, %d other; want 7 and 13", ok, limited, other)
	}
}
