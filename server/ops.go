package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/quarry/quarry/server/api"
)

// opsRoutes are the operations routes. They are public: load balancers
// and orchestrators probe /healthz and /readyz, Prometheus scrapes
// /metrics and clients fetch /openapi.json without an API key. None of
// them reveals tenant data (metrics are labelled by route pattern only).
func (s *Server) opsRoutes() []api.Route {
	return []api.Route{
		{Method: fiber.MethodGet, Path: "/healthz", Tag: "operations", Public: true,
			Summary: "Liveness: the process is up", Handler: s.healthz},
		{Method: fiber.MethodGet, Path: "/readyz", Tag: "operations", Public: true,
			Summary:     "Readiness: the engine answers a query and the metadata store is reachable",
			Responses:   map[int]string{fiber.StatusServiceUnavailable: "Not ready; the body names the failing check"},
			Handler:     s.readyz,
			Description: "503 while shutting down or when a check fails."},
		{Method: fiber.MethodGet, Path: "/metrics", Tag: "operations", Public: true,
			Summary: "Prometheus metrics (text exposition format)",
			Handler: adaptor.HTTPHandler(promhttp.HandlerFor(s.deps.Registry, promhttp.HandlerOpts{Registry: s.deps.Registry}))},
		{Method: fiber.MethodGet, Path: "/openapi.json", Tag: "operations", Public: true,
			Summary: "This OpenAPI 3.0 document, generated from the route table", Handler: s.openapiHandler},
	}
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readiness is the body of /readyz.
type readiness struct {
	Status string            `json:"status"`           // "ok" or "unavailable"
	Reason string            `json:"reason,omitempty"` // the first failing check
	Checks map[string]string `json:"checks"`           // check name → "ok" or its error
}

func (s *Server) readyz(c *fiber.Ctx) error {
	r := readiness{Status: "ok", Checks: map[string]string{}}
	fail := func(name string, err error) {
		r.Checks[name] = err.Error()
		if r.Reason == "" {
			r.Reason = name + ": " + err.Error()
		}
	}
	if s.draining.Load() {
		fail("server", errors.New("shutting down"))
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.ReadyTimeout)
	defer cancel()
	if err := s.pingEngine(ctx); err != nil {
		fail("engine", err)
	} else {
		r.Checks["engine"] = "ok"
	}
	if s.deps.Ready != nil {
		if err := s.deps.Ready(ctx); err != nil {
			fail("store", err)
		} else {
			r.Checks["store"] = "ok"
		}
	}
	if r.Reason != "" {
		r.Status = "unavailable"
		return c.Status(fiber.StatusServiceUnavailable).JSON(r)
	}
	return c.JSON(r)
}

// pingEngine runs a constant trivial query on the engine's DuckDB
// instance (no request text is involved).
func (s *Server) pingEngine(ctx context.Context) error {
	if s.deps.Engine == nil {
		return errors.New("no engine configured")
	}
	var one int
	if err := s.deps.Engine.DB().QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("SELECT 1: %w", err)
	}
	return nil
}

func (s *Server) openapiHandler(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(s.openapi)
}
