package meta

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestValidTransition(t *testing.T) {
	valid := map[[2]JobState]bool{
		{JobEnqueued, JobRunning}:   true,
		{JobEnqueued, JobCancelled}: true,
		{JobEnqueued, JobFailed}:    true,
		{JobRunning, JobCompleted}:  true,
		{JobRunning, JobFailed}:     true,
		{JobRunning, JobCancelled}:  true,
		{JobRunning, JobEnqueued}:   true,
		{JobCompleted, JobExpired}:  true,
	}
	for _, from := range JobStates {
		for _, to := range JobStates {
			if got := ValidTransition(from, to); got != valid[[2]JobState{from, to}] {
				t.Errorf("ValidTransition(%s, %s) = %v", from, to, got)
			}
		}
	}
}

func TestJobsLifecycle(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return t0 })

	j, err := s.CreateJob(ctx, Job{Kind: "analytics.query", Owner: "key_1", Tenant: "org:acme",
		Request: json.RawMessage(`{"q":"SELECT 1"}`)}, Admission{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(j.ID, JobIDPrefix) || len(j.ID) != len(JobIDPrefix)+16 {
		t.Errorf("id %q: want job_ + 16 hex characters", j.ID)
	}
	if j.State != JobEnqueued || !j.CreatedAt.Equal(t0) || j.StartedAt != nil {
		t.Errorf("created %+v", j)
	}
	got, err := s.GetJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != j.ID || got.Kind != j.Kind || got.Owner != "key_1" || got.Tenant != "org:acme" ||
		string(got.Request) != `{"q":"SELECT 1"}` || !got.CreatedAt.Equal(t0) || got.State != JobEnqueued {
		t.Errorf("GetJob = %+v", got)
	}
	if _, err := s.GetJob(ctx, "job_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetJob(unknown) = %v, want ErrNotFound", err)
	}

	// enqueued → completed skips running: refused.
	bad := got
	bad.State = JobCompleted
	if err := s.UpdateJob(ctx, bad); !errors.Is(err, ErrJobConflict) {
		t.Errorf("enqueued → completed: %v, want ErrJobConflict", err)
	}
	// enqueued → running → completed.
	started := t0.Add(time.Second)
	got.State, got.StartedAt = JobRunning, &started
	if err := s.UpdateJob(ctx, got); err != nil {
		t.Fatal(err)
	}
	fin, exp := t0.Add(time.Minute), t0.Add(time.Hour)
	got.State, got.FinishedAt, got.ExpiresAt = JobCompleted, &fin, &exp
	got.ResultPath, got.ResultRows, got.ResultBytes = "/r/x.csv", 12, 345
	if err := s.UpdateJob(ctx, got); err != nil {
		t.Fatal(err)
	}
	// A second writer that still thinks it is running loses.
	stale := got
	stale.State = JobCancelled
	if err := s.UpdateJob(ctx, stale); !errors.Is(err, ErrJobConflict) {
		t.Errorf("completed → cancelled: %v, want ErrJobConflict", err)
	}
	after, _ := s.GetJob(ctx, j.ID)
	if after.State != JobCompleted || after.ResultPath != "/r/x.csv" || after.ResultRows != 12 || after.ResultBytes != 345 ||
		!after.StartedAt.Equal(started) || !after.FinishedAt.Equal(fin) || !after.ExpiresAt.Equal(exp) {
		t.Errorf("after completion: %+v", after)
	}
	if err := s.UpdateJob(ctx, Job{ID: "job_nope", State: JobRunning}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateJob(unknown) = %v, want ErrNotFound", err)
	}

	// Filters.
	admin := ""
	for i, spec := range []Job{
		{Kind: "console.sql", Owner: "key_2", Tenant: ""},
		{Kind: "analytics.query", Owner: "key_1", Tenant: "org:acme"},
		{Kind: "insights.report", Owner: "key_3", Tenant: "account:a"},
	} {
		spec.CreatedAt = t0.Add(time.Duration(i+1) * time.Second)
		if _, err := s.CreateJob(ctx, spec, Admission{}); err != nil {
			t.Fatal(err)
		}
	}
	acme := "org:acme"
	for _, tc := range []struct {
		f    JobFilter
		want int
	}{
		{JobFilter{}, 4},
		{JobFilter{Owner: "key_1"}, 2},
		{JobFilter{Tenant: &acme}, 2},
		{JobFilter{Tenant: &admin}, 1},
		{JobFilter{Kind: "insights.report"}, 1},
		{JobFilter{States: []JobState{JobEnqueued}}, 3},
		{JobFilter{States: []JobState{JobCompleted, JobFailed}}, 1},
		{JobFilter{ExpiresBefore: exp}, 1},
		{JobFilter{ExpiresBefore: exp.Add(-time.Nanosecond)}, 0},
		{JobFilter{Limit: 2}, 2},
	} {
		list, err := s.ListJobs(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != tc.want {
			t.Errorf("ListJobs(%+v): %d jobs, want %d", tc.f, len(list), tc.want)
		}
	}
	all, _ := s.ListJobs(ctx, JobFilter{})
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt.Before(all[i-1].CreatedAt) {
			t.Errorf("ListJobs not oldest first: %v", all)
		}
	}

	// Bad input.
	if _, err := s.CreateJob(ctx, Job{}, Admission{}); err == nil {
		t.Error("a job without a kind was created")
	}
	if _, err := s.CreateJob(ctx, Job{Kind: "k", Request: json.RawMessage(`{nope`)}, Admission{}); err == nil {
		t.Error("a job with a non-JSON request was created")
	}
}

