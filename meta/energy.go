package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Energy custom report statuses (reportStatusType).
const (
	EnergyInitialized = "INITIALIZED"
	EnergySubmitted   = "SUBMITTED"
	EnergyInProcess   = "IN_PROCESS"
	EnergyGenerated   = "GENERATED"
	EnergyFailed      = "FAILED"
)

// EnergyTemplate is a custom report template: a name and metric ids. Every
// template has exactly one report (ReportID), created and deleted with it.
type EnergyTemplate struct {
	ID        int64
	Name      string
	Metrics   []int
	ReportID  int64
	Owner     string // id of the key that created it
	User      string
	Tenant    string // the energy account of the key ("" for admin keys)
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EnergyReport is a template's report: a timeframe and properties, and the
// state of its latest generation.
type EnergyReport struct {
	ID         int64
	TemplateID int64
	Tenant     string
	User       string
	// Timeframe is the report's timeframe as JSON (planner.Timeframe);
	// empty until the report is first configured.
	Timeframe  json.RawMessage
	Properties []string
	Status     string
	JobID      string // the latest generation's job; "" before one
	Error      string // why the latest generation failed
	Submitted  *time.Time
	Started    *time.Time
	Ended      *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Busy reports whether a generation is under way (no edits then).
func (r EnergyReport) Busy() bool {
	return r.Status == EnergySubmitted || r.Status == EnergyInProcess
}

// ErrReportBusy is returned (wrapped) by edits and deletes of a report
// that is submitted or generating.
var ErrReportBusy = errors.New("report is being generated")

// Energy stores energy custom report templates and reports.
type Energy interface {
	// CreateEnergyTemplate stores a template and its report (INITIALIZED,
	// no timeframe or properties) in one transaction.
	CreateEnergyTemplate(ctx context.Context, t EnergyTemplate) (EnergyTemplate, EnergyReport, error)
	// GetEnergyTemplate returns a template; ErrNotFound if none.
	GetEnergyTemplate(ctx context.Context, id int64) (EnergyTemplate, error)
	// ListEnergyTemplates lists the templates of a tenant and user
	// (admin: tenant "" lists every template), oldest first.
	ListEnergyTemplates(ctx context.Context, tenant, user string, all bool) ([]EnergyTemplate, error)
	// UpdateEnergyTemplate replaces a template's name and metrics and
	// resets its report to INITIALIZED; ErrReportBusy while the report is
	// submitted or generating.
	UpdateEnergyTemplate(ctx context.Context, t EnergyTemplate) (EnergyTemplate, error)
	// DeleteEnergyTemplate deletes a template and its report;
	// ErrReportBusy while the report is submitted or generating.
	DeleteEnergyTemplate(ctx context.Context, id int64) error
	// GetEnergyReport returns a report; ErrNotFound if none.
	GetEnergyReport(ctx context.Context, id int64) (EnergyReport, error)
	// ListEnergyReports lists reports like ListEnergyTemplates.
	ListEnergyReports(ctx context.Context, tenant, user string, all bool) ([]EnergyReport, error)
	// ConfigureEnergyReport sets a report's timeframe and properties
	// (replacing them) and resets it to INITIALIZED; ErrReportBusy while
	// it is submitted or generating.
	ConfigureEnergyReport(ctx context.Context, id int64, timeframe json.RawMessage, properties []string, now time.Time) (EnergyReport, error)
	// SubmitEnergyReport marks a report SUBMITTED for job jobID, unless
	// it is already busy (ErrReportBusy).
	SubmitEnergyReport(ctx context.Context, id int64, jobID string, now time.Time) (EnergyReport, error)
	// RestoreEnergyReport puts back a report's generation fields as in r
	// if its latest job is still failedJobID (a submission the queue
	// refused).
	RestoreEnergyReport(ctx context.Context, r EnergyReport, failedJobID string) error
	// SetEnergyGeneration records the state of a generation job on the
	// report whose latest job it is (an older job's news is ignored).
	SetEnergyGeneration(ctx context.Context, jobID, status, errText string, at time.Time) error
}

var _ Energy = (*SQLite)(nil)

const energyTemplateColumns = `id, name, metrics, report_id, owner, user_id, tenant, created_at, updated_at`

func scanEnergyTemplate(r scanner) (EnergyTemplate, error) {
	var t EnergyTemplate
	var metrics, created, updated string
	if err := r.Scan(&t.ID, &t.Name, &metrics, &t.ReportID, &t.Owner, &t.User, &t.Tenant, &created, &updated); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(metrics), &t.Metrics); err != nil {
		return t, fmt.Errorf("template %d metrics: %w", t.ID, err)
	}
	var err error
	if t.CreatedAt, err = parseTime(created); err != nil {
		return t, err
	}
	t.UpdatedAt, err = parseTime(updated)
	return t, err
}

const energyReportColumns = `id, template_id, tenant, user_id, timeframe, properties, status, job_id, error,
	submitted_at, started_at, ended_at, created_at, updated_at`

func scanEnergyReport(r scanner) (EnergyReport, error) {
	var e EnergyReport
	var timeframe, props, created, updated string
	var sub, start, end sql.NullString
	if err := r.Scan(&e.ID, &e.TemplateID, &e.Tenant, &e.User, &timeframe, &props, &e.Status, &e.JobID, &e.Error,
		&sub, &start, &end, &created, &updated); err != nil {
		return e, err
	}
	if timeframe != "" {
		e.Timeframe = json.RawMessage(timeframe)
	}
	if err := json.Unmarshal([]byte(props), &e.Properties); err != nil {
		return e, fmt.Errorf("report %d properties: %w", e.ID, err)
	}
	var err error
	if e.Submitted, err = scanNullTime(sub); err != nil {
		return e, err
	}
	if e.Started, err = scanNullTime(start); err != nil {
		return e, err
	}
	if e.Ended, err = scanNullTime(end); err != nil {
		return e, err
	}
	if e.CreatedAt, err = parseTime(created); err != nil {
		return e, err
	}
	e.UpdatedAt, err = parseTime(updated)
	return e, err
}

// CreateEnergyTemplate implements Energy.
func (s *SQLite) CreateEnergyTemplate(ctx context.Context, t EnergyTemplate) (EnergyTemplate, EnergyReport, error) {
	if strings.TrimSpace(t.Name) == "" {
		return t, EnergyReport{}, fmt.Errorf("create template: %w", &ValidationError{"name", "a template needs a name"})
	}
	metrics, _ := json.Marshal(t.Metrics)
	now := s.clock().UTC()
	t.CreatedAt, t.UpdatedAt = now, now
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return t, EnergyReport{}, fmt.Errorf("create template: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO energy_templates (name, metrics, report_id, owner, user_id, tenant, created_at, updated_at)
		VALUES (?, ?, 0, ?, ?, ?, ?, ?)`, t.Name, string(metrics), t.Owner, t.User, t.Tenant, fmtTime(now), fmtTime(now))
	if err != nil {
		return t, EnergyReport{}, fmt.Errorf("create template: %w", err)
	}
	if t.ID, err = res.LastInsertId(); err != nil {
		return t, EnergyReport{}, fmt.Errorf("create template: %w", err)
	}
	r := EnergyReport{TemplateID: t.ID, Tenant: t.Tenant, User: t.User, Properties: []string{}, Status: EnergyInitialized,
		CreatedAt: now, UpdatedAt: now}
	res, err = tx.ExecContext(ctx, `INSERT INTO energy_reports (template_id, tenant, user_id, timeframe, properties, status, job_id, error, created_at, updated_at)
		VALUES (?, ?, ?, '', '[]', ?, '', '', ?, ?)`, t.ID, t.Tenant, t.User, EnergyInitialized, fmtTime(now), fmtTime(now))
	if err != nil {
		return t, EnergyReport{}, fmt.Errorf("create template report: %w", err)
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return t, EnergyReport{}, fmt.Errorf("create template report: %w", err)
	}
	t.ReportID = r.ID
	if _, err := tx.ExecContext(ctx, `UPDATE energy_templates SET report_id = ? WHERE id = ?`, r.ID, t.ID); err != nil {
		return t, EnergyReport{}, fmt.Errorf("create template: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return t, EnergyReport{}, fmt.Errorf("create template: %w", err)
	}
	return t, r, nil
}

// GetEnergyTemplate implements Energy.
func (s *SQLite) GetEnergyTemplate(ctx context.Context, id int64) (EnergyTemplate, error) {
	t, err := scanEnergyTemplate(s.db.QueryRowContext(ctx, `SELECT `+energyTemplateColumns+` FROM energy_templates WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("template %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("template %d: %w", id, err)
	}
	return t, nil
}

// ListEnergyTemplates implements Energy.
func (s *SQLite) ListEnergyTemplates(ctx context.Context, tenant, user string, all bool) ([]EnergyTemplate, error) {
	return listEnergy(ctx, s, "templates", energyTemplateColumns, tenant, user, all, scanEnergyTemplate)
}

// listEnergy lists the rows of energy_<table> of a principal (all: every
// principal's), by id.
func listEnergy[T any](ctx context.Context, s *SQLite, table, columns, tenant, user string, all bool, scan func(scanner) (T, error)) ([]T, error) {
	q := `SELECT ` + columns + ` FROM energy_` + table
	var args []any
	if !all {
		q += ` WHERE tenant = ? AND user_id = ?`
		args = append(args, tenant, user)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", table, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", table, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// busyReport reads a report's status inside tx and refuses busy ones.
func busyReport(ctx context.Context, tx *sql.Tx, reportID int64) error {
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status FROM energy_reports WHERE id = ?`, reportID).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("report %d: %w", reportID, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if status == EnergySubmitted || status == EnergyInProcess {
		return fmt.Errorf("report %d is %s: %w", reportID, status, ErrReportBusy)
	}
	return nil
}

// UpdateEnergyTemplate implements Energy.
func (s *SQLite) UpdateEnergyTemplate(ctx context.Context, t EnergyTemplate) (EnergyTemplate, error) {
	if strings.TrimSpace(t.Name) == "" {
		return t, fmt.Errorf("update template: %w", &ValidationError{"name", "a template needs a name"})
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return t, fmt.Errorf("update template: %w", err)
	}
	defer tx.Rollback()
	cur, err := scanEnergyTemplate(tx.QueryRowContext(ctx, `SELECT `+energyTemplateColumns+` FROM energy_templates WHERE id = ?`, t.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("template %d: %w", t.ID, ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("update template: %w", err)
	}
	if err := busyReport(ctx, tx, cur.ReportID); err != nil {
		return t, fmt.Errorf("update template: %w", err)
	}
	now := s.clock().UTC()
	metrics, _ := json.Marshal(t.Metrics)
	if _, err := tx.ExecContext(ctx, `UPDATE energy_templates SET name = ?, metrics = ?, updated_at = ? WHERE id = ?`,
		t.Name, string(metrics), fmtTime(now), t.ID); err != nil {
		return t, fmt.Errorf("update template: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE energy_reports SET status = ?, job_id = '', error = '', updated_at = ? WHERE id = ?`,
		EnergyInitialized, fmtTime(now), cur.ReportID); err != nil {
		return t, fmt.Errorf("update template: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return t, fmt.Errorf("update template: %w", err)
	}
	cur.Name, cur.Metrics, cur.UpdatedAt = t.Name, t.Metrics, now
	return cur, nil
}

// DeleteEnergyTemplate implements Energy.
func (s *SQLite) DeleteEnergyTemplate(ctx context.Context, id int64) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete template: %w", err)
	}
	defer tx.Rollback()
	var reportID int64
	err = tx.QueryRowContext(ctx, `SELECT report_id FROM energy_templates WHERE id = ?`, id).Scan(&reportID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("template %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete template: %w", err)
	}
	if err := busyReport(ctx, tx, reportID); err != nil {
		return fmt.Errorf("delete template: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM energy_reports WHERE id = ?`, reportID); err != nil {
		return fmt.Errorf("delete template: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM energy_templates WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete template: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete template: %w", err)
	}
	return nil
}

// GetEnergyReport implements Energy.
func (s *SQLite) GetEnergyReport(ctx context.Context, id int64) (EnergyReport, error) {
	r, err := scanEnergyReport(s.db.QueryRowContext(ctx, `SELECT `+energyReportColumns+` FROM energy_reports WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("report %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("report %d: %w", id, err)
	}
	return r, nil
}

// ListEnergyReports implements Energy.
func (s *SQLite) ListEnergyReports(ctx context.Context, tenant, user string, all bool) ([]EnergyReport, error) {
	return listEnergy(ctx, s, "reports", energyReportColumns, tenant, user, all, scanEnergyReport)
}

// ConfigureEnergyReport implements Energy.
func (s *SQLite) ConfigureEnergyReport(ctx context.Context, id int64, timeframe json.RawMessage, properties []string, now time.Time) (EnergyReport, error) {
	props, _ := json.Marshal(properties)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return EnergyReport{}, fmt.Errorf("configure report: %w", err)
	}
	defer tx.Rollback()
	if err := busyReport(ctx, tx, id); err != nil {
		return EnergyReport{}, fmt.Errorf("configure report: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE energy_reports SET timeframe = ?, properties = ?, status = ?, job_id = '', error = '',
		submitted_at = NULL, started_at = NULL, ended_at = NULL, updated_at = ? WHERE id = ?`,
		string(timeframe), string(props), EnergyInitialized, fmtTime(now), id); err != nil {
		return EnergyReport{}, fmt.Errorf("configure report: %w", err)
	}
	r, err := scanEnergyReport(tx.QueryRowContext(ctx, `SELECT `+energyReportColumns+` FROM energy_reports WHERE id = ?`, id))
	if err != nil {
		return r, fmt.Errorf("configure report: %w", err)
	}
	return r, tx.Commit()
}

// SubmitEnergyReport implements Energy.
func (s *SQLite) SubmitEnergyReport(ctx context.Context, id int64, jobID string, now time.Time) (EnergyReport, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return EnergyReport{}, fmt.Errorf("submit report: %w", err)
	}
	defer tx.Rollback()
	if err := busyReport(ctx, tx, id); err != nil {
		return EnergyReport{}, fmt.Errorf("submit report: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE energy_reports SET status = ?, job_id = ?, error = '', submitted_at = ?,
		started_at = NULL, ended_at = NULL WHERE id = ?`, EnergySubmitted, jobID, fmtTime(now), id); err != nil {
		return EnergyReport{}, fmt.Errorf("submit report: %w", err)
	}
	r, err := scanEnergyReport(tx.QueryRowContext(ctx, `SELECT `+energyReportColumns+` FROM energy_reports WHERE id = ?`, id))
	if err != nil {
		return r, fmt.Errorf("submit report: %w", err)
	}
	return r, tx.Commit()
}

// SetEnergyGeneration implements Energy.
func (s *SQLite) SetEnergyGeneration(ctx context.Context, jobID, status, errText string, at time.Time) error {
	var set string
	args := []any{status, errText}
	switch status {
	case EnergySubmitted:
		set = `, started_at = NULL, ended_at = NULL`
	case EnergyInProcess:
		set = `, started_at = ?`
		args = append(args, fmtTime(at))
	case EnergyGenerated, EnergyFailed:
		set = `, ended_at = ?`
		args = append(args, fmtTime(at))
	default:
		return fmt.Errorf("set report generation: unknown status %q", status)
	}
	args = append(args, jobID)
	if _, err := s.w.ExecContext(ctx, `UPDATE energy_reports SET status = ?, error = ?`+set+` WHERE job_id = ? AND job_id <> ''`, args...); err != nil {
		return fmt.Errorf("set report generation: %w", err)
	}
	return nil
}

// RestoreEnergyReport implements Energy.
func (s *SQLite) RestoreEnergyReport(ctx context.Context, r EnergyReport, failedJobID string) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE energy_reports SET status = ?, job_id = ?, error = ?, submitted_at = ?,
		started_at = ?, ended_at = ? WHERE id = ? AND job_id = ?`, r.Status, r.JobID, r.Error, nullTime(r.Submitted),
		nullTime(r.Started), nullTime(r.Ended), r.ID, failedJobID); err != nil {
		return fmt.Errorf("restore report %d: %w", r.ID, err)
	}
	return nil
}
