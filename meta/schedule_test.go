package meta

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestReportScheduleFields(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	two := 2
	r, err := s.CreateReport(ctx, Report{Name: "r", QueryID: "q", Query: "SELECT 1", Format: "csv", StartTime: &start,
		RecurrenceInterval: 4, RecurrenceCount: &two}, ReportQuota{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateReport(ctx, Report{Name: "once", QueryID: "q", Query: "SELECT 1", Format: "csv", ExecuteNow: true}, ReportQuota{}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListReports(ctx, ReportFilter{Scheduled: true, Statuses: []ReportStatus{ReportActive}})
	if err != nil || len(list) != 1 || list[0].ID != r.ID || list[0].LastDueAt != nil {
		t.Fatalf("scheduled %v %v", list, err)
	}

	// AdvanceReport keeps a concurrent pause, unless exhausted.
	if err := s.SetReportStatus(ctx, r.ID, ReportPaused, ReportQuota{}); err != nil {
		t.Fatal(err)
	}
	if err := s.AdvanceReport(ctx, r.ID, &start, false); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetReport(ctx, r.ID)
	if got.Status != ReportPaused || got.LastDueAt == nil || !got.LastDueAt.Equal(start) {
		t.Errorf("advanced %v %v", got.Status, got.LastDueAt)
	}
	if err := s.AdvanceReport(ctx, r.ID, &start, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetReport(ctx, r.ID); got.Status != ReportInactive {
		t.Errorf("exhausted %v", got.Status)
	}
	if err := s.AdvanceReport(ctx, "nope", nil, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("advance unknown: %v", err)
	}

	// UpdateReport.
	got.Name, got.Format, got.RecurrenceCount, got.LastDueAt, got.Status, got.CallbackURL = "r2", "tsv", nil, nil, ReportActive, "http://x"
	end := start.Add(48 * time.Hour)
	got.EndTime = &end
	if err := s.UpdateReport(ctx, got, ReportQuota{}); err != nil {
		t.Fatal(err)
	}
	u, _ := s.GetReport(ctx, r.ID)
	if u.Name != "r2" || u.Format != "tsv" || u.RecurrenceCount != nil || u.LastDueAt != nil || u.Status != ReportActive ||
		u.EndTime == nil || !u.EndTime.Equal(end) || u.ModifiedAt == nil || u.CallbackURL != "http://x" {
		t.Errorf("updated %+v", u)
	}
	if err := s.UpdateReport(ctx, Report{ID: "nope", Format: "csv", Status: ReportActive}, ReportQuota{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update unknown: %v", err)
	}

	// Execution callback status.
	e, err := s.CreateExecution(ctx, Execution{ReportID: r.ID})
	if err != nil {
		t.Fatal(err)
	}
	if e2, _ := s.GetExecution(ctx, e.ID); e2.CallbackStatus != "" {
		t.Errorf("callback %q", e2.CallbackStatus)
	}
	if err := s.SetExecutionCallback(ctx, e.ID, "Failed: x"); err != nil {
		t.Fatal(err)
	}
	e.Status = ExecutionCompleted
	if err := s.UpdateExecution(ctx, e); err != nil { // leaves the callback status alone
		t.Fatal(err)
	}
	if e2, _ := s.GetExecution(ctx, e.ID); e2.CallbackStatus != "Failed: x" || e2.Status != ExecutionCompleted {
		t.Errorf("callback %q %s", e2.CallbackStatus, e2.Status)
	}
	if err := s.SetExecutionCallback(ctx, "nope", "Succeeded"); !errors.Is(err, ErrNotFound) {
		t.Errorf("callback unknown: %v", err)
	}
}

// A completed execution owes its callback from the write that completes
// it until the outcome is recorded; the mark and the attempt count are
// stored, so a restart can resume the callback.
func TestCallbackPending(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	r, err := s.CreateReport(ctx, Report{Name: "r", QueryID: "q", Query: "SELECT 1", Format: "csv", CallbackURL: "http://x"}, ReportQuota{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.CreateExecution(ctx, Execution{ReportID: r.ID})
	if err != nil {
		t.Fatal(err)
	}
	pending := func() []Execution {
		t.Helper()
		list, err := s.ListExecutions(ctx, ExecutionFilter{CallbackPending: true})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	// Not before completion, even when asked.
	e.Status, e.CallbackPending = ExecutionRunning, true
	if err := s.UpdateExecution(ctx, e); err != nil {
		t.Fatal(err)
	}
	if n := len(pending()); n != 0 {
		t.Fatalf("%d pending before completion", n)
	}
	e.Status = ExecutionCompleted
	if err := s.UpdateExecution(ctx, e); err != nil {
		t.Fatal(err)
	}
	if list := pending(); len(list) != 1 || list[0].ID != e.ID || !list[0].CallbackPending || list[0].CallbackAttempts != 0 {
		t.Fatalf("pending %+v", list)
	}
	for want := 1; want <= 2; want++ {
		if n, err := s.RecordCallbackAttempt(ctx, e.ID); err != nil || n != want {
			t.Fatalf("attempt %d: %d %v", want, n, err)
		}
	}
	if _, err := s.RecordCallbackAttempt(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("attempt of an unknown execution: %v", err)
	}
	if err := s.SetExecutionCallback(ctx, e.ID, "Succeeded"); err != nil {
		t.Fatal(err)
	}
	if n := len(pending()); n != 0 {
		t.Fatalf("%d pending after the outcome", n)
	}
	// A later update of the completed execution (its job expiring) with a
	// stale copy does not make the callback owed again.
	if err := s.UpdateExecution(ctx, e); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetExecution(ctx, e.ID)
	if got.CallbackPending || got.CallbackAttempts != 2 || got.CallbackStatus != "Succeeded" || len(pending()) != 0 {
		t.Errorf("after a stale update %+v", got)
	}
}
