package insights

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/engine/schedule"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// ReportJobKind is the job kind that runs one report execution.
const ReportJobKind = "insights.report"

// Defaults of the report settings of Config.
const (
	DefaultMaxActiveReports = 50
	DefaultMaxExecuteNow    = 5
	DefaultExecuteNowWindow = 60 * time.Minute
	DefaultLinkTTL          = 7 * 24 * time.Hour
	// MinStartLead is how far ahead of now a scheduled report's StartTime
	// must be.
	MinStartLead = 4 * time.Hour
	// Recurrence interval bounds, in hours.
	MinRecurrenceInterval = 4
	MaxRecurrenceInterval = 2160
	// executionHistory is what getLatestExecution=false lists.
	executionHistory = 90 * 24 * time.Hour
)

// Messages of the report routes (shared/reference/partner-center-insights.md §3.3, §3.4).
const (
	msgCreate                = "Invalid report parameters for creation - "
	MsgStartTimeFormat       = msgCreate + "StartTime should follow format: yyyy-MM-ddTHH:mm:ssZ"
	MsgEndTimeFormat         = msgCreate + "EndTime should follow format: yyyy-MM-ddTHH:mm:ssZ"
	MsgEndTimeAfterStart     = msgCreate + "EndTime should be greater than StartTime"
	MsgQueryStartTimeFormat  = msgCreate + "QueryStartTime should follow format: yyyy-MM-ddTHH:mm:ssZ"
	MsgQueryEndTimeFormat    = msgCreate + "QueryEndTime should follow format: yyyy-MM-ddTHH:mm:ssZ"
	MsgQueryEndAfterStart    = msgCreate + "QueryEndTime should be greater than QueryStartTime"
	MsgReportFormat          = msgCreate + "Report format should be csv/tsv"
	MsgReportNameChar        = msgCreate + "Invalid character (;) in ReportName"
	MsgCallbackMethod        = msgCreate + "CallbackMethod can only be GET or POST"
	MsgRecurrenceCount       = msgCreate + "Recurrence count has to be a positive integer value"
	MsgReportLength          = msgCreate + "Limit ReportName and Description length to 256 characters or less"
	MsgStartTimeAhead        = msgCreate + "Start time of report should at least be 4 hours from current UTC time"
	MsgRecurrenceInterval    = "Recurrence Interval must be between 4 and 2160"
	MsgReportCreated         = "Report created successfully"
	MsgReportDeleted         = "Report deleted successfully"
	MsgReportUpdated         = "Report updated successfully"
	MsgReportPaused          = "Report paused successfully"
	MsgReportResumed         = "Report resumed successfully"
	MsgUpdateExecuteNow      = "Invalid report parameters for update - a run-once (ExecuteNow) report cannot be updated"
	MsgPauseInactive         = "Invalid report parameters for update - only an Active or Paused recurring report can be paused or resumed"
	MsgNoExecutions          = "There are no executions that have occurred for the given filter conditions. Please recheck the reportId or executionId and retry the API after the report's scheduled execution time"
	MsgInvalidExecStatus     = "Invalid query parameters - executionStatus should be Pending, Running, Paused, Completed or Failed"
	MsgLinkInvalid           = "Invalid report link: the signature does not match"
	MsgLinkExpired           = "The report link has expired"
	MsgReportFileGone        = "The report file is no longer available"
	reportQuotaFormat        = "User has exceeded its report creation quota of %d active reports"
	executeNowQuotaFormat    = "User has exceeded its ExecuteNow report creation quota of %d reports/%d mins"
	downloadPath             = "/download"
	signingKeyFile           = "signing.key"
	defaultReportFormat      = "csv"
	defaultCallbackMethod    = "POST"
	contentDispositionFormat = `attachment; filename="%s"`
)

// LoadOrCreateSigningKey returns the HMAC key of download links, stored
// at <dataDir>/signing.key (0600) and created on first use.
func LoadOrCreateSigningKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, signingKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("signing key %s is malformed (want 64 hex characters); delete it to make a new one (outstanding links stop working)", path)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process made it meanwhile
		return LoadOrCreateSigningKey(dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return key, nil
}

// SignLink is the signature of a download link: hex HMAC-SHA256 over the
// execution id and the expiry (unix seconds).
func SignLink(key []byte, executionID string, expires int64) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s\n%d", strings.ToLower(executionID), expires)
	return hex.EncodeToString(m.Sum(nil))
}

func verifyLink(key []byte, executionID string, expires int64, sig string) bool {
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(SignLink(key, executionID, expires))
	return hmac.Equal(got, want)
}

// AttachJobs registers the report job kind on q and keeps executions in
// step with their jobs. Call it before q.Start.
func (a *API) AttachJobs(q *jobs.Queue) {
	a.cfg.Jobs = q
	q.Register(ReportJobKind, a.runReport)
	// Report runs are bounded by the active-reports quota; a scheduled run
	// refused by the job limit would be lost, so they always queue.
	q.Unlimited(ReportJobKind)
	q.Observe(func(j meta.Job) {
		if j.Kind != ReportJobKind {
			return
		}
		// A job StartBatch stored was stored with its execution, Pending:
		// nothing to sync when it is announced.
		if _, fresh := a.fresh.LoadAndDelete(j.ID); fresh && j.State == meta.JobEnqueued {
			return
		}
		a.syncExecution(context.Background(), j.ID)
	})
}

// reportJob is the Request of a report job.
type reportJob struct {
	ExecutionID string `json:"executionId"`
	ReportID    string `json:"reportId"`
}

func (a *API) reportStores() (meta.Reports, meta.Executions, error) {
	if a.cfg.Reports == nil || a.cfg.Executions == nil {
		return nil, nil, api.Internal(errors.New("insights: no report store configured"))
	}
	return a.cfg.Reports, a.cfg.Executions, nil
}

// runReport is the handler of ReportJobKind: rebuild the plan from the
// report (its query snapshot, its owner's scope, QueryStartTime and
// QueryEndTime or the TIMESPAN evaluated at the execution's scheduled
// time) and export it.
func (a *API) runReport(ctx context.Context, j meta.Job, dir string) (jobs.Result, error) {
	var req reportJob
	if err := json.Unmarshal(j.Request, &req); err != nil {
		return jobs.Result{}, fmt.Errorf("report job request: %w", err)
	}
	reports, execs, err := a.reportStores()
	if err != nil {
		return jobs.Result{}, err
	}
	a.syncExecution(ctx, j.ID) // Running
	e, err := execs.GetExecution(ctx, req.ExecutionID)
	if err != nil {
		return jobs.Result{}, fmt.Errorf("the execution is gone (report deleted?): %w", err)
	}
	r, err := reports.GetReport(ctx, e.ReportID)
	if err != nil {
		return jobs.Result{}, fmt.Errorf("the report is gone: %w", err)
	}
	p, err := a.plan(r.Query, planner.Options{Now: e.ScheduledAt, Scope: r.Scope, Start: r.QueryStartTime, End: r.QueryEndTime})
	if err != nil {
		if ae := api.AsError(err); ae.Status < 500 {
			return jobs.Result{}, fmt.Errorf("%s: %s", ae.Message, ae.Detail)
		}
		return jobs.Result{}, err
	}
	name := fileName(r.Name) + "_" + e.ID + "." + r.Format
	st, err := a.eng.Export(ctx, p, engine.Format(r.Format), filepath.Join(dir, name))
	if err != nil {
		return jobs.Result{}, err
	}
	return jobs.Result{Path: name, Rows: st.Rows, Bytes: st.Bytes}, nil
}

