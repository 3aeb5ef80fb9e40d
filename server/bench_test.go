package server

// Benchmarks of the insights report API over real HTTP on loopback (issue
// 3, "Show"). Run them with
//
//	go test -tags duckdb_arrow -run '^$' -bench . ./server/
//
// Each prints its own metrics (b.ReportMetric) next to ns/op, in the
// format benchstat reads.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets/gen"
	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server/insights"
)

// benchQuery is the small query of the ExecuteNow and scheduled benchmarks.
const benchQuery = "SELECT CustomerName, Product, BilledRevenueUSD FROM CustomersAndTenants ORDER BY BilledRevenueUSD LIMIT 10 TIMESPAN LAST_MONTH"

// benchJobs is the job queue config of the benchmarks: the tests' (the
// queue's defaults but a 50 ms idle poll), logging nowhere so the
// benchmark output stays readable.
func benchJobs() *jobs.Config {
	return &jobs.Config{PollInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// tmpfsStore opens a metadata store on tmpfs (/dev/shm, where fsync costs
// nothing), or in the test's temp dir when there is no /dev/shm.
func tmpfsStore(b testing.TB) *meta.SQLite {
	b.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "quarry-bench-")
	if err != nil {
		b.Logf("no tmpfs (%v): the store is on disk", err)
		return openQueries(b)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	st, err := meta.Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// benchCall sends a JSON request to an insights route and decodes the
// envelope, failing unless the status is want.
func (ts *testServer) benchCall(b testing.TB, method, path, secret, body string, want int) envelope {
	b.Helper()
	var r response
	if body == "" {
		r = ts.do(b, method, path, "Bearer "+secret, nil)
	} else {
		r = ts.do(b, method, path, "Bearer "+secret, strings.NewReader(body), "Content-Type", "application/json")
	}
	wantStatus(b, r, want)
	var env envelope
	r.json(b, &env)
	return env
}

func (ts *testServer) benchQueryID(b testing.TB, secret string) string {
	b.Helper()
	body, _ := json.Marshal(map[string]string{"Name": "bench", "Query": benchQuery})
	env := ts.benchCall(b, http.MethodPost, queriesPath, secret, string(body), 200)
	if len(env.Value) != 1 {
		b.Fatalf("created query %v", env.Value)
	}
	return env.Value[0]["queryId"].(string)
}

func (ts *testServer) benchReport(b testing.TB, secret string, body map[string]any) string {
	b.Helper()
	raw, _ := json.Marshal(body)
	env := ts.benchCall(b, http.MethodPost, reportsPath, secret, string(raw), 200)
	if len(env.Value) != 1 || env.Message == nil || *env.Message != insights.MsgReportCreated {
		b.Fatalf("created report %v %v", env.Value, deref(env.Message))
	}
	return env.Value[0]["reportId"].(string)
}

// reportDone signals, per reportId, the end of a report job: a hook on
// the job queue, called after the insights API has recorded the job's
// state on the execution (its observer is registered first, by New).
type reportDone struct {
	mu sync.Mutex
	ch map[string]chan meta.JobState
}

func (d *reportDone) wait(id string) chan meta.JobState {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.ch[id]
	if !ok {
		c = make(chan meta.JobState, 1)
		d.ch[id] = c
	}
	return c
}

func (d *reportDone) observe(j meta.Job) {
	if j.Kind != insights.ReportJobKind || !j.State.Terminal() {
		return
	}
	var req struct {
		ReportID string `json:"reportId"`
	}
	if json.Unmarshal(j.Request, &req) != nil {
		return
	}
	select {
	case d.wait(req.ReportID) <- j.State:
	default:
	}
}

// percentile of sorted durations, in milliseconds.
func percentileMS(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)) + 0.5)
	i = min(max(i-1, 0), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// BenchmarkExecuteNowReport: POST /ScheduledReport with ExecuteNow on a
// small saved query, until GET /ScheduledReport/execution/{id} answers
// the execution Completed. "hook" waits on the job queue's observer and
// then confirms with one GET; "poll1ms" polls the route every 1 ms, as a
// client would. A new member (user) every 5 reports keeps within the
// ExecuteNow quota of 5 per hour per user.
func BenchmarkExecuteNowReport(b *testing.B) {
	ts := startServer(b, serverSetup{holdJobs: true, jobs: benchJobs()})
	done := &reportDone{ch: map[string]chan meta.JobState{}}
	ts.Jobs.Observe(done.observe)
	if err := ts.Jobs.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	users := 0
	for _, mode := range []string{"hook", "poll1ms"} {
		b.Run(mode, func(b *testing.B) {
			var secret, queryID string
			durs := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				if i%insights.DefaultMaxExecuteNow == 0 {
					b.StopTimer()
					users++
					secret = ts.key(b, meta.Key{Name: "bench", User: fmt.Sprintf("now%d", users), Account: "pub-fabrikam"})
					queryID = ts.benchQueryID(b, secret)
					b.StartTimer()
				}
				t0 := time.Now()
				id := ts.benchReport(b, secret, map[string]any{"ReportName": fmt.Sprintf("now%d", i), "QueryId": queryID, "ExecuteNow": true})
				if mode == "hook" {
					select {
					case st := <-done.wait(id):
						if st != meta.JobCompleted {
							b.Fatalf("report %s: job %s", id, st)
						}
					case <-time.After(60 * time.Second):
						b.Fatalf("report %s: no job end after 60s", id)
					}
				}
				deadline := time.Now().Add(60 * time.Second)
				for {
					r := ts.get(b, reportsPath+"/execution/"+id, secret)
					if r.Status == 200 {
						var env envelope
						r.json(b, &env)
						if len(env.Value) != 1 || env.Value[0]["executionStatus"] != "Completed" || env.Value[0]["reportAccessSecureLink"] == nil {
							b.Fatalf("execution %s", r.Body)
						}
						break
					}
					if r.Status != 404 || mode == "hook" {
						b.Fatalf("execution: %d %s", r.Status, r.Body)
					}
					if time.Now().After(deadline) {
						f := ts.get(b, reportsPath+"/execution/"+id+"?executionStatus=Failed", secret)
						b.Fatalf("report %s not completed after 60s; failed: %s", id, f.Body)
					}
					time.Sleep(time.Millisecond)
				}
				durs = append(durs, time.Since(t0))
			}
			sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
			b.ReportMetric(percentileMS(durs, 0.50), "p50_ms")
			b.ReportMetric(percentileMS(durs, 0.95), "p95_ms")
		})
	}
}

// BenchmarkScheduledReportsOnTime: 1,000 recurring reports with the same
// StartTime, created over HTTP (untimed) by 100 members of distinct
// tenants (10 each: the per-user cap of Active reports is 50 and the
// queue's per-tenant cap of active jobs is 10, both defaults, as is the
// queue's 2 workers); then the fake clock is set to StartTime and the
// scheduler ticks once. Timed: from the Tick until all 1,000 executions
// are Completed (checked in the store, each scheduled at StartTime).
// Metrics: late, the reports the Tick did not start; tick_ms, how long
// the Tick took; last_start_ms, from the Tick to the last job's start;
// total_ms and executions/s. store=disk is the metadata store as in
// production (SQLite, synchronous=FULL: an fsync per commit);
// store=tmpfs the same on /dev/shm, to separate the fsync cost.
func BenchmarkScheduledReportsOnTime(b *testing.B) {
	b.Run("store=disk", func(b *testing.B) { benchScheduled(b, nil) })
	b.Run("store=tmpfs", func(b *testing.B) { benchScheduled(b, tmpfsStore(b)) })
}

// benchScheduled runs BenchmarkScheduledReportsOnTime over a metadata
// store; nil means a new one in the test's temp dir (on disk).
func benchScheduled(b *testing.B, store *meta.SQLite) {
	const tenants, perTenant = 100, 10
	const reports = tenants * perTenant
	setup := serverSetup{holdJobs: true, jobs: benchJobs()}
	if store != nil {
		setup.queries = store
	}
	ts := startServer(b, setup)
	var completed, failed atomic.Int64
	var lastRunning atomic.Int64 // UnixNano of the latest job StartedAt (the queue's clock is real time)
	all := make(chan struct{}, 1)
	ts.Jobs.Observe(func(j meta.Job) {
		if j.Kind != insights.ReportJobKind {
			return
		}
		if !j.State.Terminal() {
			return
		}
		if j.StartedAt != nil {
			for t := j.StartedAt.UnixNano(); ; {
				old := lastRunning.Load()
				if t <= old || lastRunning.CompareAndSwap(old, t) {
					break
				}
			}
		}
		var n int64
		if j.State == meta.JobCompleted {
			n = completed.Add(1) + failed.Load()
		} else {
			n = failed.Add(1) + completed.Load()
		}
		if n == reports {
			all <- struct{}{}
		}
	})
	if err := ts.Jobs.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	clock := &fakeClock{t: testNow}
	sched := ts.Server.Scheduler(clock.Now)
	type member struct{ secret, queryID string }
	members := make([]member, tenants)
	for i := range members {
		s := ts.key(b, meta.Key{Name: "bench", User: fmt.Sprintf("sched%d", i),
			Account: gen.Publishers[i%len(gen.Publishers)], Org: fmt.Sprintf("org%03d", i)})
		members[i] = member{s, ts.benchQueryID(b, s)}
	}

	var lateSum, tickMS, totalMS, lagMS float64
	var setupTime time.Duration
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		t0 := time.Now()
		// A new StartTime each iteration; one run each, so the reports of
		// the previous iteration are Inactive by now.
		start := testNow.Add(time.Duration(it+1) * 24 * time.Hour).Truncate(time.Hour)
		ids := make([]string, 0, reports)
		for i, m := range members {
			for k := 0; k < perTenant; k++ {
				ids = append(ids, ts.benchReport(b, m.secret, map[string]any{"ReportName": fmt.Sprintf("r%d_%d", i, k),
					"QueryId": m.queryID, "StartTime": start.Format(time.RFC3339), "RecurrenceInterval": 24, "RecurrenceCount": 1}))
			}
		}
		setupTime += time.Since(t0)
		completed.Store(0)
		failed.Store(0)
		lastRunning.Store(0)
		clock.Set(start)
		b.StartTimer()

		t1 := time.Now()
		n, err := sched.Tick(context.Background())
		tick := time.Since(t1)
		if err != nil {
			b.Fatalf("Tick: %v", err)
		}
		select {
		case <-all:
		case <-time.After(120 * time.Second):
			b.Fatalf("after 120s: %d completed, %d failed of %d", completed.Load(), failed.Load(), reports)
		}
		total := time.Since(t1)
		b.StopTimer()

		if f := failed.Load(); f > 0 {
			b.Fatalf("%d of %d executions failed", f, reports)
		}
		if n2, err := sched.Tick(context.Background()); err != nil || n2 != 0 {
			b.Fatalf("second Tick at StartTime: %d started (%v)", n2, err)
		}
		list, err := ts.Store.ListExecutions(context.Background(), meta.ExecutionFilter{ReportIDs: ids})
		if err != nil {
			b.Fatal(err)
		}
		if len(list) != reports {
			b.Fatalf("%d executions, want %d", len(list), reports)
		}
		for _, e := range list {
			if e.Status != meta.ExecutionCompleted || !e.ScheduledAt.Equal(start) {
				b.Fatalf("execution %+v", e)
			}
		}
		lateSum += float64(reports - n)
		tickMS += float64(tick) / float64(time.Millisecond)
		totalMS += float64(total) / float64(time.Millisecond)
		lagMS += float64(time.Unix(0, lastRunning.Load()).Sub(t1)) / float64(time.Millisecond)
		b.StartTimer()
	}
	nf := float64(b.N)
	b.ReportMetric(lateSum/nf, "late")
	b.ReportMetric(tickMS/nf, "tick_ms")
	b.ReportMetric(lagMS/nf, "last_start_ms")
	b.ReportMetric(totalMS/nf, "total_ms")
	b.ReportMetric(reports/(totalMS/nf/1000), "executions/s")
	b.Logf("b.N=%d; untimed setup (1,000 HTTP creates per iteration): %s per iteration", b.N, setupTime/time.Duration(b.N))
}

