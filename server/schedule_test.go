package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/engine/schedule"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server/insights"
)

// recurringQuery's TIMESPAN is evaluated at each execution's scheduled
// time, so executions on different days cover different windows.
const recurringQuery = "SELECT CustomerId, NormalizedUsage FROM ISVUsage TIMESPAN LAST_7_DAYS"

// fakeClock is the scheduler's test clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// scheduledServer is a test server with a scheduler on a fake clock.
type scheduledServer struct {
	*testServer
	clock *fakeClock
	sched *schedule.Scheduler
}

func startScheduled(t *testing.T, cfg Config) *scheduledServer {
	t.Helper()
	ts := startServer(t, serverSetup{cfg: cfg})
	clock := &fakeClock{t: testNow}
	return &scheduledServer{testServer: ts, clock: clock, sched: ts.Server.Scheduler(clock.Now)}
}

// tickAt sets the clock and ticks, expecting want executions started.
func (ss *scheduledServer) tickAt(t *testing.T, at time.Time, want int) {
	t.Helper()
	ss.clock.Set(at)
	n, err := ss.sched.Tick(context.Background())
	if err != nil || n != want {
		t.Fatalf("Tick at %s: %d started (%v), want %d", at.Format(time.RFC3339), n, err, want)
	}
}

// executions lists every execution of a report, newest first.
func (ts *testServer) executions(t *testing.T, secret, reportID string) []map[string]any {
	t.Helper()
	r := ts.get(t, reportsPath+"/execution/"+reportID+"?getLatestExecution=false&executionStatus=Pending;Running;Completed;Failed", secret)
	if r.Status == 404 {
		return nil
	}
	wantStatus(t, r, 200)
	var env envelope
	r.json(t, &env)
	return env.Value
}

