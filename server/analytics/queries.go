package analytics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// QueriesPath is the base path of async queries (a Fiber pattern).
const QueriesPath = "/v1/organizations/:org/environments/:env/queries"

func (a *API) queryRoutes() []api.Route {
	orgEnv := []api.Param{
		{Name: "org", In: "path", Required: true, Description: "organization: scopes the rows (transactions.organization)"},
		{Name: "env", In: "path", Required: true, Description: "environment: scopes the rows (transactions.environment)"},
	}
	withID := append(append([]api.Param(nil), orgEnv...), api.Param{Name: "id", In: "path", Required: true, Description: "the query id"})
	return []api.Route{
		{Method: fiber.MethodPost, Path: QueriesPath, Tag: "analytics",
			Summary: "Submit an async analytics query",
			Description: "Body {metrics[{name,function,alias,operator,value}], dimensions[], timeRange (last60minutes, last24hours, " +
				"last7days or {start,end}), filter, groupByTimeUnit, limit, outputFormat (json|csv), csvDelimiter (, | \\t)}. " +
				"Answers 201 {self, created, state: \"enqueued\", error: \"false\"}. At most 7 submissions per hour and 10 active queries per org/env.",
			Params: append(append([]api.Param(nil), orgEnv...),
				api.Param{Name: "tzo", In: "query", Type: "integer", Description: "offset from UTC in minutes the timeRange is written in, e.g. -240 for EST"}),
			Responses: map[int]string{
				fiber.StatusCreated:         "the query is enqueued",
				fiber.StatusBadRequest:      "invalid metric, dimension, function, filter, time range (over 365 days), over 25 dimensions+metrics, …",
				fiber.StatusForbidden:       "the key has no organization scope",
				fiber.StatusNotFound:        "another tenant's organization",
				fiber.StatusTooManyRequests: "7 submissions in the last hour, or 10 active queries, for the org/env",
			},
			Handler: a.submit, Errors: WriteError},
		{Method: fiber.MethodGet, Path: QueriesPath, Tag: "analytics",
			Summary: "List async queries of the org/env (a bare array)",
			Params: append(append([]api.Param(nil), orgEnv...),
				api.Param{Name: "submittedBy", In: "query", Description: "only queries submitted by this user"},
				api.Param{Name: "status", In: "query", Description: "only queries in this state: enqueued, running, completed or failed"},
				api.Param{Name: "dataset", In: "query", Description: "api (analytics queries) or mint (monetization reports); both by default"},
				api.Param{Name: "inclQueriesWithoutReport", In: "query", Type: "boolean", Description: "accepted and ignored: every query is listed"}),
			Responses: map[int]string{fiber.StatusBadRequest: "unknown status or dataset", fiber.StatusForbidden: "the key is not allowed the organization"},
			Handler:   a.list, Errors: WriteError},
		{Method: fiber.MethodGet, Path: QueriesPath + "/:id", Tag: "analytics",
			Summary: "Get an async query's state: enqueued, running, completed (with result, resultRows, resultFileSize, executionTime) or failed (with error)",
			Params:  withID,
			Responses: map[int]string{fiber.StatusNotFound: "no such query in this org/env for this key",
				fiber.StatusForbidden: "the key is not allowed the organization"},
			Handler: a.get, Errors: WriteError},
		{Method: fiber.MethodGet, Path: QueriesPath + "/:id/result", Tag: "analytics",
			Summary: "Download a completed query's result: OfflineQueryResult-<id>.zip holding QueryResult-<id>-000000000000.json.gz (newline-delimited JSON) or .csv.gz",
			Params:  withID,
			Responses: map[int]string{
				fiber.StatusNotFound: "no such query, or its result expired (results are kept 7 days)",
				fiber.StatusConflict: "the query has not completed (enqueued, running or failed)",
			},
			Handler: a.result, Errors: WriteError},
	}
}

// pathOrgEnv reads and checks the org and env of the path.
func pathOrgEnv(c *fiber.Ctx) (org, env string, err *api.Error) {
	org, env = c.Params("org"), c.Params("env")
	if org == "" || env == "" {
		return "", "", badRequest("the path needs an organization and an environment")
	}
	return org, env, allowOrg(api.KeyFrom(c), org)
}

func (a *API) queue() (*jobs.Queue, *api.Error) {
	if a.jobs == nil {
		return nil, &api.Error{Status: fiber.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "async queries are not available: this server runs no job queue"}
	}
	return a.jobs, nil
}

