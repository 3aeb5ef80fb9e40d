package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarry/quarry/meta"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t testing.TB, dir string) *meta.SQLite {
	t.Helper()
	s, err := meta.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// start creates and starts a queue; it is stopped at the end of the test.
func start(t testing.TB, store meta.Jobs, dir string, cfg Config, kinds map[string]Handler) *Queue {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	q := New(store, dir, cfg)
	for k, h := range kinds {
		q.Register(k, h)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	return q
}

// waitState waits (with a deadline, for the workers' goroutines) until the
// stored job reaches state.
func waitState(t testing.TB, store meta.Jobs, id string, state meta.JobState) meta.Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := store.GetJob(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == state {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s (%s), want %s", id, j.State, j.Error, state)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// writeResult is a handler that writes a small CSV.
func writeResult(ctx context.Context, j meta.Job, dir string) (Result, error) {
	body := "a,b\n1,2\n3,4\n"
	if err := os.WriteFile(filepath.Join(dir, "result.csv"), []byte(body), 0o644); err != nil {
		return Result{}, err
	}
	return Result{Path: "result.csv", Rows: 2}, nil
}

// blocker is a handler that writes a partial file, says it started and
// waits for its context to end.
type blocker struct {
	started chan string
	exited  chan string
}

func newBlocker() *blocker {
	return &blocker{started: make(chan string, 16), exited: make(chan string, 16)}
}

func (b *blocker) handle(ctx context.Context, j meta.Job, dir string) (Result, error) {
	defer func() { b.exited <- j.ID }()
	if err := os.WriteFile(filepath.Join(dir, "partial.csv"), []byte("a,b\n"), 0o644); err != nil {
		return Result{}, err
	}
	b.started <- j.ID
	<-ctx.Done()
	return Result{}, ctx.Err()
}

func recv(t testing.TB, ch <-chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for a handler")
		return ""
	}
}

func TestRunToCompleted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	clk := newClock()
	q := start(t, store, dir, Config{Clock: clk.Now}, map[string]Handler{"test.write": writeResult})

	j, err := q.Submit(ctx, meta.Job{Kind: "test.write", Owner: "key_1", Tenant: "org:acme", Request: json.RawMessage(`{"x":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if j.State != meta.JobEnqueued || !j.CreatedAt.Equal(clk.Now()) {
		t.Errorf("submitted %+v", j)
	}
	done := waitState(t, store, j.ID, meta.JobCompleted)
	want := filepath.Join(dir, "results", j.ID, "result.csv")
	if done.ResultPath != want || done.ResultRows != 2 || done.ResultBytes != int64(len("a,b\n1,2\n3,4\n")) {
		t.Errorf("result %q %d rows %d bytes; want %q 2 rows 12 bytes", done.ResultPath, done.ResultRows, done.ResultBytes, want)
	}
	if !exists(want) {
		t.Errorf("result file %s missing", want)
	}
	if done.StartedAt == nil || done.FinishedAt == nil || done.ExpiresAt == nil ||
		!done.ExpiresAt.Equal(done.FinishedAt.Add(DefaultResultTTL)) || done.Error != "" {
		t.Errorf("completed job's times: %+v", done)
	}
	if got, err := q.Get(ctx, j.ID); err != nil || got.State != meta.JobCompleted {
		t.Errorf("Get = %+v %v", got, err)
	}
	if _, err := q.Get(ctx, "job_0000000000000000"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := q.Submit(ctx, meta.Job{Kind: "nope"}); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("Submit(unknown kind) = %v, want ErrUnknownKind", err)
	}
	if _, err := q.Cancel(ctx, j.ID); !errors.Is(err, ErrFinished) {
		t.Errorf("Cancel(completed) = %v, want ErrFinished", err)
	}
}

func TestPerTenantLimit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	// Not started: submitted jobs stay enqueued, so all count as active.
	q := New(store, dir, Config{Logger: quiet})
	q.Register("k", writeResult)
	var first meta.Job
	for i := 0; i < 10; i++ {
		j, err := q.Submit(ctx, meta.Job{Kind: "k", Tenant: "org:a"})
		if err != nil {
			t.Fatalf("job %d: %v", i+1, err)
		}
		if i == 0 {
			first = j
		}
	}
	_, err := q.Submit(ctx, meta.Job{Kind: "k", Tenant: "org:a"})
	var le *LimitError
	if !errors.As(err, &le) || le.Tenant != "org:a" || le.Limit != 10 {
		t.Fatalf("11th job: %v, want *LimitError{org:a, 10}", err)
	}
	if _, err := q.Submit(ctx, meta.Job{Kind: "k", Tenant: "org:b"}); err != nil {
		t.Errorf("another tenant: %v", err)
	}
	for i := 0; i < 12; i++ {
		if _, err := q.Submit(ctx, meta.Job{Kind: "k", Tenant: ""}); err != nil {
			t.Errorf("admin job %d: %v", i+1, err)
		}
	}
	// A cancelled job frees a slot.
	if _, err := q.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Submit(ctx, meta.Job{Kind: "k", Tenant: "org:a"}); err != nil {
		t.Errorf("after a cancel: %v", err)
	}
	// A kind exempt from the limit still queues for the full tenant, while
	// other kinds of that tenant stay limited.
	q.Register("scheduled", writeResult)
	q.Unlimited("scheduled")
	for i := 0; i < 15; i++ {
		if _, err := q.Submit(ctx, meta.Job{Kind: "scheduled", Tenant: "org:a"}); err != nil {
			t.Fatalf("unlimited kind, job %d: %v", i+1, err)
		}
	}
	if _, err := q.Submit(ctx, meta.Job{Kind: "k", Tenant: "org:a"}); !errors.As(err, &le) {
		t.Errorf("limited kind after unlimited jobs: %v, want *LimitError", err)
	}
	// Unlimited jobs still count as the tenant's active jobs: a fresh
	// tenant with 10 of them cannot start a limited one.
	for i := 0; i < 10; i++ {
		if _, err := q.Submit(ctx, meta.Job{Kind: "scheduled", Tenant: "org:c"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Submit(ctx, meta.Job{Kind: "k", Tenant: "org:c"}); !errors.As(err, &le) || le.Tenant != "org:c" {
		t.Errorf("limited kind of a tenant with 10 unlimited jobs: %v, want *LimitError{org:c}", err)
	}
	// Unlimited.
	q2 := New(store, dir, Config{Logger: quiet, PerTenantActive: -1})
	q2.Register("k", writeResult)
	if _, err := q2.Submit(ctx, meta.Job{Kind: "k", Tenant: "org:a"}); err != nil {
		t.Errorf("unlimited queue: %v", err)
	}
}

// A kind's own limits: a different active cap and a submission rate,
// whose error says when a slot frees up.
func TestKindLimits(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	clk := newClock()
	q := New(store, dir, Config{Logger: quiet, Clock: clk.Now})
	q.Register("q", writeResult)
	q.SetLimits("q", Limits{Active: 2, PerWindow: 3, Window: time.Hour})
	first, err := q.Submit(ctx, meta.Job{Kind: "q", Tenant: "org:a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Submit(ctx, meta.Job{Kind: "q", Tenant: "org:a"}); err != nil {
		t.Fatal(err)
	}
	var le *LimitError
	if _, err := q.Submit(ctx, meta.Job{Kind: "q", Tenant: "org:a"}); !errors.As(err, &le) || le.Window != 0 || le.Limit != 2 {
		t.Fatalf("3rd active job: %v, want the active limit of 2", err)
	}
	if _, err := q.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	if _, err := q.Submit(ctx, meta.Job{Kind: "q", Tenant: "org:a"}); err != nil {
		t.Fatal(err)
	}
	_, err = q.Submit(ctx, meta.Job{Kind: "q", Tenant: "org:a"})
	if !errors.As(err, &le) || le.Window != time.Hour || le.Limit != 3 || !le.RetryAt.Equal(first.CreatedAt.Add(time.Hour)) {
		t.Fatalf("4th job in an hour: %v (%+v), want the rate limit freeing at %s", err, le, first.CreatedAt.Add(time.Hour))
	}
	if !strings.Contains(le.Error(), "3 jobs in the last 1h0m0s") {
		t.Errorf("message %q", le.Error())
	}
}

// A kind's own result TTL sets its completed jobs' expiry.
func TestKindResultTTL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	clk := newClock()
	q := New(store, dir, Config{Logger: quiet, Clock: clk.Now})
	q.Register("long", writeResult)
	q.Register("short", writeResult)
	q.SetLimits("long", Limits{ResultTTL: 90 * 24 * time.Hour})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	long, _ := q.Submit(ctx, meta.Job{Kind: "long", Tenant: "a"})
	short, _ := q.Submit(ctx, meta.Job{Kind: "short", Tenant: "a"})
	for _, c := range []struct {
		id  string
		ttl time.Duration
	}{{long.ID, 90 * 24 * time.Hour}, {short.ID, DefaultResultTTL}} {
		j := waitState(t, store, c.id, meta.JobCompleted)
		if j.ExpiresAt == nil || !j.ExpiresAt.Equal(j.FinishedAt.Add(c.ttl)) {
			t.Errorf("%s expires at %v, want %v after %v", j.Kind, j.ExpiresAt, c.ttl, j.FinishedAt)
		}
	}
}

func TestCancelEnqueued(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	q := New(store, dir, Config{Logger: quiet})
	q.Register("k", writeResult)
	j, err := q.Submit(ctx, meta.Job{Kind: "k"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := q.Cancel(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != meta.JobCancelled || c.FinishedAt == nil {
		t.Errorf("cancelled: %+v", c)
	}
	if got, _ := store.GetJob(ctx, j.ID); got.State != meta.JobCancelled {
		t.Errorf("stored: %+v", got)
	}
	if again, err := q.Cancel(ctx, j.ID); err != nil || again.State != meta.JobCancelled {
		t.Errorf("cancel twice: %+v %v", again, err)
	}
	if _, err := q.Cancel(ctx, "job_0000000000000000"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("Cancel(unknown) = %v", err)
	}
	// Starting the queue does not run it.
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	if got, _ := store.GetJob(ctx, j.ID); got.State != meta.JobCancelled {
		t.Errorf("after start: %+v", got)
	}
}

func TestCancelRunning(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	b := newBlocker()
	q := start(t, store, dir, Config{}, map[string]Handler{"block": b.handle})
	j, err := q.Submit(ctx, meta.Job{Kind: "block", Tenant: "org:a"})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, b.started)
	if got, _ := store.GetJob(ctx, j.ID); got.State != meta.JobRunning || got.StartedAt == nil {
		t.Fatalf("running: %+v", got)
	}
	if !exists(filepath.Join(q.ResultDir(j.ID), "partial.csv")) {
		t.Fatal("the handler's partial file is missing")
	}
	c, err := q.Cancel(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != meta.JobCancelled || c.FinishedAt == nil || c.ResultPath != "" {
		t.Errorf("cancelled: %+v", c)
	}
	if exists(q.ResultDir(j.ID)) {
		t.Error("a cancelled job's result directory was left behind")
	}
}

func TestRunTimeout(t *testing.T) {
	ctx := context.Background()

	t.Run("clock", func(t *testing.T) {
		dir := t.TempDir()
		store := openStore(t, dir)
		clk := newClock()
		b := newBlocker()
		q := start(t, store, dir, Config{Clock: clk.Now, RunTimeout: time.Hour}, map[string]Handler{"block": b.handle})
		j, err := q.Submit(ctx, meta.Job{Kind: "block"})
		if err != nil {
			t.Fatal(err)
		}
		recv(t, b.started)
		clk.Advance(59 * time.Minute)
		if err := q.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := store.GetJob(ctx, j.ID); got.State != meta.JobRunning {
			t.Fatalf("before the limit: %+v", got)
		}
		clk.Advance(time.Minute)
		if err := q.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		got := waitState(t, store, j.ID, meta.JobFailed)
		if got.Error != "ran longer than 1h0m0s" {
			t.Errorf("reason %q", got.Error)
		}
		if exists(q.ResultDir(j.ID)) {
			t.Error("a failed job's result directory was left behind")
		}
	})

	t.Run("context deadline", func(t *testing.T) {
		dir := t.TempDir()
		store := openStore(t, dir)
		b := newBlocker()
		q := start(t, store, dir, Config{RunTimeout: 20 * time.Millisecond}, map[string]Handler{"block": b.handle})
		j, err := q.Submit(ctx, meta.Job{Kind: "block"})
		if err != nil {
			t.Fatal(err)
		}
		got := waitState(t, store, j.ID, meta.JobFailed)
		if got.Error != "ran longer than 20ms" {
			t.Errorf("reason %q", got.Error)
		}
	})
}

func TestHandlerPanicAndError(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	q := start(t, store, dir, Config{Workers: 1}, map[string]Handler{
		"boom": func(context.Context, meta.Job, string) (Result, error) { panic("boom at row 7") },
		"err": func(context.Context, meta.Job, string) (Result, error) {
			return Result{}, fmt.Errorf("unknown column 'X'")
		},
		"nofile": func(context.Context, meta.Job, string) (Result, error) { return Result{Path: "missing.csv"}, nil },
		"escape": func(_ context.Context, _ meta.Job, dir string) (Result, error) {
			return Result{Path: filepath.Join(dir, "..", "x")}, nil
		},
		"ok": writeResult,
	})
	ids := map[string]string{}
	for _, k := range []string{"boom", "err", "nofile", "escape", "ok"} {
		j, err := q.Submit(ctx, meta.Job{Kind: k})
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = j.ID
	}
	if got := waitState(t, store, ids["boom"], meta.JobFailed); got.Error != "panic: boom at row 7" {
		t.Errorf("panic reason %q", got.Error)
	}
	if got := waitState(t, store, ids["err"], meta.JobFailed); got.Error != "unknown column 'X'" {
		t.Errorf("error reason %q", got.Error)
	}
	waitState(t, store, ids["nofile"], meta.JobFailed)
	waitState(t, store, ids["escape"], meta.JobFailed)
	waitState(t, store, ids["ok"], meta.JobCompleted)
}

// deadStore stands for a process that died: once dead, nothing it does
// reaches the database.
type deadStore struct {
	meta.Jobs
	dead atomic.Bool
}

func (d *deadStore) UpdateJob(ctx context.Context, j meta.Job) error {
	if d.dead.Load() {
		return errors.New("the process is dead")
	}
	return d.Jobs.UpdateJob(ctx, j)
}

// crashWhileRunning starts a queue whose handler blocks, waits until the
// job runs, and "kills" the process: the store stops answering, the
// queue's context ends, no Stop. The job's row stays running.
func crashWhileRunning(t *testing.T, store *meta.SQLite, dir string, cfg Config, id string) {
	t.Helper()
	ds := &deadStore{Jobs: store}
	b := newBlocker()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	q := New(ds, dir, cfg)
	q.Register("report", b.handle)
	ctx, kill := context.WithCancel(context.Background())
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, b.started); got != id {
		t.Fatalf("ran %s, want %s", got, id)
	}
	ds.dead.Store(true)
	kill()
	q.wg.Wait() // the dead process's goroutines are gone
	if got, _ := store.GetJob(context.Background(), id); got.State != meta.JobRunning {
		t.Fatalf("after the crash the job is %s, want running", got.State)
	}
}

func TestCrashRecovery(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	clk := newClock()
	cfg := Config{Clock: clk.Now}

	// Submitted by a queue that is never started (say, the crashed one).
	sub := New(store, dir, Config{Logger: quiet})
	sub.Register("report", writeResult)
	j, err := sub.Submit(ctx, meta.Job{Kind: "report", Request: json.RawMessage(`{"query":"SELECT 1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	crashWhileRunning(t, store, dir, cfg, j.ID)

	// Restart: the job runs again and completes, the crash counted.
	q := start(t, store, dir, cfg, map[string]Handler{"report": writeResult})
	done := waitState(t, store, j.ID, meta.JobCompleted)
	if done.Attempts != 1 {
		t.Errorf("attempts %d, want 1", done.Attempts)
	}
	if !exists(done.ResultPath) || exists(filepath.Join(q.ResultDir(j.ID), "partial.csv")) {
		t.Error("want the new result and not the crashed run's partial file")
	}
	q.Stop(ctx)

	// A job that kills the process every time is given up after MaxAttempts.
	j2, err := sub.Submit(ctx, meta.Job{Kind: "report"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < DefaultMaxAttempts; i++ {
		crashWhileRunning(t, store, dir, cfg, j2.ID)
	}
	q = start(t, store, dir, cfg, map[string]Handler{"report": writeResult})
	failed := waitState(t, store, j2.ID, meta.JobFailed)
	if failed.Error != "interrupted 3 times; giving up" || failed.Attempts != 3 {
		t.Errorf("given up: %q after %d attempts", failed.Error, failed.Attempts)
	}
	if err := q.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if exists(q.ResultDir(j2.ID)) {
		t.Error("the given-up job's partial files were left behind")
	}
}

func TestGracefulStop(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	b := newBlocker()
	q := New(store, dir, Config{Logger: quiet})
	q.Register("report", b.handle)
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	j, err := q.Submit(ctx, meta.Job{Kind: "report"})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, b.started)
	if err := q.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := store.GetJob(ctx, j.ID)
	if got.State != meta.JobEnqueued || got.StartedAt != nil || got.Attempts != 0 {
		t.Errorf("after Stop: %+v; want enqueued, not started, no attempt counted", got)
	}
	if exists(q.ResultDir(j.ID)) {
		t.Error("the interrupted run's files were left behind")
	}
	if _, err := q.Submit(ctx, meta.Job{Kind: "report"}); !errors.Is(err, ErrStopped) {
		t.Errorf("Submit after Stop = %v, want ErrStopped", err)
	}

	start(t, store, dir, Config{}, map[string]Handler{"report": writeResult})
	waitState(t, store, j.ID, meta.JobCompleted)
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	clk := newClock()
	q := start(t, store, dir, Config{Clock: clk.Now, ResultTTL: 24 * time.Hour}, map[string]Handler{"k": writeResult})
	j, err := q.Submit(ctx, meta.Job{Kind: "k"})
	if err != nil {
		t.Fatal(err)
	}
	done := waitState(t, store, j.ID, meta.JobCompleted)
	// Leftovers: a directory of a job the store does not know, and one of
	// something else (a schedule execution), which is not ours to remove.
	orphan := filepath.Join(dir, "results", "job_00000000000000ff")
	other := filepath.Join(dir, "results", "exec_1")
	for _, d := range []string{orphan, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	clk.Advance(24*time.Hour - time.Second)
	if err := q.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.GetJob(ctx, j.ID); got.State != meta.JobCompleted || !exists(done.ResultPath) {
		t.Fatalf("expired early: %+v", got)
	}
	clk.Advance(time.Second)
	if err := q.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := store.GetJob(ctx, j.ID)
	if got.State != meta.JobExpired {
		t.Errorf("after the TTL: %s, want expired", got.State)
	}
	if exists(q.ResultDir(j.ID)) {
		t.Error("an expired job's result directory was left behind")
	}
	if exists(orphan) || !exists(other) {
		t.Errorf("orphan removed: %v (want true); other kept: %v (want true)", !exists(orphan), exists(other))
	}
}

// BenchmarkThroughput submits 1,000 trivial jobs (each writes a small
// file) and waits for all to complete.
func BenchmarkThroughput(b *testing.B) {
	for _, workers := range []int{2, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			const n = 1000
			ctx := context.Background()
			dir := b.TempDir()
			store := openStore(b, dir)
			var completed atomic.Int64
			var target atomic.Int64
			done := make(chan struct{}, 1)
			q := start(b, store, dir, Config{Workers: workers, PerTenantActive: -1, OnChange: func(j meta.Job) {
				if j.State == meta.JobCompleted && completed.Add(1) == target.Load() {
					done <- struct{}{}
				}
			}}, map[string]Handler{"k": writeResult})
			b.ResetTimer()
			t0 := time.Now()
			for i := 0; i < b.N; i++ {
				target.Add(n)
				for k := 0; k < n; k++ {
					if _, err := q.Submit(ctx, meta.Job{Kind: "k", Tenant: fmt.Sprintf("org:%d", k%20)}); err != nil {
						b.Fatal(err)
					}
				}
				<-done
			}
			b.ReportMetric(float64(n*b.N)/time.Since(t0).Seconds(), "jobs/s")
		})
	}
}

// BenchmarkLatency measures one trivial job from Submit to completed (the
// store's commits dominate: submit, claim and outcome are one fsynced
// transaction each).
func BenchmarkLatency(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	store := openStore(b, dir)
	done := make(chan struct{}, 1)
	q := start(b, store, dir, Config{OnChange: func(j meta.Job) {
		if j.State == meta.JobCompleted {
			done <- struct{}{}
		}
	}}, map[string]Handler{"k": writeResult})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := q.Submit(ctx, meta.Job{Kind: "k", Tenant: "org:a"}); err != nil {
			b.Fatal(err)
		}
		<-done
	}
}
