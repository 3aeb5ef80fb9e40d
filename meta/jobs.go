package meta

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// JobIDPrefix begins every job id.
const JobIDPrefix = "job_"

// JobState is where a job is in its life.
//
//	enqueued ──► running ──► completed ──► expired
//	   │            │  └───► failed
//	   │            ├──────► cancelled
//	   │            └──────► enqueued   (handed back on shutdown or recovery)
//	   ├──► cancelled
//	   └──► failed
type JobState string

// Job states.
const (
	JobEnqueued  JobState = "enqueued"
	JobRunning   JobState = "running"
	JobCompleted JobState = "completed"
	JobFailed    JobState = "failed"
	JobCancelled JobState = "cancelled"
	JobExpired   JobState = "expired"
)

// JobStates lists every state.
var JobStates = []JobState{JobEnqueued, JobRunning, JobCompleted, JobFailed, JobCancelled, JobExpired}

// Active reports whether a job in this state counts against its tenant's
// active-job limit (enqueued or running).
func (s JobState) Active() bool { return s == JobEnqueued || s == JobRunning }

// Terminal reports whether no further transition is possible except
// completed → expired: completed, failed, cancelled, expired.
func (s JobState) Terminal() bool { return !s.Active() }

// ValidTransition reports whether a job may move from one state to another:
//
//	enqueued → running | cancelled | failed
//	running  → completed | failed | cancelled | enqueued
//	completed → expired
//
// Staying in the same state is not a transition and is not valid.
func ValidTransition(from, to JobState) bool {
	switch from {
	case JobEnqueued:
		return to == JobRunning || to == JobCancelled || to == JobFailed
	case JobRunning:
		return to == JobCompleted || to == JobFailed || to == JobCancelled || to == JobEnqueued
	case JobCompleted:
		return to == JobExpired
	}
	return false
}

// Job is an asynchronous unit of work and its outcome. The queue does not
// interpret Kind or Request: the handler registered for Kind does.
type Job struct {
	ID     string // "job_" + 16 hex characters
	Kind   string // e.g. "insights.report", "analytics.query", "console.sql"
	Owner  string // id of the key that submitted it
	Tenant string // scope the per-tenant limits count by, e.g. "account:pub-contoso"; "" for admin
	State  JobState
	Error  string // why it failed or was cancelled; "" otherwise
	// Request is what the kind's handler needs to rebuild and run the work,
	// after a restart too: JSON, or empty.
	Request     json.RawMessage
	ResultPath  string // absolute path of the result file once completed
	ResultRows  int64
	ResultBytes int64
	// Attempts counts runs interrupted by a crash (see RecoverJobs). A
	// graceful shutdown that hands a job back does not count.
	Attempts   int
	CreatedAt  time.Time
	StartedAt  *time.Time // last start; nil while enqueued
	FinishedAt *time.Time // when it reached completed, failed or cancelled
	ExpiresAt  *time.Time // when a completed job's result is removed
}

// JobFilter selects jobs for ListJobs. Zero fields do not filter.
type JobFilter struct {
	Owner  string
	Tenant *string // nil: any tenant; pointer so that the admin tenant "" can be asked for
	Kind   string
	States []JobState
	// ExpiresBefore, when set, keeps jobs whose ExpiresAt is at or before it.
	ExpiresBefore time.Time
	// CreatedSince, when set, keeps jobs created at or after it.
	CreatedSince time.Time
	// Limit caps the number of jobs returned; 0 = all.
	Limit int
}

// ErrJobConflict is returned (wrapped) by UpdateJob when the stored job is
// not in a state from which the requested state may be reached — usually
// because something else moved it first (a cancel racing a worker).
var ErrJobConflict = errors.New("job state conflict")

// ErrActiveLimit is returned (wrapped) by CreateJob when the job's tenant
// already has the maximum number of enqueued or running jobs.
var ErrActiveLimit = errors.New("active job limit reached")

// ErrRateLimit is returned (wrapped) by CreateJob when the job's tenant
// already created the maximum number of jobs of its kind in the window.
var ErrRateLimit = errors.New("job submission rate limit reached")

// Admission bounds the jobs a tenant may have; CreateJob checks it in the
// same write transaction as the insert, so concurrent submissions cannot
// both slip under a limit. Jobs of the admin tenant "" are not checked.
// Zero fields do not limit.
type Admission struct {
	// MaxActive caps the tenant's enqueued and running jobs (any kind).
	MaxActive int
	// MaxRecent caps the tenant's jobs of the new job's kind created at or
	// after Since (any state): a submission rate.
	MaxRecent int
	Since     time.Time
}

