// Package schedule runs recurring reports: it decides when each report's
// executions are due and starts them.
//
// A recurring report (ExecuteNow false) is due at
//
//	StartTime + k × RecurrenceInterval hours, k = 0, 1, 2, …
//
// while k < RecurrenceCount (when set) and the time is not after EndTime
// (when set). The Scheduler keeps, per report, the latest due time it has
// handled (meta.Report.LastDueAt), so it survives restarts.
//
// Rules:
//
//   - Each due time starts at most one execution, scheduled at that time:
//     the query's TIMESPAN is evaluated at it.
//   - Missed runs: when several due times passed since the last Tick (the
//     server was down, or the clock jumped), only the latest of them runs,
//     once; the earlier ones are skipped and still count against
//     RecurrenceCount (the cadence is anchored at StartTime, it does not
//     shift). The next run is the next due time after the one that ran.
//   - Paused reports start nothing: due times passing while a report is
//     paused are skipped (handled without an execution), so resuming does
//     not run the missed ones; the next due time after the resume runs.
//   - When no due time is left (count exhausted, or the next one would be
//     after EndTime), the report becomes Inactive once its last due time
//     has been handled.
//
// Tick does all the work due at Clock(); Run calls Tick every few seconds
// in production. Tests drive a fake clock and call Tick instead of
// sleeping.
//
// With StartBatch set, a Tick records its decisions in batches (of
// BatchSize reports): one call, and in the store one write transaction,
// for many reports due at the same instant, instead of several writes per
// report.
package schedule

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/quarry/quarry/meta"
)

// DefaultInterval is how often Start ticks.
const DefaultInterval = 5 * time.Second

// DefaultBatchSize is how many reports one StartBatch call handles at
// most.
const DefaultBatchSize = 500

// Plan is the recurrence of one report.
type Plan struct {
	Start    time.Time
	Interval time.Duration
	Count    *int       // nil: unbounded by count
	End      *time.Time // nil: unbounded by time
}

// PlanOf returns the recurrence of a report; false for a run-once
// (ExecuteNow) report or one without a StartTime or interval.
func PlanOf(r meta.Report) (Plan, bool) {
	if r.ExecuteNow || r.StartTime == nil || r.RecurrenceInterval <= 0 {
		return Plan{}, false
	}
	return Plan{Start: r.StartTime.UTC(), Interval: time.Duration(r.RecurrenceInterval) * time.Hour,
		Count: r.RecurrenceCount, End: r.EndTime}, true
}

// At returns the k-th due time and whether it is part of the plan.
func (p Plan) At(k int) (time.Time, bool) {
	if k < 0 || p.Interval <= 0 || p.Count != nil && k >= *p.Count {
		return time.Time{}, false
	}
	t := p.Start.Add(time.Duration(k) * p.Interval)
	if p.End != nil && t.After(*p.End) {
		return time.Time{}, false
	}
	return t, true
}

// index is the k of the latest due time at or before t (−1 before Start),
// not bounded by Count or End.
func (p Plan) index(t time.Time) int {
	if t.Before(p.Start) {
		return -1
	}
	return int(t.Sub(p.Start) / p.Interval)
}

// LatestDue returns the latest due time at or before now, with its k;
// false when none is.
func (p Plan) LatestDue(now time.Time) (int, time.Time, bool) {
	k := p.index(now)
	if p.Count != nil && k >= *p.Count {
		k = *p.Count - 1
	}
	if p.End != nil {
		k = min(k, p.index(*p.End))
	}
	t, ok := p.At(k)
	return k, t, ok
}

// NextAfter returns the first due time after last (the first of all when
// last is nil), with its k; false when none is left.
func (p Plan) NextAfter(last *time.Time) (int, time.Time, bool) {
	k := 0
	if last != nil {
		k = p.index(*last) + 1
	}
	t, ok := p.At(k)
	return k, t, ok
}

// Remaining is how many due times are left after last; nil when the plan
// is bounded by EndTime only (or not at all).
func (p Plan) Remaining(last *time.Time) *int {
	if p.Count == nil {
		return nil
	}
	k, _, _ := p.NextAfter(last)
	n := max(*p.Count-k, 0)
	return &n
}

// Status is what the API shows of a report's schedule.
type Status struct {
	// Next is the next due time (nil when none is left or the report is
	// not recurring or Inactive).
	Next *time.Time
	// Remaining is how many executions are left (nil when not bounded by
	// a count).
	Remaining *int
}

// StatusOf returns the schedule status of a report.
func StatusOf(r meta.Report) Status {
	p, ok := PlanOf(r)
	if !ok {
		return Status{}
	}
	st := Status{Remaining: p.Remaining(r.LastDueAt)}
	if _, t, ok := p.NextAfter(r.LastDueAt); ok && r.Status != meta.ReportInactive {
		st.Next = &t
	}
	if r.Status == meta.ReportInactive && st.Remaining != nil {
		zero := 0
		st.Remaining = &zero
	}
	return st
}

// StartFunc starts one execution of report r scheduled at at (its TIMESPAN
// evaluated at at). An error means nothing was recorded and the due time
// is tried again on the next Tick; an execution that was recorded but
// could not be queued must be recorded as Failed and reported as nil.
type StartFunc func(ctx context.Context, r meta.Report, at time.Time) error

// Due is what a Tick decided for one report.
type Due struct {
	// Report is the report as Tick read it.
	Report meta.Report
	// Run: start one execution scheduled at At.
	Run bool
	At  time.Time
	// LastDue is the report's new LastDueAt; Exhausted, no due time is
	// left after it: the report becomes Inactive.
	LastDue   *time.Time
	Exhausted bool
}

