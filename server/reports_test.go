package server

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server/insights"
)

const reportsPath = "/insights/v1.1/cmp/ScheduledReport"

// reportQuery aggregates usage by customer; its TIMESPAN is overridden by
// QueryStartTime/QueryEndTime in the tests.
const reportQuery = "SELECT CustomerId, NormalizedUsage FROM ISVUsage TIMESPAN LIFETIME"

// createReport posts a report body and returns the created report.
func (ts *testServer) createReport(t *testing.T, secret string, body map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	env := ts.call(t, http.MethodPost, reportsPath, secret, string(b), 200)
	wantMessage(t, env, insights.MsgReportCreated)
	if len(env.Value) != 1 {
		t.Fatalf("created %v", env.Value)
	}
	return env.Value[0]
}

// waitCompleted polls the executions of a report with the default filters
// until the latest completed one appears, and returns it.
func (ts *testServer) waitCompleted(t *testing.T, secret, reportID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := ts.get(t, reportsPath+"/execution/"+reportID, secret)
		if r.Status == 200 {
			var env envelope
			r.json(t, &env)
			if len(env.Value) != 1 {
				t.Fatalf("latest execution: %s", r.Body)
			}
			return env.Value[0]
		}
		if r.Status != 404 {
			t.Fatalf("executions: %d %s", r.Status, r.Body)
		}
		// Before completion: a failed run would never complete.
		var env envelope
		r.json(t, &env)
		wantMessage(t, env, insights.MsgNoExecutions)
		if f := ts.get(t, reportsPath+"/execution/"+reportID+"?executionStatus=Failed", secret); f.Status == 200 {
			t.Fatalf("execution failed: %s", f.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("report %s not completed after 60s", reportID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// usageByCustomer is the oracle: NormalizedUsage summed per customer of
// account over [start, end), by hand-written SQL over the dataset files.
func usageByCustomer(t *testing.T, account, start, end string) map[string]float64 {
	t.Helper()
	m, err := testEngine.Store().Manifest("usage")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range m.Files {
		files = append(files, "'"+testEngine.Store().Abs("usage", f)+"'")
	}
	rows, err := testEngine.DB().Query(`SELECT CAST(CustomerId AS VARCHAR), SUM(NormalizedUsage) FROM read_parquet([`+
		strings.Join(files, ",")+`]) WHERE PublisherId = ? AND UsageDate >= CAST(? AS DATE) AND UsageDate < CAST(? AS DATE)
		GROUP BY CustomerId`, account, start, end)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var c string
		var u float64
		if err := rows.Scan(&c, &u); err != nil {
			t.Fatal(err)
		}
		out[c] = u
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("oracle: no usage of %s in [%s, %s)", account, start, end)
	}
	return out
}

// fetch downloads a link without an API key.
func fetch(t *testing.T, link string) response {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: []byte(b.String())}
}

func compareCSV(t *testing.T, body []byte, comma rune, want map[string]float64) {
	t.Helper()
	rd := csv.NewReader(strings.NewReader(string(body)))
	rd.Comma = comma
	recs, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("parse file: %v\n%s", err, body)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "CustomerId,NormalizedUsage" {
		t.Fatalf("header %v", recs)
	}
	if len(recs)-1 != len(want) {
		t.Errorf("%d rows, oracle %d", len(recs)-1, len(want))
	}
	for _, r := range recs[1:] {
		w, found := want[r[0]]
		u, err := strconv.ParseFloat(r[1], 64)
		if !found || err != nil || math.Abs(u-w) > 1e-6*math.Max(1, math.Abs(w)) {
			t.Errorf("row %v, oracle %v (found %v)", r, w, found)
		}
	}
}

func TestExecuteNowReportEndToEnd(t *testing.T) {
	// The queue is held so the report is seen Pending first.
	ts := startServer(t, serverSetup{holdJobs: true})
	alice := ts.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	bob := ts.key(t, meta.Key{Name: "bob", User: "bob", Account: "pub-contoso"})
	queryID := ts.createQuery(t, "/insights/v1.1/cmp", alice, "usageByCustomer", reportQuery)

	// camelCase fields, as most clients send them.
	rep := ts.createReport(t, alice, map[string]any{
		"reportName": "Usage March", "description": "first half of March", "queryId": queryID,
		"executeNow": true, "queryStartTime": "2026-03-01T00:00:00Z", "queryEndTime": "2026-03-15T00:00:00Z",
		"format": "CSV", "recurrenceInterval": 1, // ignored with ExecuteNow
	})
	id, _ := rep["reportId"].(string)
	if !uuidRE.MatchString(id) || rep["reportStatus"] != "Active" || rep["executeNow"] != true || rep["format"] != "csv" ||
		rep["queryId"] != queryID || rep["query"] != reportQuery || rep["user"] != "alice" || rep["callbackMethod"] != "POST" ||
		rep["queryStartTime"] != "2026-03-01T00:00:00Z" || rep["queryEndTime"] != "2026-03-15T00:00:00Z" ||
		rep["reportName"] != "Usage March" || !apiTimeRE.MatchString(fmt.Sprint(rep["createdTime"])) {
		t.Errorf("report %v", rep)
	}

	// Before the first completed run: 404 by default; Pending shows it.
	env := ts.call(t, http.MethodGet, reportsPath+"/execution/"+id, alice, "", 404)
	wantMessage(t, env, insights.MsgNoExecutions)
	env = ts.call(t, http.MethodGet, reportsPath+"/execution/"+id+"?executionStatus=Pending", alice, "", 200)
	if env.TotalCount != 1 || env.Value[0]["executionStatus"] != "Pending" || env.Value[0]["reportAccessSecureLink"] != nil ||
		env.Value[0]["reportId"] != id || env.Value[0]["format"] != "csv" {
		t.Fatalf("pending %v", env.Value)
	}
	execID := env.Value[0]["executionId"].(string)

	if err := ts.Jobs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ex := ts.waitCompleted(t, alice, id)
	link, _ := ex["reportAccessSecureLink"].(string)
	if ex["executionId"] != execID || ex["executionStatus"] != "Completed" || link == "" ||
		!apiTimeRE.MatchString(fmt.Sprint(ex["reportExpiryTime"])) || !apiTimeRE.MatchString(fmt.Sprint(ex["reportGeneratedTime"])) {
		t.Fatalf("completed %v", ex)
	}
	exp, _ := time.Parse("2006-01-02T15:04:05Z", ex["reportExpiryTime"].(string))
	if d := time.Until(exp); d < insights.DefaultLinkTTL-time.Minute || d > insights.DefaultLinkTTL+time.Minute {
		t.Errorf("reportExpiryTime %v, want about 7 days ahead", exp)
	}
	if !strings.HasPrefix(link, ts.URL+"/download/"+execID+"?") {
		t.Errorf("link %s", link)
	}
	// The run-once report is done.
	env = ts.call(t, http.MethodGet, reportsPath+"?reportId="+id, alice, "", 200)
	if env.TotalCount != 1 || env.Value[0]["reportStatus"] != "Inactive" {
		t.Errorf("after the run %v", env.Value)
	}

	// The file, without an API key, against the oracle.
	r := fetch(t, link)
	wantStatus(t, r, 200)
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="Usage_March_`+execID+`.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	want := usageByCustomer(t, "pub-fabrikam", "2026-03-01", "2026-03-15")
	compareCSV(t, r.Body, ',', want)

	// Tampered and expired links are refused.
	u, _ := url.Parse(link)
	q := u.Query()
	sig := q.Get("sig")
	bad := []byte(sig)
	bad[0] ^= 1
	if bad[0] == sig[0] {
		t.Fatal("tamper")
	}
	for _, tampered := range []string{
		ts.URL + "/download/" + execID + "?expires=" + q.Get("expires") + "&sig=" + string(bad),
		ts.URL + "/download/" + execID + "?expires=" + strconv.FormatInt(exp.Unix()+3600, 10) + "&sig=" + sig,
		ts.URL + "/download/" + execID,
		ts.URL + "/download/" + execID + "?expires=" + q.Get("expires") + "&sig=",
	} {
		r := fetch(t, tampered)
		wantStatus(t, r, 403)
		if !strings.Contains(string(r.Body), insights.MsgLinkInvalid) {
			t.Errorf("tampered: %s", r.Body)
		}
	}
	past := time.Now().Add(-time.Minute).Unix()
	r = fetch(t, fmt.Sprintf("%s/download/%s?expires=%d&sig=%s", ts.URL, execID, past, insights.SignLink(ts.SigningKey, execID, past)))
	wantStatus(t, r, 410)
	if !strings.Contains(string(r.Body), insights.MsgLinkExpired) {
		t.Errorf("expired: %s", r.Body)
	}

	// Another tenant sees neither the report nor its executions, and cannot
	// delete it.
	wantMessage(t, ts.call(t, http.MethodGet, reportsPath+"?reportId="+id, bob, "", 404), insights.MsgNoItem)
	wantMessage(t, ts.call(t, http.MethodGet, reportsPath+"/execution/"+id+"?executionStatus=Completed;Pending", bob, "", 404), insights.MsgNoExecutions)
	wantMessage(t, ts.call(t, http.MethodDelete, reportsPath+"/"+id, bob, "", 404), insights.MsgNoItem)
	if env := ts.call(t, http.MethodGet, reportsPath, bob, "", 200); env.TotalCount != 0 {
		t.Errorf("bob lists %v", env.Value)
	}
	// Nor the report of the same account's other user.
	carol := ts.key(t, meta.Key{Name: "carol", User: "carol", Account: "pub-fabrikam"})
	wantMessage(t, ts.call(t, http.MethodGet, reportsPath+"/execution/"+id, carol, "", 404), insights.MsgNoExecutions)

	// TSV, over another window.
	sys := datasets.SystemQueries()[3] // on ISVUsage
	rep2 := ts.createReport(t, alice, map[string]any{"ReportName": "usage-tsv", "QueryId": queryID, "ExecuteNow": true,
		"QueryStartTime": "2026-03-10T00:00:00Z", "QueryEndTime": "2026-03-20T00:00:00Z", "Format": "tsv"})
	id2 := rep2["reportId"].(string)
	ex2 := ts.waitCompleted(t, alice, id2)
	r = fetch(t, ex2["reportAccessSecureLink"].(string))
	wantStatus(t, r, 200)
	if !strings.HasSuffix(r.Header.Get("Content-Disposition"), `.tsv"`) {
		t.Errorf("Content-Disposition %q", r.Header.Get("Content-Disposition"))
	}
	compareCSV(t, r.Body, '\t', usageByCustomer(t, "pub-fabrikam", "2026-03-10", "2026-03-20"))

	// GET filters: ids list, name, queryId; all executions of both.
	env = ts.call(t, http.MethodGet, reportsPath+"?reportId="+id+";"+id2, alice, "", 200)
	if env.TotalCount != 2 {
		t.Errorf("by ids %v", env.Value)
	}
	env = ts.call(t, http.MethodGet, reportsPath+"?reportName=USAGE-TSV", alice, "", 200)
	if env.TotalCount != 1 || env.Value[0]["reportId"] != id2 {
		t.Errorf("by name %v", env.Value)
	}
	env = ts.call(t, http.MethodGet, reportsPath+"?queryId="+queryID, alice, "", 200)
	if env.TotalCount != 2 {
		t.Errorf("by query %v", env.Value)
	}
	wantMessage(t, ts.call(t, http.MethodGet, reportsPath+"?queryId="+sys.QueryID, alice, "", 404), insights.MsgNoItem)
	env = ts.call(t, http.MethodGet, "/insights/v1/mpn/ScheduledReport/execution/"+id+";"+id2+"?getLatestExecution=false", alice, "", 200)
	if env.TotalCount != 2 {
		t.Errorf("executions of both %v", env.Value)
	}
	wantMessage(t, ts.call(t, http.MethodGet, reportsPath+"/execution/"+id+"?executionStatus=Done", alice, "", 400), insights.MsgInvalidExecStatus)
	wantMessage(t, ts.call(t, http.MethodGet, reportsPath+"/execution/"+id+"?executionId=00000000-0000-4000-8000-000000000000", alice, "", 404), insights.MsgNoExecutions)

	// Delete: the report, its executions and its file go.
	env = ts.call(t, http.MethodDelete, reportsPath+"/"+id, alice, "", 200)
	wantMessage(t, env, insights.MsgReportDeleted)
	if env.TotalCount != 1 || env.Value[0]["reportId"] != id {
		t.Errorf("deleted %v", env.Value)
	}
	wantMessage(t, ts.call(t, http.MethodGet, reportsPath+"?reportId="+id, alice, "", 404), insights.MsgNoItem)
	wantMessage(t, ts.call(t, http.MethodGet, reportsPath+"/execution/"+id+"?getLatestExecution=false", alice, "", 404), insights.MsgNoExecutions)
	wantMessage(t, ts.call(t, http.MethodDelete, reportsPath+"/"+id, alice, "", 404), insights.MsgNoItem)
	wantStatus(t, fetch(t, link), 410)
	if list, err := ts.Store.ListExecutions(context.Background(), meta.ExecutionFilter{ReportIDs: []string{id}}); err != nil || len(list) != 0 {
		t.Errorf("executions left: %v %v", list, err)
	}
}

func TestCreateReportValidation(t *testing.T) {
	ts := startServer(t, serverSetup{})
	alice := ts.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	bob := ts.key(t, meta.Key{Name: "bob", User: "bob", Account: "pub-contoso"})
	queryID := ts.createQuery(t, "/insights/v1.1/cmp", alice, "q", reportQuery)
	bobQuery := ts.createQuery(t, "/insights/v1.1/cmp", bob, "q", reportQuery)
	start := testNow.Add(5 * time.Hour).Format("2006-01-02T15:04:05Z")
	base := func(kv ...any) map[string]any {
		m := map[string]any{"ReportName": "r", "QueryId": queryID, "StartTime": start + " ", "RecurrenceInterval": 48,
			"RecurrenceCount": 20, "Format": "csv"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	long := strings.Repeat("x", 257)
	cases := []struct {
		body map[string]any
		msg  string
	}{
		{base("StartTime", "2026-04-01 19:00:00"), insights.MsgStartTimeFormat},
		{base("StartTime", nil), insights.MsgStartTimeFormat},
		{base("StartTime", testNow.Add(3*time.Hour).Format("2006-01-02T15:04:05Z")), insights.MsgStartTimeAhead},
		{base("RecurrenceInterval", 3), insights.MsgRecurrenceInterval},
		{base("RecurrenceInterval", 2161), insights.MsgRecurrenceInterval},
		{base("RecurrenceInterval", nil), insights.MsgRecurrenceInterval},
		{base("RecurrenceCount", 0), insights.MsgRecurrenceCount},
		{base("RecurrenceCount", -2), insights.MsgRecurrenceCount},
		{base("RecurrenceCount", nil), insights.MsgRecurrenceCount},
		{base("EndTime", "tomorrow"), insights.MsgEndTimeFormat},
		{base("EndTime", start), insights.MsgEndTimeAfterStart},
		{base("Format", "xlsx"), insights.MsgReportFormat},
		{base("ReportName", "a;b"), insights.MsgReportNameChar},
		{base("ReportName", long), insights.MsgReportLength},
		{base("Description", long), insights.MsgReportLength},
		{base("CallbackMethod", "PUT"), insights.MsgCallbackMethod},
		{base("QueryId", "not-a-uuid"), insights.MsgInvalidQueryID},
		{base("QueryId", "00000000-0000-4000-8000-000000000000"), insights.MsgInvalidQueryID},
		{base("QueryId", bobQuery), insights.MsgInvalidQueryID}, // another tenant's query
		{base("ReportName", nil), insights.MsgMissingValue},
		{base("ExecuteNow", true, "QueryStartTime", "2026-03-01"), insights.MsgQueryStartTimeFormat},
		{base("ExecuteNow", true, "QueryEndTime", "x"), insights.MsgQueryEndTimeFormat},
		{base("ExecuteNow", true, "QueryStartTime", "2026-03-02T00:00:00Z", "QueryEndTime", "2026-03-01T00:00:00Z"), insights.MsgQueryEndAfterStart},
	}
	for _, c := range cases {
		b, _ := json.Marshal(c.body)
		env := ts.call(t, http.MethodPost, reportsPath, alice, string(b), 400)
		if env.Message == nil || *env.Message != c.msg {
			t.Errorf("%s: message %q, want %q", b, deref(env.Message), c.msg)
		}
	}
	wantMessage(t, ts.call(t, http.MethodPost, reportsPath, alice, `{"ReportName": 1}`, 400), insights.MsgInvalidBody)

	// A valid scheduled report is stored Active (not run yet: no scheduler).
	rep := ts.createReport(t, alice, base("EndTime", testNow.Add(30*24*time.Hour).Format("2006-01-02T15:04:05Z"),
		"CallbackUrl", "https://example.com/cb", "callbackmethod", "get"))
	if rep["reportStatus"] != "Active" || rep["executeNow"] != false || rep["recurrenceInterval"] != 48.0 ||
		rep["recurrenceCount"] != 20.0 || rep["startTime"] != start || rep["callbackMethod"] != "GET" ||
		rep["callbackUrl"] != "https://example.com/cb" || rep["endTime"] == nil {
		t.Errorf("scheduled report %v", rep)
	}
	env := ts.call(t, http.MethodGet, reportsPath+"/execution/"+rep["reportId"].(string)+"?executionStatus=Pending;Running;Completed", alice, "", 404)
	wantMessage(t, env, insights.MsgNoExecutions)

	// Quota: 50 active reports per user (the one above counts).
	for i := 1; i < insights.DefaultMaxActiveReports; i++ {
		ts.createReport(t, alice, base("ReportName", fmt.Sprintf("r%d", i)))
	}
	b, _ := json.Marshal(base("ReportName", "one too many"))
	wantMessage(t, ts.call(t, http.MethodPost, reportsPath, alice, string(b), 400),
		"User has exceeded its report creation quota of 50 active reports")
	// Another user of the same tenant has its own quota; deleting frees one.
	carol := ts.key(t, meta.Key{Name: "carol", User: "carol", Account: "pub-fabrikam"})
	carolQuery := ts.createQuery(t, "/insights/v1.1/cmp", carol, "q", reportQuery)
	ts.createReport(t, carol, base("QueryId", carolQuery))
	ts.call(t, http.MethodDelete, reportsPath+"/"+rep["reportId"].(string), alice, "", 200)
	ts.createReport(t, alice, base("ReportName", "fits again"))
	if env := ts.call(t, http.MethodGet, reportsPath, alice, "", 200); env.TotalCount != 50 {
		t.Errorf("%d reports", env.TotalCount)
	}
}

func TestExecuteNowQuota(t *testing.T) {
	ts := startServer(t, serverSetup{})
	dave := ts.key(t, meta.Key{Name: "dave", User: "dave", Account: "pub-fabrikam"})
	sys := datasets.SystemQueries()[3] // on ISVUsage
	var ids []string
	for i := 0; i < insights.DefaultMaxExecuteNow; i++ {
		rep := ts.createReport(t, dave, map[string]any{"ReportName": fmt.Sprintf("now%d", i), "QueryId": sys.QueryID,
			"ExecuteNow": true, "QueryStartTime": "2026-03-01T00:00:00Z", "QueryEndTime": "2026-03-02T00:00:00Z"})
		ids = append(ids, rep["reportId"].(string))
	}
	b := `{"ReportName": "sixth", "QueryId": "` + sys.QueryID + `", "ExecuteNow": true}`
	wantMessage(t, ts.call(t, http.MethodPost, reportsPath, dave, b, 400),
		"User has exceeded its ExecuteNow report creation quota of 5 reports/60 mins")
	for _, id := range ids {
		ts.waitCompleted(t, dave, id)
	}
}

func TestSigningKeyAndDocs(t *testing.T) {
	dir := t.TempDir()
	k1, err := insights.LoadOrCreateSigningKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "signing.key"))
	if err != nil || st.Mode().Perm() != 0o600 || len(k1) != 32 {
		t.Fatalf("signing.key: %v %v, %d bytes", st, err, len(k1))
	}
	k2, err := insights.LoadOrCreateSigningKey(dir)
	if err != nil || string(k1) != string(k2) {
		t.Errorf("reloaded key differs: %v", err)
	}
	if insights.SignLink(k1, "e", 1) == insights.SignLink(k1, "e", 2) || insights.SignLink(k1, "e", 1) == insights.SignLink(k1, "f", 1) {
		t.Error("signature ignores its inputs")
	}

	// The routes are documented; the download route is public.
	ts := startServer(t, serverSetup{cfg: Config{PublicURL: "https://quarry.example.com/"}})
	var doc struct {
		Paths map[string]map[string]struct {
			Security []any `json:"security"`
		} `json:"paths"`
	}
	ts.get(t, "/openapi.json", "").json(t, &doc)
	for _, p := range []string{"/insights/v1.1/cmp/ScheduledReport", "/insights/v1/mpn/ScheduledReport/{reportId}",
		"/insights/v1/cmp/ScheduledReport/execution/{reportId}", "/download/{executionId}"} {
		if doc.Paths[p] == nil {
			t.Errorf("%s not documented", p)
		}
	}
	if op, found := doc.Paths["/download/{executionId}"]["get"]; !found || op.Security == nil || len(op.Security) != 0 {
		t.Errorf("download route security %+v", op)
	}
	// Links use the public URL.
	alice := ts.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	rep := ts.createReport(t, alice, map[string]any{"ReportName": "p", "QueryId": datasets.SystemQueries()[3].QueryID,
		"ExecuteNow": true, "QueryStartTime": "2026-03-01T00:00:00Z", "QueryEndTime": "2026-03-02T00:00:00Z"})
	ex := ts.waitCompleted(t, alice, rep["reportId"].(string))
	if link := ex["reportAccessSecureLink"].(string); !strings.HasPrefix(link, "https://quarry.example.com/download/") {
		t.Errorf("link %s", link)
	}
}

// The insights quotas are server settings: a lower ExecuteNow quota set
// in server.Config takes effect, with the message naming the setting.
func TestQuotaSettings(t *testing.T) {
	ts := startServer(t, serverSetup{cfg: Config{MaxExecuteNow: 1, ExecuteNowWindow: 30 * time.Minute}})
	erin := ts.key(t, meta.Key{Name: "erin", User: "erin", Account: "pub-fabrikam"})
	sys := datasets.SystemQueries()[3]
	rep := ts.createReport(t, erin, map[string]any{"ReportName": "once", "QueryId": sys.QueryID,
		"ExecuteNow": true, "QueryStartTime": "2026-03-01T00:00:00Z", "QueryEndTime": "2026-03-02T00:00:00Z"})
	b := `{"ReportName": "twice", "QueryId": "` + sys.QueryID + `", "ExecuteNow": true}`
	wantMessage(t, ts.call(t, http.MethodPost, reportsPath, erin, b, 400),
		"User has exceeded its ExecuteNow report creation quota of 1 reports/30 mins")
	ts.waitCompleted(t, erin, rep["reportId"].(string))
}

// GET /ScheduledReport pages: nextLink carries skipToken until the last
// page, and the pages together hold every report once.
func TestListReportsPages(t *testing.T) {
	ts := startServer(t, serverSetup{cfg: Config{ReportsPageSize: 2}})
	alice := ts.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	queryID := ts.createQuery(t, "/insights/v1.1/cmp", alice, "q", reportQuery)
	start := testNow.Add(5 * time.Hour).Format("2006-01-02T15:04:05Z")
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		rep := ts.createReport(t, alice, map[string]any{"ReportName": fmt.Sprintf("r%d", i), "QueryId": queryID,
			"StartTime": start, "RecurrenceInterval": 24, "RecurrenceCount": 3})
		want[rep["reportId"].(string)] = true
	}
	got := map[string]bool{}
	path, pages := reportsPath+"?reportName=", 0
	for path != "" {
		r := ts.do(t, http.MethodGet, path, "Bearer "+alice, nil)
		wantStatus(t, r, http.StatusOK)
		var env struct {
			Value      []map[string]any `json:"value"`
			NextLink   *string          `json:"nextLink"`
			TotalCount int              `json:"totalCount"`
		}
		r.json(t, &env)
		pages++
		if env.TotalCount != len(env.Value) || len(env.Value) > 2 {
			t.Fatalf("page %d: %d values, totalCount %d", pages, len(env.Value), env.TotalCount)
		}
		for _, v := range env.Value {
			id := v["reportId"].(string)
			if got[id] {
				t.Errorf("report %s on two pages", id)
			}
			got[id] = true
		}
		path = ""
		if env.NextLink != nil {
			u, err := url.Parse(*env.NextLink)
			if err != nil || u.Query().Get("skipToken") == "" {
				t.Fatalf("nextLink %q", *env.NextLink)
			}
			path = u.RequestURI()
		}
	}
	if pages != 3 || len(got) != len(want) {
		t.Errorf("%d pages with %d reports; want 3 pages with %d", pages, len(got), len(want))
	}
	r := ts.do(t, http.MethodGet, reportsPath+"?skipToken=-1", "Bearer "+alice, nil)
	wantStatus(t, r, http.StatusBadRequest)
}

// The ExecuteNow quota counts creations: deleting the reports does not
// free their slots (the window sliding does; see meta's
// TestExecuteNowQuotaCountsCreations, where the clock can move).
func TestExecuteNowQuotaSurvivesDelete(t *testing.T) {
	ts := startServer(t, serverSetup{cfg: Config{MaxExecuteNow: 2}})
	fay := ts.key(t, meta.Key{Name: "fay", User: "fay", Account: "pub-fabrikam"})
	sys := datasets.SystemQueries()[3]
	body := func(name string) map[string]any {
		return map[string]any{"ReportName": name, "QueryId": sys.QueryID, "ExecuteNow": true,
			"QueryStartTime": "2026-03-01T00:00:00Z", "QueryEndTime": "2026-03-02T00:00:00Z"}
	}
	for _, name := range []string{"one", "two"} {
		id := ts.createReport(t, fay, body(name))["reportId"].(string)
		ts.waitCompleted(t, fay, id)
		wantMessage(t, ts.call(t, http.MethodDelete, reportsPath+"/"+id, fay, "", 200), insights.MsgReportDeleted)
	}
	if env := ts.call(t, http.MethodGet, reportsPath, fay, "", 200); env.TotalCount != 0 {
		t.Fatalf("%d reports left after deleting both", env.TotalCount)
	}
	b, _ := json.Marshal(body("three"))
	wantMessage(t, ts.call(t, http.MethodPost, reportsPath, fay, string(b), 400),
		"User has exceeded its ExecuteNow report creation quota of 2 reports/60 mins")
	// Recurring reports are not ExecuteNow reports.
	ts.createReport(t, fay, map[string]any{"ReportName": "recurring", "QueryId": sys.QueryID,
		"StartTime": testNow.Add(5 * time.Hour).Format(time.RFC3339), "RecurrenceInterval": 24, "RecurrenceCount": 1})
}
