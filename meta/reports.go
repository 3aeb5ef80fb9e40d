package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/quarry/quarry/planner"
)

// ReportStatus is a report's state (the public API's ReportStatus).
type ReportStatus string

// Report statuses.
const (
	ReportActive   ReportStatus = "Active"
	ReportPaused   ReportStatus = "Paused"
	ReportInactive ReportStatus = "Inactive"
)

// Report is a scheduled (or run-once, ExecuteNow) report: a query run
// into a CSV or TSV file, once or on a recurrence.
//
// Like a saved query it belongs to a principal (Tenant and User); Owner
// records the creating key and Scope the row scope every execution runs
// with, so executions need not look the key up again.
type Report struct {
	ID                 string // lower-case UUID, the public reportId
	Name               string
	Description        string
	QueryID            string
	Query              string // snapshot of the query text at creation
	Owner              string // id of the key that created it
	User               string
	Tenant             string // the key's scope string; "" for admin keys
	Scope              planner.Scope
	CreatedAt          time.Time
	ModifiedAt         *time.Time
	StartTime          *time.Time
	RecurrenceInterval int  // hours; 0 for ExecuteNow reports
	RecurrenceCount    *int // nil: not given (EndTime bounds the schedule)
	EndTime            *time.Time
	Format             string // "csv" or "tsv"
	CallbackURL        string
	CallbackMethod     string // "GET" or "POST"
	ExecuteNow         bool
	QueryStartTime     *time.Time
	QueryEndTime       *time.Time
	Status             ReportStatus
	// LastDueAt is the latest due time of the recurrence the scheduler has
	// handled (run, or skipped while paused or down); nil before the
	// first. See engine/schedule.
	LastDueAt *time.Time
}

// ReportFilter selects reports for ListReports. Zero fields do not filter.
type ReportFilter struct {
	IDs     []string // any of these reportIds (case-insensitive)
	Name    string   // exact name, case-insensitive
	QueryID string   // exact QueryId, case-insensitive
	// Tenant and User select a principal's reports; pointers so that the
	// admin tenant "" and the empty user can be asked for.
	Tenant *string
	User   *string
	// Statuses keeps reports in any of these statuses.
	Statuses []ReportStatus
	// Scheduled keeps recurring reports only (ExecuteNow false).
	Scheduled bool
	// Offset skips that many reports of the ordered list; Limit, when > 0,
	// returns at most that many (paging).
	Offset, Limit int
}

// ReportQuota are the per-principal limits CreateReport checks in the
// same transaction as the insert. Zero fields do not limit.
type ReportQuota struct {
	// MaxActive caps the principal's Active reports.
	MaxActive int
	// MaxExecuteNow caps the ExecuteNow reports the principal created in
	// the ExecuteNowWindow before the new report's CreatedAt. Creations
	// count, whether or not the report still exists (execute_now_log).
	MaxExecuteNow    int
	ExecuteNowWindow time.Duration
}

// Quota errors of CreateReport (wrapped).
var (
	ErrReportQuota     = errors.New("active report quota exceeded")
	ErrExecuteNowQuota = errors.New("ExecuteNow report quota exceeded")
)

