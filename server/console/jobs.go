package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/engine/sandbox"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/parser"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// jobRequest is the stored Request of a console job: everything needed to
// run it again after a restart.
type jobRequest struct {
	SQL         string        `json:"sql"`
	Language    string        `json:"language"` // "sql" or "report", decided at submission
	Limit       int64         `json:"limit"`
	Scope       planner.Scope `json:"scope"`
	User        string        `json:"user,omitempty"`
	Owner       string        `json:"owner"`
	SubmittedAt time.Time     `json:"submitted_at"`
}

// resultMeta is written beside a job's result file.
type resultMeta struct {
	Columns   []Column `json:"columns"`
	Truncated bool     `json:"truncated"`
	Language  string   `json:"language"`
}

const (
	resultFile = "result.parquet"
	metaFile   = "result.json"
)

func (a *API) jobRoutes() []api.Route {
	id := []api.Param{{Name: "id", In: "path", Required: true, Description: "the job id"}}
	return []api.Route{
		{Method: fiber.MethodPost, Path: "/api/sql/jobs", Tag: "console",
			Summary: "Run a long query as an async job: 202 {id, state, …}",
			Description: "Body {sql, limit (default and max 10,000,000), language}. The job runs in the caller's sandbox with a 1 h time limit " +
				"and writes its rows to a Parquet file; at most 3 active jobs per user.",
			Responses: map[int]string{fiber.StatusAccepted: "the job is enqueued", fiber.StatusBadRequest: "syntax error",
				fiber.StatusForbidden: "a statement that is not allowed", fiber.StatusTooManyRequests: "3 active console jobs already"},
			Handler: a.submitJob, Errors: WriteError},
		{Method: fiber.MethodGet, Path: "/api/sql/jobs", Tag: "console",
			Summary: "The caller's console jobs, newest first", Handler: a.listJobs, Errors: WriteError},
		{Method: fiber.MethodGet, Path: "/api/sql/jobs/:id", Tag: "console",
			Summary: "A job: state (enqueued, running, completed, failed, cancelled, expired), progress (0–100, DuckDB's), rows, error",
			Params:  id, Responses: map[int]string{fiber.StatusNotFound: "no such job for this key"},
			Handler: a.getJob, Errors: WriteError},
		{Method: fiber.MethodDelete, Path: "/api/sql/jobs/:id", Tag: "console",
			Summary: "Cancel a job (enqueued or running)", Params: id,
			Responses: map[int]string{fiber.StatusNotFound: "no such job for this key", fiber.StatusConflict: "the job already finished"},
			Handler:   a.cancelJob, Errors: WriteError},
		{Method: fiber.MethodGet, Path: "/api/sql/jobs/:id/result", Tag: "console",
			Summary: "A completed job's rows: JSON (as POST /api/sql, first `limit` rows), CSV, Parquet or an Arrow IPC stream",
			Params: append(append([]api.Param(nil), id...),
				api.Param{Name: "format", In: "query", Description: "json (default), csv, parquet or arrow"},
				api.Param{Name: "limit", In: "query", Type: "integer", Description: "JSON only: rows to return (default 10,000, at most 1,000,000)"}),
			Responses: map[int]string{fiber.StatusNotFound: "no such job, or its result expired", fiber.StatusConflict: "the job has not completed"},
			Handler:   a.jobResult, Errors: WriteError},
	}
}

func (a *API) queue() (*jobs.Queue, *api.Error) {
	if a.jobs == nil {
		return nil, unavailable("async console jobs")
	}
	return a.jobs, nil
}

// submitJob is POST /api/sql/jobs.
func (a *API) submitJob(c *fiber.Ctx) error {
	q, aerr := a.queue()
	if aerr != nil {
		return aerr
	}
	r, aerr := a.decode(c, a.cfg.JobMaxRows)
	if aerr != nil {
		return aerr
	}
	if r.Limit == min(a.cfg.DefaultRows, a.cfg.JobMaxRows) && !limitGiven(c.Body()) {
		r.Limit = a.cfg.JobMaxRows
	}
	key := api.KeyFrom(c)
	jr := jobRequest{SQL: r.SQL, Language: "sql", Limit: r.Limit, Scope: key.Scope(), User: key.User, Owner: owner(key), SubmittedAt: a.eng.Now()}
	// Check now, so a refused statement is a 400/403 and not a failed job.
	rq, err := a.report(r)
	if err != nil {
		return queryError(err)
	}
	if rq != nil {
		jr.Language = "report"
		if _, err := a.plan(c, rq, r.Limit+1); err != nil {
			return queryError(err)
		}
	} else if _, err := a.sb.Check(c.UserContext(), key.Scope(), r.SQL); err != nil {
		return queryError(err)
	}
	body, err := json.Marshal(jr)
	if err != nil {
		return api.Internal(err)
	}
	j, err := q.Submit(c.UserContext(), meta.Job{Kind: JobKind, Owner: key.ID, Tenant: "console:" + jr.Owner, Request: body})
	var le *jobs.LimitError
	if errors.As(err, &le) {
		return &api.Error{Status: fiber.StatusTooManyRequests, Code: "too_many_requests",
			Message: fmt.Sprintf("you already have %d active console jobs, the limit; wait for one to finish or cancel one", le.Limit)}
	}
	if err != nil {
		return api.Internal(err)
	}
	c.Set(fiber.HeaderLocation, "/api/sql/jobs/"+j.ID)
	return c.Status(fiber.StatusAccepted).JSON(a.jobView(j, jr))
}

