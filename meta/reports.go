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
	// the ExecuteNowWindow before the new report's CreatedAt.
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
	// (ErrReportQuota, ErrExecuteNowQuota).
	CreateReport(ctx context.Context, r Report, quota ReportQuota) (Report, error)
	// GetReport returns a report by id (case-insensitive); ErrNotFound if
	// there is none.
	GetReport(ctx context.Context, id string) (Report, error)
	// ListReports lists the reports matching f, oldest first.
	ListReports(ctx context.Context, f ReportFilter) ([]Report, error)
	// SetReportStatus changes a report's status (and ModifiedAt);
	// ErrNotFound if there is no such report.
	SetReportStatus(ctx context.Context, id string, status ReportStatus) error
	// DeleteReport deletes a report and all its executions and returns
	// the deleted report; ErrNotFound if there is none.
	DeleteReport(ctx context.Context, id string) (Report, error)
	// UpdateReport stores r's schedule and delivery fields (Name,
	// Description, StartTime, RecurrenceInterval, RecurrenceCount,
	// EndTime, Format, CallbackURL, CallbackMethod, Status, LastDueAt) and
	// sets ModifiedAt; ErrNotFound if there is no such report.
	UpdateReport(ctx context.Context, r Report) error
	// AdvanceReport records that the scheduler handled the due time
	// lastDue of a report and, when exhausted, makes it Inactive. It
	// leaves the other fields alone, so a concurrent pause is kept.
	AdvanceReport(ctx context.Context, id string, lastDue *time.Time, exhausted bool) error
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
}

// Executions stores report executions.
type Executions interface {
	// CreateExecution stores a new execution (ErrNotFound if its report
	// does not exist). A missing ID is a fresh UUID, a zero CreatedAt now,
	// a missing Status Pending.
	CreateExecution(ctx context.Context, e Execution) (Execution, error)
	// UpdateExecution stores e's mutable fields (JobID, Status, Error,
	// times, result, ExpiresAt); ErrNotFound if there is none.
	UpdateExecution(ctx context.Context, e Execution) error
	// GetExecution returns an execution by id; ErrNotFound if none.
	GetExecution(ctx context.Context, id string) (Execution, error)
	// ListExecutions lists the executions matching f, newest first.
	ListExecutions(ctx context.Context, f ExecutionFilter) ([]Execution, error)
	// SetExecutionCallback records the outcome of an execution's
	// callback; ErrNotFound if there is no such execution.
	SetExecutionCallback(ctx context.Context, id, status string) error
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
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM reports WHERE tenant = ? AND user_id = ? AND execute_now = 1 AND created_at > ?`,
			r.Tenant, r.User, fmtTime(r.CreatedAt.Add(-quota.ExecuteNowWindow))).Scan(&n); err != nil {
			return Report{}, fmt.Errorf("create report: %w", err)
		}
		if n >= quota.MaxExecuteNow {
			return Report{}, fmt.Errorf("create report: %d of %d: %w", n, quota.MaxExecuteNow, ErrExecuteNowQuota)
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

// SetReportStatus implements Reports.
func (s *SQLite) SetReportStatus(ctx context.Context, id string, status ReportStatus) error {
	res, err := s.w.ExecContext(ctx, `UPDATE reports SET status = ?, modified_at = ? WHERE id = ?`,
		string(status), fmtTime(s.clock()), normID(id))
	if err != nil {
		return fmt.Errorf("report %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("report %q: %w", id, ErrNotFound)
	}
	return nil
}

// UpdateReport implements Reports.
func (s *SQLite) UpdateReport(ctx context.Context, r Report) error {
	var count any
	if r.RecurrenceCount != nil {
		count = *r.RecurrenceCount
	}
	if r.CallbackMethod == "" {
		r.CallbackMethod = "POST"
	}
	res, err := s.w.ExecContext(ctx, `UPDATE reports SET name = ?, description = ?, start_time = ?, recurrence_interval = ?,
		recurrence_count = ?, end_time = ?, format = ?, callback_url = ?, callback_method = ?, status = ?, last_due_at = ?,
		modified_at = ? WHERE id = ?`,
		r.Name, r.Description, nullTime(r.StartTime), r.RecurrenceInterval, count, nullTime(r.EndTime), r.Format,
		r.CallbackURL, r.CallbackMethod, string(r.Status), nullTime(r.LastDueAt), fmtTime(s.clock()), normID(r.ID))
	if err != nil {
		return fmt.Errorf("update report %q: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update report %q: %w", r.ID, ErrNotFound)
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
	result_path, result_rows, result_bytes, expires_at, created_at, callback_status`

func scanExecution(r scanner) (Execution, error) {
	var (
		e                         Execution
		status, scheduled, create string
		started, finished, exp    sql.NullString
		callback                  sql.NullString
	)
	if err := r.Scan(&e.ID, &e.ReportID, &e.JobID, &status, &e.Error, &scheduled, &started, &finished,
		&e.ResultPath, &e.ResultRows, &e.ResultBytes, &exp, &create, &callback); err != nil {
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
	_, err := s.w.ExecContext(ctx, `INSERT INTO executions (`+executionColumns+`)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM reports WHERE id = ?)`,
		e.ID, e.ReportID, e.JobID, string(e.Status), e.Error, fmtTime(e.ScheduledAt), nullTime(e.StartedAt),
		nullTime(e.FinishedAt), e.ResultPath, e.ResultRows, e.ResultBytes, nullTime(e.ExpiresAt), fmtTime(e.CreatedAt),
		nullString(e.CallbackStatus), e.ReportID)
	if err != nil {
		return Execution{}, fmt.Errorf("create execution: %w", err)
	}
	if _, err := s.GetExecution(ctx, e.ID); err != nil {
		return Execution{}, fmt.Errorf("create execution: report %q: %w", e.ReportID, ErrNotFound)
	}
	return e, nil
}

// UpdateExecution implements Executions.
func (s *SQLite) UpdateExecution(ctx context.Context, e Execution) error {
	if !validExecutionStatus(e.Status) {
		return fmt.Errorf("update execution: %w", &ValidationError{"status", fmt.Sprintf("unknown execution status %q", e.Status)})
	}
	res, err := s.w.ExecContext(ctx, `UPDATE executions SET job_id = ?, status = ?, error = ?, started_at = ?,
		finished_at = ?, result_path = ?, result_rows = ?, result_bytes = ?, expires_at = ? WHERE id = ?`,
		e.JobID, string(e.Status), e.Error, nullTime(e.StartedAt), nullTime(e.FinishedAt), e.ResultPath,
		e.ResultRows, e.ResultBytes, nullTime(e.ExpiresAt), normID(e.ID))
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
	res, err := s.w.ExecContext(ctx, `UPDATE executions SET callback_status = ? WHERE id = ?`, nullString(status), normID(id))
	if err != nil {
		return fmt.Errorf("execution %q callback: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("execution %q callback: %w", id, ErrNotFound)
	}
	return nil
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