// Reports stores reports.
type Reports interface {
	// CreateReport stores a new report and returns it. A missing ID is a
	// fresh random UUID, a zero CreatedAt is now, a missing Status Active.
	// The quota is counted in the same transaction as the insert
	// (ErrReportQuota, ErrExecuteNowQuota). An ExecuteNow report's
	// creation is logged for the ExecuteNow quota, and stays logged when
	// the report is deleted.
	CreateReport(ctx context.Context, r Report, quota ReportQuota) (Report, error)
	// GetReport returns a report by id (case-insensitive); ErrNotFound if
	// there is none.
	GetReport(ctx context.Context, id string) (Report, error)
	// ListReports lists the reports matching f, oldest first.
	ListReports(ctx context.Context, f ReportFilter) ([]Report, error)
	// SetReportStatus changes a report's status (and ModifiedAt);
	// ErrNotFound if there is no such report. A report that becomes
	// Active (it was not) counts against quota.MaxActive, in the same
	// transaction (ErrReportQuota).
	SetReportStatus(ctx context.Context, id string, status ReportStatus, quota ReportQuota) error
	// DeleteReport deletes a report and all its executions and returns
	// the deleted report; ErrNotFound if there is none.
	DeleteReport(ctx context.Context, id string) (Report, error)
	// UpdateReport stores r's schedule and delivery fields (Name,
	// Description, StartTime, RecurrenceInterval, RecurrenceCount,
	// EndTime, Format, CallbackURL, CallbackMethod, Status, LastDueAt) and
	// sets ModifiedAt; ErrNotFound if there is no such report. A report
	// that becomes Active (it was not) counts against quota.MaxActive, in
	// the same transaction (ErrReportQuota).
	UpdateReport(ctx context.Context, r Report, quota ReportQuota) error
	// AdvanceReport records that the scheduler handled the due time
	// lastDue of a report and, when exhausted, makes it Inactive. It
	// leaves the other fields alone, so a concurrent pause is kept.
	AdvanceReport(ctx context.Context, id string, lastDue *time.Time, exhausted bool) error
	// RecordDueRuns records a batch of the scheduler's decisions in one
	// write transaction (see DueRun) and reports, per entry, whether it
	// was recorded. An entry whose report is gone, or was changed since
	// the scheduler read it (ModifiedAt, LastDueAt or Status differ), is
	// left alone: the next tick decides again.
	RecordDueRuns(ctx context.Context, runs []DueRun) ([]bool, error)
}

// DueRun is one report's entry in RecordDueRuns: its LastDueAt moves to
// LastDue (and it becomes Inactive when Exhausted) and, when Execution is
// set, that execution and its Job are inserted, so a due run is recorded
// with its job or not at all.
type DueRun struct {
	// Report is the report as the scheduler read it.
	Report    Report
	LastDue   *time.Time
	Exhausted bool
	// Execution (with JobID = Job.ID) and Job, or both nil.
	Execution *Execution
	Job       *Job
}

// ExecutionStatus is an execution's state (the public API's executionStatus).
type ExecutionStatus string

// Execution statuses.
const (
	ExecutionPending   ExecutionStatus = "Pending"
	ExecutionRunning   ExecutionStatus = "Running"
	ExecutionPaused    ExecutionStatus = "Paused"
	ExecutionCompleted ExecutionStatus = "Completed"
	ExecutionFailed    ExecutionStatus = "Failed"
)

// ExecutionStatuses lists every status.
var ExecutionStatuses = []ExecutionStatus{ExecutionPending, ExecutionRunning, ExecutionPaused, ExecutionCompleted, ExecutionFailed}

// Execution is one run of a report.
type Execution struct {
	ID          string // lower-case UUID, the public executionId
	ReportID    string
	JobID       string // the job running it ("" until submitted)
	Status      ExecutionStatus
	Error       string // why it failed
	ScheduledAt time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
	ResultPath  string
	ResultRows  int64
	ResultBytes int64
	ExpiresAt   *time.Time // reportExpiryTime: when the download link expires
	CreatedAt   time.Time
	// CallbackStatus is the outcome of the completion callback:
	// "Succeeded" or "Failed: <reason>"; "" before it ended or without one.
	CallbackStatus string
	// CallbackPending is set while the completion callback is owed: from
	// the update that makes the execution Completed with it set (see
	// UpdateExecution) until SetExecutionCallback records the outcome. It
	// survives a restart, so the callback can be resumed.
	CallbackPending bool
	// CallbackAttempts counts the callback calls made (RecordCallbackAttempt).
	CallbackAttempts int
}

// ExecutionFilter selects executions for ListExecutions. Zero fields do
// not filter.
type ExecutionFilter struct {
	ReportIDs    []string
	ExecutionIDs []string
	JobID        string
	Statuses     []ExecutionStatus
	// CreatedAfter keeps executions created at or after it.
	CreatedAfter time.Time
	// Latest keeps only the newest matching execution of each report.
	Latest bool
	// CallbackPending keeps the executions whose callback is owed.
	CallbackPending bool
}