func limitGiven(body []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	_, ok := m["limit"]
	return ok
}

// job returns a job of the path if the caller owns it; anything else is
// the same 404.
func (a *API) job(c *fiber.Ctx) (meta.Job, jobRequest, *api.Error) {
	notFound := &api.Error{Status: fiber.StatusNotFound, Code: "not_found", Message: "no console job " + c.Params("id") + " for this key"}
	q, aerr := a.queue()
	if aerr != nil {
		return meta.Job{}, jobRequest{}, aerr
	}
	j, err := q.Get(c.UserContext(), c.Params("id"))
	if errors.Is(err, meta.ErrNotFound) {
		return meta.Job{}, jobRequest{}, notFound
	}
	if err != nil {
		return meta.Job{}, jobRequest{}, api.Internal(err)
	}
	var jr jobRequest
	if j.Kind != JobKind || json.Unmarshal(j.Request, &jr) != nil || jr.Owner != owner(api.KeyFrom(c)) {
		return meta.Job{}, jobRequest{}, notFound
	}
	return j, jr, nil
}

// jobView is a job as the API shows it.
func (a *API) jobView(j meta.Job, jr jobRequest) fiber.Map {
	m := fiber.Map{"id": j.ID, "state": j.State, "sql": jr.SQL, "language": jr.Language, "limit": jr.Limit,
		"created_at": j.CreatedAt, "started_at": j.StartedAt, "finished_at": j.FinishedAt, "expires_at": j.ExpiresAt}
	switch j.State {
	case meta.JobRunning:
		pct := 0.0
		a.mu.Lock()
		p := a.jobProg[j.ID]
		a.mu.Unlock()
		if p != nil {
			pct, _ = p.Get()
		}
		m["progress"] = pct
	case meta.JobCompleted, meta.JobExpired:
		m["progress"] = 100.0
		m["rows"], m["bytes"] = j.ResultRows, j.ResultBytes
		if j.State == meta.JobCompleted {
			m["result"] = "/api/sql/jobs/" + j.ID + "/result"
			if rm, err := readMeta(j); err == nil {
				m["truncated"], m["columns"] = rm.Truncated, rm.Columns
			}
		}
	default:
		m["progress"] = 0.0
	}
	if j.Error != "" {
		m["error"] = j.Error
	}
	return m
}

func readMeta(j meta.Job) (resultMeta, error) {
	var rm resultMeta
	b, err := os.ReadFile(filepath.Join(filepath.Dir(j.ResultPath), metaFile))
	if err != nil {
		return rm, err
	}
	return rm, json.Unmarshal(b, &rm)
}

func (a *API) getJob(c *fiber.Ctx) error {
	j, jr, aerr := a.job(c)
	if aerr != nil {
		return aerr
	}
	return c.JSON(a.jobView(j, jr))
}

func (a *API) listJobs(c *fiber.Ctx) error {
	q, aerr := a.queue()
	if aerr != nil {
		return aerr
	}
	tenant := "console:" + owner(api.KeyFrom(c))
	list, err := q.List(c.UserContext(), meta.JobFilter{Tenant: &tenant, Kind: JobKind})
	if err != nil {
		return api.Internal(err)
	}
	out := []fiber.Map{}
	for i := len(list) - 1; i >= 0 && len(out) < 100; i-- {
		var jr jobRequest
		if json.Unmarshal(list[i].Request, &jr) == nil && jr.Owner == owner(api.KeyFrom(c)) {
			out = append(out, a.jobView(list[i], jr))
		}
	}
	return c.JSON(fiber.Map{"jobs": out})
}

func (a *API) cancelJob(c *fiber.Ctx) error {
	j, jr, aerr := a.job(c)
	if aerr != nil {
		return aerr
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 30*time.Second)
	defer cancel()
	j, err := a.jobs.Cancel(ctx, j.ID)
	if errors.Is(err, jobs.ErrFinished) {
		return &api.Error{Status: fiber.StatusConflict, Code: "conflict", Message: "the job already finished"}
	}
	if err != nil {
		return api.Internal(err)
	}
	return c.JSON(a.jobView(j, jr))
}

