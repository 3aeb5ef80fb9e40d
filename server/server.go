// Package server is Quarry's HTTP service: one Fiber app on one port with
// the shared middleware (panic recovery, request ids, access logs,
// Prometheus metrics, body size limit, API-key auth), the operations
// routes (/healthz, /readyz, /metrics, /openapi.json) and one sub-package
// per API family (server/insights, …), each with its own envelopes. It
// translates requests into parser and planner calls and hands plans to the
// engine; it never builds SQL.
//
// Every route comes from one table (Server.Routes): the server registers
// the table and generates the OpenAPI document from it, so a route cannot
// be served without being documented.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/engine/schedule"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server/analytics"
	"github.com/quarry/quarry/server/api"
	"github.com/quarry/quarry/server/console"
	"github.com/quarry/quarry/server/energy"
	"github.com/quarry/quarry/server/insights"
	"github.com/quarry/quarry/server/metering"
)

// Defaults of Config's zero fields.
const (
	DefaultBodyLimit       = 10 << 20 // 10 MiB
	DefaultReadTimeout     = 30 * time.Second
	DefaultWriteTimeout    = 60 * time.Second
	DefaultIdleTimeout     = 120 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultReadyTimeout    = 5 * time.Second
)

// Config holds the server's settings. Zero fields take the defaults above.
type Config struct {
	// BodyLimit is the largest request body accepted, in bytes; a larger
	// one is answered 413.
	BodyLimit int
	// ReadTimeout bounds reading one request (headers and body).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response, once the handler returned.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout time.Duration
	// ShutdownTimeout is how long Serve waits for in-flight requests after
	// its context is cancelled; requests still running then are cancelled
	// (their contexts end) and their connections closed.
	ShutdownTimeout time.Duration
	// ReadyTimeout bounds the checks of /readyz.
	ReadyTimeout time.Duration
	// PublicURL is the base URL clients reach the server at, e.g.
	// https://quarry.example.com, for links the server hands out; empty
	// means links are built from the request's scheme and Host.
	PublicURL string
	// Version is the build's version, shown in the OpenAPI document.
	Version string
	// TestQueryTimeout bounds the insights testQueryResult run; 0 means
	// insights.DefaultTestQueryTimeout (100 s, the public API's limit).
	TestQueryTimeout time.Duration
	// ReportLinkTTL is how long a report's download link lives; 0 means
	// insights.DefaultLinkTTL (7 days).
	ReportLinkTTL time.Duration
	// CallbackTimeout, CallbackAttempts and CallbackBackoff tune report
	// completion callbacks; zero means the insights defaults (10 s, 3
	// attempts, 1 s doubling).
	CallbackTimeout  time.Duration
	CallbackAttempts int
	CallbackBackoff  time.Duration
	// Insights quotas (0: the public API's defaults — 100 saved queries
	// and 50 active reports per user, 5 ExecuteNow reports per 60 minutes).
	MaxQueriesPerUser int
	MaxActiveReports  int
	MaxExecuteNow     int
	ExecuteNowWindow  time.Duration
	// ReportsPageSize is GET /ScheduledReport's page size (0: 1,000).
	ReportsPageSize int
	// IngestBodyLimit is the largest POST /api/ingest body (default 1
	// GiB; such bodies are streamed, never held whole), IngestConcurrent
	// how many ingests run at once (default 4; more answer 503 with
	// Retry-After), IngestRatePerSecond the ingest requests per second per
	// key (default 20, bursts of twice that; negative: unlimited; over it
	// answers 429 with Retry-After).
	IngestBodyLimit     int
	IngestConcurrent    int
	IngestRatePerSecond float64
	// Small ingest requests (bodies up to IngestBatchBytes, 4 MiB; NDJSON
	// and CSV) are parsed on their own and committed together: a batch
	// closes IngestBatchWindow (50 ms; negative: no batching) after its
	// first request or at IngestBatchRows rows (100,000), and becomes one
	// part file per day and one manifest commit. Each request is answered
	// after its batch's commit.
	IngestBatchWindow time.Duration
	IngestBatchRows   int
	IngestBatchBytes  int
	// Analytics holds the async analytics queries' limits (zero fields:
	// 7 submissions per hour and 10 active queries per org/env, 365 days,
	// 25 dimensions+metrics). Their run time and result expiry are the job
	// queue's RunTimeout (6 h) and ResultTTL (7 days).
	Analytics analytics.Config
	// Metering holds the metering (Ceilometer v1) family's settings:
	// trusted proxy identity headers (off by default), the sources'
	// descriptions, the plan cache size and the sample list cap.
	Metering metering.Config
	// Console holds the SQL console's settings: its sandbox (quarry serve
	// opens and verifies one at start; nil: built on first use), row caps
	// and job limits.
	Console console.Config
}

