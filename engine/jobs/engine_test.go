//go:build duckdb_arrow

package jobs

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/gen"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/parser"
	"github.com/quarry/quarry/planner"
)

// reportRequest is the Request of the test's "insights.report" kind.
type reportRequest struct {
	Query string `json:"query"`
}

// reportHandler is what a real kind's handler looks like: rebuild the plan
// from the stored request, export it into the job's result directory.
func reportHandler(eng *engine.Engine) Handler {
	return func(ctx context.Context, j meta.Job, dir string) (Result, error) {
		var req reportRequest
		if err := json.Unmarshal(j.Request, &req); err != nil {
			return Result{}, fmt.Errorf("report request: %w", err)
		}
		q, err := parser.ParseQuery(req.Query)
		if err != nil {
			return Result{}, err
		}
		p, err := planner.FromQuery(q, eng.Catalog(), planner.Options{Now: eng.Now(), Scope: planner.Scope{Admin: true}})
		if err != nil {
			return Result{}, err
		}
		path := filepath.Join(dir, "report.csv")
		st, err := eng.Export(ctx, p, engine.CSV, path)
		if err != nil {
			return Result{}, err
		}
		return Result{Path: path, Rows: st.Rows, Bytes: st.Bytes}, nil
	}
}

func TestEngineReportJob(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	cat, err := datasets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Generate(ctx, datasets.NewStore(dir), cat, gen.Options{
		Datasets: []string{"usage"}, Rows: 2000, Days: 30, Seed: 7, End: now.AddDate(0, 0, -1).Truncate(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, engine.Config{DataDir: dir, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	store := openStore(t, dir)
	q := start(t, store, dir, Config{Clock: func() time.Time { return now }},
		map[string]Handler{"insights.report": reportHandler(eng)})

	req, _ := json.Marshal(reportRequest{
		Query: "SELECT CustomerId, UsageDate, NormalizedUsage FROM ISVUsage WHERE SKUBillingType = 'Paid' TIMESPAN LIFETIME",
	})
	j, err := q.Submit(ctx, meta.Job{Kind: "insights.report", Owner: "key_admin", Request: req})
	if err != nil {
		t.Fatal(err)
	}
	done := waitState(t, store, j.ID, meta.JobCompleted)

	// The oracle: hand-written SQL over the files by glob. A report query
	// aggregates its metrics by its dimensions (insights semantics), so
	// the result has one row per (CustomerId, UsageDate); string
	// comparisons are case-insensitive.
	var want int64
	glob := filepath.Join(dir, "datasets", "usage", "*", "*.parquet")
	if err := eng.DB().QueryRowContext(ctx, `SELECT count(*) FROM (
		SELECT CustomerId, UsageDate FROM read_parquet(?) WHERE lower(SKUBillingType) = 'paid' GROUP BY ALL)`,
		glob).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if want == 0 {
		t.Fatal("the oracle found no rows: the test proves nothing")
	}
	f, err := os.Open(done.ResultPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || len(recs[0]) != 3 || recs[0][0] != "CustomerId" {
		t.Fatalf("header %v", recs[:min(1, len(recs))])
	}
	if got := int64(len(recs) - 1); got != want || done.ResultRows != want {
		t.Errorf("CSV has %d rows, job says %d; the oracle counts %d", got, done.ResultRows, want)
	}
	if filepath.Dir(done.ResultPath) != q.ResultDir(j.ID) {
		t.Errorf("result %s is not in %s", done.ResultPath, q.ResultDir(j.ID))
	}
	t.Logf("report job: %d rows, %d bytes", done.ResultRows, done.ResultBytes)

	// A bad query fails the job with the planner's message.
	bad, _ := json.Marshal(reportRequest{Query: "SELECT UsageDat FROM ISVUsage"})
	j2, err := q.Submit(ctx, meta.Job{Kind: "insights.report", Request: bad})
	if err != nil {
		t.Fatal(err)
	}
	if failed := waitState(t, store, j2.ID, meta.JobFailed); failed.Error == "" {
		t.Error("a failed report has no reason")
	} else {
		t.Logf("bad query: %s", failed.Error)
	}
}
