package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/server/api"
)

// HeaderRequestID carries the request id, in and out.
const HeaderRequestID = "X-Request-Id"

// maxRequestIDLen bounds a client-supplied request id; a longer or
// non-printable one is replaced by a generated id.
const maxRequestIDLen = 128

// recovery turns a panic anywhere below it into a 500 in the route's
// envelope and logs the stack; the server keeps serving. The access log
// and metrics below it record the request as a 500 while unwinding.
func (s *Server) recovery(c *fiber.Ctx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic serving request", "request_id", api.RequestID(c), "method", c.Method(),
				"path", c.Path(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			c.Response().Reset()
			if id := api.RequestID(c); id != "" {
				c.Set(HeaderRequestID, id)
			}
			err = s.writeError(c, &api.Error{Status: fiber.StatusInternalServerError, Code: "internal",
				Message: "Internal server error"})
		}
	}()
	return c.Next()
}

// requestID takes the client's X-Request-Id when it is sane, generates
// one otherwise, and echoes it on the response. It also gives the request
// its context (see Server.base).
func (s *Server) requestID(c *fiber.Ctx) error {
	id := requestIDOf(c)
	api.SetRequestID(c, id)
	c.Set(HeaderRequestID, id)
	c.SetUserContext(s.base)
	return c.Next()
}

func requestIDOf(c *fiber.Ctx) string {
	id := c.Get(HeaderRequestID)
	if id == "" || len(id) > maxRequestIDLen {
		return newRequestID()
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return newRequestID()
		}
	}
	return id
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// accessLog writes one structured line per request: method, path (no
// query string: it may hold query text), route pattern, status, duration,
// request id and the key's public id. The secret is never logged.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	done := false
	defer func() {
		if !done { // a panic is unwinding: recovery answers 500
			c.Status(fiber.StatusInternalServerError)
		}
		s.logRequest(c, start)
	}()
	err := c.Next()
	done = true
	return err
}

func (s *Server) logRequest(c *fiber.Ctx, start time.Time) {
	status := c.Response().StatusCode()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", c.Method()),
		slog.String("path", c.Path()),
		slog.String("route", routeLabel(c)),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.String("request_id", api.RequestID(c)),
	}
	if k := api.KeyFrom(c); k.ID != "" {
		attrs = append(attrs, slog.String("key_id", k.ID))
	}
	s.log.LogAttrs(c.UserContext(), level, "http request", attrs...)
}

// unmatchedRoute labels requests no route matched, so unknown paths do
// not each become a metrics series.
const unmatchedRoute = "unmatched"

func routeLabel(c *fiber.Ctx) string {
	if r := api.RouteFrom(c); r != nil {
		return r.Path
	}
	return unmatchedRoute
}

// observe renders an error returned below it in the route's envelope —
// so the status is final — and records the request's metrics by route
// pattern.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	s.metrics.inFlight.Inc()
	done := false
	defer func() {
		s.metrics.inFlight.Dec()
		status := c.Response().StatusCode()
		if !done {
			status = fiber.StatusInternalServerError
		}
		s.metrics.observe(routeLabel(c), c.Method(), status, time.Since(start))
	}()
	if err := c.Next(); err != nil {
		if werr := s.writeError(c, api.AsError(err)); werr != nil {
			done = true
			return fmt.Errorf("write error response: %w", werr)
		}
	}
	done = true
	return nil
}

// bodyLimit answers 413 when a body is over Config.BodyLimit. The app
// streams bodies over the limit to handlers (Fiber's StreamRequestBody, so
// that ingest can read large bodies without holding them); every route but
// a streaming one (api.Route.StreamBody, which enforces its own limit)
// reads at most the limit of such a stream, then refuses it.
func (s *Server) bodyLimit(r *api.Route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		tooLarge := &api.Error{Status: fiber.StatusRequestEntityTooLarge, Code: "payload_too_large",
			Message: fmt.Sprintf("Request body over the limit of %d bytes", s.cfg.BodyLimit)}
		if r.StreamBody {
			return c.Next()
		}
		if n := c.Request().Header.ContentLength(); n > s.cfg.BodyLimit {
			// the unread rest of the body must not be taken for the
			// connection's next request
			c.Context().SetConnectionClose()
			return tooLarge
		}
		if c.Request().IsBodyStream() {
			b, err := io.ReadAll(io.LimitReader(c.Context().RequestBodyStream(), int64(s.cfg.BodyLimit)+1))
			if err != nil {
				return api.Errorf(fiber.StatusBadRequest, "bad_request", "reading the request body: %v", err)
			}
			if len(b) > s.cfg.BodyLimit {
				c.Context().SetConnectionClose()
				return tooLarge
			}
			c.Request().SetBody(b)
		} else if len(c.Body()) > s.cfg.BodyLimit {
			return tooLarge
		}
		return c.Next()
	}
}