// BatchFunc records a batch of decisions: for each Due with Run, one
// execution scheduled at At (its job queued); for each, the report's
// LastDueAt and, when Exhausted, Inactive — a Due whose execution is
// recorded has its LastDueAt recorded with it. A Due whose report was
// deleted or changed since Tick read it is left alone (the next Tick
// decides again). It returns how many executions it started; an error
// means nothing of the batch was recorded.
type BatchFunc func(ctx context.Context, batch []Due) (int, error)

// Scheduler starts the due executions of recurring reports.
type Scheduler struct {
	Reports meta.Reports
	// Start starts one execution; Tick then records the report's progress
	// with Reports.AdvanceReport. Unused when StartBatch is set.
	Start StartFunc
	// StartBatch, when set, takes Tick's decisions in batches instead.
	StartBatch BatchFunc
	// BatchSize caps a StartBatch batch; 0 means DefaultBatchSize.
	BatchSize int
	// OnStart, when set, runs once when Run starts, before the first
	// tick (after the job queue has started): the owner of the executions
	// brings work a crash interrupted back in step (see
	// insights.API.Resume). An error is logged.
	OnStart func(ctx context.Context) error
	// Clock is "now"; nil means time.Now.
	Clock func() time.Time
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	mu     sync.Mutex // one Tick at a time
	stop   chan struct{}
	done   chan struct{}
	runMu  sync.Mutex
	active bool
}

func (s *Scheduler) now() time.Time {
	if s.Clock != nil {
		return s.Clock().UTC()
	}
	return time.Now().UTC()
}

func (s *Scheduler) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default().With("component", "schedule")
}

// Tick does all the work due at Clock(): for every Active or Paused
// recurring report, it handles the latest due time not yet handled —
// starting one execution for an Active report — and makes reports with
// no due time left Inactive. It returns how many executions it started
// and the first error met (the other reports are still handled).
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	list, err := s.Reports.ListReports(ctx, meta.ReportFilter{Scheduled: true,
		Statuses: []meta.ReportStatus{meta.ReportActive, meta.ReportPaused}})
	if err != nil {
		return 0, err
	}
	var dues []Due
	for _, r := range list {
		if d, ok := Decide(r, now); ok {
			dues = append(dues, d)
		}
	}
	if s.StartBatch != nil {
		return s.tickBatches(ctx, dues)
	}
	started := 0
	var first error
	for _, d := range dues {
		n, err := s.tickOne(ctx, d)
		started += n
		if err != nil {
			s.log().Error("scheduling a report", "report", d.Report.ID, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return started, first
}

// Decide returns what is due for report r at now; false when nothing is
// (not a recurring report, or no new due time and not exhausted).
func Decide(r meta.Report, now time.Time) (Due, bool) {
	p, ok := PlanOf(r)
	if !ok {
		return Due{}, false
	}
	d := Due{Report: r, LastDue: r.LastDueAt}
	if _, at, ok := p.LatestDue(now); ok && (r.LastDueAt == nil || at.After(*r.LastDueAt)) {
		d.Run, d.At, d.LastDue = r.Status == meta.ReportActive, at, &at
	}
	_, _, more := p.NextAfter(d.LastDue)
	d.Exhausted = !more
	return d, !more || d.LastDue != r.LastDueAt
}

func (s *Scheduler) tickBatches(ctx context.Context, dues []Due) (int, error) {
	size := s.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	started := 0
	var first error
	for len(dues) > 0 {
		n := min(size, len(dues))
		k, err := s.StartBatch(ctx, dues[:n])
		started += k
		if err != nil {
			s.log().Error("scheduling reports", "reports", n, "err", err)
			if first == nil {
				first = err
			}
		}
		dues = dues[n:]
	}
	return started, first
}

func (s *Scheduler) tickOne(ctx context.Context, d Due) (int, error) {
	started := 0
	if d.Run {
		if err := s.Start(ctx, d.Report, d.At); errors.Is(err, meta.ErrNotFound) {
			return 0, nil // deleted meanwhile
		} else if err != nil {
			return 0, err
		}
		started = 1
	}
	if err := s.Reports.AdvanceReport(ctx, d.Report.ID, d.LastDue, d.Exhausted); err != nil && !errors.Is(err, meta.ErrNotFound) {
		return started, err
	}
	return started, nil
}

// Run ticks every interval (DefaultInterval when ≤ 0) until Stop; the first
// tick is immediate, so missed runs start right after a restart.
func (s *Scheduler) Run(interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	s.runMu.Lock()
	if s.active {
		s.runMu.Unlock()
		return
	}
	s.active = true
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	stop, done := s.stop, s.done
	s.runMu.Unlock()
	go func() {
		defer close(done)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-stop:
				cancel()
			case <-done:
			}
		}()
		if s.OnStart != nil {
			if err := s.OnStart(ctx); err != nil && ctx.Err() == nil {
				s.log().Error("resuming interrupted work", "err", err)
			}
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
				s.log().Error("schedule tick", "err", err)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends Run and waits for a tick in progress (until ctx ends).
func (s *Scheduler) Stop(ctx context.Context) error {
	s.runMu.Lock()
	if !s.active {
		s.runMu.Unlock()
		return nil
	}
	s.active = false
	close(s.stop)
	done := s.done
	s.runMu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
