package meta

import (
	"context"
	"errors"
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
	if err := s.SetReportStatus(ctx, list[0].ID, ReportInactive); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateReport(ctx, Report{Name: "r", QueryID: "q", Query: "q", User: "u", Tenant: "t", Format: "csv"}, quota); err != nil {
		t.Errorf("after one became inactive: %v", err)
	}
	if list, _ := s.ListReports(ctx, ReportFilter{IDs: []string{list[0].ID, list[1].ID}}); len(list) != 2 {
		t.Errorf("by ids: %d", len(list))
	}
}