// submit is POST …/queries.
func (a *API) submit(c *fiber.Ctx) error {
	org, env, aerr := pathOrgEnv(c)
	if aerr != nil {
		return aerr
	}
	var req planner.AnalyticsRequest
	if err := decodeBody(c.Body(), &req); err != nil {
		return err
	}
	tzo := 0
	if s, ok := api.Query(c, "tzo"); ok && s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < -14*60 || n > 14*60 {
			return badRequest("tzo '%s' is not an offset in minutes between -840 and 840, e.g. -240 for EST", s)
		}
		tzo = n
	}
	switch strings.ToLower(req.OutputFormat) {
	case "", "json", "csv":
	default:
		return badRequest("outputFormat '%s' is not json or csv", req.OutputFormat)
	}
	switch req.CSVDelimiter {
	case "", ",", "|", "\t", `\t`:
	default:
		return badRequest("csvDelimiter %q is not one of ',' '|' '\\t'", req.CSVDelimiter)
	}
	return a.enqueue(c, jobRequest{Org: org, Env: env, Dataset: "api", Query: &req, TZO: tzo})
}

// enqueue validates a request by planning it and submits its job; the
// answer is 201 with the enqueued query.
func (a *API) enqueue(c *fiber.Ctx, r jobRequest) error {
	q, aerr := a.queue()
	if aerr != nil {
		return aerr
	}
	key := api.KeyFrom(c)
	r.SubmittedBy, r.KeyID, r.Scope, r.SubmittedAt = key.User, key.ID, key.Scope(), a.eng.Now()
	p, err := a.plan(r)
	if err != nil {
		return planError(err)
	}
	r.Start, r.End = p.Window.Start, p.Window.End
	body, err := json.Marshal(r)
	if err != nil {
		return api.Internal(err)
	}
	j, err := q.Submit(c.UserContext(), meta.Job{Kind: JobKind, Owner: key.ID, Tenant: tenant(r.Org, r.Env), Request: body})
	var le *jobs.LimitError
	switch {
	case errors.As(err, &le) && le.Window > 0:
		if !le.RetryAt.IsZero() {
			secs := int(math.Ceil(le.RetryAt.Sub(q.Config().Clock()).Seconds()))
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(secs, 1)))
		}
		msg := fmt.Sprintf("%s/%s already submitted %d queries in the last hour, the limit", r.Org, r.Env, le.Limit)
		if !le.RetryAt.IsZero() {
			msg += "; the next can be submitted at " + le.RetryAt.UTC().Format(time.RFC3339)
		}
		return &api.Error{Status: fiber.StatusTooManyRequests, Code: CodeRateLimited, Message: msg}
	case errors.As(err, &le):
		return &api.Error{Status: fiber.StatusTooManyRequests, Code: CodeTooManyActive,
			Message: fmt.Sprintf("%s/%s already has %d active queries (enqueued or running), the limit; wait for one to complete and submit again", r.Org, r.Env, le.Limit)}
	case err != nil:
		return api.Internal(err)
	}
	c.Set(fiber.HeaderLocation, selfPath(r.Org, r.Env, j.ID))
	return c.Status(fiber.StatusCreated).JSON(struct {
		Self    string `json:"self"`
		Created string `json:"created"`
		State   string `json:"state"`
		Error   string `json:"error"`
	}{selfPath(r.Org, r.Env, j.ID), fmtTime(j.CreatedAt), "enqueued", "false"})
}

// decodeBody reads a JSON body strictly enough to name what is wrong.
func decodeBody(body []byte, v any) *api.Error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("the request body is empty; send the query as JSON, e.g. {\"metrics\":[{\"name\":\"message_count\",\"function\":\"sum\"}],\"dimensions\":[\"apiproxy\"],\"timeRange\":\"last24hours\"}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return badRequest("the request body is not valid JSON at byte %d: %v", se.Offset, err)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest("field '%s' must be a %s, not a JSON %s", te.Field, te.Type, te.Value)
		}
		return badRequest("the request body is not a valid query: %v", err)
	}
	return nil
}

func selfPath(org, env, id string) string {
	return "/organizations/" + org + "/environments/" + env + "/queries/" + id
}

