// Package jobs runs asynchronous work — report files, async analytics
// queries, console exports — on a pool of workers, with every state change
// stored in the metadata store (meta.Jobs) before anyone can see it.
//
// A job is a meta.Job: an opaque Kind, a JSON Request, an Owner and a
// Tenant. The queue knows nothing of plans or formats: each kind has a
// Handler, registered by whoever defines the kind, which rebuilds its work
// from the Request (so it can run again after a restart) and writes one
// result file into the directory the queue gives it,
// <data dir>/results/<job id>/.
//
// # Life of a job
//
//	Submit ──► enqueued ──► running ──► completed ──(ResultTTL)──► expired
//	              │            ├──► failed     (handler error, panic, run-time limit)
//	              │            ├──► cancelled  (Cancel)
//	              │            └──► enqueued   (Stop, or recovery after a crash)
//	              └──► cancelled (Cancel)
//
// Limits: at most Config.PerTenantActive enqueued+running jobs per tenant
// (Submit returns *LimitError beyond it; the admin tenant "" is not
// limited), and Config.RunTimeout per run.
//
// # Restarts
//
// Stop hands running jobs back (enqueued) so the next Start runs them. A
// crash cannot: its jobs stay "running" in the store. Start therefore calls
// meta.Jobs.RecoverJobs first, which re-enqueues every running job with one
// more attempt, or fails it ("interrupted N times; giving up") once a job
// has been interrupted Config.MaxAttempts times — a job that kills the
// process each time it runs must not kill it forever. None is lost and none
// stays running. Only one process may run a queue over a given store.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/quarry/quarry/meta"
)

// Defaults of Config.
const (
	DefaultWorkers         = 2
	DefaultPerTenantActive = 10
	DefaultRunTimeout      = 6 * time.Hour
	DefaultResultTTL       = 7 * 24 * time.Hour
	DefaultMaxAttempts     = 3
	DefaultPollInterval    = 5 * time.Second
	DefaultSweepInterval   = time.Minute
)

// ResultsDir is the folder of result directories inside the data dir.
const ResultsDir = "results"

// Result is what a handler produced: one file inside its result directory.
type Result struct {
	Path  string // absolute, or relative to the result directory
	Rows  int64
	Bytes int64
}

// Handler runs one job of a kind: it rebuilds its work from j.Request,
// writes the result file inside resultDir (which exists and is empty) and
// returns it. It must return promptly once ctx is done (cancel, run-time
// limit, shutdown); whatever it leaves in resultDir is then removed.
type Handler func(ctx context.Context, j meta.Job, resultDir string) (Result, error)

