package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/meta"
)

// A crash between storing an execution (with its job's id) and storing
// the job leaves the id without a job; Resume submits that job, under the
// same id, and the execution completes.
func TestExecutionWithoutItsJobIsResubmitted(t *testing.T) {
	store := openQueries(t)
	ctx := context.Background()
	ts := startServer(t, serverSetup{queries: store, holdJobs: true})
	alice := ts.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	sys := datasets.SystemQueries()[3]
	id := ts.createReport(t, alice, map[string]any{"ReportName": "r", "QueryId": sys.QueryID, "ExecuteNow": true,
		"QueryStartTime": "2026-03-01T00:00:00Z", "QueryEndTime": "2026-03-02T00:00:00Z"})["reportId"].(string)
	list, err := store.ListExecutions(ctx, meta.ExecutionFilter{ReportIDs: []string{id}})
	if err != nil || len(list) != 1 || list[0].JobID == "" {
		t.Fatalf("executions %+v %v", list, err)
	}
	if _, err := store.GetJob(ctx, list[0].JobID); err != nil {
		t.Fatalf("the execution's job was not stored under its recorded id: %v", err)
	}
	// What the crash leaves: a second execution whose job was never stored.
	orphanJob, _ := jobs.NewID()
	orphan, err := store.CreateExecution(ctx, meta.Execution{ReportID: id, JobID: orphanJob, Status: meta.ExecutionPending,
		ScheduledAt: time.Now().UTC(), CreatedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetJob(ctx, orphanJob); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("orphan job exists: %v", err)
	}
	if err := ts.Server.Scheduler(nil).OnStart(ctx); err != nil {
		t.Fatal(err)
	}
	j, err := store.GetJob(ctx, orphanJob)
	if err != nil || j.Kind != "insights.report" {
		t.Fatalf("after Resume the orphan's job is %+v, %v", j, err)
	}
	// a second Resume does not submit it again
	if err := ts.Server.Scheduler(nil).OnStart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ts.Jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, err := store.GetExecution(ctx, orphan.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status == meta.ExecutionCompleted {
			break
		}
		if e.Status == meta.ExecutionFailed || time.Now().After(deadline) {
			t.Fatalf("orphan execution %+v", e)
		}
		time.Sleep(20 * time.Millisecond)
	}
	all, _ := store.ListJobs(ctx, meta.JobFilter{Kind: "insights.report"})
	if len(all) != 2 {
		t.Errorf("%d report jobs, want 2 (one per execution)", len(all))
	}
}