// Executions stores report executions.
type Executions interface {
	// CreateExecution stores a new execution (ErrNotFound if its report
	// does not exist). A missing ID is a fresh UUID, a zero CreatedAt now,
	// a missing Status Pending.
	CreateExecution(ctx context.Context, e Execution) (Execution, error)
	// UpdateExecution stores e's mutable fields (JobID, Status, Error,
	// times, result, ExpiresAt); ErrNotFound if there is none. When e is
	// Completed with CallbackPending and the stored execution was not yet
	// Completed, the callback becomes pending in the same write; the
	// pending mark is never cleared here (SetExecutionCallback does).
	UpdateExecution(ctx context.Context, e Execution) error
	// GetExecution returns an execution by id; ErrNotFound if none.
	GetExecution(ctx context.Context, id string) (Execution, error)
	// ListExecutions lists the executions matching f, newest first.
	ListExecutions(ctx context.Context, f ExecutionFilter) ([]Execution, error)
	// SetExecutionCallback records the outcome of an execution's
	// callback, which is then no longer pending; ErrNotFound if there is
	// no such execution.
	SetExecutionCallback(ctx context.Context, id, status string) error
	// RecordCallbackAttempt counts one more callback call of an execution
	// and returns the count; ErrNotFound if there is no such execution.
	RecordCallbackAttempt(ctx context.Context, id string) (int, error)
}

var (
	_ Reports    = (*SQLite)(nil)
	_ Executions = (*SQLite)(nil)
)

const reportColumns = `id, name, description, query_id, query, owner, user_id, tenant, scope, created_at, modified_at,
	start_time, recurrence_interval, recurrence_count, end_time, format, callback_url, callback_method, execute_now,
	query_start_time, query_end_time, status, last_due_at`

func scanReport(r scanner) (Report, error) {
	var (
		rep                                Report
		scope, created, status             string
		modified, start, end, qStart, qEnd sql.NullString
		lastDue                            sql.NullString
		count                              sql.NullInt64
		executeNow                         int
	)
	if err := r.Scan(&rep.ID, &rep.Name, &rep.Description, &rep.QueryID, &rep.Query, &rep.Owner, &rep.User, &rep.Tenant,
		&scope, &created, &modified, &start, &rep.RecurrenceInterval, &count, &end, &rep.Format, &rep.CallbackURL,
		&rep.CallbackMethod, &executeNow, &qStart, &qEnd, &status, &lastDue); err != nil {
		return Report{}, err
	}
	if err := json.Unmarshal([]byte(scope), &rep.Scope); err != nil {
		return Report{}, fmt.Errorf("stored scope %q: %w", scope, err)
	}
	var err error
	if rep.CreatedAt, err = parseTime(created); err != nil {
		return Report{}, err
	}
	for _, f := range []struct {
		dst **time.Time
		src sql.NullString
	}{{&rep.ModifiedAt, modified}, {&rep.StartTime, start}, {&rep.EndTime, end}, {&rep.QueryStartTime, qStart}, {&rep.QueryEndTime, qEnd}, {&rep.LastDueAt, lastDue}} {
		if *f.dst, err = scanNullTime(f.src); err != nil {
			return Report{}, err
		}
	}
	if count.Valid {
		n := int(count.Int64)
		rep.RecurrenceCount = &n
	}
	rep.ExecuteNow = executeNow != 0
	rep.Status = ReportStatus(status)
	return rep, nil
}