// Config tunes a Queue. Zero fields take the defaults.
type Config struct {
	// Workers is the number of jobs run at once (default 2).
	Workers int
	// PerTenantActive caps enqueued+running jobs per tenant (default 10);
	// negative means unlimited. Jobs of the admin tenant "" are not counted.
	PerTenantActive int
	// RunTimeout is how long one run may take (default 6h); the job then
	// fails with "ran longer than <RunTimeout>".
	RunTimeout time.Duration
	// ResultTTL is how long a completed job's result is kept (default 7 days).
	ResultTTL time.Duration
	// MaxAttempts is how many crash interruptions a job survives before
	// recovery fails it (default 3).
	MaxAttempts int
	// Clock is "now" for the stored times, expiry and the clock-based
	// run-time check of Sweep (default time.Now).
	Clock func() time.Time
	// PollInterval is how often an idle worker looks for jobs submitted
	// behind its back (another process); Submit wakes workers at once
	// (default 5s).
	PollInterval time.Duration
	// SweepInterval is how often Sweep runs after Start (default 1 min).
	SweepInterval time.Duration
	// OnChange, if set, is called after each state change has been
	// stored, with the stored record. It runs on the goroutine that made
	// the change (a worker, Submit, Cancel, Sweep) and must not block.
	OnChange func(meta.Job)
	// Logger receives the queue's logs (default slog.Default()).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	switch {
	case c.PerTenantActive == 0:
		c.PerTenantActive = DefaultPerTenantActive
	case c.PerTenantActive < 0:
		c.PerTenantActive = 0 // meta.Jobs.CreateJob: 0 = unlimited
	}
	if c.RunTimeout <= 0 {
		c.RunTimeout = DefaultRunTimeout
	}
	if c.ResultTTL <= 0 {
		c.ResultTTL = DefaultResultTTL
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// LimitError is returned by Submit when the job's tenant already has
// Limit active (enqueued or running) jobs or, when Window is set, already
// submitted Limit jobs of the kind within the last Window.
type LimitError struct {
	Tenant string
	Limit  int
	Window time.Duration // 0: the active-jobs limit
	// RetryAt is when a slot of the rate limit frees up (Window only; zero
	// when unknown).
	RetryAt time.Time
}

func (e *LimitError) Error() string {
	if e.Window > 0 {
		return fmt.Sprintf("%s already submitted %d jobs in the last %s, the limit: try again later", e.Tenant, e.Limit, e.Window)
	}
	return fmt.Sprintf("%s already has %d active jobs, the limit: wait for one to finish or cancel one", e.Tenant, e.Limit)
}

// Limits bound the jobs of one kind, per tenant (jobs of the admin tenant
// "" are never limited).
type Limits struct {
	// Active caps the tenant's enqueued and running jobs when one of this
	// kind is submitted: 0 means the queue's PerTenantActive, negative
	// means unlimited.
	Active int
	// PerWindow caps how many jobs of this kind the tenant may submit in
	// any Window (0: no rate limit).
	PerWindow int
	Window    time.Duration
	// ResultTTL, when set, is how long this kind's results are kept
	// instead of Config.ResultTTL (energy reports: 90 days).
	ResultTTL time.Duration
}

// resultTTL is how long a completed job of kind keeps its result.
func (q *Queue) resultTTL(kind string) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if l, ok := q.limits[kind]; ok && l.ResultTTL > 0 {
		return l.ResultTTL
	}
	return q.cfg.ResultTTL
}

// Errors of the queue's operations.
var (
	// ErrUnknownKind: Submit was given a kind no handler is registered for.
	ErrUnknownKind = errors.New("unknown job kind")
	// ErrFinished: Cancel was asked for a job that already completed,
	// failed or expired.
	ErrFinished = errors.New("job already finished")
	// ErrStopped: the queue has been stopped.
	ErrStopped = errors.New("job queue stopped")
	// ErrNotRunningHere: Cancel found the job running, but not in this
	// process's queue.
	ErrNotRunningHere = errors.New("job is running in another process")
)

// Causes of a run's context ending, telling the worker what to record.
var (
	errCancelled  = errors.New("job cancelled")
	errRunTimeout = errors.New("run-time limit")
	errShutdown   = errors.New("job queue stopping")
)

// Queue runs jobs. Create it with New, Register every kind, then Start.
type Queue struct {
	store   meta.Jobs
	dataDir string
	cfg     Config
	log     *slog.Logger

	mu       sync.Mutex // guards the fields below and orders claims against cancels
	handlers map[string]Handler
	// limits holds the kinds whose limits differ from PerTenantActive.
	limits   map[string]Limits
	watchers []func(meta.Job)
	running  map[string]*run
	started  bool
	stopped  bool
	ctx      context.Context // lives from Start to Stop; runs derive from it
	stop     context.CancelCauseFunc

	wake chan struct{}
	wg   sync.WaitGroup
}

// run is a job this queue is running.
type run struct {
	started time.Time       // by the queue's clock
	ctx     context.Context // the run's context, cancelled by Cancel, Stop and Sweep
	cancel  context.CancelCauseFunc
	done    chan struct{} // closed once the final state is stored
}

// New returns a queue over store, writing results under
// <dataDir>/results/<job id>/.
func New(store meta.Jobs, dataDir string, cfg Config) *Queue {
	cfg = cfg.withDefaults()
	return &Queue{
		store:    store,
		dataDir:  dataDir,
		cfg:      cfg,
		log:      cfg.Logger.With("component", "jobs"),
		handlers: map[string]Handler{},
		running:  map[string]*run{},
		wake:     make(chan struct{}, cfg.Workers),
	}
}

// Config returns the queue's configuration, defaults applied.
func (q *Queue) Config() Config { return q.cfg }

