package schedule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/quarry/quarry/meta"
)

var t0 = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func TestPlanArithmetic(t *testing.T) {
	h := time.Hour
	p := Plan{Start: t0, Interval: 4 * h, Count: ptr(3)}
	for k, want := range []bool{true, true, true, false} {
		at, ok := p.At(k)
		if ok != want || ok && !at.Equal(t0.Add(time.Duration(4*k)*h)) {
			t.Errorf("At(%d) = %v %v", k, at, ok)
		}
	}
	if _, _, ok := p.LatestDue(t0.Add(-time.Second)); ok {
		t.Error("due before start")
	}
	for _, c := range []struct {
		now   time.Duration
		wantK int
	}{{0, 0}, {3 * h, 0}, {4 * h, 1}, {7*h + 59*time.Minute, 1}, {8 * h, 2}, {100 * h, 2}} {
		k, at, ok := p.LatestDue(t0.Add(c.now))
		if !ok || k != c.wantK || !at.Equal(t0.Add(time.Duration(c.wantK)*4*h)) {
			t.Errorf("LatestDue(+%v) = %d %v %v, want %d", c.now, k, at, ok, c.wantK)
		}
	}
	// Remaining and NextAfter follow the cursor.
	if r := p.Remaining(nil); *r != 3 {
		t.Errorf("remaining %d", *r)
	}
	last := t0.Add(4 * h)
	if k, at, ok := p.NextAfter(&last); !ok || k != 2 || !at.Equal(t0.Add(8*h)) {
		t.Errorf("NextAfter = %d %v %v", k, at, ok)
	}
	if r := p.Remaining(&last); *r != 1 {
		t.Errorf("remaining %d", *r)
	}
	last = t0.Add(8 * h)
	if _, _, ok := p.NextAfter(&last); ok {
		t.Error("a due time after the count")
	}
	if r := p.Remaining(&last); *r != 0 {
		t.Errorf("remaining %d", *r)
	}

	// EndTime bounds (inclusive), no count.
	end := t0.Add(10 * h)
	p = Plan{Start: t0, Interval: 4 * h, End: &end}
	if _, at, ok := p.LatestDue(t0.Add(50 * h)); !ok || !at.Equal(t0.Add(8*h)) {
		t.Errorf("LatestDue with EndTime = %v %v", at, ok)
	}
	if p.Remaining(nil) != nil {
		t.Error("remaining without a count")
	}
	end = t0.Add(8 * h)
	if _, at, ok := p.LatestDue(t0.Add(50 * h)); !ok || !at.Equal(end) {
		t.Errorf("EndTime on a due time = %v %v", at, ok)
	}
	// Count and EndTime: the tighter wins.
	p.Count = ptr(2)
	if _, at, ok := p.LatestDue(t0.Add(50 * h)); !ok || !at.Equal(t0.Add(4*h)) {
		t.Errorf("count and EndTime = %v %v", at, ok)
	}
}

type started struct {
	mu  sync.Mutex
	ats []time.Time
}

func (s *started) start(_ context.Context, _ meta.Report, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ats = append(s.ats, at)
	return nil
}

