// Package console is the developer SQL console: the page at /console
// (embedded in the binary, plain JS and CSS, no CDN) and its API under
// /api/sql — synchronous queries answered as JSON, CSV, Parquet or an
// Arrow IPC stream; EXPLAIN; running-query progress and cancel; and
// async jobs on the durable queue (engine/jobs) with DuckDB's progress,
// cancel and downloadable results.
//
// Raw SQL runs only in the sandbox (engine/sandbox): one locked-down
// DuckDB instance per principal scope whose only tables are views over
// the datasets the key may read. This is the one place in Quarry where a
// request's text is SQL; the sandbox is what makes that safe. Report
// queries (SELECT … FROM Dataset … TIMESPAN …) run through the parser and
// planner like the other APIs, and EXPLAIN shows their plan and compiled
// SQL.
//
// Errors are {"error": {code, message, detail, line, column, position}}:
// the generic envelope plus the position DuckDB (or the report parser)
// points at.
package console

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// Defaults of Config.
const (
	DefaultRows       = 10_000
	DefaultMaxRows    = 1_000_000
	DefaultJobMaxRows = 10_000_000
	DefaultJobActive  = 3
)

// JobKind is the job kind of async console queries.
const JobKind = "console.sql"

// Config holds the console's settings; zero fields take the defaults.
type Config struct {
	// Sandbox is the sandbox SQL runs in (quarry serve opens and verifies
	// it at start); nil: New builds one with SandboxConfig.
	Sandbox *sandbox.Sandbox
	// SandboxConfig tunes the sandbox New builds when Sandbox is nil.
	SandboxConfig sandbox.Config
	// DefaultRows is the row cap of a request without a limit (10,000).
	DefaultRows int64
	// MaxRows is the largest limit a synchronous request may ask for
	// (1,000,000).
	MaxRows int64
	// JobMaxRows caps the rows of an async job's result (10,000,000).
	JobMaxRows int64
	// JobActive caps a user's enqueued+running console jobs (3).
	JobActive int
}

func (c Config) withDefaults() Config {
	if c.DefaultRows <= 0 {
		c.DefaultRows = DefaultRows
	}
	if c.MaxRows <= 0 {
		c.MaxRows = DefaultMaxRows
	}
	if c.DefaultRows > c.MaxRows {
		c.DefaultRows = c.MaxRows
	}
	if c.JobMaxRows <= 0 {
		c.JobMaxRows = DefaultJobMaxRows
	}
	if c.JobActive <= 0 {
		c.JobActive = DefaultJobActive
	}
	return c
}

// API serves the console.
type API struct {
	cfg  Config
	eng  *engine.Engine
	sb   *sandbox.Sandbox
	jobs *jobs.Queue

	mu      sync.Mutex
	running map[string]*running          // synchronous queries by owner + query id
	jobProg map[string]*sandbox.Progress // running jobs' progress by job id
}

// running is a synchronous query that can be followed and cancelled.
type running struct {
	cancel   context.CancelFunc
	progress *sandbox.Progress
	started  time.Time
}

// New returns the console over an engine, running SQL in cfg.Sandbox (or
// a new sandbox with cfg.SandboxConfig).
func New(cfg Config, eng *engine.Engine) *API {
	cfg = cfg.withDefaults()
	sb := cfg.Sandbox
	if sb == nil && eng != nil {
		sb = sandbox.New(eng, cfg.SandboxConfig)
	}
	return &API{cfg: cfg, eng: eng, sb: sb, running: map[string]*running{}, jobProg: map[string]*sandbox.Progress{}}
}

// Sandbox returns the sandbox the console runs SQL in.
func (a *API) Sandbox() *sandbox.Sandbox { return a.sb }

// AttachJobs registers the console job kind on q. Call it before q.Start.
func (a *API) AttachJobs(q *jobs.Queue) {
	a.jobs = q
	q.Register(JobKind, a.runJob)
	q.SetLimits(JobKind, jobs.Limits{Active: a.cfg.JobActive})
}

// Routes returns the console's route table entries: the page (public, as
// SPEC.md §6 allows for the console's static files) and the API.
func (a *API) Routes() []api.Route {
	return append(a.pageRoutes(), append(a.sqlRoutes(), a.jobRoutes()...)...)
}

// WriteError renders the console's error body: the generic envelope plus
// the position of a query error.
func WriteError(c *fiber.Ctx, e *api.Error) error {
	type body struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		Detail   string `json:"detail,omitempty"`
		Line     int    `json:"line,omitempty"`
		Column   int    `json:"column,omitempty"`
		Position *int   `json:"position,omitempty"` // 0-based byte offset into the query text
	}
	b := body{Code: e.Code, Message: e.Message, Detail: e.Detail}
	if b.Code == "" {
		b.Code = api.CodeFor(e.Status)
	}
	var se *sandbox.Error
	var pe *planner.Error
	var fe *parser.Error
	switch {
	case errors.As(e.Err, &se) && se.Line > 0:
		b.Line, b.Column, b.Position = se.Line, se.Column, &se.Offset
	case errors.As(e.Err, &pe) && pe.Pos.Line > 0:
		b.Line, b.Column, b.Position = pe.Pos.Line, pe.Pos.Column, &pe.Pos.Offset
	case errors.As(e.Err, &fe) && fe.Pos.Line > 0:
		b.Line, b.Column, b.Position = fe.Pos.Line, fe.Pos.Column, &fe.Pos.Offset
	}
	return c.Status(e.Status).JSON(struct {
		Error body `json:"error"`
	}{b})
}

// queryError turns a sandbox, planner or parser error into the answer.
func queryError(err error) *api.Error {
	var se *sandbox.Error
	if errors.As(err, &se) {
		status := fiber.StatusBadRequest
		switch se.Code {
		case sandbox.CodeNotAllowed:
			status = fiber.StatusForbidden
		case sandbox.CodeCancelled:
			status = fiber.StatusConflict
		}
		return &api.Error{Status: status, Code: se.Code, Message: se.Message, Err: se}
	}
	var pe *planner.Error
	if errors.As(err, &pe) {
		status := fiber.StatusBadRequest
		if pe.Message == planner.MsgForbidden {
			status = fiber.StatusForbidden
		}
		return &api.Error{Status: status, Code: "report_error", Message: pe.Message, Detail: pe.Error(), Err: pe}
	}
	var fe *parser.Error
	if errors.As(err, &fe) {
		return &api.Error{Status: fiber.StatusBadRequest, Code: "report_error", Message: fe.Message, Detail: fe.Error(), Err: fe}
	}
	if errors.Is(err, engine.ErrTimeout) {
		return &api.Error{Status: fiber.StatusBadRequest, Code: sandbox.CodeTimeout, Message: "the report query ran past its time limit and was cancelled", Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &api.Error{Status: fiber.StatusConflict, Code: sandbox.CodeCancelled, Message: "the query was cancelled", Err: err}
	}
	return api.Internal(err)
}

// owner is who a console object belongs to: the key's user when it has
// one (every key of a user shares its jobs), else the key.
func owner(k meta.Key) string {
	if k.User != "" {
		return "user:" + k.User
	}
	return "key:" + k.ID
}

func unavailable(what string) *api.Error {
	return &api.Error{Status: fiber.StatusServiceUnavailable, Code: "unavailable", Message: fmt.Sprintf("%s is not available on this server", what)}
}