// waitExecution waits until the report's latest execution is Completed
// (failing on Failed) and returns it.
func (ts *testServer) waitExecution(t *testing.T, secret, reportID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		list := ts.executions(t, secret, reportID)
		if len(list) > 0 {
			switch list[0]["executionStatus"] {
			case "Completed":
				return list[0]
			case "Failed":
				t.Fatalf("execution failed: %v", list[0])
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("report %s: no completed execution after 60s: %v", reportID, list)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCallbackStatus waits until an execution's callbackStatus is set.
func (ts *testServer) waitCallbackStatus(t *testing.T, secret, reportID, executionID string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, e := range ts.executions(t, secret, reportID) {
			if e["executionId"] == executionID && e["callbackStatus"] != nil {
				return e["callbackStatus"].(string)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s: no callbackStatus after 30s", executionID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// callbackSink records the callbacks it receives.
type callbackSink struct {
	mu    sync.Mutex
	calls []string // "METHOD /path?query"
	srv   *httptest.Server
}

func newCallbackSink(t *testing.T) *callbackSink {
	s := &callbackSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls = append(s.calls, r.Method+" "+r.URL.RequestURI())
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *callbackSink) count(call string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (s *callbackSink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// checkFile downloads an execution's file and compares it with the
// oracle of the LAST_7_DAYS window at the execution's scheduled time.
func checkFile(t *testing.T, ex map[string]any, account string) map[string]float64 {
	t.Helper()
	at, err := time.Parse(time.RFC3339, fmt.Sprint(ex["scheduledTime"]))
	if err != nil {
		t.Fatalf("scheduledTime %v", ex["scheduledTime"])
	}
	day := at.Truncate(24 * time.Hour)
	want := usageByCustomer(t, account, day.AddDate(0, 0, -7).Format("2006-01-02"), day.Format("2006-01-02"))
	r := fetch(t, fmt.Sprint(ex["reportAccessSecureLink"]))
	wantStatus(t, r, 200)
	compareCSV(t, r.Body, ',', want)
	return want
}

func TestRecurringReports(t *testing.T) {
	ss := startScheduled(t, Config{CallbackBackoff: 10 * time.Millisecond})
	alice := ss.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	bob := ss.key(t, meta.Key{Name: "bob", User: "bob", Account: "pub-contoso"})
	queryID := ss.createQuery(t, "/insights/v1.1/cmp", alice, "lastWeek", recurringQuery)
	sink := newCallbackSink(t)

	start := time.Date(2026, 3, 31, 20, 0, 0, 0, time.UTC)
	startS := start.Format(time.RFC3339)
	a := ss.createReport(t, alice, map[string]any{"ReportName": "every4h", "QueryId": queryID, "StartTime": startS,
		"RecurrenceInterval": 4, "RecurrenceCount": 3, "CallbackUrl": sink.srv.URL + "/cb"})
	b := ss.createReport(t, alice, map[string]any{"ReportName": "paused", "QueryId": queryID, "StartTime": startS,
		"RecurrenceInterval": 4, "RecurrenceCount": 10, "CallbackUrl": sink.srv.URL + "/cb", "CallbackMethod": "GET"})
	aID, bID := a["reportId"].(string), b["reportId"].(string)
	if a["nextExecutionStartTime"] != startS || a["recurrenceCountRemaining"] != 3.0 || a["reportStatus"] != "Active" {
		t.Errorf("created %v", a)
	}

	// Before StartTime nothing runs; at it, both reports run.
	ss.tickAt(t, start.Add(-time.Minute), 0)
	ss.tickAt(t, start, 2)
	ss.tickAt(t, start, 0) // once per due time
	a0 := ss.waitExecution(t, alice, aID)
	b0 := ss.waitExecution(t, alice, bID)
	w0 := checkFile(t, a0, "pub-fabrikam")
	checkFile(t, b0, "pub-fabrikam")
	if a0["scheduledTime"] != startS || a0["recurrenceCountRemaining"] != 2.0 ||
		a0["nextExecutionStartTime"] != start.Add(4*time.Hour).Format(time.RFC3339) {
		t.Errorf("first execution %v", a0)
	}

	// Pause b: the due time passes without an execution of b.
	env := ss.call(t, http.MethodPut, reportsPath+"/pause/"+bID, alice, "", 200)
	wantMessage(t, env, insights.MsgReportPaused)
	if env.Value[0]["reportStatus"] != "Paused" {
		t.Errorf("paused %v", env.Value)
	}
	// Another tenant cannot pause, resume or update it.
	wantMessage(t, ss.call(t, http.MethodPut, reportsPath+"/pause/"+aID, bob, "", 404), insights.MsgNoItem)
	wantMessage(t, ss.call(t, http.MethodPut, reportsPath+"/resume/"+bID, bob, "", 404), insights.MsgNoItem)
	wantMessage(t, ss.call(t, http.MethodPut, reportsPath+"/"+aID, bob,
		`{"ReportName":"x","StartTime":"2026-04-02T00:00:00Z","RecurrenceInterval":4,"RecurrenceCount":1}`, 404), insights.MsgNoItem)

	ss.tickAt(t, start.Add(4*time.Hour), 1) // a only
	a1 := ss.waitExecution(t, alice, aID)
	w1 := checkFile(t, a1, "pub-fabrikam")
	if reflect.DeepEqual(w0, w1) {
		t.Error("the two windows have the same data; the test would not see TIMESPAN evaluated per execution")
	}
	if n := len(ss.executions(t, alice, bID)); n != 1 {
		t.Errorf("paused report has %d executions", n)
	}

	// Resume: the skipped due time does not run; the next one does.
	env = ss.call(t, http.MethodPut, reportsPath+"/resume/"+bID, alice, "", 200)
	wantMessage(t, env, insights.MsgReportResumed)
	if env.Value[0]["reportStatus"] != "Active" || env.Value[0]["nextExecutionStartTime"] != start.Add(8*time.Hour).Format(time.RFC3339) {
		t.Errorf("resumed %v", env.Value)
	}
	ss.tickAt(t, start.Add(5*time.Hour), 0)
	ss.tickAt(t, start.Add(8*time.Hour), 2)
	a2 := ss.waitExecution(t, alice, aID)
	b1 := ss.waitExecution(t, alice, bID)
	checkFile(t, a2, "pub-fabrikam")
	checkFile(t, b1, "pub-fabrikam")
	if b1["scheduledTime"] != start.Add(8*time.Hour).Format(time.RFC3339) || b1["recurrenceCountRemaining"] != 7.0 {
		t.Errorf("b after resume %v", b1)
	}

	// a's count is exhausted: Inactive, nothing more runs.
	env = ss.call(t, http.MethodGet, reportsPath+"?reportId="+aID, alice, "", 200)
	if env.Value[0]["reportStatus"] != "Inactive" || env.Value[0]["recurrenceCountRemaining"] != 0.0 ||
		env.Value[0]["nextExecutionStartTime"] != nil {
		t.Errorf("exhausted %v", env.Value)
	}
	ss.tickAt(t, start.Add(12*time.Hour), 1) // b only
	ss.waitExecution(t, alice, bID)
	if n := len(ss.executions(t, alice, aID)); n != 3 {
		t.Errorf("a has %d executions, want 3", n)
	}
	wantMessage(t, ss.call(t, http.MethodPut, reportsPath+"/pause/"+aID, alice, "", 400), insights.MsgPauseInactive)

	// One callback per completed execution: POST {url}/{id}, GET {url}?reportId={id}.
	for _, ex := range ss.executions(t, alice, aID) {
		if s := ss.waitCallbackStatus(t, alice, aID, ex["executionId"].(string)); s != insights.CallbackSucceeded {
			t.Errorf("callback %s", s)
		}
	}
	for _, ex := range ss.executions(t, alice, bID) {
		if s := ss.waitCallbackStatus(t, alice, bID, ex["executionId"].(string)); s != insights.CallbackSucceeded {
			t.Errorf("callback %s", s)
		}
	}
	if n, m := sink.count("POST /cb/"+aID), sink.count("GET /cb?reportId="+bID); n != 3 || m != 3 || len(sink.all()) != 6 {
		t.Errorf("callbacks %v", sink.all())
	}

	// Update b: a new schedule (restarting at its StartTime), TSV.
	newStart := start.Add(48 * time.Hour).Format(time.RFC3339)
	for body, msg := range map[string]string{
		`{"ReportName":"b","StartTime":"` + newStart + `","RecurrenceInterval":4,"RecurrenceCount":2,"Format":"xls"}`: insights.MsgReportFormat,
		`{"ReportName":"b","StartTime":"` + newStart + `","RecurrenceInterval":2,"RecurrenceCount":2}`:                insights.MsgRecurrenceInterval,
		`{"ReportName":"b","StartTime":"2026-03-31","RecurrenceInterval":4,"RecurrenceCount":2}`:                      insights.MsgStartTimeFormat,
		`{"ReportName":"b","StartTime":"` + newStart + `","RecurrenceInterval":4,"RecurrenceCount":0}`:                insights.MsgRecurrenceCount,
		`{"ReportName":"b;c","StartTime":"` + newStart + `","RecurrenceInterval":4,"RecurrenceCount":2}`:              insights.MsgReportNameChar,
		`{"ReportName":"b","StartTime":"` + newStart + `","RecurrenceInterval":4,"EndTime":"` + startS + `"}`:         insights.MsgEndTimeAfterStart,
	} {
		wantMessage(t, ss.call(t, http.MethodPut, reportsPath+"/"+bID, alice, body, 400), msg)
	}
	env = ss.call(t, http.MethodPut, reportsPath+"/"+bID, alice, `{"reportName":"b2","startTime":"`+newStart+
		`","recurrenceInterval":24,"recurrenceCount":2,"format":"TSV","endTime":"2026-04-10T00:00:00Z"}`, 200)
	wantMessage(t, env, insights.MsgReportUpdated)
	u := env.Value[0]
	if u["reportName"] != "b2" || u["format"] != "tsv" || u["recurrenceInterval"] != 24.0 || u["recurrenceCount"] != 2.0 ||
		u["startTime"] != newStart || u["endTime"] != "2026-04-10T00:00:00Z" || u["nextExecutionStartTime"] != newStart ||
		u["recurrenceCountRemaining"] != 2.0 || u["callbackUrl"] != nil || u["modifiedTime"] == nil {
		t.Errorf("updated %v", u)
	}
	ss.tickAt(t, start.Add(47*time.Hour), 0)
	ss.tickAt(t, start.Add(48*time.Hour), 1)
	b2 := ss.waitExecution(t, alice, bID)
	if r := fetch(t, b2["reportAccessSecureLink"].(string)); !strings.HasSuffix(r.Header.Get("Content-Disposition"), `.tsv"`) {
		t.Errorf("updated format: %q", r.Header.Get("Content-Disposition"))
	}
}

// TestMissedRunsAndDeadCallback: a callback target that refuses
// connections is retried and recorded as failed, off the workers; after
// a downtime of several intervals only the latest missed run runs.
func TestMissedRunsAndDeadCallback(t *testing.T) {
	// Retries take 0.4 s + 0.8 s: the next execution finishes meanwhile.
	ss := startScheduled(t, Config{CallbackBackoff: 400 * time.Millisecond, CallbackTimeout: time.Second})
	alice := ss.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	queryID := ss.createQuery(t, "/insights/v1.1/cmp", alice, "lastWeek", recurringQuery)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/cb"
	ln.Close()

	start := time.Date(2026, 3, 31, 20, 0, 0, 0, time.UTC)
	rep := ss.createReport(t, alice, map[string]any{"ReportName": "missed", "QueryId": queryID,
		"StartTime": start.Format(time.RFC3339), "RecurrenceInterval": 4, "RecurrenceCount": 6, "CallbackUrl": dead})
	id := rep["reportId"].(string)
	ss.tickAt(t, start, 1)
	e0 := ss.waitExecution(t, alice, id)

	// Down from +0h to +13h: +4h, +8h and +12h were missed; one run, at +12h.
	ss.tickAt(t, start.Add(13*time.Hour), 1)
	ss.tickAt(t, start.Add(13*time.Hour), 0)
	e1 := ss.waitExecution(t, alice, id)
	if e1["executionId"] == e0["executionId"] || e1["scheduledTime"] != start.Add(12*time.Hour).Format(time.RFC3339) ||
		e1["recurrenceCountRemaining"] != 2.0 || e1["nextExecutionStartTime"] != start.Add(16*time.Hour).Format(time.RFC3339) {
		t.Errorf("after the downtime %v", e1)
	}
	if n := len(ss.executions(t, alice, id)); n != 2 {
		t.Errorf("%d executions, want 2", n)
	}
	checkFile(t, e1, "pub-fabrikam")
	// The first callback was still being retried when the second
	// execution completed: callbacks do not hold the workers.
	for _, e := range ss.executions(t, alice, id) {
		if e["executionId"] == e0["executionId"] && e["callbackStatus"] != nil {
			t.Logf("the first callback ended before the second execution (%v); slow machine?", e["callbackStatus"])
		}
	}

	s0 := ss.waitCallbackStatus(t, alice, id, e0["executionId"].(string))
	if !strings.HasPrefix(s0, "Failed: ") || !strings.Contains(s0, "after 3 attempts") || !strings.Contains(s0, "/cb/"+id) {
		t.Errorf("dead callback status %q", s0)
	}
	s1 := ss.waitCallbackStatus(t, alice, id, e1["executionId"].(string))
	if !strings.HasPrefix(s1, "Failed: ") {
		t.Errorf("dead callback status %q", s1)
	}
}

// PUT /ScheduledReport/{id} that makes an Inactive report Active again,
// and resume, count against the active-reports quota like a create.
func TestReactivationQuota(t *testing.T) {
	ss := startScheduled(t, Config{MaxActiveReports: 2})
	alice := ss.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	queryID := ss.createQuery(t, "/insights/v1.1/cmp", alice, "lastWeek", recurringQuery)
	start := time.Date(2026, 3, 31, 20, 0, 0, 0, time.UTC)
	once := func(name string) string {
		return ss.createReport(t, alice, map[string]any{"ReportName": name, "QueryId": queryID,
			"StartTime": start.Format(time.RFC3339), "RecurrenceInterval": 4, "RecurrenceCount": 1})["reportId"].(string)
	}
	a := once("a")
	ss.tickAt(t, start, 1) // a's only run: a becomes Inactive
	ss.waitExecution(t, alice, a)
	b, c := once("b"), once("c") // the two Active reports of the quota
	_ = b
	status := func(id string) any {
		t.Helper()
		return ss.call(t, http.MethodGet, reportsPath+"?reportId="+id, alice, "", 200).Value[0]["reportStatus"]
	}
	if s := status(a); s != "Inactive" {
		t.Fatalf("a is %v", s)
	}
	const quotaMsg = "User has exceeded its report creation quota of 2 active reports"
	update := `{"ReportName":"a","StartTime":"2026-04-02T00:00:00Z","RecurrenceInterval":24,"RecurrenceCount":2}`
	wantMessage(t, ss.call(t, http.MethodPut, reportsPath+"/"+a, alice, update, 400), quotaMsg)
	if s := status(a); s != "Inactive" {
		t.Errorf("a refused update left a %v", s)
	}
	// Pausing c frees a slot: a can come back; then c cannot resume.
	ss.call(t, http.MethodPut, reportsPath+"/pause/"+c, alice, "", 200)
	env := ss.call(t, http.MethodPut, reportsPath+"/"+a, alice, update, 200)
	if env.Value[0]["reportStatus"] != "Active" {
		t.Errorf("reactivated %v", env.Value[0])
	}
	wantMessage(t, ss.call(t, http.MethodPut, reportsPath+"/resume/"+c, alice, "", 400), quotaMsg)
	if s := status(c); s != "Paused" {
		t.Errorf("a refused resume left c %v", s)
	}
	// Updating a report that stays Active or Paused is not refused.
	ss.call(t, http.MethodPut, reportsPath+"/"+a, alice, update, 200)
	ss.call(t, http.MethodPut, reportsPath+"/"+c, alice, update, 200)
	if s := status(c); s != "Paused" {
		t.Errorf("updated c is %v", s)
	}
}

// One tick starts every report due at the same instant, in batches (one
// write transaction each): each execution is stored Pending with its job
// and its due time, a paused report only moves on, and a second tick at
// the same time starts nothing.
func TestTickStartsADueBatch(t *testing.T) {
	ss := startScheduled(t, Config{})
	ss.sched.BatchSize = 25
	start := time.Date(2026, 3, 31, 20, 0, 0, 0, time.UTC)
	var ids []string
	var paused string
	for u := 0; u < 3; u++ {
		k := ss.key(t, meta.Key{Name: "u", User: fmt.Sprintf("u%d", u), Account: "pub-fabrikam"})
		q := ss.createQuery(t, "/insights/v1.1/cmp", k, "q", recurringQuery)
		for i := 0; i < 30; i++ {
			ids = append(ids, ss.createReport(t, k, map[string]any{"ReportName": fmt.Sprintf("r%d", i), "QueryId": q,
				"StartTime": start.Format(time.RFC3339), "RecurrenceInterval": 4, "RecurrenceCount": 2})["reportId"].(string))
		}
		if u == 0 {
			paused = ids[0]
			ss.call(t, http.MethodPut, reportsPath+"/pause/"+paused, k, "", 200)
		}
	}
	ss.tickAt(t, start, len(ids)-1)
	ss.tickAt(t, start, 0)
	ctx := context.Background()
	for _, id := range ids {
		r, err := ss.Store.GetReport(ctx, id)
		if err != nil || r.LastDueAt == nil || !r.LastDueAt.Equal(start) {
			t.Fatalf("report %s: last due %v (%v)", id, r.LastDueAt, err)
		}
		list, err := ss.Store.ListExecutions(ctx, meta.ExecutionFilter{ReportIDs: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		if id == paused {
			if len(list) != 0 {
				t.Errorf("the paused report has %d executions", len(list))
			}
			continue
		}
		if len(list) != 1 || !list[0].ScheduledAt.Equal(start) || list[0].JobID == "" {
			t.Fatalf("report %s: executions %+v", id, list)
		}
		j, err := ss.Jobs.Get(ctx, list[0].JobID)
		if err != nil || j.Kind != insights.ReportJobKind || !strings.Contains(string(j.Request), list[0].ID) {
			t.Fatalf("job of execution %s: %+v %v", list[0].ID, j, err)
		}
	}
}

// A completed execution whose callback was under way when the process
// died is called back by the next process (Resume, run when the
// scheduler starts), with the attempts it has left; a callback that had
// succeeded is not sent again, and one that had used up its attempts is
// recorded Failed without a call.
func TestCallbackResumedAfterRestart(t *testing.T) {
	store := openQueries(t)
	var mu sync.Mutex
	calls := map[string]int{}
	release := make(chan struct{})
	hung := make(chan string, 8)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.Path]++
		n := calls[r.URL.Path]
		mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/hang/") && n == 1 {
			// The first call never gets an answer from this life.
			hung <- r.URL.Path
			select {
			case <-release:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(func() { close(release); sink.Close() })
	count := func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[path]
	}

	// First life: three run-once reports complete; B's callback succeeds,
	// A's and C's first calls hang.
	life1 := startServer(t, serverSetup{queries: store, cfg: Config{CallbackTimeout: time.Hour, CallbackAttempts: 1}})
	alice := life1.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	sys := datasets.SystemQueries()[3]
	report := func(ts *testServer, name, cb string) string {
		return ts.createReport(t, alice, map[string]any{"ReportName": name, "QueryId": sys.QueryID, "ExecuteNow": true,
			"QueryStartTime": "2026-03-01T00:00:00Z", "QueryEndTime": "2026-03-02T00:00:00Z", "CallbackUrl": sink.URL + cb})["reportId"].(string)
	}
	a, b, c := report(life1, "a", "/hang"), report(life1, "b", "/ok"), report(life1, "c", "/hang")
	var execs = map[string]string{}
	for _, id := range []string{a, b, c} {
		execs[id] = life1.waitCompleted(t, alice, id)["executionId"].(string)
	}
	if s := life1.waitCallbackStatus(t, alice, b, execs[b]); s != insights.CallbackSucceeded {
		t.Fatalf("b's callback %s", s)
	}
	for i := 0; i < 2; i++ {
		select {
		case <-hung:
		case <-time.After(30 * time.Second):
			t.Fatal("the hanging callbacks were not called")
		}
	}
	ctx := context.Background()
	// C's calls were all made (the crash came before the outcome was
	// stored): count two more as the previous life would have.
	for i := 0; i < 2; i++ {
		if _, err := store.RecordCallbackAttempt(ctx, execs[c]); err != nil {
			t.Fatal(err)
		}
	}
	// The crash: the first life stops serving and running jobs, its
	// callbacks unanswered.
	life1.stop()
	if err := life1.Jobs.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a, c} {
		e, err := store.GetExecution(ctx, execs[id])
		if err != nil || !e.CallbackPending || e.CallbackStatus != "" {
			t.Fatalf("before the restart %+v %v", e, err)
		}
	}

	// Second life over the same store.
	life2 := startServer(t, serverSetup{queries: store, cfg: Config{CallbackAttempts: 3, CallbackBackoff: 10 * time.Millisecond}})
	alice = life2.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	sched := life2.Server.Scheduler((&fakeClock{t: testNow}).Now)
	if err := sched.OnStart(ctx); err != nil {
		t.Fatal(err)
	}
	if s := life2.waitCallbackStatus(t, alice, a, execs[a]); s != insights.CallbackSucceeded {
		t.Errorf("a's resumed callback %s", s)
	}
	if s := life2.waitCallbackStatus(t, alice, c, execs[c]); !strings.HasPrefix(s, "Failed: ") || !strings.Contains(s, "no attempt left") {
		t.Errorf("c's resumed callback %s", s)
	}
	if err := life2.WaitCallbacks(ctx); err != nil {
		t.Fatal(err)
	}
	if n, m, k := count("/hang/"+a), count("/ok/"+b), count("/hang/"+c); n != 2 || m != 1 || k != 1 {
		t.Errorf("calls: a %d (want 2), b %d (want 1), c %d (want 1)", n, m, k)
	}
	if e, _ := store.GetExecution(ctx, execs[a]); e.CallbackAttempts != 2 || e.CallbackPending {
		t.Errorf("a after the restart %+v", e)
	}
	// Nothing is owed any more: a second resume sends nothing.
	if err := sched.OnStart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := life2.WaitCallbacks(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count("/hang/" + a); n != 2 {
		t.Errorf("a called %d times after a second resume", n)
	}
}

// After a crash mid-run, the queue hands the job back (enqueued); the
// execution shows Pending from the restart (Resume) until a worker takes
// the job again, not Running, then completes.
func TestRecoveredExecutionShowsPending(t *testing.T) {
	store := openQueries(t)
	ctx := context.Background()
	life1 := startServer(t, serverSetup{queries: store, holdJobs: true})
	alice := life1.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	sys := datasets.SystemQueries()[3]
	id := life1.createReport(t, alice, map[string]any{"ReportName": "r", "QueryId": sys.QueryID, "ExecuteNow": true,
		"QueryStartTime": "2026-03-01T00:00:00Z", "QueryEndTime": "2026-03-02T00:00:00Z"})["reportId"].(string)
	// What a crash mid-run leaves: the job running, the execution Running.
	list, err := store.ListExecutions(ctx, meta.ExecutionFilter{ReportIDs: []string{id}})
	if err != nil || len(list) != 1 || list[0].JobID == "" {
		t.Fatalf("executions %+v %v", list, err)
	}
	e := list[0]
	j, err := store.GetJob(ctx, e.JobID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	j.State, j.StartedAt = meta.JobRunning, &now
	e.Status, e.StartedAt = meta.ExecutionRunning, &now
	if err := store.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := store.UpdateExecution(ctx, e); err != nil {
		t.Fatal(err)
	}
	life1.stop()

	// Second life: both workers are busy with older jobs, so the
	// recovered report job waits in the queue.
	life2 := startServer(t, serverSetup{queries: store, holdJobs: true})
	alice = life2.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	busy, free := make(chan struct{}, 2), make(chan struct{})
	life2.Jobs.Register("test.busy", func(ctx context.Context, _ meta.Job, _ string) (jobs.Result, error) {
		busy <- struct{}{}
		select {
		case <-free:
		case <-ctx.Done():
		}
		return jobs.Result{}, errors.New("released")
	})
	for i := 0; i < 2; i++ {
		if _, err := store.CreateJob(ctx, meta.Job{Kind: "test.busy", CreatedAt: j.CreatedAt.Add(-time.Minute)}, meta.Admission{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := life2.Jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case <-busy:
		case <-time.After(30 * time.Second):
			t.Fatal("the workers did not take the older jobs")
		}
	}
	if got, _ := store.GetJob(ctx, j.ID); got.State != meta.JobEnqueued || got.Attempts != 1 {
		t.Fatalf("recovered job %+v", got)
	}
	status := func() map[string]any {
		t.Helper()
		list := life2.executions(t, alice, id)
		if len(list) != 1 {
			t.Fatalf("executions %v", list)
		}
		return list[0]
	}
	if s := status()["executionStatus"]; s != "Running" {
		t.Fatalf("before Resume the execution is %v; the test expects the stale Running", s)
	}
	if err := life2.Server.Scheduler(nil).OnStart(ctx); err != nil {
		t.Fatal(err)
	}
	if ex := status(); ex["executionStatus"] != "Pending" || ex["reportAccessSecureLink"] != nil {
		t.Errorf("after Resume %v", ex)
	}
	close(free)
	if ex := life2.waitExecution(t, alice, id); ex["executionId"] != e.ID {
		t.Errorf("completed %v", ex)
	}
}