// Register sets the handler of a kind. Register every kind before Start:
// a job whose kind has no handler when it comes up fails.
func (q *Queue) Register(kind string, h Handler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.handlers[kind] = h
}

// Unlimited exempts a kind from the per-tenant active-job limit: its jobs
// always queue. For work whose volume another rule already bounds (report
// runs: at most 50 active reports per user), where refusing a job would
// drop work nobody is there to resubmit.
func (q *Queue) Unlimited(kind string) { q.SetLimits(kind, Limits{Active: -1}) }

// SetLimits sets the per-tenant limits of a kind (see Limits).
func (q *Queue) SetLimits(kind string, l Limits) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limits == nil {
		q.limits = map[string]Limits{}
	}
	q.limits[kind] = l
}

// ResultDir is the directory a job's result is written to.
func (q *Queue) ResultDir(id string) string {
	return filepath.Join(q.dataDir, ResultsDir, id)
}

func (q *Queue) now() time.Time { return q.cfg.Clock().UTC() }

// Observe adds a function called after each state change has been
// stored, like Config.OnChange (which is called first), for code that
// comes to know the queue after New — a job kind's owner keeping its own
// records in step. Call it before Start; f must not block.
func (q *Queue) Observe(f func(meta.Job)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.watchers = append(q.watchers, f)
}

func (q *Queue) changed(j meta.Job) {
	if q.cfg.OnChange != nil {
		q.cfg.OnChange(j)
	}
	q.mu.Lock()
	ws := q.watchers
	q.mu.Unlock()
	for _, f := range ws {
		f(j)
	}
}

// Start recovers the jobs a crash left running (see the package comment),
// then starts the workers and the periodic sweeper. They run until Stop or
// until ctx is done, which acts as Stop without the wait.
func (q *Queue) Start(ctx context.Context) error {
	q.mu.Lock()
	if q.started {
		q.mu.Unlock()
		return errors.New("job queue already started")
	}
	q.started = true
	q.ctx, q.stop = context.WithCancelCause(ctx)
	q.mu.Unlock()

	requeued, failed, err := q.store.RecoverJobs(ctx, q.now(), q.cfg.MaxAttempts)
	if err != nil {
		q.stop(err)
		return fmt.Errorf("job queue: %w", err)
	}
	if requeued > 0 || failed > 0 {
		q.log.Warn("recovered jobs interrupted by a crash", "requeued", requeued, "failed", failed)
	}
	for i := 0; i < q.cfg.Workers; i++ {
		q.wg.Add(1)
		go q.worker()
	}
	q.wg.Add(1)
	go q.sweeper()
	q.signal()
	return nil
}

// Stop stops the queue gracefully: no new job is started, running jobs'
// contexts are cancelled and each is stored back as enqueued (unless it
// finished meanwhile), so the next Start runs them again. It waits for the
// workers until ctx is done; a job whose handler has not returned by then
// stays running in the store, for RecoverJobs.
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.Lock()
	q.stopped = true
	if q.stop != nil {
		q.stop(errShutdown)
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() {
		q.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("job queue stop: %w", ctx.Err())
	}
}

// signal wakes an idle worker, if any.
func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// NewID returns a fresh job id, for a caller that records the id of a job
// elsewhere before it submits it (so the job cannot run unrecorded).
func NewID() (string, error) { return meta.NewJobID() }