// fileName makes a report name safe as a file name.
func fileName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			return r
		}
		return '_'
	}, s)
	s = strings.TrimLeft(s, ".")
	if s == "" {
		s = "report"
	}
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// syncExecution makes a job's execution reflect the job's stored state:
// enqueued → Pending, running → Running, completed → Completed (with the
// result and the link expiry), failed or cancelled → Failed (with the
// reason). It reads the job again rather than trusting the caller's copy,
// so calls arriving out of order still end at the latest state.
func (a *API) syncExecution(ctx context.Context, jobID string) {
	if a.cfg.Jobs == nil || a.cfg.Executions == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	log := slog.Default().With("component", "insights", "job", jobID)
	j, err := a.cfg.Jobs.Get(ctx, jobID)
	if err != nil {
		log.Error("report job", "err", err)
		return
	}
	var req reportJob
	if err := json.Unmarshal(j.Request, &req); err != nil {
		log.Error("report job request", "err", err)
		return
	}
	e, err := a.cfg.Executions.GetExecution(ctx, req.ExecutionID)
	if errors.Is(err, meta.ErrNotFound) {
		return // the report was deleted
	}
	if err != nil {
		log.Error("report execution", "err", err)
		return
	}
	before := e
	e.JobID = j.ID
	wasCompleted := e.Status == meta.ExecutionCompleted
	// The report, for a finished job: a run-once report ends with it, and
	// a completed execution owes its report's callback.
	var r meta.Report
	haveReport := false
	if j.State.Terminal() && a.cfg.Reports != nil {
		if r, err = a.cfg.Reports.GetReport(ctx, e.ReportID); err == nil {
			haveReport = true
		} else if !errors.Is(err, meta.ErrNotFound) {
			log.Error("report of an execution", "execution", e.ID, "err", err)
		}
	}
	switch j.State {
	case meta.JobEnqueued:
		e.Status, e.StartedAt = meta.ExecutionPending, nil
	case meta.JobRunning:
		e.Status, e.StartedAt = meta.ExecutionRunning, j.StartedAt
	case meta.JobCompleted, meta.JobExpired:
		e.Status, e.StartedAt, e.FinishedAt, e.Error = meta.ExecutionCompleted, j.StartedAt, j.FinishedAt, ""
		e.ResultPath, e.ResultRows, e.ResultBytes = j.ResultPath, j.ResultRows, j.ResultBytes
		if e.ExpiresAt == nil && j.FinishedAt != nil {
			exp := j.FinishedAt.Add(a.cfg.LinkTTL).Truncate(time.Second)
			if j.ExpiresAt != nil && j.ExpiresAt.Before(exp) {
				exp = j.ExpiresAt.Truncate(time.Second)
			}
			e.ExpiresAt = &exp
		}
	case meta.JobFailed, meta.JobCancelled:
		e.Status, e.FinishedAt, e.Error = meta.ExecutionFailed, j.FinishedAt, j.Error
	}
	// The callback is owed from the write that completes the execution
	// (durably: Resume sends it after a crash).
	owesCallback := e.Status == meta.ExecutionCompleted && !wasCompleted && haveReport && r.CallbackURL != ""
	e.CallbackPending = e.CallbackPending || owesCallback
	// A run-once report is done once its single execution is: marked
	// before the execution is stored, so whoever sees the execution
	// finished sees the report done too.
	if haveReport && r.ExecuteNow && r.Status == meta.ReportActive {
		if err := a.cfg.Reports.SetReportStatus(ctx, r.ID, meta.ReportInactive, meta.ReportQuota{}); err != nil && !errors.Is(err, meta.ErrNotFound) {
			log.Error("storing a report's status", "report", r.ID, "err", err)
		}
	}
	if !sameExecution(before, e) {
		if err := a.cfg.Executions.UpdateExecution(ctx, e); err != nil {
			if !errors.Is(err, meta.ErrNotFound) {
				log.Error("storing a report execution", "execution", e.ID, "err", err)
			}
			return
		}
	}
	if !haveReport {
		return
	}
	// The callback, once per execution, off the workers.
	if owesCallback {
		a.callbacks.send(r, e.ID)
	}
}

// sameExecution reports whether syncExecution changed nothing, so the
// write can be skipped (a batch of new executions is announced job by
// job, each already Pending with its job).
func sameExecution(a, b meta.Execution) bool {
	sameTime := func(x, y *time.Time) bool { return x == nil && y == nil || x != nil && y != nil && x.Equal(*y) }
	return a.JobID == b.JobID && a.Status == b.Status && a.Error == b.Error && a.ResultPath == b.ResultPath &&
		a.ResultRows == b.ResultRows && a.ResultBytes == b.ResultBytes && a.CallbackPending == b.CallbackPending &&
		sameTime(a.StartedAt, b.StartedAt) && sameTime(a.FinishedAt, b.FinishedAt) && sameTime(a.ExpiresAt, b.ExpiresAt)
}

// ReportView is a report as the family shows it (the docs' shape).
type ReportView struct {
	ReportID           string  `json:"reportId"`
	ReportName         string  `json:"reportName"`
	Description        string  `json:"description"`
	QueryID            string  `json:"queryId"`
	Query              string  `json:"query"`
	User               string  `json:"user"`
	CreatedTime        *string `json:"createdTime"`
	ModifiedTime       *string `json:"modifiedTime"`
	StartTime          *string `json:"startTime"`
	ReportStatus       string  `json:"reportStatus"`
	RecurrenceInterval int     `json:"recurrenceInterval"`
	RecurrenceCount    *int    `json:"recurrenceCount"`
	EndTime            *string `json:"endTime"`
	CallbackURL        *string `json:"callbackUrl"`
	CallbackMethod     string  `json:"callbackMethod"`
	Format             string  `json:"format"`
	ExecuteNow         bool    `json:"executeNow"`
	QueryStartTime     *string `json:"queryStartTime"`
	QueryEndTime       *string `json:"queryEndTime"`
	// The v1.1 schedule fields (names are Quarry's: the reference does
	// not give them): the next due time and the executions left.
	NextExecutionStartTime   *string `json:"nextExecutionStartTime"`
	RecurrenceCountRemaining *int    `json:"recurrenceCountRemaining"`
}

func reportView(r meta.Report) ReportView {
	user := r.User
	if user == "" {
		user = r.Owner
	}
	var cb *string
	if r.CallbackURL != "" {
		cb = &r.CallbackURL
	}
	st := schedule.StatusOf(r)
	return ReportView{NextExecutionStartTime: fmtTime(st.Next), RecurrenceCountRemaining: st.Remaining, ReportID: r.ID, ReportName: r.Name, Description: r.Description, QueryID: r.QueryID, Query: r.Query,
		User: user, CreatedTime: fmtTime(&r.CreatedAt), ModifiedTime: fmtTime(r.ModifiedAt), StartTime: fmtTime(r.StartTime),
		ReportStatus: string(r.Status), RecurrenceInterval: r.RecurrenceInterval, RecurrenceCount: r.RecurrenceCount,
		EndTime: fmtTime(r.EndTime), CallbackURL: cb, CallbackMethod: r.CallbackMethod, Format: r.Format,
		ExecuteNow: r.ExecuteNow, QueryStartTime: fmtTime(r.QueryStartTime), QueryEndTime: fmtTime(r.QueryEndTime)}
}