// fmtTime is the API's time format: 2018-05-10T07:11:10Z.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// fmtMillis is queryParams' time format: 2020-10-06T19:46:30.006Z.
func fmtMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// find returns the query id of the path if the key may see it in this
// org/env; anything else is the same 404.
func (a *API) find(c *fiber.Ctx) (meta.Job, jobRequest, *api.Error) {
	org, env, aerr := pathOrgEnv(c)
	if aerr != nil {
		return meta.Job{}, jobRequest{}, aerr
	}
	q, aerr := a.queue()
	if aerr != nil {
		return meta.Job{}, jobRequest{}, aerr
	}
	id := c.Params("id")
	notFound := &api.Error{Status: fiber.StatusNotFound, Code: CodeNotFound,
		Message: fmt.Sprintf("Query %s does not exist in organization %s, environment %s", id, org, env)}
	j, err := q.Get(c.UserContext(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return meta.Job{}, jobRequest{}, notFound
	}
	if err != nil {
		return meta.Job{}, jobRequest{}, api.Internal(err)
	}
	var r jobRequest
	if j.Kind != JobKind || j.Tenant != tenant(org, env) || json.Unmarshal(j.Request, &r) != nil || !visible(api.KeyFrom(c), j, r) {
		return meta.Job{}, jobRequest{}, notFound
	}
	return j, r, nil
}

// visible reports whether a key may see a query: an admin sees every
// query; a member key the ones its user submitted (or, for a key without
// a user, the ones the key submitted).
func visible(k meta.Key, j meta.Job, r jobRequest) bool {
	if k.Admin() {
		return true
	}
	if k.User != "" {
		return r.SubmittedBy == k.User && r.Scope.Org == k.Org
	}
	return j.Owner == k.ID
}

// state is the API's state of a job.
func state(j meta.Job) string {
	switch j.State {
	case meta.JobCompleted, meta.JobExpired:
		return "completed"
	case meta.JobFailed, meta.JobCancelled:
		return "failed"
	}
	return string(j.State)
}

// queryView is a query as GET …/queries[/{id}] shows it.
type queryView struct {
	Self           string       `json:"self"`
	State          string       `json:"state"`
	Error          string       `json:"error,omitempty"`
	Result         *resultLink  `json:"result,omitempty"`
	ResultRows     *int64       `json:"resultRows,omitempty"`
	ResultFileSize string       `json:"resultFileSize,omitempty"`
	ExecutionTime  string       `json:"executionTime,omitempty"`
	UserID         string       `json:"userId,omitempty"`
	QueryParams    *queryParams `json:"queryParams,omitempty"`
	Created        string       `json:"created"`
	Updated        string       `json:"updated"`
}

type resultLink struct {
	Self    string `json:"self"`
	Expires string `json:"expires"`
}

type queryParams struct {
	Dimensions     []string `json:"dimensions,omitempty"`
	Metrics        []string `json:"metrics,omitempty"`
	StartTimestamp string   `json:"startTimestamp,omitempty"`
	EndTimestamp   string   `json:"endTimestamp,omitempty"`
	TimeUnit       string   `json:"timeUnit,omitempty"`
	OutputFormat   string   `json:"outputFormat,omitempty"`
	Filter         string   `json:"filter,omitempty"`
	Dataset        string   `json:"dataset"`
}

func view(j meta.Job, r jobRequest, list bool) queryView {
	self := selfPath(r.Org, r.Env, j.ID)
	v := queryView{Self: self, State: state(j), Created: fmtTime(j.CreatedAt), Updated: fmtTime(j.CreatedAt)}
	switch {
	case j.FinishedAt != nil:
		v.Updated = fmtTime(*j.FinishedAt)
	case j.StartedAt != nil:
		v.Updated = fmtTime(*j.StartedAt)
	}
	switch j.State {
	case meta.JobEnqueued:
		v.Error = "false"
	case meta.JobFailed:
		v.Error = j.Error
	case meta.JobCancelled:
		v.Error = "cancelled: " + j.Error
	case meta.JobCompleted, meta.JobExpired:
		if j.ExpiresAt != nil {
			v.Result = &resultLink{Self: self + "/result", Expires: fmtTime(*j.ExpiresAt)}
		}
		rows := j.ResultRows
		v.ResultRows = &rows
		v.ResultFileSize = fmt.Sprintf("%.2f KB", float64(j.ResultBytes)/1024)
		if j.StartedAt != nil && j.FinishedAt != nil {
			v.ExecutionTime = fmt.Sprintf("%.3f seconds", j.FinishedAt.Sub(*j.StartedAt).Seconds())
		}
	}
	if list {
		v.UserID = r.SubmittedBy
	}
	v.QueryParams = paramsOf(r)
	return v
}

func paramsOf(r jobRequest) *queryParams {
	qp := &queryParams{Dataset: r.Dataset}
	if r.Start != nil {
		qp.StartTimestamp = fmtMillis(*r.Start)
	}
	if r.End != nil {
		qp.EndTimestamp = fmtMillis(*r.End)
	}
	if q := r.Query; q != nil {
		qp.Dimensions = q.Dimensions
		for _, m := range q.Metrics {
			fn := strings.ToLower(m.Function)
			alias := m.Alias
			if alias == "" && fn != "" {
				alias = fn + "_" + m.Name
			}
			s := "name:" + m.Name
			if fn != "" {
				s += ",func:" + fn
			}
			if alias != "" {
				s += ",alias:" + alias
			}
			if m.Operator != "" {
				s += ",op:" + m.Operator + ",val:" + m.Value
			}
			qp.Metrics = append(qp.Metrics, s)
		}
		qp.TimeUnit = strings.ToLower(q.GroupByTimeUnit)
		qp.OutputFormat = strings.ToLower(q.OutputFormat)
		if qp.OutputFormat == "" {
			qp.OutputFormat = "json"
		}
		qp.Filter = q.Filter
	}
	return qp
}

// get is GET …/queries/{id}.
func (a *API) get(c *fiber.Ctx) error {
	j, r, aerr := a.find(c)
	if aerr != nil {
		return aerr
	}
	return c.JSON(view(j, r, false))
}

// list is GET …/queries: the org/env's queries the key may see, oldest
// first, as a bare array.
func (a *API) list(c *fiber.Ctx) error {
	org, env, aerr := pathOrgEnv(c)
	if aerr != nil {
		return aerr
	}
	q, aerr := a.queue()
	if aerr != nil {
		return aerr
	}
	f := meta.JobFilter{Kind: JobKind}
	t := tenant(org, env)
	f.Tenant = &t
	status, _ := api.Query(c, "status")
	switch s := strings.ToLower(status); s {
	case "":
	case "enqueued":
		f.States = []meta.JobState{meta.JobEnqueued}
	case "running":
		f.States = []meta.JobState{meta.JobRunning}
	case "completed":
		f.States = []meta.JobState{meta.JobCompleted, meta.JobExpired}
	case "failed":
		f.States = []meta.JobState{meta.JobFailed, meta.JobCancelled}
	default:
		return badRequest("status '%s' is not one of enqueued, running, completed, failed", status)
	}
	dataset, _ := api.Query(c, "dataset")
	dataset = strings.ToLower(dataset)
	if dataset != "" && dataset != "api" && dataset != "mint" {
		return badRequest("dataset '%s' is not api or mint", dataset)
	}
	by, _ := api.Query(c, "submittedBy")
	jl, err := q.List(c.UserContext(), f)
	if err != nil {
		return api.Internal(err)
	}
	key := api.KeyFrom(c)
	out := []queryView{}
	for _, j := range jl {
		var r jobRequest
		if json.Unmarshal(j.Request, &r) != nil || !visible(key, j, r) {
			continue
		}
		if (dataset != "" && r.Dataset != dataset) || (by != "" && !strings.EqualFold(r.SubmittedBy, by)) {
			continue
		}
		out = append(out, view(j, r, true))
	}
	return c.JSON(out)
}

// result is GET …/queries/{id}/result: the zip, once completed.
func (a *API) result(c *fiber.Ctx) error {
	j, _, aerr := a.find(c)
	if aerr != nil {
		return aerr
	}
	switch j.State {
	case meta.JobCompleted:
	case meta.JobExpired:
		return expired(j)
	case meta.JobFailed, meta.JobCancelled:
		return &api.Error{Status: fiber.StatusConflict, Code: CodeNotReady,
			Message: fmt.Sprintf("Query %s failed, so it has no result: %s; fix the query and submit it again", j.ID, j.Error)}
	default:
		return &api.Error{Status: fiber.StatusConflict, Code: CodeNotReady,
			Message: fmt.Sprintf("Query %s is %s; poll GET %s until its state is completed", j.ID, j.State, c.Path()[:len(c.Path())-len("/result")])}
	}
	if j.ExpiresAt != nil && !a.jobs.Config().Clock().Before(*j.ExpiresAt) {
		return expired(j)
	}
	f, err := os.Open(j.ResultPath)
	if errors.Is(err, os.ErrNotExist) {
		return expired(j)
	}
	if err != nil {
		return api.Internal(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return api.Internal(err)
	}
	c.Set(fiber.HeaderContentType, "application/zip")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+ZipName(j.ID)+`"`)
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return c.SendStream(f, int(st.Size())) // fasthttp closes f once sent
}

func expired(j meta.Job) *api.Error {
	when := ""
	if j.ExpiresAt != nil {
		when = " at " + fmtTime(*j.ExpiresAt)
	}
	return &api.Error{Status: fiber.StatusNotFound, Code: CodeExpired,
		Message: fmt.Sprintf("The result of query %s expired%s; results are kept %s after the query completes. Submit the query again",
			j.ID, when, keptFor(j))}
}

func keptFor(j meta.Job) string {
	if j.ExpiresAt != nil && j.FinishedAt != nil {
		d := j.ExpiresAt.Sub(*j.FinishedAt)
		if d%(24*time.Hour) == 0 {
			return strconv.Itoa(int(d/(24*time.Hour))) + " days"
		}
		return d.String()
	}
	return "7 days"
}