func TestTick(t *testing.T) {
	ctx := context.Background()
	st, err := meta.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := t0
	r, err := st.CreateReport(ctx, meta.Report{Name: "r", QueryID: "q", Query: "SELECT 1", Format: "csv",
		StartTime: &start, RecurrenceInterval: 4, RecurrenceCount: ptr(5)}, meta.ReportQuota{})
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(-time.Hour)
	var s started
	sch := &Scheduler{Reports: st, Start: s.start, Clock: func() time.Time { return now }}
	tick := func(wantStarted int) {
		t.Helper()
		n, err := sch.Tick(ctx)
		if err != nil || n != wantStarted {
			t.Fatalf("Tick at %v: %d started, %v; want %d", now, n, err, wantStarted)
		}
	}
	status := func() meta.Report {
		t.Helper()
		r, err := st.GetReport(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tick(0)
	now = t0
	tick(1)
	tick(0) // once per due time
	if s := StatusOf(status()); *s.Remaining != 4 || !s.Next.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("status %v %v", *s.Remaining, s.Next)
	}
	// Paused: the due time at +4h is skipped.
	if err := st.SetReportStatus(ctx, r.ID, meta.ReportPaused, meta.ReportQuota{}); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(5 * time.Hour)
	tick(0)
	if err := st.SetReportStatus(ctx, r.ID, meta.ReportActive, meta.ReportQuota{}); err != nil {
		t.Fatal(err)
	}
	tick(0)
	now = t0.Add(8 * time.Hour)
	tick(1)
	// Down for two due times (+12h, +16h): one run, for +16h; then
	// exhausted (5 due times: 0, 4, 8, 12, 16).
	now = t0.Add(17 * time.Hour)
	tick(1)
	want := []time.Time{t0, t0.Add(8 * time.Hour), t0.Add(16 * time.Hour)}
	if len(s.ats) != len(want) {
		t.Fatalf("started at %v", s.ats)
	}
	for i := range want {
		if !s.ats[i].Equal(want[i]) {
			t.Errorf("run %d at %v, want %v", i, s.ats[i], want[i])
		}
	}
	got := status()
	if got.Status != meta.ReportInactive {
		t.Errorf("status %s, want Inactive", got.Status)
	}
	if s := StatusOf(got); *s.Remaining != 0 || s.Next != nil {
		t.Errorf("exhausted status %v %v", *s.Remaining, s.Next)
	}
	now = t0.Add(100 * time.Hour)
	tick(0)
}

func TestTickEndTime(t *testing.T) {
	ctx := context.Background()
	st, err := meta.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start, end := t0, t0.Add(6*time.Hour)
	r, err := st.CreateReport(ctx, meta.Report{Name: "r", QueryID: "q", Query: "SELECT 1", Format: "csv",
		StartTime: &start, RecurrenceInterval: 4, EndTime: &end}, meta.ReportQuota{})
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	var s started
	sch := &Scheduler{Reports: st, Start: s.start, Clock: func() time.Time { return now }}
	if n, err := sch.Tick(ctx); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	now = t0.Add(4 * time.Hour)
	if n, err := sch.Tick(ctx); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	got, _ := st.GetReport(ctx, r.ID)
	if got.Status != meta.ReportInactive || StatusOf(got).Remaining != nil {
		t.Errorf("after the last due time before EndTime: %s", got.Status)
	}
}

func TestRunStop(t *testing.T) {
	ctx := context.Background()
	st, err := meta.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sch := &Scheduler{Reports: st, Start: (&started{}).start}
	sch.Run(10 * time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	if err := sch.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sch.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// With StartBatch, one Tick hands its decisions over in batches of
// BatchSize; a batch that fails is decided again on the next Tick.
func TestTickBatches(t *testing.T) {
	ctx := context.Background()
	st, err := meta.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := 0; i < 5; i++ {
		start := t0
		if _, err := st.CreateReport(ctx, meta.Report{Name: "r", QueryID: "q", Query: "SELECT 1", Format: "csv",
			StartTime: &start, RecurrenceInterval: 4, RecurrenceCount: ptr(2)}, meta.ReportQuota{}); err != nil {
			t.Fatal(err)
		}
	}
	var sizes []int
	fail := true
	record := func(ctx context.Context, batch []Due) (int, error) {
		sizes = append(sizes, len(batch))
		if fail {
			fail = false
			return 0, errors.New("store down")
		}
		runs := make([]meta.DueRun, len(batch))
		for i, d := range batch {
			runs[i] = meta.DueRun{Report: d.Report, LastDue: d.LastDue, Exhausted: d.Exhausted}
			if d.Run {
				id, _ := meta.NewJobID()
				runs[i].Job = &meta.Job{ID: id, Kind: "k"}
				runs[i].Execution = &meta.Execution{ID: fmt.Sprintf("e-%s", id), JobID: id, ScheduledAt: d.At, CreatedAt: d.At}
			}
		}
		done, err := st.RecordDueRuns(ctx, runs)
		n := 0
		for i, ok := range done {
			if ok && batch[i].Run {
				n++
			}
		}
		return n, err
	}
	now := t0
	sch := &Scheduler{Reports: st, StartBatch: record, BatchSize: 2, Clock: func() time.Time { return now }}
	if n, err := sch.Tick(ctx); n != 3 || err == nil {
		t.Fatalf("first Tick: %d started, %v; want 3 and the first batch's error", n, err)
	}
	if fmt.Sprint(sizes) != "[2 2 1]" {
		t.Errorf("batches %v", sizes)
	}
	if n, err := sch.Tick(ctx); n != 2 || err != nil {
		t.Fatalf("second Tick: %d started, %v; want the failed batch's 2", n, err)
	}
	if n, err := sch.Tick(ctx); n != 0 || err != nil {
		t.Fatalf("third Tick: %d, %v", n, err)
	}
	list, _ := st.ListExecutions(ctx, meta.ExecutionFilter{})
	if len(list) != 5 {
		t.Errorf("%d executions, want 5", len(list))
	}
	// The second and last due time: every report ends Inactive.
	now = t0.Add(4 * time.Hour)
	if n, err := sch.Tick(ctx); n != 5 || err != nil {
		t.Fatalf("Tick at the last due time: %d, %v", n, err)
	}
	if active, _ := st.ListReports(ctx, meta.ReportFilter{Statuses: []meta.ReportStatus{meta.ReportActive}}); len(active) != 0 {
		t.Errorf("%d reports still Active", len(active))
	}
}

// Run calls OnStart once, before its first tick.
func TestRunOnStart(t *testing.T) {
	ctx := context.Background()
	st, err := meta.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	calls := make(chan struct{}, 4)
	sch := &Scheduler{Reports: st, Start: (&started{}).start, OnStart: func(context.Context) error {
		calls <- struct{}{}
		return nil
	}}
	sch.Run(5 * time.Millisecond)
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("OnStart was not called")
	}
	time.Sleep(30 * time.Millisecond) // several ticks
	if err := sch.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(calls); n != 0 {
		t.Errorf("OnStart called %d more times", n)
	}
}