// ExecutionView is an execution as the family shows it (the docs' shape,
// plus failureReason).
type ExecutionView struct {
	ExecutionID            string  `json:"executionId"`
	ReportID               string  `json:"reportId"`
	RecurrenceInterval     int     `json:"recurrenceInterval"`
	RecurrenceCount        *int    `json:"recurrenceCount"`
	CallbackURL            *string `json:"callbackUrl"`
	CallbackMethod         string  `json:"callbackMethod"`
	Format                 string  `json:"format"`
	ExecutionStatus        string  `json:"executionStatus"`
	ReportAccessSecureLink *string `json:"reportAccessSecureLink"`
	ReportExpiryTime       *string `json:"reportExpiryTime"`
	ReportGeneratedTime    *string `json:"reportGeneratedTime"`
	FailureReason          *string `json:"failureReason"`
	// The v1.1 schedule fields of the report (see ReportView), the time
	// the execution was due (its TIMESPAN's "now"), and the outcome of
	// its callback: Succeeded, Failed: <reason>, or null.
	EndTime                  *string `json:"endTime"`
	NextExecutionStartTime   *string `json:"nextExecutionStartTime"`
	RecurrenceCountRemaining *int    `json:"recurrenceCountRemaining"`
	ScheduledTime            *string `json:"scheduledTime"`
	CallbackStatus           *string `json:"callbackStatus"`
}

func (a *API) executionView(c *fiber.Ctx, r meta.Report, e meta.Execution) ExecutionView {
	v := ExecutionView{ExecutionID: e.ID, ReportID: e.ReportID, RecurrenceInterval: r.RecurrenceInterval,
		RecurrenceCount: r.RecurrenceCount, CallbackMethod: r.CallbackMethod, Format: r.Format,
		ExecutionStatus: string(e.Status), ReportExpiryTime: fmtTime(e.ExpiresAt), EndTime: fmtTime(r.EndTime),
		ScheduledTime: fmtTime(&e.ScheduledAt)}
	st := schedule.StatusOf(r)
	v.NextExecutionStartTime, v.RecurrenceCountRemaining = fmtTime(st.Next), st.Remaining
	if e.CallbackStatus != "" {
		v.CallbackStatus = &e.CallbackStatus
	}
	if r.CallbackURL != "" {
		v.CallbackURL = &r.CallbackURL
	}
	if e.Status == meta.ExecutionCompleted {
		v.ReportGeneratedTime = fmtTime(e.FinishedAt)
		if e.ExpiresAt != nil {
			link := a.link(c, e.ID, e.ExpiresAt.Unix())
			v.ReportAccessSecureLink = &link
		}
	}
	if e.Status == meta.ExecutionFailed {
		v.FailureReason = &e.Error
	}
	return v
}

// link is the signed download URL of an execution's file.
func (a *API) link(c *fiber.Ctx, executionID string, expires int64) string {
	base := a.cfg.PublicURL
	if base == "" {
		base = c.BaseURL()
	}
	return fmt.Sprintf("%s%s/%s?expires=%d&sig=%s", strings.TrimRight(base, "/"), downloadPath, executionID, expires,
		SignLink(a.cfg.SigningKey, executionID, expires))
}

// reportBody is POST /ScheduledReport's body; encoding/json matches field
// names case-insensitively.
type reportBody struct {
	ReportName         *string `json:"ReportName"`
	Description        *string `json:"Description"`
	QueryID            *string `json:"QueryId"`
	StartTime          *string `json:"StartTime"`
	ExecuteNow         *bool   `json:"ExecuteNow"`
	QueryStartTime     *string `json:"QueryStartTime"`
	QueryEndTime       *string `json:"QueryEndTime"`
	RecurrenceInterval *int    `json:"RecurrenceInterval"`
	RecurrenceCount    *int    `json:"RecurrenceCount"`
	EndTime            *string `json:"EndTime"`
	Format             *string `json:"Format"`
	CallbackURL        *string `json:"CallbackUrl"`
	CallbackMethod     *string `json:"CallbackMethod"`
}

// apiTime parses an optional yyyy-MM-ddTHH:mm:ssZ field (surrounding
// spaces allowed, as in the docs' own example).
func apiTime(s *string, msg string) (*time.Time, error) {
	v := trimmed(s)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(timeLayout, v)
	if err != nil {
		return nil, badRequest(msg, fmt.Sprintf("'%s' is not a UTC time like 2026-01-06T19:00:00Z", v))
	}
	return &t, nil
}