func (c Config) withDefaults() Config {
	if c.BodyLimit <= 0 {
		c.BodyLimit = DefaultBodyLimit
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.IngestBodyLimit <= 0 {
		c.IngestBodyLimit = DefaultIngestBodyLimit
	}
	if c.IngestConcurrent <= 0 {
		c.IngestConcurrent = DefaultIngestConcurrent
	}
	if c.IngestBatchWindow == 0 {
		c.IngestBatchWindow = DefaultIngestBatchWindow
	}
	if c.IngestBatchRows <= 0 {
		c.IngestBatchRows = DefaultIngestBatchRows
	}
	if c.IngestBatchBytes <= 0 {
		c.IngestBatchBytes = DefaultIngestBatchBytes
	}
	switch {
	case c.IngestRatePerSecond == 0:
		c.IngestRatePerSecond = DefaultIngestRatePerSecond
	case c.IngestRatePerSecond < 0:
		c.IngestRatePerSecond = 0 // unlimited
	}
	return c
}

// Deps are the services the server calls.
type Deps struct {
	Engine *engine.Engine
	// Keys resolves API keys; Queries, Reports and Executions hold the
	// insights objects (all four are the metadata store in quarry serve).
	// Without Queries the saved-query routes answer 500; without Reports
	// and Executions, the report routes.
	Keys       meta.Keys
	Queries    meta.Queries
	Reports    meta.Reports
	Executions meta.Executions
	// Energy stores the energy custom report templates and reports;
	// without it those routes answer 503.
	Energy meta.Energy
	// Ready, when set, is part of /readyz (e.g. the metadata store's Ping);
	// an error makes the server not ready, with the error as the reason.
	Ready func(ctx context.Context) error
	// Registry receives the server's metrics and is what /metrics serves;
	// nil means a new registry of the server's own metrics only.
	Registry *prometheus.Registry
	// Logger is the access and error log; nil means slog.Default().
	Logger *slog.Logger
	// Jobs is the job queue report executions and async analytics queries
	// run on; New registers their kinds on it, so start it after New. Nil:
	// ExecuteNow reports answer 500, async queries 503.
	Jobs *jobs.Queue
	// SigningKey signs report download links (insights.LoadOrCreateSigningKey).
	SigningKey []byte
}

// Option changes a Server at construction.
type Option func(*Server)

// WithRoutes adds routes to the table: they are registered, authenticated
// and documented like the built-in ones. Tests use it for routes that
// panic or block; future families can be plugged in the same way.
func WithRoutes(routes ...api.Route) Option {
	return func(s *Server) { s.extra = append(s.extra, routes...) }
}

// Server is the HTTP service. Create it with New, run it with Serve.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	app     *fiber.App
	routes  []api.Route
	extra   []api.Route
	metrics *metrics
	openapi []byte
	// ingestLim bounds HTTP ingest (concurrency, per-key rate);
	// committers batch small ingest requests, one per dataset.
	ingestLim  *ingestLimits
	commitMu   sync.Mutex
	committers map[string]*committer
	// insights is the insights family (its report scheduler and callbacks).
	insights *insights.API
	// console is the SQL console (its sandbox also counts a member key's
	// rows for GET /api/datasets).
	console *console.API

	// base is the context every request's context derives from. It is not
	// cancelled when shutdown starts (in-flight requests should finish),
	// only when the shutdown timeout has passed.
	base       context.Context
	cancelBase context.CancelFunc
	draining   atomic.Bool
}

