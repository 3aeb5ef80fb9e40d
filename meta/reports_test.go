package meta

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarry/quarry/planner"
)

func TestReportsAndExecutions(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return t0 })

	start, qs, qe := t0.Add(5*time.Hour), t0.Add(-48*time.Hour), t0.Add(-24*time.Hour)
	count := 20
	r, err := s.CreateReport(ctx, Report{Name: "r", QueryID: " ABCDEF00-0000-4000-8000-000000000000", Query: "SELECT 1",
		Owner: "key_a", User: "u1", Tenant: "account:pub-a", Scope: planner.Scope{Account: "pub-a"}, StartTime: &start,
		RecurrenceInterval: 48, RecurrenceCount: &count, Format: "csv", QueryStartTime: &qs, QueryEndTime: &qe}, ReportQuota{})
	if err != nil {
		t.Fatal(err)
	}
	if !uuidRE.MatchString(r.ID) || r.Status != ReportActive || r.CallbackMethod != "POST" || r.QueryID != "abcdef00-0000-4000-8000-000000000000" {
		t.Errorf("created %+v", r)
	}
	got, err := s.GetReport(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Scope.Account != "pub-a" || *got.RecurrenceCount != 20 || !got.StartTime.Equal(start) || !got.QueryEndTime.Equal(qe) ||
		got.EndTime != nil || got.ExecuteNow || !got.CreatedAt.Equal(t0) || got.QueryID != r.QueryID {
		t.Errorf("GetReport = %+v", got)
	}
	if _, err := s.GetReport(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown report: %v", err)
	}

	// Executions: latest per report, filters, update.
	var ids []string
	for i := 0; i < 3; i++ {
		e, err := s.CreateExecution(ctx, Execution{ReportID: r.ID, CreatedAt: t0.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	if _, err := s.CreateExecution(ctx, Execution{ReportID: "00000000-0000-4000-8000-000000000000"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("execution of an unknown report: %v", err)
	}
	e, _ := s.GetExecution(ctx, ids[0])
	fin := t0.Add(time.Minute)
	e.Status, e.JobID, e.FinishedAt, e.ResultPath, e.ResultRows = ExecutionCompleted, "job_1", &fin, "/x.csv", 7
	if err := s.UpdateExecution(ctx, e); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListExecutions(ctx, ExecutionFilter{ReportIDs: []string{r.ID}, Latest: true})
	if err != nil || len(list) != 1 || list[0].ID != ids[2] {
		t.Errorf("latest: %+v %v", list, err)
	}
	list, _ = s.ListExecutions(ctx, ExecutionFilter{ReportIDs: []string{r.ID}, Statuses: []ExecutionStatus{ExecutionCompleted}, Latest: true})
	if len(list) != 1 || list[0].ID != ids[0] || list[0].ResultRows != 7 || !list[0].FinishedAt.Equal(fin) || list[0].JobID != "job_1" {
		t.Errorf("latest completed: %+v", list)
	}
	list, _ = s.ListExecutions(ctx, ExecutionFilter{ReportIDs: []string{r.ID}})
	if len(list) != 3 || list[0].ID != ids[2] {
		t.Errorf("all, newest first: %+v", list)
	}
	list, _ = s.ListExecutions(ctx, ExecutionFilter{JobID: "job_1"})
	if len(list) != 1 {
		t.Errorf("by job: %+v", list)
	}

	// Delete takes the executions along.
	if _, err := s.DeleteReport(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetExecution(ctx, ids[1]); !errors.Is(err, ErrNotFound) {
		t.Errorf("execution after delete: %v", err)
	}
	if _, err := s.DeleteReport(ctx, r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestReportQuotasAtomic(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	quota := ReportQuota{MaxActive: 5, MaxExecuteNow: 3, ExecuteNowWindow: time.Hour}
	var created, refused atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CreateReport(ctx, Report{Name: "r", QueryID: "q", Query: "q", User: "u", Tenant: "t", Format: "csv", CreatedAt: now}, quota)
			switch {
			case err == nil:
				created.Add(1)
			case errors.Is(err, ErrReportQuota):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if created.Load() != 5 || refused.Load() != 7 {
		t.Errorf("created %d, refused %d", created.Load(), refused.Load())
	}

	// ExecuteNow: 3 per hour, for another user; old ones do not count.
	for i, at := range []time.Time{now.Add(-2 * time.Hour), now, now, now} {
		if _, err := s.CreateReport(ctx, Report{Name: "n", QueryID: "q", Query: "q", User: "v", Tenant: "t", Format: "csv",
			ExecuteNow: true, CreatedAt: at, Status: ReportInactive}, quota); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
	}
	if _, err := s.CreateReport(ctx, Report{Name: "n", QueryID: "q", Query: "q", User: "v", Tenant: "t", Format: "csv",
		ExecuteNow: true, CreatedAt: now.Add(time.Minute)}, quota); !errors.Is(err, ErrExecuteNowQuota) {
		t.Errorf("fourth ExecuteNow in an hour: %v", err)
	}
	// Status changes.
	list, _ := s.ListReports(ctx, ReportFilter{Name: "R"})
	if len(list) != 5 {
		t.Fatalf("%d reports named r", len(list))
	}
	if err := s.SetReportStatus(ctx, list[0].ID, ReportInactive, ReportQuota{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateReport(ctx, Report{Name: "r", QueryID: "q", Query: "q", User: "u", Tenant: "t", Format: "csv"}, quota); err != nil {
		t.Errorf("after one became inactive: %v", err)
	}
	if list, _ := s.ListReports(ctx, ReportFilter{IDs: []string{list[0].ID, list[1].ID}}); len(list) != 2 {
		t.Errorf("by ids: %d", len(list))
	}
}

// The ExecuteNow quota counts creations in the window: deleting a report
// does not free its slot; the window sliding past it does.
func TestExecuteNowQuotaCountsCreations(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	quota := ReportQuota{MaxExecuteNow: 2, ExecuteNowWindow: time.Hour}
	create := func(at time.Time) (Report, error) {
		return s.CreateReport(ctx, Report{Name: "n", QueryID: "q", Query: "q", User: "u", Tenant: "t", Format: "csv",
			ExecuteNow: true, CreatedAt: at}, quota)
	}
	for _, at := range []time.Time{t0, t0.Add(10 * time.Minute)} {
		r, err := create(at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteReport(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := create(t0.Add(30 * time.Minute)); !errors.Is(err, ErrExecuteNowQuota) {
		t.Fatalf("third ExecuteNow within the hour, after deleting both: %v", err)
	}
	// Another principal has its own count.
	if _, err := s.CreateReport(ctx, Report{Name: "n", QueryID: "q", Query: "q", User: "other", Tenant: "t", Format: "csv",
		ExecuteNow: true, CreatedAt: t0.Add(30 * time.Minute)}, quota); err != nil {
		t.Errorf("another user: %v", err)
	}
	// t0 leaves the window at t0+1h: one slot; t0+10m is still in it.
	if _, err := create(t0.Add(time.Hour)); err != nil {
		t.Fatalf("after the first creation left the window: %v", err)
	}
	if _, err := create(t0.Add(time.Hour + time.Minute)); !errors.Is(err, ErrExecuteNowQuota) {
		t.Errorf("second slot while t0+10m is in the window: %v", err)
	}
	if _, err := create(t0.Add(70 * time.Minute)); err != nil {
		t.Errorf("after t0+10m left the window: %v", err)
	}
}

// Making a report Active again (update or resume) counts against the
// active quota in the same transaction; other changes do not.
func TestActivationQuota(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	quota := ReportQuota{MaxActive: 2}
	var ids []string
	for i := 0; i < 2; i++ {
		r, err := s.CreateReport(ctx, Report{Name: "r", QueryID: "q", Query: "q", User: "u", Tenant: "t", Format: "csv"}, quota)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if err := s.SetReportStatus(ctx, ids[0], ReportPaused, quota); err != nil {
		t.Fatal(err)
	}
	third, err := s.CreateReport(ctx, Report{Name: "r", QueryID: "q", Query: "q", User: "u", Tenant: "t", Format: "csv"}, quota)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetReportStatus(ctx, ids[0], ReportActive, quota); !errors.Is(err, ErrReportQuota) {
		t.Errorf("resume over the quota: %v", err)
	}
	r, _ := s.GetReport(ctx, ids[0])
	if r.Status != ReportPaused {
		t.Errorf("refused resume changed the status to %s", r.Status)
	}
	r.Status = ReportActive
	if err := s.UpdateReport(ctx, r, quota); !errors.Is(err, ErrReportQuota) {
		t.Errorf("update to Active over the quota: %v", err)
	}
	// An Active report stays Active through an update at the quota.
	a, _ := s.GetReport(ctx, third.ID)
	a.Name = "renamed"
	if err := s.UpdateReport(ctx, a, quota); err != nil {
		t.Errorf("updating an Active report at the quota: %v", err)
	}
	if err := s.SetReportStatus(ctx, third.ID, ReportActive, quota); err != nil {
		t.Errorf("Active to Active at the quota: %v", err)
	}
	// Another user's reports do not count; a freed slot can be taken.
	if err := s.SetReportStatus(ctx, third.ID, ReportInactive, quota); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateReport(ctx, r, quota); err != nil {
		t.Errorf("update to Active under the quota: %v", err)
	}
	if err := s.SetReportStatus(ctx, "nope", ReportActive, quota); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown report: %v", err)
	}
}

// RecordDueRuns stores a batch's executions, jobs and report progress
// together, skipping reports deleted or changed since they were read.
func TestRecordDueRuns(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	one := 1
	var reps []Report
	for i := 0; i < 4; i++ {
		r, err := s.CreateReport(ctx, Report{Name: "r", QueryID: "q", Query: "q", Format: "csv", StartTime: &start,
			RecurrenceInterval: 4, RecurrenceCount: &one}, ReportQuota{})
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, r)
	}
	if _, err := s.DeleteReport(ctx, reps[2].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.SetReportStatus(ctx, reps[3].ID, ReportPaused, ReportQuota{}); err != nil { // changed since read
		t.Fatal(err)
	}
	var runs []DueRun
	for i, r := range reps {
		id, _ := NewJobID()
		e := &Execution{ID: fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i), JobID: id, ScheduledAt: start, CreatedAt: start}
		runs = append(runs, DueRun{Report: r, LastDue: &start, Exhausted: true, Execution: e,
			Job: &Job{ID: id, Kind: "insights.report", Request: []byte(`{}`)}})
	}
	runs[1].Execution, runs[1].Job = nil, nil // paused: only the progress
	done, err := s.RecordDueRuns(ctx, runs)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(done) != "[true true false false]" {
		t.Errorf("recorded %v", done)
	}
	for i, r := range reps {
		got, err := s.GetReport(ctx, r.ID)
		if i == 2 {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("deleted report: %v", err)
			}
			continue
		}
		if done[i] != (got.LastDueAt != nil) || done[i] != (got.Status == ReportInactive) {
			t.Errorf("report %d: %s %v", i, got.Status, got.LastDueAt)
		}
		execs, _ := s.ListExecutions(ctx, ExecutionFilter{ReportIDs: []string{r.ID}})
		if want := map[int]int{0: 1}[i]; len(execs) != want {
			t.Errorf("report %d: %d executions, want %d", i, len(execs), want)
		}
		if len(execs) == 1 {
			j, err := s.GetJob(ctx, execs[0].JobID)
			if err != nil || j.State != JobEnqueued || execs[0].Status != ExecutionPending || !execs[0].ScheduledAt.Equal(start) {
				t.Errorf("execution %+v, job %+v %v", execs[0], j, err)
			}
		}
	}
	if jobs, _ := s.ListJobs(ctx, JobFilter{}); len(jobs) != 1 {
		t.Errorf("%d jobs, want the one of the recorded execution", len(jobs))
	}
	// An execution without its job is refused, and nothing is stored.
	r, _ := s.CreateReport(ctx, Report{Name: "r", QueryID: "q", Query: "q", Format: "csv", StartTime: &start,
		RecurrenceInterval: 4}, ReportQuota{})
	if _, err := s.RecordDueRuns(ctx, []DueRun{{Report: r, LastDue: &start}, {Report: r, Execution: &Execution{ID: "x"}}}); err == nil {
		t.Error("an execution without a job was accepted")
	}
	if got, _ := s.GetReport(ctx, r.ID); got.LastDueAt != nil {
		t.Error("a failed batch stored part of its work")
	}
}