// createReport answers POST /ScheduledReport.
func (a *API) createReport(c *fiber.Ctx) error {
	reports, _, err := a.reportStores()
	if err != nil {
		return err
	}
	var body reportBody
	if b := c.Body(); len(strings.TrimSpace(string(b))) == 0 {
		return badRequest(MsgMissingValue, `send a JSON body {"ReportName": "…", "QueryId": "…", "ExecuteNow": true, …}`)
	} else if err := json.Unmarshal(b, &body); err != nil {
		return badRequest(MsgInvalidBody, fmt.Sprintf("the body is not a JSON report definition: %v", err))
	}
	key := api.KeyFrom(c)
	now := a.eng.Now()
	name, desc, queryID := trimmed(body.ReportName), trimmed(body.Description), trimmed(body.QueryID)
	executeNow := body.ExecuteNow != nil && *body.ExecuteNow

	var missing []string
	if name == "" {
		missing = append(missing, "ReportName")
	}
	if queryID == "" {
		missing = append(missing, "QueryId")
	}
	if len(missing) > 0 {
		return badRequest(MsgMissingValue, strings.Join(missing, " and ")+" must be given and not empty")
	}
	format, method, callback, err := checkDelivery(body, name, desc)
	if err != nil {
		return err
	}

	r := meta.Report{Name: name, Description: desc, Owner: key.ID, User: key.User, Tenant: Tenant(key), Scope: key.Scope(),
		CreatedAt: now, Format: format, CallbackURL: callback, CallbackMethod: method, ExecuteNow: executeNow}
	if executeNow {
		// StartTime, RecurrenceInterval, RecurrenceCount and EndTime are ignored.
		if r.QueryStartTime, err = apiTime(body.QueryStartTime, MsgQueryStartTimeFormat); err != nil {
			return err
		}
		if r.QueryEndTime, err = apiTime(body.QueryEndTime, MsgQueryEndTimeFormat); err != nil {
			return err
		}
		if r.QueryStartTime != nil && r.QueryEndTime != nil && !r.QueryEndTime.After(*r.QueryStartTime) {
			return badRequest(MsgQueryEndAfterStart, "QueryEndTime (exclusive) must come after QueryStartTime")
		}
		start := now
		r.StartTime = &start
		one := 1
		r.RecurrenceCount = &one
	} else {
		if err := a.validateSchedule(body, now, &r); err != nil {
			return err
		}
	}

	// The query: a system query or one of the caller's saved queries.
	if sq, found := datasets.SystemQueryByID(queryID); found {
		r.QueryID, r.Query = sq.QueryID, sq.Query
	} else {
		q, err := a.userQuery(c, queryID)
		if err != nil {
			if e := api.AsError(err); e.Status == fiber.StatusNotFound {
				return badRequest(MsgInvalidQueryID, fmt.Sprintf("no system query and none of your queries has QueryId '%s'", queryID))
			}
			return err
		}
		r.QueryID, r.Query = q.ID, q.Query
	}
	if _, err := a.plan(r.Query, planner.Options{Now: now, Scope: r.Scope, Start: r.QueryStartTime, End: r.QueryEndTime}); err != nil {
		return err
	}
	if executeNow && a.cfg.Jobs == nil {
		return api.Internal(errors.New("insights: no job queue configured"))
	}

	r, err = reports.CreateReport(c.UserContext(), r, meta.ReportQuota{MaxActive: a.cfg.MaxActiveReports,
		MaxExecuteNow: a.cfg.MaxExecuteNow, ExecuteNowWindow: a.cfg.ExecuteNowWindow})
	switch {
	case errors.Is(err, meta.ErrReportQuota):
		return a.activeQuotaError("")
	case errors.Is(err, meta.ErrExecuteNowQuota):
		return badRequest(fmt.Sprintf(executeNowQuotaFormat, a.cfg.MaxExecuteNow, int(a.cfg.ExecuteNowWindow.Minutes())),
			fmt.Sprintf("at most %d ExecuteNow reports per %s; retry later", a.cfg.MaxExecuteNow, a.cfg.ExecuteNowWindow))
	case err != nil:
		return api.Internal(err)
	}
	if executeNow {
		if err := a.executeNow(c, r); err != nil {
			if _, derr := reports.DeleteReport(context.WithoutCancel(c.UserContext()), r.ID); derr != nil {
				slog.Default().Error("removing a report whose execution could not be queued", "report", r.ID, "err", derr)
			}
			return err
		}
	}
	msg := MsgReportCreated
	return ok(c, []ReportView{reportView(r)}, 1, &msg)
}

// activeQuotaError is the documented answer to one Active report too many.
func (a *API) activeQuotaError(what string) *api.Error {
	detail := fmt.Sprintf("you have %d Active reports; pause or delete some with PUT /ScheduledReport/pause/{reportId} or DELETE /ScheduledReport/{reportId}",
		a.cfg.MaxActiveReports)
	if what != "" {
		detail = what + ", but " + detail
	}
	return badRequest(fmt.Sprintf(reportQuotaFormat, a.cfg.MaxActiveReports), detail)
}

// checkDelivery checks the name, format and callback fields a create and
// an update share, and returns the format, callback method and URL.
func checkDelivery(body reportBody, name, desc string) (format, method, callback string, err error) {
	if strings.Contains(name, ";") {
		return "", "", "", badRequest(MsgReportNameChar, "ReportName may not contain ';' (it separates reportIds in GET /ScheduledReport)")
	}
	if n, d := utf8.RuneCountInString(name), utf8.RuneCountInString(desc); n > MaxNameLength || d > MaxNameLength {
		return "", "", "", badRequest(MsgReportLength, fmt.Sprintf("ReportName has %d characters and Description %d; at most %d each", n, d, MaxNameLength))
	}
	format = strings.ToLower(trimmed(body.Format))
	if format == "" {
		format = defaultReportFormat
	}
	if format != "csv" && format != "tsv" {
		return "", "", "", badRequest(MsgReportFormat, fmt.Sprintf("Format '%s' is not csv or tsv", trimmed(body.Format)))
	}
	method = strings.ToUpper(trimmed(body.CallbackMethod))
	if method == "" {
		method = defaultCallbackMethod
	}
	if method != "GET" && method != "POST" {
		return "", "", "", badRequest(MsgCallbackMethod, fmt.Sprintf("CallbackMethod '%s' is not GET or POST", trimmed(body.CallbackMethod)))
	}
	callback = trimmed(body.CallbackURL)
	if callback != "" && !strings.HasPrefix(callback, "http://") && !strings.HasPrefix(callback, "https://") {
		return "", "", "", badRequest(msgCreate+"CallbackUrl should be an http or https URL", fmt.Sprintf("'%s' is not an absolute http(s) URL", callback))
	}
	return format, method, callback, nil
}

// ownReport returns the caller's report of the path's reportId, or the
// family's not-found (also for another principal's report).
func (a *API) ownReport(c *fiber.Ctx, reports meta.Reports) (meta.Report, error) {
	id := strings.TrimSpace(c.Params("reportId"))
	r, err := reports.GetReport(c.UserContext(), id)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && !a.visibleReport(api.KeyFrom(c), r)) {
		return meta.Report{}, notFound(fmt.Sprintf("none of your reports has reportId '%s'", id))
	}
	if err != nil {
		return meta.Report{}, api.Internal(err)
	}
	return r, nil
}

// updateReport answers PUT /ScheduledReport/{reportId}: a recurring
// report's name, description, schedule (StartTime, RecurrenceInterval,
// RecurrenceCount, EndTime), format and callback, checked as on create
// (with create's messages: the docs give no update wording). The
// schedule restarts at the new StartTime; an Inactive report becomes
// Active again, a Paused one stays Paused. Past executions are kept.
func (a *API) updateReport(c *fiber.Ctx) error {
	reports, _, err := a.reportStores()
	if err != nil {
		return err
	}
	r, err := a.ownReport(c, reports)
	if err != nil {
		return err
	}
	var body reportBody
	if b := c.Body(); len(strings.TrimSpace(string(b))) == 0 {
		return badRequest(MsgMissingValue, `send a JSON body {"ReportName": "…", "StartTime": "…", "RecurrenceInterval": 24, …}`)
	} else if err := json.Unmarshal(b, &body); err != nil {
		return badRequest(MsgInvalidBody, fmt.Sprintf("the body is not a JSON report definition: %v", err))
	}
	if r.ExecuteNow {
		return badRequest(MsgUpdateExecuteNow, "create a scheduled report (ExecuteNow false) instead")
	}
	name, desc := trimmed(body.ReportName), trimmed(body.Description)
	if name == "" {
		return badRequest(MsgMissingValue, "ReportName must be given and not empty")
	}
	format, method, callback, err := checkDelivery(body, name, desc)
	if err != nil {
		return err
	}
	if err := a.validateSchedule(body, a.eng.Now(), &r); err != nil {
		return err
	}
	r.Name, r.Description, r.Format, r.CallbackMethod, r.CallbackURL = name, desc, format, method, callback
	r.LastDueAt = nil
	if r.Status == meta.ReportInactive {
		r.Status = meta.ReportActive
	}
	// Reactivating counts against the active-reports quota, as a create.
	err = reports.UpdateReport(c.UserContext(), r, meta.ReportQuota{MaxActive: a.cfg.MaxActiveReports})
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return notFound(fmt.Sprintf("none of your reports has reportId '%s'", r.ID))
	case errors.Is(err, meta.ErrReportQuota):
		return a.activeQuotaError("this update would make report '" + r.ID + "' Active again")
	case err != nil:
		return api.Internal(err)
	}
	return a.answerReport(c, reports, r.ID, MsgReportUpdated)
}

