// Package analytics is the Apigee Edge analytics API family
// (shared/reference/apigee-analytics.md): async custom-report queries
// under /v1/organizations/{org}/environments/{env}/queries (queries.go),
// monetization async reports under /v1/mint/organizations/{org}/async-reports
// (mint.go), and the synchronous stats API (stats.go), over the
// transactions and exchange_rates datasets. Errors use the family's body
// {code, message, contexts}.
//
// An async query is a job of the queue (engine/jobs) whose tenant is its
// org/env: the per-tenant active limit is the API's 10 active queries, and
// the kind's submission rate its 7 per hour, both checked when the job is
// stored. The job's request holds everything needed to rebuild the plan
// after a restart (the body, the org/env, the submitter's scope and the
// submission time that keyword time ranges are relative to).
package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/parser"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// Defaults of Config, the public API's limits.
const (
	DefaultSubmitsPerHour = 7
	DefaultMaxActive      = 10
	DefaultMaxRangeDays   = 365
	DefaultMaxFields      = 25
)

// JobKind is the job kind of async queries and monetization reports.
const JobKind = "analytics.query"

// Error codes of the family's error body.
const (
	CodeBadRequest     = "analytics.BadRequest"
	CodeForbidden      = "analytics.Forbidden"
	CodeNotFound       = "analytics.QueryNotFound"
	CodeOrgNotFound    = "analytics.OrganizationNotFound"
	CodeNotReady       = "analytics.ResultNotReady"
	CodeExpired        = "analytics.ResultExpired"
	CodeRateLimited    = "analytics.SubmissionQuotaExceeded"
	CodeTooManyActive  = "analytics.TooManyActiveQueries"
	CodeUnauthorized   = "analytics.Unauthorized"
	CodeInternal       = "analytics.InternalError"
	CodeUnavailable    = "analytics.ServiceUnavailable"
	CodeTooLarge       = "analytics.PayloadTooLarge"
	CodeMethodNotFound = "analytics.NotFound"
)

// Config holds the family's settings; zero fields take the defaults.
type Config struct {
	// SubmitsPerHour caps POST …/queries (and async-reports) per org/env
	// per sliding hour (default 7; negative: unlimited).
	SubmitsPerHour int
	// MaxActive caps enqueued+running queries per org/env (default 10;
	// negative: unlimited).
	MaxActive int
	// MaxRangeDays caps a query's time range (default 365 days).
	MaxRangeDays int
	// MaxFields caps dimensions + metrics (default 25).
	MaxFields int
}

func (c Config) withDefaults() Config {
	if c.SubmitsPerHour == 0 {
		c.SubmitsPerHour = DefaultSubmitsPerHour
	}
	if c.MaxActive == 0 {
		c.MaxActive = DefaultMaxActive
	}
	if c.MaxRangeDays <= 0 {
		c.MaxRangeDays = DefaultMaxRangeDays
	}
	if c.MaxFields <= 0 {
		c.MaxFields = DefaultMaxFields
	}
	return c
}

// API serves the family.
type API struct {
	cfg  Config
	eng  *engine.Engine
	jobs *jobs.Queue
}

// New returns the family's handlers over an engine.
func New(cfg Config, eng *engine.Engine) *API {
	return &API{cfg: cfg.withDefaults(), eng: eng}
}

// AttachJobs registers the async query kind on q with the family's limits.
// Call it before q.Start.
func (a *API) AttachJobs(q *jobs.Queue) {
	a.jobs = q
	q.Register(JobKind, a.run)
	l := jobs.Limits{Active: a.cfg.MaxActive}
	if a.cfg.SubmitsPerHour > 0 {
		l.PerWindow, l.Window = a.cfg.SubmitsPerHour, time.Hour
	}
	q.SetLimits(JobKind, l)
}

// Routes returns the family's route table entries.
func (a *API) Routes() []api.Route {
	return append(append(a.queryRoutes(), a.mintRoutes()...), a.statsRoutes()...)
}

// WriteError renders an error in the family's body {code, message,
// contexts}; a detail, when there is one, is appended to the message.
func WriteError(c *fiber.Ctx, e *api.Error) error {
	code := e.Code
	if !strings.HasPrefix(code, "analytics.") {
		code = codeFor(e.Status)
	}
	msg := e.Message
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return c.Status(e.Status).JSON(errorBody{Code: code, Message: msg, Contexts: []string{}})
}

type errorBody struct {
	Code     string   `json:"code"`
	Message  string   `json:"message"`
	Contexts []string `json:"contexts"`
}

func codeFor(status int) string {
	switch status {
	case fiber.StatusBadRequest:
		return CodeBadRequest
	case fiber.StatusUnauthorized:
		return CodeUnauthorized
	case fiber.StatusForbidden:
		return CodeForbidden
	case fiber.StatusNotFound:
		return CodeMethodNotFound
	case fiber.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case fiber.StatusTooManyRequests:
		return CodeRateLimited
	case fiber.StatusServiceUnavailable:
		return CodeUnavailable
	}
	return CodeInternal
}