func newUUID() (string, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

func normID(id string) string { return strings.ToLower(strings.TrimSpace(id)) }

// CreateReport implements Reports.
func (s *SQLite) CreateReport(ctx context.Context, r Report, quota ReportQuota) (Report, error) {
	if r.ID == "" {
		id, err := newUUID()
		if err != nil {
			return Report{}, fmt.Errorf("create report: %w", err)
		}
		r.ID = id
	}
	r.ID = normID(r.ID)
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.clock()
	}
	r.CreatedAt = r.CreatedAt.UTC()
	if r.Status == "" {
		r.Status = ReportActive
	}
	if r.CallbackMethod == "" {
		r.CallbackMethod = "POST"
	}
	scope, err := json.Marshal(r.Scope)
	if err != nil {
		return Report{}, fmt.Errorf("create report: %w", err)
	}
	var count any
	if r.RecurrenceCount != nil {
		count = *r.RecurrenceCount
	}
	executeNow := 0
	if r.ExecuteNow {
		executeNow = 1
	}
	// BEGIN IMMEDIATE (see Open): the counts and the insert hold the write
	// lock together, so concurrent creates cannot overshoot a quota.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Report{}, fmt.Errorf("create report: %w", err)
	}
	defer tx.Rollback()
	if quota.MaxActive > 0 && r.Status == ReportActive {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM reports WHERE tenant = ? AND user_id = ? AND status = 'Active'`,
			r.Tenant, r.User).Scan(&n); err != nil {
			return Report{}, fmt.Errorf("create report: %w", err)
		}
		if n >= quota.MaxActive {
			return Report{}, fmt.Errorf("create report: %d of %d: %w", n, quota.MaxActive, ErrReportQuota)
		}
	}
	if quota.MaxExecuteNow > 0 && r.ExecuteNow {
		// Creations in the window count, deleted reports' too; older log
		// rows of the principal are no longer needed.
		cutoff := fmtTime(r.CreatedAt.Add(-quota.ExecuteNowWindow))
		if _, err := tx.ExecContext(ctx, `DELETE FROM execute_now_log WHERE tenant = ? AND user_id = ? AND created_at <= ?`,
			r.Tenant, r.User, cutoff); err != nil {
			return Report{}, fmt.Errorf("create report: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM execute_now_log WHERE tenant = ? AND user_id = ? AND created_at > ?`,
			r.Tenant, r.User, cutoff).Scan(&n); err != nil {
			return Report{}, fmt.Errorf("create report: %w", err)
		}
		if n >= quota.MaxExecuteNow {
			return Report{}, fmt.Errorf("create report: %d of %d: %w", n, quota.MaxExecuteNow, ErrExecuteNowQuota)
		}
	}
	if r.ExecuteNow {
		if _, err := tx.ExecContext(ctx, `INSERT INTO execute_now_log (report_id, tenant, user_id, created_at) VALUES (?, ?, ?, ?)`,
			r.ID, r.Tenant, r.User, fmtTime(r.CreatedAt)); err != nil {
			return Report{}, fmt.Errorf("create report: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO reports (`+reportColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Name, r.Description, normID(r.QueryID), r.Query, r.Owner, r.User, r.Tenant, string(scope),
		fmtTime(r.CreatedAt), nullTime(r.ModifiedAt), nullTime(r.StartTime), r.RecurrenceInterval, count,
		nullTime(r.EndTime), r.Format, r.CallbackURL, r.CallbackMethod, executeNow, nullTime(r.QueryStartTime),
		nullTime(r.QueryEndTime), string(r.Status), nullTime(r.LastDueAt)); err != nil {
		return Report{}, fmt.Errorf("create report: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Report{}, fmt.Errorf("create report: %w", err)
	}
	r.QueryID = normID(r.QueryID)
	return r, nil
}

// GetReport implements Reports.
func (s *SQLite) GetReport(ctx context.Context, id string) (Report, error) {
	r, err := scanReport(s.db.QueryRowContext(ctx, `SELECT `+reportColumns+` FROM reports WHERE id = ?`, normID(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return Report{}, fmt.Errorf("report %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Report{}, fmt.Errorf("report %q: %w", id, err)
	}
	return r, nil
}

// inList appends "col IN (?, ?, …)" for vals.
func inList(where []string, args []any, col string, vals []string) ([]string, []any) {
	ph := make([]string, len(vals))
	for i, v := range vals {
		ph[i] = "?"
		args = append(args, v)
	}
	return append(where, col+" IN ("+strings.Join(ph, ", ")+")"), args
}

// ListReports implements Reports.
func (s *SQLite) ListReports(ctx context.Context, f ReportFilter) ([]Report, error) {
	var (
		where []string
		args  []any
	)
	if f.IDs != nil {
		ids := make([]string, len(f.IDs))
		for i, id := range f.IDs {
			ids[i] = normID(id)
		}
		if len(ids) == 0 {
			return []Report{}, nil
		}
		where, args = inList(where, args, "id", ids)
	}
	if f.Name != "" {
		where, args = append(where, "name = ? COLLATE NOCASE"), append(args, f.Name)
	}
	if f.QueryID != "" {
		where, args = append(where, "query_id = ?"), append(args, normID(f.QueryID))
	}
	if f.Tenant != nil {
		where, args = append(where, "tenant = ?"), append(args, *f.Tenant)
	}
	if f.User != nil {
		where, args = append(where, "user_id = ?"), append(args, *f.User)
	}
	if f.Statuses != nil {
		if len(f.Statuses) == 0 {
			return []Report{}, nil
		}
		st := make([]string, len(f.Statuses))
		for i, v := range f.Statuses {
			st[i] = string(v)
		}
		where, args = inList(where, args, "status", st)
	}
	if f.Scheduled {
		where = append(where, "execute_now = 0")
	}
	stmt := `SELECT ` + reportColumns + ` FROM reports`
	if len(where) > 0 {
		stmt += ` WHERE ` + strings.Join(where, " AND ")
	}
	stmt += ` ORDER BY created_at, rowid`
	if f.Limit > 0 || f.Offset > 0 {
		limit := f.Limit
		if limit <= 0 {
			limit = -1 // SQLite: no limit
		}
		stmt, args = stmt+` LIMIT ? OFFSET ?`, append(args, limit, max(f.Offset, 0))
	}
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("list reports: %w", err)
	}
	defer rows.Close()
	out := []Report{}
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, fmt.Errorf("list reports: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list reports: %w", err)
	}
	return out, nil
}

// checkActivation counts the principal's Active reports, in tx, when
// report id is to become Active and is not: ErrReportQuota at
// quota.MaxActive. ErrNotFound if there is no such report.
func checkActivation(ctx context.Context, tx *sql.Tx, id string, to ReportStatus, quota ReportQuota) error {
	var tenant, user, status string
	err := tx.QueryRowContext(ctx, `SELECT tenant, user_id, status FROM reports WHERE id = ?`, id).Scan(&tenant, &user, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if to != ReportActive || ReportStatus(status) == ReportActive || quota.MaxActive <= 0 {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM reports WHERE tenant = ? AND user_id = ? AND status = 'Active'`,
		tenant, user).Scan(&n); err != nil {
		return err
	}
	if n >= quota.MaxActive {
		return fmt.Errorf("%d of %d: %w", n, quota.MaxActive, ErrReportQuota)
	}
	return nil
}

// SetReportStatus implements Reports.
func (s *SQLite) SetReportStatus(ctx context.Context, id string, status ReportStatus, quota ReportQuota) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("report %q: %w", id, err)
	}
	defer tx.Rollback()
	if err := checkActivation(ctx, tx, normID(id), status, quota); err != nil {
		return fmt.Errorf("report %q: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE reports SET status = ?, modified_at = ? WHERE id = ?`,
		string(status), fmtTime(s.clock()), normID(id)); err != nil {
		return fmt.Errorf("report %q: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("report %q: %w", id, err)
	}
	return nil
}

// UpdateReport implements Reports.
func (s *SQLite) UpdateReport(ctx context.Context, r Report, quota ReportQuota) error {
	var count any
	if r.RecurrenceCount != nil {
		count = *r.RecurrenceCount
	}
	if r.CallbackMethod == "" {
		r.CallbackMethod = "POST"
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update report %q: %w", r.ID, err)
	}
	defer tx.Rollback()
	if err := checkActivation(ctx, tx, normID(r.ID), r.Status, quota); err != nil {
		return fmt.Errorf("update report %q: %w", r.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE reports SET name = ?, description = ?, start_time = ?, recurrence_interval = ?,
		recurrence_count = ?, end_time = ?, format = ?, callback_url = ?, callback_method = ?, status = ?, last_due_at = ?,
		modified_at = ? WHERE id = ?`,
		r.Name, r.Description, nullTime(r.StartTime), r.RecurrenceInterval, count, nullTime(r.EndTime), r.Format,
		r.CallbackURL, r.CallbackMethod, string(r.Status), nullTime(r.LastDueAt), fmtTime(s.clock()), normID(r.ID)); err != nil {
		return fmt.Errorf("update report %q: %w", r.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update report %q: %w", r.ID, err)
	}
	return nil
}

// AdvanceReport implements Reports.
func (s *SQLite) AdvanceReport(ctx context.Context, id string, lastDue *time.Time, exhausted bool) error {
	res, err := s.w.ExecContext(ctx, `UPDATE reports SET last_due_at = ?,
		status = CASE WHEN ? THEN 'Inactive' ELSE status END WHERE id = ?`, nullTime(lastDue), exhausted, normID(id))
	if err != nil {
		return fmt.Errorf("advance report %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("advance report %q: %w", id, ErrNotFound)
	}
	return nil
}

// RecordDueRuns implements Reports: one write transaction (one commit)
// for the whole batch, with prepared statements.
func (s *SQLite) RecordDueRuns(ctx context.Context, runs []DueRun) ([]bool, error) {
	done := make([]bool, len(runs))
	for _, d := range runs {
		if (d.Execution == nil) != (d.Job == nil) {
			return nil, fmt.Errorf("record due runs: report %q: an execution needs its job and a job its execution", d.Report.ID)
		}
		if e := d.Execution; e != nil && (e.ID == "" || e.JobID != d.Job.ID || e.CreatedAt.IsZero() || e.ScheduledAt.IsZero()) {
			return nil, fmt.Errorf("record due runs: report %q: the execution needs an ID, its job's ID and its times", d.Report.ID)
		}
	}
	if len(runs) == 0 {
		return done, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("record due runs: %w", err)
	}
	defer tx.Rollback()
	var stmts [4]*sql.Stmt
	for i, q := range []string{
		`SELECT status, modified_at, last_due_at FROM reports WHERE id = ?`,
		insertExecution,
		insertJobStmt,
		`UPDATE reports SET last_due_at = ?, status = CASE WHEN ? THEN 'Inactive' ELSE status END WHERE id = ?`,
	} {
		if stmts[i], err = tx.PrepareContext(ctx, q); err != nil {
			return nil, fmt.Errorf("record due runs: %w", err)
		}
		defer stmts[i].Close()
	}
	get, insExec, insJob, advance := stmts[0], stmts[1], stmts[2], stmts[3]
	for i, d := range runs {
		id := normID(d.Report.ID)
		var status string
		var modified, lastDue sql.NullString
		err := get.QueryRowContext(ctx, id).Scan(&status, &modified, &lastDue)
		if errors.Is(err, sql.ErrNoRows) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("record due runs: report %q: %w", id, err)
		}
		if ReportStatus(status) != d.Report.Status || !sameNullTime(modified, d.Report.ModifiedAt) || !sameNullTime(lastDue, d.Report.LastDueAt) {
			continue // changed since the scheduler read it
		}
		if d.Execution != nil {
			e := *d.Execution
			e.ReportID = id
			if e.Status == "" {
				e.Status = ExecutionPending
			}
			e.ID = normID(e.ID)
			if _, err := insExec.ExecContext(ctx, executionArgs(e)...); err != nil {
				return nil, fmt.Errorf("record due runs: execution of report %q: %w", id, err)
			}
			j, err := s.checkJob(*d.Job)
			if err != nil {
				return nil, fmt.Errorf("record due runs: job of report %q: %w", id, err)
			}
			if _, err := insJob.ExecContext(ctx, jobArgs(j)...); err != nil {
				return nil, fmt.Errorf("record due runs: job of report %q: %w", id, err)
			}
		}
		if _, err := advance.ExecContext(ctx, nullTime(d.LastDue), d.Exhausted, id); err != nil {
			return nil, fmt.Errorf("record due runs: report %q: %w", id, err)
		}
		done[i] = true
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record due runs: %w", err)
	}
	return done, nil
}

// sameNullTime reports whether a stored time column holds t.
func sameNullTime(stored sql.NullString, t *time.Time) bool {
	if t == nil {
		return !stored.Valid
	}
	return stored.Valid && stored.String == fmtTime(*t)
}

// DeleteReport implements Reports.
func (s *SQLite) DeleteReport(ctx context.Context, id string) (Report, error) {
	id = normID(id)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Report{}, fmt.Errorf("delete report %q: %w", id, err)
	}
	defer tx.Rollback()
	r, err := scanReport(tx.QueryRowContext(ctx, `SELECT `+reportColumns+` FROM reports WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Report{}, fmt.Errorf("delete report %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Report{}, fmt.Errorf("delete report %q: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM executions WHERE report_id = ?`, id); err != nil {
		return Report{}, fmt.Errorf("delete report %q: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM reports WHERE id = ?`, id); err != nil {
		return Report{}, fmt.Errorf("delete report %q: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return Report{}, fmt.Errorf("delete report %q: %w", id, err)
	}
	return r, nil
}

const executionColumns = `id, report_id, job_id, status, error, scheduled_at, started_at, finished_at,
	result_path, result_rows, result_bytes, expires_at, created_at, callback_status, callback_pending, callback_attempts`

func scanExecution(r scanner) (Execution, error) {
	var (
		e                         Execution
		status, scheduled, create string
		started, finished, exp    sql.NullString
		callback                  sql.NullString
	)
	if err := r.Scan(&e.ID, &e.ReportID, &e.JobID, &status, &e.Error, &scheduled, &started, &finished,
		&e.ResultPath, &e.ResultRows, &e.ResultBytes, &exp, &create, &callback, &e.CallbackPending, &e.CallbackAttempts); err != nil {
		return Execution{}, err
	}
	e.CallbackStatus = callback.String
	e.Status = ExecutionStatus(status)
	var err error
	if e.ScheduledAt, err = parseTime(scheduled); err != nil {
		return Execution{}, err
	}
	if e.CreatedAt, err = parseTime(create); err != nil {
		return Execution{}, err
	}
	if e.StartedAt, err = scanNullTime(started); err != nil {
		return Execution{}, err
	}
	if e.FinishedAt, err = scanNullTime(finished); err != nil {
		return Execution{}, err
	}
	if e.ExpiresAt, err = scanNullTime(exp); err != nil {
		return Execution{}, err
	}
	return e, nil
}

func validExecutionStatus(s ExecutionStatus) bool {
	for _, v := range ExecutionStatuses {
		if s == v {
			return true
		}
	}
	return false
}

// CreateExecution implements Executions.
func (s *SQLite) CreateExecution(ctx context.Context, e Execution) (Execution, error) {
	if e.ID == "" {
		id, err := newUUID()
		if err != nil {
			return Execution{}, fmt.Errorf("create execution: %w", err)
		}
		e.ID = id
	}
	e.ID, e.ReportID = normID(e.ID), normID(e.ReportID)
	if e.Status == "" {
		e.Status = ExecutionPending
	}
	if !validExecutionStatus(e.Status) {
		return Execution{}, fmt.Errorf("create execution: %w", &ValidationError{"status", fmt.Sprintf("unknown execution status %q", e.Status)})
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.clock()
	}
	e.CreatedAt = e.CreatedAt.UTC()
	if e.ScheduledAt.IsZero() {
		e.ScheduledAt = e.CreatedAt
	}
	_, err := s.w.ExecContext(ctx, insertExecution, executionArgs(e)...)
	if err != nil {
		return Execution{}, fmt.Errorf("create execution: %w", err)
	}
	if _, err := s.GetExecution(ctx, e.ID); err != nil {
		return Execution{}, fmt.Errorf("create execution: report %q: %w", e.ReportID, ErrNotFound)
	}
	return e, nil
}

// insertExecution inserts an execution if its report exists; its
// arguments are executionArgs.
const insertExecution = `INSERT INTO executions (` + executionColumns + `)
	SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM reports WHERE id = ?)`

func executionArgs(e Execution) []any {
	return []any{e.ID, e.ReportID, e.JobID, string(e.Status), e.Error, fmtTime(e.ScheduledAt), nullTime(e.StartedAt),
		nullTime(e.FinishedAt), e.ResultPath, e.ResultRows, e.ResultBytes, nullTime(e.ExpiresAt), fmtTime(e.CreatedAt),
		nullString(e.CallbackStatus), e.CallbackPending && e.Status == ExecutionCompleted, e.CallbackAttempts, e.ReportID}
}

// UpdateExecution implements Executions.
func (s *SQLite) UpdateExecution(ctx context.Context, e Execution) error {
	if !validExecutionStatus(e.Status) {
		return fmt.Errorf("update execution: %w", &ValidationError{"status", fmt.Sprintf("unknown execution status %q", e.Status)})
	}
	// The SET expressions see the stored row: status is the old status.
	pending := e.CallbackPending && e.Status == ExecutionCompleted
	res, err := s.w.ExecContext(ctx, `UPDATE executions SET job_id = ?, status = ?, error = ?, started_at = ?,
		finished_at = ?, result_path = ?, result_rows = ?, result_bytes = ?, expires_at = ?,
		callback_pending = CASE WHEN ? AND status <> 'Completed' THEN 1 ELSE callback_pending END WHERE id = ?`,
		e.JobID, string(e.Status), e.Error, nullTime(e.StartedAt), nullTime(e.FinishedAt), e.ResultPath,
		e.ResultRows, e.ResultBytes, nullTime(e.ExpiresAt), pending, normID(e.ID))
	if err != nil {
		return fmt.Errorf("update execution %q: %w", e.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update execution %q: %w", e.ID, ErrNotFound)
	}
	return nil
}

// SetExecutionCallback implements Executions.
func (s *SQLite) SetExecutionCallback(ctx context.Context, id, status string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE executions SET callback_status = ?, callback_pending = 0 WHERE id = ?`, nullString(status), normID(id))
	if err != nil {
		return fmt.Errorf("execution %q callback: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("execution %q callback: %w", id, ErrNotFound)
	}
	return nil
}

// RecordCallbackAttempt implements Executions.
func (s *SQLite) RecordCallbackAttempt(ctx context.Context, id string) (int, error) {
	var n int
	err := s.w.QueryRowContext(ctx, `UPDATE executions SET callback_attempts = callback_attempts + 1 WHERE id = ? RETURNING callback_attempts`,
		normID(id)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("execution %q callback attempt: %w", id, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("execution %q callback attempt: %w", id, err)
	}
	return n, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// GetExecution implements Executions.
func (s *SQLite) GetExecution(ctx context.Context, id string) (Execution, error) {
	e, err := scanExecution(s.db.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions WHERE id = ?`, normID(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return Execution{}, fmt.Errorf("execution %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Execution{}, fmt.Errorf("execution %q: %w", id, err)
	}
	return e, nil
}

// ListExecutions implements Executions.
func (s *SQLite) ListExecutions(ctx context.Context, f ExecutionFilter) ([]Execution, error) {
	var (
		where []string
		args  []any
	)
	norm := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = normID(id)
		}
		return out
	}
	if f.ReportIDs != nil {
		if len(f.ReportIDs) == 0 {
			return []Execution{}, nil
		}
		where, args = inList(where, args, "report_id", norm(f.ReportIDs))
	}
	if f.ExecutionIDs != nil {
		if len(f.ExecutionIDs) == 0 {
			return []Execution{}, nil
		}
		where, args = inList(where, args, "id", norm(f.ExecutionIDs))
	}
	if f.JobID != "" {
		where, args = append(where, "job_id = ?"), append(args, f.JobID)
	}
	if f.Statuses != nil {
		if len(f.Statuses) == 0 {
			return []Execution{}, nil
		}
		st := make([]string, len(f.Statuses))
		for i, v := range f.Statuses {
			st[i] = string(v)
		}
		where, args = inList(where, args, "status", st)
	}
	if !f.CreatedAfter.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, fmtTime(f.CreatedAfter))
	}
	if f.CallbackPending {
		where = append(where, "callback_pending = 1")
	}
	inner := `SELECT ` + executionColumns + `, ROW_NUMBER() OVER (PARTITION BY report_id ORDER BY created_at DESC, rowid DESC) AS rn
		FROM executions`
	if len(where) > 0 {
		inner += ` WHERE ` + strings.Join(where, " AND ")
	}
	stmt := `SELECT ` + executionColumns + ` FROM (` + inner + `)`
	if f.Latest {
		stmt += ` WHERE rn = 1`
	}
	rows, err := s.db.QueryContext(ctx, stmt+` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	defer rows.Close()
	out := []Execution{}
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return nil, fmt.Errorf("list executions: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	return out, nil
}