// answerReport answers with a report as stored now.
func (a *API) answerReport(c *fiber.Ctx, reports meta.Reports, id, msg string) error {
	r, err := reports.GetReport(c.UserContext(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("none of your reports has reportId '%s'", id))
	}
	if err != nil {
		return api.Internal(err)
	}
	return ok(c, []ReportView{reportView(r)}, 1, &msg)
}

// pauseReport answers PUT /ScheduledReport/pause/{reportId}: an Active
// recurring report becomes Paused (pausing a Paused one changes nothing).
// Due times passing while it is paused are skipped.
func (a *API) pauseReport(c *fiber.Ctx) error {
	return a.setPaused(c, meta.ReportPaused, MsgReportPaused)
}

// resumeReport answers PUT /ScheduledReport/resume/{reportId}: a Paused
// report becomes Active; its next due time runs.
func (a *API) resumeReport(c *fiber.Ctx) error {
	return a.setPaused(c, meta.ReportActive, MsgReportResumed)
}

func (a *API) setPaused(c *fiber.Ctx, to meta.ReportStatus, msg string) error {
	reports, _, err := a.reportStores()
	if err != nil {
		return err
	}
	r, err := a.ownReport(c, reports)
	if err != nil {
		return err
	}
	if r.ExecuteNow || r.Status == meta.ReportInactive {
		return badRequest(MsgPauseInactive, fmt.Sprintf("report '%s' is %s (run-once: %v)", r.ID, r.Status, r.ExecuteNow))
	}
	if r.Status != to {
		// Resuming counts against the active-reports quota, as a create.
		err := reports.SetReportStatus(c.UserContext(), r.ID, to, meta.ReportQuota{MaxActive: a.cfg.MaxActiveReports})
		switch {
		case errors.Is(err, meta.ErrNotFound):
			return notFound(fmt.Sprintf("none of your reports has reportId '%s'", r.ID))
		case errors.Is(err, meta.ErrReportQuota):
			return a.activeQuotaError("resuming report '" + r.ID + "' would make it Active")
		case err != nil:
			return api.Internal(err)
		}
	}
	return a.answerReport(c, reports, r.ID, msg)
}

// validateSchedule checks the recurrence fields of a scheduled report.
func (a *API) validateSchedule(body reportBody, now time.Time, r *meta.Report) error {
	if trimmed(body.StartTime) == "" {
		return badRequest(MsgStartTimeFormat, "StartTime is required unless ExecuteNow is true")
	}
	start, err := apiTime(body.StartTime, MsgStartTimeFormat)
	if err != nil {
		return err
	}
	if start.Before(now.Add(MinStartLead)) {
		return badRequest(MsgStartTimeAhead, fmt.Sprintf("StartTime %s is before %s (now + 4 hours)",
			start.Format(timeLayout), now.Add(MinStartLead).Format(timeLayout)))
	}
	if body.RecurrenceInterval == nil || *body.RecurrenceInterval < MinRecurrenceInterval || *body.RecurrenceInterval > MaxRecurrenceInterval {
		detail := "RecurrenceInterval (hours) is required"
		if body.RecurrenceInterval != nil {
			detail = fmt.Sprintf("RecurrenceInterval is %d hours", *body.RecurrenceInterval)
		}
		return badRequest(MsgRecurrenceInterval, detail)
	}
	end, err := apiTime(body.EndTime, MsgEndTimeFormat)
	if err != nil {
		return err
	}
	if end != nil && !end.After(*start) {
		return badRequest(MsgEndTimeAfterStart, fmt.Sprintf("EndTime %s is not after StartTime %s", end.Format(timeLayout), start.Format(timeLayout)))
	}
	if body.RecurrenceCount != nil && *body.RecurrenceCount <= 0 {
		return badRequest(MsgRecurrenceCount, fmt.Sprintf("RecurrenceCount is %d", *body.RecurrenceCount))
	}
	if body.RecurrenceCount == nil && end == nil {
		return badRequest(MsgRecurrenceCount, "give RecurrenceCount (a positive integer) or EndTime")
	}
	r.StartTime, r.EndTime, r.RecurrenceInterval, r.RecurrenceCount = start, end, *body.RecurrenceInterval, body.RecurrenceCount
	return nil
}

// executeNow records the single execution of a run-once report and
// queues its job.
func (a *API) executeNow(c *fiber.Ctx, r meta.Report) error {
	// Report jobs are exempt from the per-tenant job limit (AttachJobs), so
	// the only failures left are the store's and the queue's.
	if _, err := a.startExecution(c.UserContext(), r, r.CreatedAt); err != nil {
		return api.Internal(err)
	}
	return nil
}

// startExecution is the one way an execution starts, run-once or
// scheduled: record it (Pending, scheduled and created at at, its
// TIMESPAN's "now") and submit its job. When the job cannot be submitted
// the execution is recorded Failed with the reason, and returned along
// with the error; a zero execution means nothing was recorded.
func (a *API) startExecution(ctx context.Context, r meta.Report, at time.Time) (meta.Execution, error) {
	_, execs, err := a.reportStores()
	if err != nil {
		return meta.Execution{}, err
	}
	if a.cfg.Jobs == nil {
		return meta.Execution{}, errors.New("insights: no job queue configured")
	}
	// The execution records its job's id before the job exists: after a
	// crash between the two, Resume finds the id without a job and
	// submits it (never a second job for one execution).
	jobID, err := jobs.NewID()
	if err != nil {
		return meta.Execution{}, err
	}
	e, err := execs.CreateExecution(ctx, meta.Execution{ReportID: r.ID, JobID: jobID, Status: meta.ExecutionPending,
		ScheduledAt: at, CreatedAt: at})
	if err != nil {
		return meta.Execution{}, err
	}
	if err := a.submitExecution(ctx, r, e); err != nil {
		now := a.eng.Now()
		e.Status, e.Error, e.FinishedAt = meta.ExecutionFailed, "the execution could not be queued: "+err.Error(), &now
		if uerr := execs.UpdateExecution(context.WithoutCancel(ctx), e); uerr != nil && !errors.Is(uerr, meta.ErrNotFound) {
			slog.Default().Error("storing a report execution", "execution", e.ID, "err", uerr)
		}
		return e, err
	}
	return e, nil
}

// submitExecution submits the job of an execution under the id the
// execution recorded.
func (a *API) submitExecution(ctx context.Context, r meta.Report, e meta.Execution) error {
	req, _ := json.Marshal(reportJob{ExecutionID: e.ID, ReportID: r.ID})
	_, err := a.cfg.Jobs.Submit(ctx, meta.Job{ID: e.JobID, Kind: ReportJobKind, Owner: r.Owner, Tenant: r.Tenant, Request: req})
	return err
}

