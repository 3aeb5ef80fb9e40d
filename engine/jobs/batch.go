package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quarry/quarry/meta"
)

// Batches of jobs. Submit stores one job per write transaction; a caller
// with many jobs at once (the report scheduler: every report due at the
// same instant) uses SubmitMany, or Prepare and Enqueued to store the jobs
// in a transaction of its own together with its own records, so that a
// crash leaves both or neither.

// jobCreator is a store that can insert many jobs in one transaction
// (meta.SQLite.CreateJobs).
type jobCreator interface {
	CreateJobs(ctx context.Context, js []meta.Job, adm meta.Admission) ([]meta.Job, error)
}

// admission is the meta.Admission Submit checks for a kind at now.
func (q *Queue) admission(lim Limits, now time.Time) meta.Admission {
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
	return adm
}

// check is Submit's check of a kind: the queue runs and has a handler for
// it. It returns the kind's limits.
func (q *Queue) check(kind string) (Limits, error) {
	q.mu.Lock()
	_, ok := q.handlers[kind]
	lim := q.limits[kind]
	stopped := q.stopped
	q.mu.Unlock()
	if stopped {
		return Limits{}, ErrStopped
	}
	if !ok {
		return Limits{}, fmt.Errorf("%w %q", ErrUnknownKind, kind)
	}
	return lim, nil
}

// ErrLimitedKind: Prepare was given a job of a kind the per-tenant limits
// apply to; such jobs must be admitted by Submit or SubmitMany.
var ErrLimitedKind = errors.New("job kind has per-tenant limits")

// Prepare makes the records of new jobs for a caller that stores them
// itself, in its own write transaction (meta.SQLite.RecordDueRuns): each
// gets a fresh ID, the state enqueued and the queue's now as CreatedAt;
// Kind, Owner, Tenant and Request are kept, the rest cleared. Every kind
// needs a handler and no per-tenant limit (see Unlimited), since the
// caller's transaction does not check them. Once they are stored, call
// Enqueued.
func (q *Queue) Prepare(js []meta.Job) ([]meta.Job, error) {
	now := q.now()
	out := make([]meta.Job, len(js))
	for i, j := range js {
		lim, err := q.check(j.Kind)
		if err != nil {
			return nil, fmt.Errorf("prepare jobs: %w", err)
		}
		if adm := q.admission(lim, now); adm != (meta.Admission{}) {
			return nil, fmt.Errorf("prepare jobs: %w: %q (submit its jobs with Submit or SubmitMany)", ErrLimitedKind, j.Kind)
		}
		id, err := meta.NewJobID()
		if err != nil {
			return nil, fmt.Errorf("prepare jobs: %w", err)
		}
		out[i] = meta.Job{ID: id, Kind: j.Kind, Owner: j.Owner, Tenant: j.Tenant, Request: j.Request,
			State: meta.JobEnqueued, CreatedAt: now}
	}
	return out, nil
}

// Enqueued tells the queue that jobs made by Prepare are stored: the
// observers hear of each (as after Submit) and the workers wake.
func (q *Queue) Enqueued(js []meta.Job) {
	for _, j := range js {
		q.changed(j)
	}
	if len(js) > 0 {
		q.log.Debug("jobs enqueued", "jobs", len(js))
		for i := 0; i < q.cfg.Workers; i++ {
			q.signal()
		}
	}
}

// SubmitMany is Submit for many jobs of one kind, stored in one write
// transaction when the store can (meta.SQLite.CreateJobs), all or none:
// beyond a per-tenant limit it returns a *LimitError and stores nothing.
func (q *Queue) SubmitMany(ctx context.Context, js []meta.Job) ([]meta.Job, error) {
	if len(js) == 0 {
		return []meta.Job{}, nil
	}
	kind := js[0].Kind
	for _, j := range js {
		if j.Kind != kind {
			return nil, fmt.Errorf("submit: one kind per batch (%q and %q)", kind, j.Kind)
		}
	}
	lim, err := q.check(kind)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	now := q.now()
	adm := q.admission(lim, now)
	batch := make([]meta.Job, len(js))
	for i, j := range js {
		batch[i] = meta.Job{Kind: j.Kind, Owner: j.Owner, Tenant: j.Tenant, Request: j.Request,
			State: meta.JobEnqueued, CreatedAt: now}
	}
	var stored []meta.Job
	failed := -1 // index of the refused job
	if bc, ok := q.store.(jobCreator); ok {
		stored, err = bc.CreateJobs(ctx, batch, adm)
		var be *meta.BatchError
		if errors.As(err, &be) {
			failed = be.Index
		}
	} else {
		// One by one: the limits still hold per job, but the ones stored
		// before a refusal stay stored (and are announced).
		for i, j := range batch {
			s, cerr := q.store.CreateJob(ctx, j, adm)
			if cerr != nil {
				err, failed = cerr, i
				break
			}
			stored = append(stored, s)
		}
		q.Enqueued(stored)
		if err == nil {
			return stored, nil
		}
	}
	var tenant string
	if failed >= 0 {
		tenant = batch[failed].Tenant
	}
	switch {
	case errors.Is(err, meta.ErrActiveLimit):
		return nil, &LimitError{Tenant: tenant, Limit: adm.MaxActive}
	case errors.Is(err, meta.ErrRateLimit):
		return nil, &LimitError{Tenant: tenant, Limit: adm.MaxRecent, Window: lim.Window}
	case err != nil:
		return nil, fmt.Errorf("submit: %w", err)
	}
	q.Enqueued(stored)
	return stored, nil
}
