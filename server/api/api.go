// Package api holds what the server and its API families share: the route
// table entry every family contributes, the request's API key, a
// case-insensitive query parameter lookup and the error value handlers
// return. It imports no family, so families can import it without a cycle.
package api

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/meta"
)

// Route is one entry of the route table. The server registers every
// route from the table and generates the OpenAPI document from the same
// table, so a route cannot be served without being documented.
type Route struct {
	Method string // GET, POST, …
	// Path is a Fiber pattern: /v1/things/:id (a parameter is :name).
	Path        string
	Summary     string
	Description string
	Tag         string // OpenAPI tag: the API family
	// Public routes need no API key (health, readiness, metrics, OpenAPI).
	Public bool
	// Params documents the path and query parameters.
	Params []Param
	// Responses documents status codes beyond 200 (and 401 on routes that
	// need a key, which is added automatically), with a description.
	Responses map[int]string
	Handler   fiber.Handler
	// Errors renders this route's errors in its family's envelope; nil
	// means the generic {"error": {"code", "message"}} shape.
	Errors ErrorWriter
	// StreamBody routes read a large body as a stream and enforce their
	// own size limit (ingest); others are held to Config.BodyLimit.
	StreamBody bool
}

// Param is a documented request parameter.
type Param struct {
	Name        string
	In          string // "query" or "path"
	Description string
	Required    bool
	Type        string // JSON schema type: string (default), integer, boolean
}

// ErrorWriter writes an error response in a family's envelope.
type ErrorWriter func(c *fiber.Ctx, e *Error) error

// Error is what a handler returns to answer with an error status. The
// route's ErrorWriter renders it.
type Error struct {
	Status  int    // HTTP status
	Code    string // machine-readable code of the generic envelope, e.g. "unauthorized"
	Message string // short public message
	Detail  string // longer explanation, e.g. a positioned query error; may be empty
	Err     error  // cause, for logs; never shown to the client
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given status, code and message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected error as a 500 whose cause stays in logs.
func Internal(err error) *Error {
	return &Error{Status: fiber.StatusInternalServerError, Code: "internal", Message: "Internal server error", Err: err}
}

// AsError turns any error into an *Error: an *Error as is, a *fiber.Error
// with its status, anything else as a 500.
func AsError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return &Error{Status: fe.Code, Code: CodeFor(fe.Code), Message: fe.Message}
	}
	return Internal(err)
}

// CodeFor is the generic envelope's code for an HTTP status.
func CodeFor(status int) string {
	switch status {
	case fiber.StatusBadRequest:
		return "bad_request"
	case fiber.StatusUnauthorized:
		return "unauthorized"
	case fiber.StatusForbidden:
		return "forbidden"
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	case fiber.StatusRequestTimeout:
		return "request_timeout"
	case fiber.StatusRequestEntityTooLarge:
		return "payload_too_large"
	case fiber.StatusTooManyRequests:
		return "too_many_requests"
	case fiber.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "error"
}

// GenericError is the envelope of routes without a family of their own:
// {"error": {"code": "...", "message": "...", "detail": "..."}}.
func GenericError(c *fiber.Ctx, e *Error) error {
	body := struct {
		Error genericBody `json:"error"`
	}{genericBody{Code: e.Code, Message: e.Message, Detail: e.Detail}}
	if body.Error.Code == "" {
		body.Error.Code = CodeFor(e.Status)
	}
	return c.Status(e.Status).JSON(body)
}

type genericBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  string `json:"detail,omitempty"`
}

// Locals keys. Unexported types so no other package collides with them.
type localKey int

const (
	keyLocal localKey = iota
	routeLocal
	requestIDLocal
)

// SetKey stores the request's resolved API key (the auth middleware does).
func SetKey(c *fiber.Ctx, k meta.Key) { c.Locals(keyLocal, k) }

// KeyFrom returns the API key that authenticated the request; the zero
// Key (no role, no scope) on a public route.
func KeyFrom(c *fiber.Ctx) meta.Key {
	k, _ := c.Locals(keyLocal).(meta.Key)
	return k
}

// SetRoute records the matched route (the server does, before auth).
func SetRoute(c *fiber.Ctx, r *Route) { c.Locals(routeLocal, r) }

// RouteFrom returns the matched route, or nil when no route matched.
func RouteFrom(c *fiber.Ctx) *Route {
	r, _ := c.Locals(routeLocal).(*Route)
	return r
}

// SetRequestID records the request id.
func SetRequestID(c *fiber.Ctx, id string) { c.Locals(requestIDLocal, id) }

// RequestID returns the request id ("" before the middleware ran).
func RequestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestIDLocal).(string)
	return id
}

// Query returns the first query parameter whose name equals name
// case-insensitively (exportQuery, ExportQuery and exportquery are one
// parameter), and whether it was present.
func Query(c *fiber.Ctx, name string) (string, bool) {
	var (
		val   string
		found bool
	)
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		if !found && strings.EqualFold(string(k), name) {
			val, found = string(v), true
		}
	})
	return val, found
}

// CanRead reports whether a key may read a dataset's rows: an admin reads
// every dataset, anyone reads a dataset without a tenant column, and a
// member reads a tenant dataset only with the scope it is restricted by
// (the planner enforces the same rule on every plan; this one only decides
// what listings show).
func CanRead(k meta.Key, d *datasets.Dataset) bool {
	if k.Admin() || d.TenantColumn == "" {
		return true
	}
	switch d.TenantScope {
	case "account":
		return k.Account != ""
	case "org":
		return k.Org != ""
	case "project":
		return k.Project != ""
	}
	return false
}