// StartScheduled is the schedule.StartFunc of recurring reports: it
// starts one execution of r due at at through startExecution. Report jobs
// are exempt from the per-tenant job limit (AttachJobs), so a due run is
// queued, not refused; an execution that still cannot be queued (the
// queue stopping, the store failing) is left Failed with the reason.
func (a *API) StartScheduled(ctx context.Context, r meta.Report, at time.Time) error {
	e, err := a.startExecution(ctx, r, at)
	if e.ID == "" {
		return err
	}
	if err != nil {
		slog.Default().Warn("a scheduled report execution could not be queued", "report", r.ID, "execution", e.ID, "err", err)
	}
	return nil
}

// Scheduler returns a scheduler of the recurring reports that starts
// their executions in batches through StartBatch, and runs Resume when it
// starts; clock nil means time.Now.
func (a *API) Scheduler(clock func() time.Time) *schedule.Scheduler {
	return &schedule.Scheduler{Reports: a.cfg.Reports, Start: a.StartScheduled, StartBatch: a.StartBatch,
		OnStart: a.Resume, Clock: clock}
}

// StartBatch is the schedule.BatchFunc of recurring reports: the due
// executions of a batch (Pending, scheduled and created at their due
// time), their jobs and the reports' progress are stored in one write
// transaction (meta.Reports.RecordDueRuns), then the queue is told of the
// jobs. A report changed or deleted since the tick read it is left for
// the next tick.
func (a *API) StartBatch(ctx context.Context, batch []schedule.Due) (int, error) {
	reports, _, err := a.reportStores()
	if err != nil {
		return 0, err
	}
	if a.cfg.Jobs == nil {
		return 0, errors.New("insights: no job queue configured")
	}
	runs := make([]meta.DueRun, len(batch))
	var specs []meta.Job
	var execs []meta.Execution
	var at []int // index in batch of each job
	for i, d := range batch {
		runs[i] = meta.DueRun{Report: d.Report, LastDue: d.LastDue, Exhausted: d.Exhausted}
		if !d.Run {
			continue
		}
		id, err := uuid.NewRandom()
		if err != nil {
			return 0, fmt.Errorf("execution id: %w", err)
		}
		req, err := json.Marshal(reportJob{ExecutionID: id.String(), ReportID: d.Report.ID})
		if err != nil {
			return 0, fmt.Errorf("report job request: %w", err)
		}
		specs = append(specs, meta.Job{Kind: ReportJobKind, Owner: d.Report.Owner, Tenant: d.Report.Tenant, Request: req})
		execs = append(execs, meta.Execution{ID: id.String(), ReportID: d.Report.ID, Status: meta.ExecutionPending,
			ScheduledAt: d.At, CreatedAt: d.At})
		at = append(at, i)
	}
	jobs, err := a.cfg.Jobs.Prepare(specs)
	if err != nil {
		return 0, err
	}
	for k, i := range at {
		execs[k].JobID = jobs[k].ID
		runs[i].Execution, runs[i].Job = &execs[k], &jobs[k]
	}
	done, err := reports.RecordDueRuns(ctx, runs)
	if err != nil {
		return 0, err
	}
	var queued []meta.Job
	for k, i := range at {
		if done[i] {
			queued = append(queued, jobs[k])
			a.fresh.Store(jobs[k].ID, struct{}{})
		}
	}
	a.cfg.Jobs.Enqueued(queued)
	return len(queued), nil
}

// Resume brings the reports' work back in step after a restart; the
// scheduler runs it when it starts (schedule.Scheduler.OnStart), after
// the job queue has started and recovered its jobs:
//
//   - every Pending or Running execution is synced with its job: a job
//     the queue handed back after a crash is enqueued again, so its
//     execution shows Pending (not Running) until a worker takes it; one
//     the crash left finished, or that recovery failed, shows that;
//   - every completed execution whose callback is still owed (it had not
//     succeeded nor used up its attempts) is called back, with the
//     attempts it has left.
func (a *API) Resume(ctx context.Context) error {
	reports, execs, err := a.reportStores()
	if err != nil {
		return err
	}
	list, err := execs.ListExecutions(ctx, meta.ExecutionFilter{Statuses: []meta.ExecutionStatus{meta.ExecutionPending, meta.ExecutionRunning}})
	if err != nil {
		return fmt.Errorf("resume executions: %w", err)
	}
	synced, resubmitted := 0, 0
	for _, e := range list {
		if e.JobID == "" || a.cfg.Jobs == nil {
			continue
		}
		if _, err := a.cfg.Jobs.Get(ctx, e.JobID); errors.Is(err, meta.ErrNotFound) && e.Status == meta.ExecutionPending {
			// the process died between storing the execution and its job
			r, err := reports.GetReport(ctx, e.ReportID)
			if err != nil {
				continue // the report is gone; so is the execution
			}
			if err := a.submitExecution(ctx, r, e); err != nil {
				return fmt.Errorf("resume execution %s: %w", e.ID, err)
			}
			resubmitted++
			continue
		}
		a.syncExecution(ctx, e.JobID)
		synced++
	}
	pending, err := execs.ListExecutions(ctx, meta.ExecutionFilter{CallbackPending: true})
	if err != nil {
		return fmt.Errorf("resume callbacks: %w", err)
	}
	for _, e := range pending {
		r, err := reports.GetReport(ctx, e.ReportID)
		if errors.Is(err, meta.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("resume callbacks: %w", err)
		}
		a.callbacks.send(r, e.ID)
	}
	if synced > 0 || resubmitted > 0 || len(pending) > 0 {
		slog.Default().Info("resumed report work", "component", "insights", "executions_synced", synced,
			"executions_resubmitted", resubmitted, "callbacks", len(pending))
	}
	return nil
}

// splitList splits a ;-separated parameter, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (a *API) visibleReport(k meta.Key, r meta.Report) bool {
	return r.Tenant == Tenant(k) && r.User == k.User
}

// listReports answers GET /ScheduledReport?reportId=a;b&reportName=&queryId=.
func (a *API) listReports(c *fiber.Ctx) error {
	reports, _, err := a.reportStores()
	if err != nil {
		return err
	}
	key := api.KeyFrom(c)
	tenant := Tenant(key)
	idParam, _ := api.Query(c, "reportId")
	name, _ := api.Query(c, "reportName")
	queryID, _ := api.Query(c, "queryId")
	f := meta.ReportFilter{Name: strings.TrimSpace(name), QueryID: strings.TrimSpace(queryID), Tenant: &tenant, User: &key.User}
	if strings.TrimSpace(idParam) != "" {
		f.IDs = splitList(idParam)
	}
	// Paging: a page of ReportsPageSize reports; when more follow, nextLink
	// is this request with skipToken set to the next page's offset.
	if tok, _ := api.Query(c, "skipToken"); strings.TrimSpace(tok) != "" {
		n, err := strconv.Atoi(strings.TrimSpace(tok))
		if err != nil || n < 0 {
			return badRequest("Invalid query parameters - skipToken", "skipToken is the offset a nextLink carries; follow nextLink as given")
		}
		f.Offset = n
	}
	f.Limit = a.cfg.ReportsPageSize + 1
	list, err := reports.ListReports(c.UserContext(), f)
	if err != nil {
		return api.Internal(err)
	}
	if len(list) == 0 && f.Offset == 0 && (f.IDs != nil || f.Name != "" || f.QueryID != "") {
		return notFound("none of your reports matches the reportId, reportName and queryId filters")
	}
	var next *string
	if len(list) > a.cfg.ReportsPageSize {
		list = list[:a.cfg.ReportsPageSize]
		link := a.nextLink(c, f.Offset+a.cfg.ReportsPageSize)
		next = &link
	}
	views := make([]ReportView, len(list))
	for i, r := range list {
		views[i] = reportView(r)
	}
	return c.JSON(Envelope{Value: views, NextLink: next, TotalCount: len(views), StatusCode: fiber.StatusOK})
}