// Jobs stores asynchronous jobs.
type Jobs interface {
	// CreateJob stores a new job and returns the stored record. A missing
	// ID is generated, a missing State is enqueued, a zero CreatedAt is
	// now. When j.Tenant is not "" (admin), adm is checked in the same
	// transaction: ErrActiveLimit if the tenant already has adm.MaxActive
	// enqueued or running jobs, ErrRateLimit if it already created
	// adm.MaxRecent jobs of j.Kind since adm.Since.
	CreateJob(ctx context.Context, j Job, adm Admission) (Job, error)
	// GetJob returns a job by id; ErrNotFound if there is none.
	GetJob(ctx context.Context, id string) (Job, error)
	// ListJobs lists the jobs matching f, oldest first.
	ListJobs(ctx context.Context, f JobFilter) ([]Job, error)
	// UpdateJob stores j's mutable fields (State, Error, Result*, Attempts,
	// StartedAt, FinishedAt, ExpiresAt) if the stored state may move to
	// j.State (ValidTransition); ErrJobConflict otherwise, ErrNotFound if
	// there is no such job. Kind, Owner, Tenant, Request and CreatedAt are
	// fixed at creation.
	UpdateJob(ctx context.Context, j Job) error
	// RecoverJobs is run when the process that runs jobs starts: every
	// running job was interrupted (the previous process died), so each goes
	// back to enqueued with Attempts+1 — or, once Attempts reaches
	// maxAttempts (> 0), to failed with the reason
	// "interrupted N times; giving up".
	RecoverJobs(ctx context.Context, now time.Time, maxAttempts int) (requeued, failed int, err error)
	// CountJobsByState counts the stored jobs in each state, in one
	// query (for metrics). Every state of JobStates is in the map, 0 when
	// no job is in it.
	CountJobsByState(ctx context.Context) (map[JobState]int, error)
}

var _ Jobs = (*SQLite)(nil)

func newJobID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random job id: %w", err)
	}
	return JobIDPrefix + hex.EncodeToString(b), nil
}

func validState(s JobState) bool {
	for _, v := range JobStates {
		if s == v {
			return true
		}
	}
	return false
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return fmtTime(*t)
}

func scanNullTime(ns sql.NullString) (*time.Time, error) {
	if !ns.Valid {
		return nil, nil
	}
	t, err := parseTime(ns.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateJob implements Jobs.
func (s *SQLite) CreateJob(ctx context.Context, j Job, adm Admission) (Job, error) {
	if strings.TrimSpace(j.Kind) == "" {
		return Job{}, fmt.Errorf("create job: %w", &ValidationError{"kind", "a job needs a kind"})
	}
	if j.State == "" {
		j.State = JobEnqueued
	}
	if !validState(j.State) {
		return Job{}, fmt.Errorf("create job: %w", &ValidationError{"state", fmt.Sprintf("unknown job state %q", j.State)})
	}
	if len(j.Request) > 0 && !json.Valid(j.Request) {
		return Job{}, fmt.Errorf("create job: %w", &ValidationError{"request", "a job's request must be JSON"})
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = s.clock()
	}
	j.CreatedAt = j.CreatedAt.UTC()
	genID := j.ID == ""
	for attempt := 0; ; attempt++ {
		if genID {
			id, err := newJobID()
			if err != nil {
				return Job{}, fmt.Errorf("create job: %w", err)
			}
			j.ID = id
		}
		err := s.insertJob(ctx, j, adm)
		if err == nil {
			return j, nil
		}
		if !genID || !isConstraint(err) || attempt == 3 {
			return Job{}, fmt.Errorf("create job: %w", err)
		}
	}
}

func (s *SQLite) insertJob(ctx context.Context, j Job, adm Admission) error {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: count and insert under the write lock
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if adm.MaxRecent > 0 && j.Tenant != "" {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE tenant = ? AND kind = ? AND created_at >= ?`,
			j.Tenant, j.Kind, fmtTime(adm.Since)).Scan(&n); err != nil {
			return err
		}
		if n >= adm.MaxRecent {
			return fmt.Errorf("tenant %q created %d %s jobs since %s: %w", j.Tenant, n, j.Kind, fmtTime(adm.Since), ErrRateLimit)
		}
	}
	if adm.MaxActive > 0 && j.Tenant != "" && j.State.Active() {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE tenant = ? AND state IN (?, ?)`,
			j.Tenant, JobEnqueued, JobRunning).Scan(&n); err != nil {
			return err
		}
		if n >= adm.MaxActive {
			return fmt.Errorf("tenant %q has %d active jobs: %w", j.Tenant, n, ErrActiveLimit)
		}
	}
	var req any
	if len(j.Request) > 0 {
		req = string(j.Request)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO jobs
		(id, kind, owner, tenant, state, error, request, result_path, result_rows, result_bytes, attempts,
		 created_at, started_at, finished_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, j.Kind, j.Owner, j.Tenant, j.State, j.Error, req, j.ResultPath, j.ResultRows, j.ResultBytes, j.Attempts,
		fmtTime(j.CreatedAt), nullTime(j.StartedAt), nullTime(j.FinishedAt), nullTime(j.ExpiresAt)); err != nil {
		return err
	}
	return tx.Commit()
}

const jobColumns = `id, kind, owner, tenant, state, error, request, result_path, result_rows, result_bytes, attempts,
	created_at, started_at, finished_at, expires_at`

func scanJob(r scanner) (Job, error) {
	var j Job
	var req sql.NullString
	var created string
	var started, finished, expires sql.NullString
	if err := r.Scan(&j.ID, &j.Kind, &j.Owner, &j.Tenant, &j.State, &j.Error, &req, &j.ResultPath, &j.ResultRows,
		&j.ResultBytes, &j.Attempts, &created, &started, &finished, &expires); err != nil {
		return Job{}, err
	}
	if req.Valid && req.String != "" {
		j.Request = json.RawMessage(req.String)
	}
	var err error
	if j.CreatedAt, err = parseTime(created); err != nil {
		return Job{}, err
	}
	if j.StartedAt, err = scanNullTime(started); err != nil {
		return Job{}, err
	}
	if j.FinishedAt, err = scanNullTime(finished); err != nil {
		return Job{}, err
	}
	if j.ExpiresAt, err = scanNullTime(expires); err != nil {
		return Job{}, err
	}
	return j, nil
}

// GetJob implements Jobs.
func (s *SQLite) GetJob(ctx context.Context, id string) (Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("job %q: %w", id, err)
	}
	return j, nil
}

// ListJobs implements Jobs. Jobs are ordered by creation time, then by
// insertion order.
func (s *SQLite) ListJobs(ctx context.Context, f JobFilter) ([]Job, error) {
	var where []string
	var args []any
	if f.Owner != "" {
		where = append(where, "owner = ?")
		args = append(args, f.Owner)
	}
	if f.Tenant != nil {
		where = append(where, "tenant = ?")
		args = append(args, *f.Tenant)
	}
	if f.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, f.Kind)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	if !f.ExpiresBefore.IsZero() {
		where = append(where, "expires_at IS NOT NULL AND expires_at <= ?")
		args = append(args, fmtTime(f.ExpiresBefore))
	}
	if !f.CreatedSince.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, fmtTime(f.CreatedSince))
	}
	q := `SELECT ` + jobColumns + ` FROM jobs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at, rowid`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