// Submit validates and stores a new job as enqueued, then wakes a worker.
// j.ID, when set (see NewID), is the job's id; otherwise one is made.
// j.Kind must have a handler; ID, State, timestamps and result fields are
// set by the queue. Beyond the tenant's active-job limit it returns a
// *LimitError.
func (q *Queue) Submit(ctx context.Context, j meta.Job) (meta.Job, error) {
	q.mu.Lock()
	_, ok := q.handlers[j.Kind]
	lim := q.limits[j.Kind]
	stopped := q.stopped
	q.mu.Unlock()
	if stopped {
		return meta.Job{}, fmt.Errorf("submit: %w", ErrStopped)
	}
	if !ok {
		return meta.Job{}, fmt.Errorf("submit: %w %q", ErrUnknownKind, j.Kind)
	}
	now := q.now()
	adm := meta.Admission{MaxActive: q.cfg.PerTenantActive} // 0 = unlimited
	switch {
	case lim.Active < 0:
		adm.MaxActive = 0
	case lim.Active > 0:
		adm.MaxActive = lim.Active
	}
	if lim.PerWindow > 0 && lim.Window > 0 {
		adm.MaxRecent, adm.Since = lim.PerWindow, now.Add(-lim.Window)
	}
	j = meta.Job{ID: j.ID, Kind: j.Kind, Owner: j.Owner, Tenant: j.Tenant, Request: j.Request,
		State: meta.JobEnqueued, CreatedAt: now}
	stored, err := q.store.CreateJob(ctx, j, adm)
	if errors.Is(err, meta.ErrActiveLimit) {
		return meta.Job{}, &LimitError{Tenant: j.Tenant, Limit: adm.MaxActive}
	}
	if errors.Is(err, meta.ErrRateLimit) {
		le := &LimitError{Tenant: j.Tenant, Limit: adm.MaxRecent, Window: lim.Window}
		recent, lerr := q.store.ListJobs(ctx, meta.JobFilter{Tenant: &j.Tenant, Kind: j.Kind, CreatedSince: adm.Since, Limit: 1})
		if lerr == nil && len(recent) == 1 {
			le.RetryAt = recent[0].CreatedAt.Add(lim.Window)
		}
		return meta.Job{}, le
	}
	if err != nil {
		return meta.Job{}, fmt.Errorf("submit: %w", err)
	}
	q.log.Debug("job enqueued", "job", stored.ID, "kind", stored.Kind, "tenant", stored.Tenant)
	q.changed(stored)
	q.signal()
	return stored, nil
}

// Get returns a job's stored record (meta.ErrNotFound if none).
func (q *Queue) Get(ctx context.Context, id string) (meta.Job, error) {
	return q.store.GetJob(ctx, id)
}

// List lists stored jobs, oldest first.
func (q *Queue) List(ctx context.Context, f meta.JobFilter) ([]meta.Job, error) {
	return q.store.ListJobs(ctx, f)
}

// Cancel cancels a job. An enqueued job becomes cancelled at once. A
// running job's context is cancelled; Cancel then waits (until ctx is
// done) for the worker to store it as cancelled and remove its files. The
// job's final record is returned. Cancelling a cancelled job returns it;
// a completed, failed or expired one gives ErrFinished.
func (q *Queue) Cancel(ctx context.Context, id string) (meta.Job, error) {
	for {
		q.mu.Lock()
		if r, ok := q.running[id]; ok {
			r.cancel(errCancelled)
			q.mu.Unlock()
			select {
			case <-r.done:
				return q.store.GetJob(ctx, id)
			case <-ctx.Done():
				return meta.Job{}, fmt.Errorf("cancel job %q: %w", id, ctx.Err())
			}
		}
		// Not running here. Holding mu, no worker can claim it meanwhile.
		j, err := q.store.GetJob(ctx, id)
		if err != nil {
			q.mu.Unlock()
			return meta.Job{}, fmt.Errorf("cancel: %w", err)
		}
		switch j.State {
		case meta.JobCancelled:
			q.mu.Unlock()
			return j, nil
		case meta.JobRunning:
			q.mu.Unlock()
			return meta.Job{}, fmt.Errorf("cancel job %q: %w", id, ErrNotRunningHere)
		case meta.JobEnqueued:
			now := q.now()
			j.State, j.Error, j.FinishedAt = meta.JobCancelled, "cancelled before it started", &now
			err := q.store.UpdateJob(ctx, j)
			q.mu.Unlock()
			if errors.Is(err, meta.ErrJobConflict) {
				continue // another process moved it; look again
			}
			if err != nil {
				return meta.Job{}, fmt.Errorf("cancel: %w", err)
			}
			q.log.Info("job cancelled", "job", id, "state_was", meta.JobEnqueued)
			q.changed(j)
			return j, nil
		default:
			q.mu.Unlock()
			return meta.Job{}, fmt.Errorf("cancel job %q: %w (%s)", id, ErrFinished, j.State)
		}
	}
}