func TestCreateJobActiveLimit(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	// Twenty concurrent creations for one tenant with a limit of 5: the
	// count and insert share a transaction, so exactly 5 succeed.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, limited := 0, 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CreateJob(ctx, Job{Kind: "k", Tenant: "org:a"}, Admission{MaxActive: 5})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrActiveLimit):
				limited++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 5 || limited != 15 {
		t.Errorf("%d created, %d limited; want 5 and 15", ok, limited)
	}
	// Another tenant, and the admin tenant, are not affected.
	if _, err := s.CreateJob(ctx, Job{Kind: "k", Tenant: "org:b"}, Admission{MaxActive: 5}); err != nil {
		t.Error(err)
	}
	for i := 0; i < 7; i++ {
		if _, err := s.CreateJob(ctx, Job{Kind: "k"}, Admission{MaxActive: 5}); err != nil {
			t.Error(err)
		}
	}
	// A finished job frees a slot.
	list, _ := s.ListJobs(ctx, JobFilter{Tenant: ptr("org:a")})
	j := list[0]
	j.State = JobCancelled
	if err := s.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateJob(ctx, Job{Kind: "k", Tenant: "org:a"}, Admission{MaxActive: 5}); err != nil {
		t.Errorf("after a cancel: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// The submission rate counts a tenant's jobs of one kind created since a
// time, whatever their state, inside the insert's transaction.
func TestCreateJobRateLimit(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	create := func(at time.Time, kind, tenant string) error {
		_, err := s.CreateJob(ctx, Job{Kind: kind, Tenant: tenant, CreatedAt: at},
			Admission{MaxRecent: 3, Since: at.Add(-time.Hour)})
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, limited := 0, 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := create(t0, "q", "org:a")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrRateLimit):
				limited++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 3 || limited != 7 {
		t.Fatalf("%d created, %d limited; want 3 and 7", ok, limited)
	}
	// A finished job still counts: the limit is on submissions.
	list, _ := s.ListJobs(ctx, JobFilter{Tenant: ptr("org:a")})
	j := list[0]
	j.State = JobCancelled
	if err := s.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := create(t0.Add(time.Minute), "q", "org:a"); !errors.Is(err, ErrRateLimit) {
		t.Errorf("after a cancel: %v, want the rate limit", err)
	}
	// Another kind, another tenant, and the admin tenant are not counted.
	for _, c := range []struct{ kind, tenant string }{{"other", "org:a"}, {"q", "org:b"}, {"q", ""}, {"q", ""}, {"q", ""}, {"q", ""}} {
		if err := create(t0, c.kind, c.tenant); err != nil {
			t.Errorf("%s %q: %v", c.kind, c.tenant, err)
		}
	}
	// An hour after the first three, the window is free again.
	if err := create(t0.Add(time.Hour+time.Second), "q", "org:a"); err != nil {
		t.Errorf("an hour later: %v", err)
	}
	recent, err := s.ListJobs(ctx, JobFilter{Tenant: ptr("org:a"), Kind: "q", CreatedSince: t0.Add(time.Second)})
	if err != nil || len(recent) != 1 {
		t.Errorf("CreatedSince: %d jobs, %v; want 1", len(recent), err)
	}
}

func TestRecoverJobs(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	mk := func(state JobState, attempts int) string {
		t.Helper()
		j, err := s.CreateJob(ctx, Job{Kind: "k", State: state, Attempts: attempts, StartedAt: &t0}, Admission{})
		if err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	fresh := mk(JobRunning, 0)
	last := mk(JobRunning, 2)
	waiting := mk(JobEnqueued, 0)
	done := mk(JobCompleted, 0)

	now := t0.Add(time.Hour)
	requeued, failed, err := s.RecoverJobs(ctx, now, 3)
	if err != nil {
		t.Fatal(err)
	}
	if requeued != 1 || failed != 1 {
		t.Errorf("requeued %d, failed %d; want 1 and 1", requeued, failed)
	}
	j, _ := s.GetJob(ctx, fresh)
	if j.State != JobEnqueued || j.Attempts != 1 || j.StartedAt != nil {
		t.Errorf("interrupted once: %+v", j)
	}
	j, _ = s.GetJob(ctx, last)
	if j.State != JobFailed || j.Attempts != 3 || j.Error != "interrupted 3 times; giving up" || j.FinishedAt == nil || !j.FinishedAt.Equal(now) {
		t.Errorf("interrupted a third time: %+v", j)
	}
	for _, id := range []string{waiting, done} {
		j, _ = s.GetJob(ctx, id)
		if j.Attempts != 0 || (j.State != JobEnqueued && j.State != JobCompleted) {
			t.Errorf("recovery touched a job that was not running: %+v", j)
		}
	}
	if r, f, err := s.RecoverJobs(ctx, now, 3); err != nil || r != 0 || f != 0 {
		t.Errorf("second recovery: %d %d %v; want nothing to do", r, f, err)
	}
}

func TestCountJobsByState(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	got, err := s.CountJobsByState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(JobStates) {
		t.Errorf("empty store: %v, want every state at 0", got)
	}
	for st, n := range got {
		if n != 0 {
			t.Errorf("empty store: %s = %d", st, n)
		}
	}
	for i := 0; i < 3; i++ {
		if _, err := s.CreateJob(ctx, Job{Kind: "k"}, Admission{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []JobState{JobRunning, JobRunning, JobCompleted, JobFailed} {
		if _, err := s.CreateJob(ctx, Job{Kind: "k", State: st}, Admission{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err = s.CountJobsByState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[JobState]int{JobEnqueued: 3, JobRunning: 2, JobCompleted: 1, JobFailed: 1, JobCancelled: 0, JobExpired: 0}
	for _, st := range JobStates {
		if got[st] != want[st] {
			t.Errorf("%s: %d jobs, want %d", st, got[st], want[st])
		}
	}
}