func badRequest(format string, args ...any) *api.Error {
	return &api.Error{Status: fiber.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

// planError turns a planner or parser error into a 400 with its position
// and suggestion; anything else is a 500.
func planError(err error) *api.Error {
	var pe *planner.Error
	if errors.As(err, &pe) {
		if pe.Message == planner.MsgForbidden {
			return &api.Error{Status: fiber.StatusForbidden, Code: CodeForbidden, Message: pe.Message, Detail: pe.Detail}
		}
		return &api.Error{Status: fiber.StatusBadRequest, Code: CodeBadRequest, Message: pe.Message, Detail: pe.Error()}
	}
	var fe *parser.Error
	if errors.As(err, &fe) {
		// a filter error: its position is in the filter text
		return &api.Error{Status: fiber.StatusBadRequest, Code: CodeBadRequest, Message: "Invalid filter", Detail: fe.Error()}
	}
	return api.Internal(err)
}

// allowOrg checks the key may use the organization of the path: an admin
// key any, a member key only the org it is scoped to (another org is a
// 404; a key without an org scope a 403).
func allowOrg(k meta.Key, org string) *api.Error {
	if k.Admin() || (k.Org != "" && k.Org == org) {
		return nil
	}
	if k.Org == "" {
		return &api.Error{Status: fiber.StatusForbidden, Code: CodeForbidden,
			Message: fmt.Sprintf("This key has no organization scope, so it cannot use organization '%s'", org),
			Detail:  "use an admin key or a key created with --org " + org}
	}
	// another tenant's organization is not found, as every other tenant's
	// object (SPEC §6)
	return &api.Error{Status: fiber.StatusNotFound, Code: CodeOrgNotFound,
		Message: fmt.Sprintf("Organization '%s' was not found; this key is scoped to organization '%s'", org, k.Org)}
}

// tenant is the job tenant of an org/env: what the active and submission
// limits count by.
func tenant(org, env string) string { return "apigee:" + org + "/" + env }

// jobRequest is the stored Request of an async query job.
type jobRequest struct {
	Org         string                    `json:"org"`
	Env         string                    `json:"env"`
	Dataset     string                    `json:"dataset"` // "api" or "mint"
	Query       *planner.AnalyticsRequest `json:"query,omitempty"`
	Mint        *MintRequest              `json:"mint,omitempty"`
	TZO         int                       `json:"tzo,omitempty"`
	SubmittedBy string                    `json:"submittedBy"`
	KeyID       string                    `json:"keyId"`
	Scope       planner.Scope             `json:"scope"`
	SubmittedAt time.Time                 `json:"submittedAt"`
	// Start and End are the plan's window when submitted, for display.
	Start *time.Time `json:"start,omitempty"`
	End   *time.Time `json:"end,omitempty"`
}

// plan rebuilds the plan of a stored request.
func (a *API) plan(r jobRequest) (*planner.Plan, error) {
	opt := planner.AnalyticsOptions{
		Options:      planner.Options{Now: r.SubmittedAt, Scope: r.Scope},
		Org:          r.Org,
		Env:          r.Env,
		TZOffset:     r.TZO,
		MaxRangeDays: a.cfg.MaxRangeDays,
		MaxFields:    a.cfg.MaxFields,
	}
	switch r.Dataset {
	case "mint":
		if r.Mint == nil {
			return nil, errors.New("monetization job without its request")
		}
		return planMint(*r.Mint, a.eng.Catalog(), opt)
	default:
		if r.Query == nil {
			return nil, errors.New("analytics job without its query")
		}
		return planner.FromAnalytics(*r.Query, a.eng.Catalog(), opt)
	}
}

// output is the result format of a request: the engine format of its one
// part and the part's extension.
func output(r jobRequest) (engine.Format, string) {
	if r.Query == nil || !strings.EqualFold(r.Query.OutputFormat, "csv") {
		return engine.NDJSONGz, ".json.gz"
	}
	switch r.Query.CSVDelimiter {
	case "|":
		return engine.PipeCSVGz, ".csv.gz"
	case "\t", `\t`:
		return engine.TSVGzip, ".csv.gz"
	}
	return engine.CSVGzip, ".csv.gz"
}

// run is the handler of JobKind: rebuild the plan, export its rows as one
// gzipped part through DuckDB COPY, and wrap the part in the zip the API
// serves (OfflineQueryResult-<id>.zip holding
// QueryResult-<id>-000000000000.json.gz or .csv.gz).
func (a *API) run(ctx context.Context, j meta.Job, dir string) (jobs.Result, error) {
	var r jobRequest
	if err := json.Unmarshal(j.Request, &r); err != nil {
		return jobs.Result{}, fmt.Errorf("analytics job request: %w", err)
	}
	p, err := a.plan(r)
	if err != nil {
		return jobs.Result{}, err
	}
	// The queue bounds the run (RunTimeout, 6 h by default), not the
	// engine's interactive limit.
	ctx = engine.WithQueryTimeout(ctx, a.jobs.Config().RunTimeout)
	format, ext := output(r)
	return WriteResult(ctx, a.eng, p, format, ext, dir, j.ID)
}

// WriteResult writes the result of query id into dir: the plan's rows as
// one gzipped part through DuckDB COPY, wrapped in the zip the API
// serves. The part is removed once zipped (the zip holds it).
func WriteResult(ctx context.Context, eng *engine.Engine, p *planner.Plan, format engine.Format, ext, dir, id string) (jobs.Result, error) {
	part := "QueryResult-" + id + "-000000000000" + ext
	partPath := filepath.Join(dir, part)
	st, err := eng.Export(ctx, p, format, partPath)
	if err != nil {
		return jobs.Result{}, err
	}
	zipName := ZipName(id)
	size, err := engine.WriteZip(filepath.Join(dir, zipName), []engine.ZipEntry{{Name: part, Path: partPath}}, eng.Now())
	if err != nil {
		return jobs.Result{}, err
	}
	if err := os.Remove(partPath); err != nil {
		return jobs.Result{}, fmt.Errorf("analytics result: %w", err)
	}
	return jobs.Result{Path: zipName, Rows: st.Rows, Bytes: size}, nil
}

// ZipName is the file name of a query's result download.
func ZipName(id string) string { return "OfflineQueryResult-" + id + ".zip" }