// worker claims and runs jobs until the queue stops.
func (q *Queue) worker() {
	defer q.wg.Done()
	timer := time.NewTimer(q.cfg.PollInterval)
	defer timer.Stop()
	for q.ctx.Err() == nil {
		j, r, err := q.claim()
		if err != nil {
			q.log.Error("claiming a job", "err", err)
		}
		if r != nil {
			q.signal() // there may be more: let another idle worker look
			q.execute(j, r)
			continue
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(q.cfg.PollInterval)
		select {
		case <-q.ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

// claim moves the oldest enqueued job to running; nil run if there is none.
func (q *Queue) claim() (meta.Job, *run, error) {
	ctx := context.WithoutCancel(q.ctx)
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.ctx.Err() == nil {
		list, err := q.store.ListJobs(ctx, meta.JobFilter{States: []meta.JobState{meta.JobEnqueued}, Limit: 1})
		if err != nil || len(list) == 0 {
			return meta.Job{}, nil, err
		}
		j := list[0]
		now := q.now()
		j.State, j.StartedAt, j.Error = meta.JobRunning, &now, ""
		if err := q.store.UpdateJob(ctx, j); errors.Is(err, meta.ErrJobConflict) {
			continue // another process took or cancelled it
		} else if err != nil {
			return meta.Job{}, nil, err
		}
		runCtx, cancel := context.WithCancelCause(q.ctx)
		r := &run{started: now, ctx: runCtx, cancel: cancel, done: make(chan struct{})}
		q.running[j.ID] = r
		return j, r, nil
	}
	return meta.Job{}, nil, nil
}

// execute runs a claimed job and stores its outcome.
func (q *Queue) execute(j meta.Job, r *run) {
	base := r.ctx
	defer func() {
		r.cancel(nil)
		q.mu.Lock()
		delete(q.running, j.ID)
		q.mu.Unlock()
		close(r.done)
	}()
	log := q.log.With("job", j.ID, "kind", j.Kind, "tenant", j.Tenant)
	log.Info("job started", "attempts", j.Attempts)
	dir := q.ResultDir(j.ID)

	q.mu.Lock()
	h, ok := q.handlers[j.Kind]
	q.mu.Unlock()
	var res Result
	var err error
	if !ok {
		err = fmt.Errorf("no handler is registered for job kind %q", j.Kind)
	} else if err = prepareDir(dir); err == nil {
		ctx, cancel := context.WithTimeoutCause(base, q.cfg.RunTimeout, errRunTimeout)
		res, err = call(ctx, h, j, dir, log)
		cause := context.Cause(ctx) // before cancel(), which would set its own
		cancel()
		if cause != nil {
			switch {
			case errors.Is(cause, errCancelled):
				err = errCancelled // a cancel wins even over a late success
			case err != nil && errors.Is(cause, errRunTimeout):
				err = errRunTimeout
			case err != nil:
				err = errShutdown // Stop, or Start's ctx ended
			}
		}
	}
	if err == nil {
		res, err = q.checkResult(dir, res)
	}

	now := q.now()
	out := j
	switch {
	case err == nil:
		exp := now.Add(q.resultTTL(j.Kind))
		out.State, out.FinishedAt, out.ExpiresAt = meta.JobCompleted, &now, &exp
		out.ResultPath, out.ResultRows, out.ResultBytes = res.Path, res.Rows, res.Bytes
	case errors.Is(err, errShutdown):
		out.State, out.StartedAt = meta.JobEnqueued, nil
	case errors.Is(err, errCancelled):
		out.State, out.FinishedAt, out.Error = meta.JobCancelled, &now, "cancelled while running"
	case errors.Is(err, errRunTimeout):
		out.State, out.FinishedAt, out.Error = meta.JobFailed, &now, "ran longer than "+q.cfg.RunTimeout.String()
	default:
		out.State, out.FinishedAt, out.Error = meta.JobFailed, &now, err.Error()
	}
	if out.State != meta.JobCompleted {
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			log.Error("removing a job's partial result", "dir", dir, "err", rmErr)
		}
	}
	if uerr := q.store.UpdateJob(context.WithoutCancel(base), out); uerr != nil {
		// The process is failing to reach its own store; RecoverJobs will
		// deal with the job at the next start.
		log.Error("storing a job's outcome", "state", out.State, "err", uerr)
		return
	}
	log.Info("job "+string(out.State), "error", out.Error, "rows", out.ResultRows, "bytes", out.ResultBytes,
		"elapsed", now.Sub(r.started))
	q.changed(out)
}

// call runs the handler, turning a panic into an error.
func call(ctx context.Context, h Handler, j meta.Job, dir string, log *slog.Logger) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("job handler panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return h(ctx, j, dir)
}

// prepareDir empties a job's result directory (a crashed earlier attempt
// may have left files) and creates it.
func prepareDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("result directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("result directory: %w", err)
	}
	return nil
}

// checkResult makes the result path absolute and checks the file is inside
// dir and exists; a missing Bytes is taken from the file.
func (q *Queue) checkResult(dir string, res Result) (Result, error) {
	if res.Path == "" {
		return res, errors.New("the job's handler reported no result file")
	}
	if !filepath.IsAbs(res.Path) {
		res.Path = filepath.Join(dir, res.Path)
	}
	res.Path = filepath.Clean(res.Path)
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return res, fmt.Errorf("result directory: %w", err)
	}
	absPath, err := filepath.Abs(res.Path)
	if err != nil {
		return res, fmt.Errorf("result file: %w", err)
	}
	if !strings.HasPrefix(absPath, absDir+string(filepath.Separator)) {
		return res, fmt.Errorf("the job's handler wrote its result outside its result directory: %s", res.Path)
	}
	st, err := os.Stat(absPath)
	if err != nil {
		return res, fmt.Errorf("result file: %w", err)
	}
	res.Path = absPath
	if res.Bytes == 0 {
		res.Bytes = st.Size()
	}
	return res, nil
}

// sweeper runs Sweep periodically until the queue stops.
func (q *Queue) sweeper() {
	defer q.wg.Done()
	t := time.NewTicker(q.cfg.SweepInterval)
	defer t.Stop()
	for {
		if err := q.Sweep(q.ctx); err != nil && q.ctx.Err() == nil {
			q.log.Error("sweeping jobs", "err", err)
		}
		select {
		case <-q.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep does the queue's housekeeping by the queue's clock:
//
//   - completed jobs whose ExpiresAt has passed become expired and their
//     result directory is removed;
//   - jobs running here longer than RunTimeout are stopped and failed (the
//     run's context carries the same limit in wall time; this check makes
//     it follow the injectable clock too);
//   - result directories of jobs that are gone, expired, failed or
//     cancelled (left by a crash between the store write and the removal)
//     are removed. Only directories named like job ids are considered, so
//     other users of results/ (schedule executions) are left alone.
//
// Start runs it every SweepInterval.
func (q *Queue) Sweep(ctx context.Context) error {
	now := q.now()

	q.mu.Lock()
	for _, r := range q.running {
		if now.Sub(r.started) >= q.cfg.RunTimeout {
			r.cancel(errRunTimeout)
		}
	}
	q.mu.Unlock()

	var errs []error
	due, err := q.store.ListJobs(ctx, meta.JobFilter{States: []meta.JobState{meta.JobCompleted}, ExpiresBefore: now})
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	for _, j := range due {
		j.State = meta.JobExpired
		if err := q.store.UpdateJob(ctx, j); err != nil {
			if !errors.Is(err, meta.ErrJobConflict) {
				errs = append(errs, err)
			}
			continue
		}
		if err := os.RemoveAll(q.ResultDir(j.ID)); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
		}
		q.log.Info("job result expired", "job", j.ID)
		q.changed(j)
	}

	entries, err := os.ReadDir(filepath.Join(q.dataDir, ResultsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("sweep: %w", err))
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), meta.JobIDPrefix) {
			continue
		}
		j, err := q.store.GetJob(ctx, e.Name())
		switch {
		case errors.Is(err, meta.ErrNotFound):
		case err != nil:
			errs = append(errs, err)
			continue
		case j.State == meta.JobExpired || j.State == meta.JobFailed || j.State == meta.JobCancelled:
		default:
			continue
		}
		if err := os.RemoveAll(filepath.Join(q.dataDir, ResultsDir, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
		}
	}
	return errors.Join(errs...)
}