// UpdateJob implements Jobs. The stored state is read and the row written
// in one write transaction, so two writers racing to move the same job
// (a cancel and a worker) cannot both succeed.
func (s *SQLite) UpdateJob(ctx context.Context, j Job) error {
	if !validState(j.State) {
		return fmt.Errorf("update job %q: unknown state %q", j.ID, j.State)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update job %q: %w", j.ID, err)
	}
	defer tx.Rollback()
	var cur JobState
	err = tx.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = ?`, j.ID).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("update job %q: %w", j.ID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update job %q: %w", j.ID, err)
	}
	if !ValidTransition(cur, j.State) {
		return fmt.Errorf("update job %q: cannot move from %s to %s: %w", j.ID, cur, j.State, ErrJobConflict)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, error = ?, result_path = ?, result_rows = ?,
		result_bytes = ?, attempts = ?, started_at = ?, finished_at = ?, expires_at = ? WHERE id = ?`,
		j.State, j.Error, j.ResultPath, j.ResultRows, j.ResultBytes, j.Attempts,
		nullTime(j.StartedAt), nullTime(j.FinishedAt), nullTime(j.ExpiresAt), j.ID); err != nil {
		return fmt.Errorf("update job %q: %w", j.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update job %q: %w", j.ID, err)
	}
	return nil
}

// RecoverJobs implements Jobs, in one write transaction. It must run only
// in the one process that runs jobs for this store, before it starts
// workers: a running job it finds is taken to be an orphan.
func (s *SQLite) RecoverJobs(ctx context.Context, now time.Time, maxAttempts int) (requeued, failed int, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("recover jobs: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, attempts FROM jobs WHERE state = ?`, JobRunning)
	if err != nil {
		return 0, 0, fmt.Errorf("recover jobs: %w", err)
	}
	type orphan struct {
		id       string
		attempts int
	}
	var orphans []orphan
	for rows.Next() {
		var o orphan
		if err := rows.Scan(&o.id, &o.attempts); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("recover jobs: %w", err)
		}
		orphans = append(orphans, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("recover jobs: %w", err)
	}
	ts := fmtTime(now)
	for _, o := range orphans {
		n := o.attempts + 1
		if maxAttempts > 0 && n >= maxAttempts {
			_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = ?, error = ?, attempts = ?, finished_at = ? WHERE id = ?`,
				JobFailed, fmt.Sprintf("interrupted %d times; giving up", n), n, ts, o.id)
			failed++
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = ?, attempts = ?, started_at = NULL WHERE id = ?`,
				JobEnqueued, n, o.id)
			requeued++
		}
		if err != nil {
			return 0, 0, fmt.Errorf("recover job %q: %w", o.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("recover jobs: %w", err)
	}
	return requeued, failed, nil
}

// CountJobsByState implements Jobs with one GROUP BY over the jobs table.
func (s *SQLite) CountJobsByState(ctx context.Context) (map[JobState]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	out := make(map[JobState]int, len(JobStates))
	for _, st := range JobStates {
		out[st] = 0
	}
	for rows.Next() {
		var st JobState
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return out, nil
}