// New builds the server: the route table, the middleware chain and the
// OpenAPI document. It panics if a route table entry is malformed (a
// programming error, caught by every test that builds a server).
func New(cfg Config, deps Deps, opts ...Option) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.deps.Registry == nil {
		s.deps.Registry = prometheus.NewRegistry()
	}
	for _, o := range opts {
		o(s)
	}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	s.metrics = newMetrics(s.deps.Registry)

	s.app = fiber.New(fiber.Config{
		// fasthttp refuses a body over the limit before reading it; the
		// error comes back through ErrorHandler as a 413.
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		DisableStartupMessage: true,
		// Handlers keep strings past the request (logs, errors): copy them.
		Immutable:    true,
		ErrorHandler: s.edgeError,
		// Bodies over BodyLimit reach handlers as streams: ingest reads
		// them as such, every other route refuses them (bodyLimit).
		StreamRequestBody: true,
		JSONEncoder:       encodeJSON,
		AppName:           "quarry",
	})
	s.app.Use(s.recovery, s.requestID, s.accessLog, s.observe)

	s.ingestLim = newIngestLimits(cfg.IngestConcurrent, cfg.IngestRatePerSecond)
	s.committers = map[string]*committer{}
	s.routes = append(s.opsRoutes(), s.apiRoutes()...)
	s.routes = append(s.routes, s.ingestRoutes()...)
	ins := insights.New(insights.Config{TestQueryTimeout: cfg.TestQueryTimeout, Queries: deps.Queries,
		Reports: deps.Reports, Executions: deps.Executions, SigningKey: deps.SigningKey, PublicURL: cfg.PublicURL,
		LinkTTL: cfg.ReportLinkTTL, CallbackTimeout: cfg.CallbackTimeout, CallbackAttempts: cfg.CallbackAttempts,
		CallbackBackoff: cfg.CallbackBackoff, MaxQueriesPerUser: cfg.MaxQueriesPerUser, MaxActiveReports: cfg.MaxActiveReports,
		MaxExecuteNow: cfg.MaxExecuteNow, ExecuteNowWindow: cfg.ExecuteNowWindow, ReportsPageSize: cfg.ReportsPageSize}, deps.Engine)
	s.insights = ins
	if deps.Jobs != nil {
		ins.AttachJobs(deps.Jobs)
	}
	for _, prefix := range insights.Prefixes {
		s.routes = append(s.routes, ins.Routes(prefix)...)
	}
	s.routes = append(s.routes, ins.DownloadRoutes()...)
	ax := analytics.New(cfg.Analytics, deps.Engine)
	if deps.Jobs != nil {
		ax.AttachJobs(deps.Jobs)
	}
	s.routes = append(s.routes, ax.Routes()...)
	en := energy.New(energy.Config{Store: deps.Energy}, deps.Engine)
	if deps.Jobs != nil {
		en.AttachJobs(deps.Jobs)
	}
	for _, prefix := range energy.Prefixes {
		s.routes = append(s.routes, en.Routes(prefix)...)
	}
	s.routes = append(s.routes, metering.New(cfg.Metering, deps.Engine).Routes()...)
	s.console = console.New(cfg.Console, deps.Engine)
	if deps.Jobs != nil {
		s.console.AttachJobs(deps.Jobs)
	}
	s.routes = append(s.routes, s.console.Routes()...)
	s.routes = append(s.routes, s.extra...)
	for i := range s.routes {
		s.register(&s.routes[i])
	}
	doc, err := openAPI(s.routes, cfg.Version, cfg.PublicURL)
	if err != nil {
		panic(fmt.Sprintf("server: openapi document: %v", err))
	}
	s.openapi = doc
	return s
}