// nextLink is the current request's URL with skipToken set to offset.
func (a *API) nextLink(c *fiber.Ctx, offset int) string {
	base := a.cfg.PublicURL
	if base == "" {
		base = c.BaseURL()
	}
	q := url.Values{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if !strings.EqualFold(string(k), "skipToken") {
			q.Add(string(k), string(v))
		}
	})
	q.Set("skipToken", strconv.Itoa(offset))
	return strings.TrimRight(base, "/") + c.Path() + "?" + q.Encode()
}

// deleteReport answers DELETE /ScheduledReport/{reportId}: the report, its
// executions and their files go; a queued or running execution is
// cancelled.
func (a *API) deleteReport(c *fiber.Ctx) error {
	reports, execs, err := a.reportStores()
	if err != nil {
		return err
	}
	id := strings.TrimSpace(c.Params("reportId"))
	nf := notFound(fmt.Sprintf("none of your reports has reportId '%s'", id))
	r, err := reports.GetReport(c.UserContext(), id)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && !a.visibleReport(api.KeyFrom(c), r)) {
		return nf
	}
	if err != nil {
		return api.Internal(err)
	}
	list, err := execs.ListExecutions(c.UserContext(), meta.ExecutionFilter{ReportIDs: []string{r.ID}})
	if err != nil {
		return api.Internal(err)
	}
	r, err = reports.DeleteReport(c.UserContext(), r.ID)
	if errors.Is(err, meta.ErrNotFound) {
		return nf
	}
	if err != nil {
		return api.Internal(err)
	}
	if a.cfg.Jobs != nil {
		for _, e := range list {
			if e.JobID == "" {
				continue
			}
			switch e.Status {
			case meta.ExecutionPending, meta.ExecutionRunning:
				ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
				_, _ = a.cfg.Jobs.Cancel(ctx, e.JobID) // best effort: a finished job is no matter
				cancel()
			case meta.ExecutionCompleted:
				if err := os.RemoveAll(a.cfg.Jobs.ResultDir(e.JobID)); err != nil {
					slog.Default().Error("removing a deleted report's file", "report", r.ID, "err", err)
				}
			}
		}
	}
	msg := MsgReportDeleted
	return ok(c, []ReportView{reportView(r)}, 1, &msg)
}

// listExecutions answers GET /ScheduledReport/execution/{reportId}
// ?executionId=&executionStatus=&getLatestExecution=, with the documented
// defaults executionStatus=Completed and getLatestExecution=true.
func (a *API) listExecutions(c *fiber.Ctx) error {
	reports, execs, err := a.reportStores()
	if err != nil {
		return err
	}
	key := api.KeyFrom(c)
	none := &api.Error{Status: fiber.StatusNotFound, Code: "not_found", Message: MsgNoExecutions}
	byID := map[string]meta.Report{}
	var ids []string
	for _, id := range splitList(c.Params("reportId")) {
		r, err := reports.GetReport(c.UserContext(), id)
		if errors.Is(err, meta.ErrNotFound) || (err == nil && !a.visibleReport(key, r)) {
			continue
		}
		if err != nil {
			return api.Internal(err)
		}
		byID[r.ID] = r
		ids = append(ids, r.ID)
	}
	if len(ids) == 0 {
		none.Detail = "none of your reports has that reportId"
		return none
	}
	statusParam, _ := api.Query(c, "executionStatus")
	if strings.TrimSpace(statusParam) == "" {
		statusParam = string(meta.ExecutionCompleted)
	}
	var statuses []meta.ExecutionStatus
	for _, s := range splitList(statusParam) {
		found := false
		for _, v := range meta.ExecutionStatuses {
			if strings.EqualFold(s, string(v)) {
				statuses, found = append(statuses, v), true
			}
		}
		if !found {
			return badRequest(MsgInvalidExecStatus, fmt.Sprintf("executionStatus '%s' is not one of them; separate several with ';'", s))
		}
	}
	latest, err := boolParam(c, "getLatestExecution", true)
	if err != nil {
		return err
	}
	f := meta.ExecutionFilter{ReportIDs: ids, Statuses: statuses, Latest: latest}
	if v, _ := api.Query(c, "executionId"); strings.TrimSpace(v) != "" {
		f.ExecutionIDs = splitList(v)
	}
	if !latest {
		f.CreatedAfter = a.eng.Now().Add(-executionHistory)
	}
	list, err := execs.ListExecutions(c.UserContext(), f)
	if err != nil {
		return api.Internal(err)
	}
	if len(list) == 0 {
		none.Detail = fmt.Sprintf("no execution with executionStatus %s", statusParam)
		if statusParam == string(meta.ExecutionCompleted) {
			none.Detail += " yet; pass executionStatus=Pending (or Running, Failed) to see the others"
		}
		return none
	}
	views := make([]ExecutionView, len(list))
	for i, e := range list {
		views[i] = a.executionView(c, byID[e.ReportID], e)
	}
	return ok(c, views, len(views), nil)
}