// BenchmarkGetScheduledReport: GET /ScheduledReport (the first page of the
// list: insights.DefaultReportsPageSize reports and a nextLink), a page in
// the middle (skipToken), and GET /ScheduledReport?reportId=<one>, by one
// member with 10,000 reports,
// inserted through the metadata store (untimed setup), with
// GOMAXPROCS×4 concurrent clients over loopback keep-alive connections.
func BenchmarkGetScheduledReport(b *testing.B) {
	const reports = 10000
	ts := startServer(b, serverSetup{jobs: benchJobs(), queries: tmpfsStore(b)})
	secret, key, err := ts.Keys.CreateKey(context.Background(), meta.Key{Name: "alice", Role: meta.RoleMember,
		User: "alice", Account: "pub-fabrikam"})
	if err != nil {
		b.Fatal(err)
	}
	queryID := ts.benchQueryID(b, secret)
	t0 := time.Now()
	ids := insertReports(b, ts.Store, key, queryID, reports)
	b.Logf("inserted %d reports through the metadata store in %s", reports, time.Since(t0).Round(time.Millisecond))

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()
	get := func(path string, wantCount int) error {
		req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var env struct {
			TotalCount int `json:"totalCount"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			return err
		}
		if resp.StatusCode != 200 || env.TotalCount != wantCount {
			return fmt.Errorf("GET %s: %d, totalCount %d, want %d", path, resp.StatusCode, env.TotalCount, wantCount)
		}
		return nil
	}
	for _, c := range []struct {
		name  string
		path  func(i int) string
		count int
	}{
		{"list_first_page", func(int) string { return reportsPath }, insights.DefaultReportsPageSize},
		{"list_page_5", func(int) string { return reportsPath + "?skipToken=5000" }, insights.DefaultReportsPageSize},
		{"reportId", func(i int) string { return reportsPath + "?reportId=" + ids[i%len(ids)] }, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			if err := get(c.path(0), c.count); err != nil { // warm up, and check
				b.Fatal(err)
			}
			var next atomic.Int64
			var firstErr atomic.Pointer[error]
			b.SetParallelism(4)
			b.ResetTimer()
			t0 := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := get(c.path(int(next.Add(1))), c.count); err != nil {
						firstErr.CompareAndSwap(nil, &err)
					}
				}
			})
			el := time.Since(t0)
			b.StopTimer()
			if e := firstErr.Load(); e != nil {
				b.Fatal(*e)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
		})
	}
}

// insertReports stores n recurring reports of key's principal directly
// in the metadata store (one writer: SQLite has one) and returns their ids.
func insertReports(b testing.TB, st *meta.SQLite, key meta.Key, queryID string, n int) []string {
	b.Helper()
	ids := make([]string, n)
	start := testNow.Add(24 * time.Hour)
	for i := range ids {
		count := 10
		r, err := st.CreateReport(context.Background(), meta.Report{Name: fmt.Sprintf("report%05d", i),
			QueryID: queryID, Query: benchQuery, Owner: key.ID, User: key.User, Tenant: insights.Tenant(key),
			Scope: key.Scope(), CreatedAt: testNow, StartTime: &start, RecurrenceInterval: 24,
			RecurrenceCount: &count, Format: "csv", CallbackMethod: "POST"}, meta.ReportQuota{})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = r.ID
	}
	return ids
}