// register adds one route of the table to the app: record the route
// (metrics label, error envelope), check the key unless public, handle,
// and render a returned error in the route's envelope.
func (s *Server) register(r *api.Route) {
	if r.Method == "" || !strings.HasPrefix(r.Path, "/") || r.Handler == nil {
		panic(fmt.Sprintf("server: malformed route %q %q", r.Method, r.Path))
	}
	handlers := []fiber.Handler{func(c *fiber.Ctx) error {
		api.SetRoute(c, r)
		return c.Next()
	}, s.bodyLimit(r)}
	if !r.Public {
		handlers = append(handlers, s.auth)
	}
	handlers = append(handlers, r.Handler)
	s.app.Add(r.Method, r.Path, handlers...)
}

// Routes returns the route table: every route the server registers and
// documents, in registration order.
func (s *Server) Routes() []api.Route { return append([]api.Route(nil), s.routes...) }

// OpenAPI returns the OpenAPI 3.0 document served at /openapi.json.
func (s *Server) OpenAPI() []byte { return append([]byte(nil), s.openapi...) }

// Serve answers requests on ln until ctx is cancelled, then shuts down
// gracefully: it stops accepting connections, lets in-flight requests
// finish for up to Config.ShutdownTimeout, then cancels the contexts of
// those still running and returns. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		s.cancelBase()
		if err != nil {
			return fmt.Errorf("serve %s: %w", ln.Addr(), err)
		}
		return nil
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	err := s.app.ShutdownWithTimeout(s.cfg.ShutdownTimeout)
	s.cancelBase()
	// Shutdown returns early when the app had not started serving yet;
	// closing the listener makes a late-starting Serve return at once.
	ln.Close()
	<-errc
	if err != nil {
		return fmt.Errorf("shutdown: in-flight requests still running after %s: %w", s.cfg.ShutdownTimeout, err)
	}
	s.log.Info("shut down")
	return nil
}

// encodeJSON is encoding/json without HTML escaping: API bodies are not
// embedded in HTML, and "<key>" reads better than "\u003ckey\u003e".
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// writeError renders e in the matched route's envelope (generic when no
// route matched or the route has no family).
func (s *Server) writeError(c *fiber.Ctx, e *api.Error) error {
	if e.Status >= 500 {
		s.log.Error("request failed", "request_id", api.RequestID(c), "method", c.Method(), "path", c.Path(),
			"status", e.Status, "err", e)
	}
	if r := api.RouteFrom(c); r != nil && r.Errors != nil {
		return r.Errors(c, e)
	}
	return api.GenericError(c, e)
}

// edgeError is Fiber's ErrorHandler. Errors from routes are rendered by
// the observe middleware, so what reaches here are requests fasthttp
// rejected before routing (a body over the limit, a malformed request,
// a read timeout): they get a request id, a log line and a count too.
func (s *Server) edgeError(c *fiber.Ctx, err error) error {
	e := api.AsError(err)
	if api.RequestID(c) == "" {
		id := requestIDOf(c)
		api.SetRequestID(c, id)
		c.Set(HeaderRequestID, id)
		start := time.Now()
		werr := s.writeError(c, e)
		s.metrics.observe(unmatchedRoute, c.Method(), c.Response().StatusCode(), time.Since(start))
		s.logRequest(c, start)
		return werr
	}
	return s.writeError(c, e)
}

// Scheduler returns the scheduler of recurring reports, reading the time
// from clock (nil: time.Now). It starts executions on the job queue of
// Deps.Jobs: start it after the queue (Run), stop it before.
func (s *Server) Scheduler(clock func() time.Time) *schedule.Scheduler {
	return s.insights.Scheduler(clock)
}

// WaitCallbacks waits until the report callbacks under way have ended, or
// ctx ends.
func (s *Server) WaitCallbacks(ctx context.Context) error {
	return s.insights.WaitCallbacks(ctx)
}