// jobResult is GET /api/sql/jobs/{id}/result.
func (a *API) jobResult(c *fiber.Ctx) error {
	j, _, aerr := a.job(c)
	if aerr != nil {
		return aerr
	}
	switch j.State {
	case meta.JobCompleted:
	case meta.JobExpired:
		return &api.Error{Status: fiber.StatusNotFound, Code: "not_found", Message: "the job's result expired"}
	default:
		return &api.Error{Status: fiber.StatusConflict, Code: "conflict", Message: fmt.Sprintf("the job is %s, not completed", j.State)}
	}
	f, aerr := format(c)
	if aerr != nil {
		return aerr
	}
	rm, _ := readMeta(j)
	c.Set("X-Quarry-Truncated", strconv.FormatBool(rm.Truncated))
	if f == "parquet" {
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+j.ID+`.parquet"`)
		c.Set(fiber.HeaderContentType, "application/vnd.apache.parquet")
		return c.SendFile(j.ResultPath)
	}
	limit := int64(-1)
	if f == "json" {
		limit = a.cfg.DefaultRows
		if s, ok := api.Query(c, "limit"); ok && s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 || n > a.cfg.MaxRows {
				return badRequest("limit must be between 1 and %d", a.cfg.MaxRows)
			}
			limit = n
		}
	}
	res, err := a.eng.ReadParquet(c.UserContext(), j.ResultPath, 0)
	if err != nil {
		return api.Internal(err)
	}
	ctype := map[string]string{"json": fiber.MIMEApplicationJSONCharsetUTF8, "csv": "text/csv; charset=utf-8", "arrow": "application/vnd.apache.arrow.stream"}[f]
	c.Set(fiber.HeaderContentType, ctype)
	if f == "csv" {
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+j.ID+`.csv"`)
	}
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer res.Close()
		cr := Cap(res.Reader, limit)
		if limit < 0 {
			cr.left = 1 << 62
		}
		switch f {
		case "json":
			writeJSON(w, cr, func() map[string]any { return map[string]any{"job": j.ID, "job_truncated": rm.Truncated} })
		case "csv":
			WriteCSV(w, cr)
		case "arrow":
			writeArrow(w, cr)
		}
		w.Flush()
	})
	return nil
}

// runJob is the handler of JobKind: run the query (in the sandbox, or a
// report query through the planner) and write its rows, capped, to
// result.parquet with the engine's DuckDB.
func (a *API) runJob(ctx context.Context, j meta.Job, dir string) (jobs.Result, error) {
	var jr jobRequest
	if err := json.Unmarshal(j.Request, &jr); err != nil {
		return jobs.Result{}, fmt.Errorf("console job request: %w", err)
	}
	path := filepath.Join(dir, resultFile)
	var rm resultMeta
	rm.Language = jr.Language
	var st engine.ExportStats
	if jr.Language == "report" {
		q, err := parser.ParseQuery(jr.SQL)
		if err != nil {
			return jobs.Result{}, err
		}
		p, err := planner.FromQuery(q, a.eng.Catalog(), planner.Options{Now: jr.SubmittedAt, Scope: jr.Scope, MaxLimit: jr.Limit + 1})
		if err != nil {
			return jobs.Result{}, err
		}
		res, err := a.eng.Run(engine.WithQueryTimeout(ctx, a.sb.Config().LongTimeout), p)
		if err != nil {
			return jobs.Result{}, err
		}
		defer res.Close()
		rm.Columns = columns(res.Schema())
		cr := Cap(res.Reader, jr.Limit)
		if st, err = a.eng.WriteArrow(ctx, cr, engine.Parquet, path); err != nil {
			return jobs.Result{}, err
		}
		rm.Truncated = cr.Truncated()
	} else {
		prog := &sandbox.Progress{}
		a.mu.Lock()
		a.jobProg[j.ID] = prog
		a.mu.Unlock()
		defer func() {
			a.mu.Lock()
			delete(a.jobProg, j.ID)
			a.mu.Unlock()
		}()
		res, err := a.sb.Query(ctx, jr.Scope, jr.SQL, sandbox.Options{Long: true, MaxRows: jr.Limit, Progress: prog})
		if err != nil {
			return jobs.Result{}, err
		}
		defer res.Close()
		rm.Columns = columns(res.Schema())
		cr := Cap(res.Reader, jr.Limit)
		st, err = a.eng.WriteArrow(engine.WithQueryTimeout(ctx, a.sb.Config().LongTimeout), cr, engine.Parquet, path)
		if qerr := res.Err(); qerr != nil {
			return jobs.Result{}, qerr
		}
		if err != nil {
			return jobs.Result{}, err
		}
		rm.Truncated = cr.Truncated()
	}
	b, err := json.Marshal(rm)
	if err != nil {
		return jobs.Result{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, metaFile), b, 0o644); err != nil {
		return jobs.Result{}, fmt.Errorf("console job: %w", err)
	}
	return jobs.Result{Path: resultFile, Rows: st.Rows, Bytes: st.Bytes}, nil
}