// download answers GET /download/{executionId}?expires=&sig=: the
// execution's file, for whoever holds a link the server signed that has
// not expired. It needs no API key: the signature is the credential.
func (a *API) download(c *fiber.Ctx) error {
	id := strings.ToLower(strings.TrimSpace(c.Params("executionId")))
	expStr, _ := api.Query(c, "expires")
	sig, _ := api.Query(c, "sig")
	forbidden := &api.Error{Status: fiber.StatusForbidden, Code: "forbidden", Message: MsgLinkInvalid,
		Detail: "use the reportAccessSecureLink of GET /ScheduledReport/execution/{reportId} as it is"}
	exp, err := strconv.ParseInt(strings.TrimSpace(expStr), 10, 64)
	if err != nil || len(a.cfg.SigningKey) == 0 || !verifyLink(a.cfg.SigningKey, id, exp, strings.TrimSpace(sig)) {
		return forbidden
	}
	if time.Now().Unix() > exp {
		return &api.Error{Status: fiber.StatusGone, Code: "gone", Message: MsgLinkExpired,
			Detail: fmt.Sprintf("the link expired at %s; the report must be run again", time.Unix(exp, 0).UTC().Format(timeLayout))}
	}
	gone := &api.Error{Status: fiber.StatusGone, Code: "gone", Message: MsgReportFileGone,
		Detail: "the report or its file was deleted or has expired"}
	if a.cfg.Executions == nil {
		return gone
	}
	e, err := a.cfg.Executions.GetExecution(c.UserContext(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return gone
	}
	if err != nil {
		return api.Internal(err)
	}
	if e.Status != meta.ExecutionCompleted || e.ResultPath == "" {
		return gone
	}
	f, err := os.Open(e.ResultPath)
	if errors.Is(err, os.ErrNotExist) {
		return gone
	}
	if err != nil {
		return api.Internal(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return api.Internal(err)
	}
	ctype := "text/csv; charset=utf-8"
	if strings.HasSuffix(e.ResultPath, ".tsv") {
		ctype = "text/tab-separated-values; charset=utf-8"
	}
	c.Set(fiber.HeaderContentType, ctype)
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(contentDispositionFormat, filepath.Base(e.ResultPath)))
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return c.SendStream(f, int(st.Size())) // fasthttp closes f once sent
}

// reportRoutes are the report routes under one prefix.
func (a *API) reportRoutes(prefix string) []api.Route {
	return []api.Route{
		{Method: fiber.MethodPost, Path: prefix + "/ScheduledReport", Tag: "insights",
			Summary: "Create report: run a query once now (ExecuteNow) or on a schedule into a CSV/TSV file",
			Description: "Body {\"ReportName\", \"Description\", \"QueryId\", \"ExecuteNow\", \"QueryStartTime\", \"QueryEndTime\", " +
				"\"StartTime\", \"RecurrenceInterval\", \"RecurrenceCount\", \"EndTime\", \"Format\" (csv|tsv), \"CallbackUrl\", " +
				"\"CallbackMethod\" (GET|POST)}, field names in any case. ExecuteNow=true runs once at once, QueryStartTime/QueryEndTime " +
				"overriding the TIMESPAN. Scheduled reports run at StartTime + k×RecurrenceInterval hours (TIMESPAN evaluated at each), " +
				"while k < RecurrenceCount and not after EndTime; on completion the callback is called " +
				"(POST {CallbackUrl}/{reportId} or GET {CallbackUrl}?reportId={reportId}).",
			Responses: map[int]string{
				fiber.StatusBadRequest: "Invalid report parameters for creation - …, " + MsgRecurrenceInterval + ", " + MsgInvalidQueryID +
					", User has exceeded its report creation quota of 50 active reports, " +
					"User has exceeded its ExecuteNow report creation quota of 5 reports/60 mins",
				fiber.StatusForbidden: "The key's scope does not cover the query's dataset",
			},
			Handler: a.createReport, Errors: WriteError},
		{Method: fiber.MethodGet, Path: prefix + "/ScheduledReport", Tag: "insights",
			Summary: "Get reports: your reports, filtered",
			Params: []api.Param{
				{Name: "reportId", In: "query", Description: "only these reports; separate several ids with ';'"},
				{Name: "reportName", In: "query", Description: "only reports of this name (case-insensitive)"},
				{Name: "queryId", In: "query", Description: "only reports of this query"},
			},
			Responses: map[int]string{fiber.StatusNotFound: MsgNoItem},
			Handler:   a.listReports, Errors: WriteError},
		{Method: fiber.MethodPut, Path: prefix + "/ScheduledReport/pause/:reportId", Tag: "insights",
			Summary:   "Pause report: no executions start until it is resumed (due times meanwhile are skipped)",
			Params:    []api.Param{{Name: "reportId", In: "path", Required: true, Description: "the report's reportId"}},
			Responses: map[int]string{fiber.StatusBadRequest: MsgPauseInactive, fiber.StatusNotFound: MsgNoItem},
			Handler:   a.pauseReport, Errors: WriteError},
		{Method: fiber.MethodPut, Path: prefix + "/ScheduledReport/resume/:reportId", Tag: "insights",
			Summary:   "Resume report: the next due time runs",
			Params:    []api.Param{{Name: "reportId", In: "path", Required: true, Description: "the report's reportId"}},
			Responses: map[int]string{fiber.StatusBadRequest: MsgPauseInactive, fiber.StatusNotFound: MsgNoItem},
			Handler:   a.resumeReport, Errors: WriteError},
		{Method: fiber.MethodPut, Path: prefix + "/ScheduledReport/:reportId", Tag: "insights",
			Summary: "Update report: name, description, schedule, format and callback of a recurring report",
			Description: "Body {\"ReportName\", \"Description\", \"StartTime\", \"RecurrenceInterval\", \"RecurrenceCount\", " +
				"\"EndTime\", \"Format\", \"CallbackUrl\", \"CallbackMethod\"}, validated as on create. The schedule restarts at StartTime; " +
				"an Inactive report becomes Active.",
			Params: []api.Param{{Name: "reportId", In: "path", Required: true, Description: "the report's reportId"}},
			Responses: map[int]string{
				fiber.StatusBadRequest: "Invalid report parameters for creation - …, " + MsgRecurrenceInterval + ", " + MsgUpdateExecuteNow,
				fiber.StatusNotFound:   MsgNoItem,
			},
			Handler: a.updateReport, Errors: WriteError},
		{Method: fiber.MethodDelete, Path: prefix + "/ScheduledReport/:reportId", Tag: "insights",
			Summary:   "Delete report: the report, its executions and their files",
			Params:    []api.Param{{Name: "reportId", In: "path", Required: true, Description: "the report's reportId"}},
			Responses: map[int]string{fiber.StatusNotFound: MsgNoItem},
			Handler:   a.deleteReport, Errors: WriteError},
		{Method: fiber.MethodGet, Path: prefix + "/ScheduledReport/execution/:reportId", Tag: "insights",
			Summary: "Get report executions, with a signed download link (reportAccessSecureLink) once Completed",
			Params: []api.Param{
				{Name: "reportId", In: "path", Required: true, Description: "the report's reportId; separate several with ';'"},
				{Name: "executionId", In: "query", Description: "only these executions; separate several with ';'"},
				{Name: "executionStatus", In: "query", Description: "Pending, Running, Paused, Completed or Failed; several with ';' (default Completed)"},
				{Name: "getLatestExecution", In: "query", Type: "boolean", Description: "only the latest matching execution of each report (default true); false: the last 90 days"},
			},
			Responses: map[int]string{
				fiber.StatusBadRequest: MsgInvalidExecStatus,
				fiber.StatusNotFound:   MsgNoExecutions,
			},
			Handler: a.listExecutions, Errors: WriteError},
	}
}

// DownloadRoutes are the public routes of report files.
func (a *API) DownloadRoutes() []api.Route {
	return []api.Route{
		{Method: fiber.MethodGet, Path: downloadPath + "/:executionId", Tag: "insights", Public: true,
			Summary: "Download a report file through its signed link (reportAccessSecureLink); no API key",
			Params: []api.Param{
				{Name: "executionId", In: "path", Required: true, Description: "the execution's executionId"},
				{Name: "expires", In: "query", Required: true, Type: "integer", Description: "link expiry, unix seconds"},
				{Name: "sig", In: "query", Required: true, Description: "HMAC-SHA256 signature of the link"},
			},
			Responses: map[int]string{
				fiber.StatusForbidden: MsgLinkInvalid,
				fiber.StatusGone:      MsgLinkExpired + "; " + MsgReportFileGone,
			},
			Handler: a.download, Errors: WriteError},
	}
}
