package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// NewJobID returns a fresh job id ("job_" + 16 hex characters), for
// callers that store a job in their own transaction (see
// engine/jobs.Queue.Prepare).
func NewJobID() (string, error) { return newJobID() }

// checkJob validates a job to be stored and fills in its defaults, as
// CreateJob does; it also needs an ID.
func (s *SQLite) checkJob(j Job) (Job, error) {
	if strings.TrimSpace(j.Kind) == "" {
		return Job{}, &ValidationError{"kind", "a job needs a kind"}
	}
	if j.ID == "" {
		id, err := newJobID()
		if err != nil {
			return Job{}, err
		}
		j.ID = id
	}
	if j.State == "" {
		j.State = JobEnqueued
	}
	if !validState(j.State) {
		return Job{}, &ValidationError{"state", fmt.Sprintf("unknown job state %q", j.State)}
	}
	if len(j.Request) > 0 && !json.Valid(j.Request) {
		return Job{}, &ValidationError{"request", "a job's request must be JSON"}
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = s.clock()
	}
	j.CreatedAt = j.CreatedAt.UTC()
	return j, nil
}

const insertJobStmt = `INSERT INTO jobs
	(id, kind, owner, tenant, state, error, request, result_path, result_rows, result_bytes, attempts,
	 created_at, started_at, finished_at, expires_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func jobArgs(j Job) []any {
	var req any
	if len(j.Request) > 0 {
		req = string(j.Request)
	}
	return []any{j.ID, j.Kind, j.Owner, j.Tenant, j.State, j.Error, req, j.ResultPath, j.ResultRows, j.ResultBytes, j.Attempts,
		fmtTime(j.CreatedAt), nullTime(j.StartedAt), nullTime(j.FinishedAt), nullTime(j.ExpiresAt)}
}

// admitJob checks adm for one job inside tx, counting the jobs the
// transaction already inserted (see Admission).
func admitJob(ctx context.Context, tx *sql.Tx, j Job, adm Admission) error {
	if j.Tenant == "" {
		return nil
	}
	if adm.MaxRecent > 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE tenant = ? AND kind = ? AND created_at >= ?`,
			j.Tenant, j.Kind, fmtTime(adm.Since)).Scan(&n); err != nil {
			return err
		}
		if n >= adm.MaxRecent {
			return fmt.Errorf("tenant %q created %d %s jobs since %s: %w", j.Tenant, n, j.Kind, fmtTime(adm.Since), ErrRateLimit)
		}
	}
	if adm.MaxActive > 0 && j.State.Active() {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE tenant = ? AND state IN (?, ?)`,
			j.Tenant, JobEnqueued, JobRunning).Scan(&n); err != nil {
			return err
		}
		if n >= adm.MaxActive {
			return fmt.Errorf("tenant %q has %d active jobs: %w", j.Tenant, n, ErrActiveLimit)
		}
	}
	return nil
}

// BatchError is CreateJobs' refusal of the job at Index of its batch
// (nothing of the batch is stored).
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("job %d of the batch: %v", e.Index, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// CreateJobs stores many jobs in one write transaction (one commit, one
// fsync), all or none, and returns the stored records. Each job is
// completed and validated as by CreateJob (a missing ID is generated),
// and adm is checked for each in turn, counting the ones before it in the
// batch: ErrActiveLimit or ErrRateLimit (wrapped, in a *BatchError naming
// the job) store nothing.
func (s *SQLite) CreateJobs(ctx context.Context, js []Job, adm Admission) ([]Job, error) {
	out := make([]Job, len(js))
	for i, j := range js {
		j, err := s.checkJob(j)
		if err != nil {
			return nil, fmt.Errorf("create jobs: %w", err)
		}
		out[i] = j
	}
	if len(out) == 0 {
		return out, nil
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: counts and inserts under the write lock
	if err != nil {
		return nil, fmt.Errorf("create jobs: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, insertJobStmt)
	if err != nil {
		return nil, fmt.Errorf("create jobs: %w", err)
	}
	defer stmt.Close()
	for i, j := range out {
		if err := admitJob(ctx, tx, j, adm); err != nil {
			return nil, fmt.Errorf("create jobs: %w", &BatchError{Index: i, Err: err})
		}
		if _, err := stmt.ExecContext(ctx, jobArgs(j)...); err != nil {
			return nil, fmt.Errorf("create job %q: %w", j.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("create jobs: %w", err)
	}
	return out, nil
}
