// Package metering is the OpenStack Ceilometer v1 metering API family
// (shared/reference/ceilometer-v1.md) over the meters dataset: every GET
// route under /v1 (resources, projects, users, meters, sources, raw
// samples, volume/max|sum, duration). It translates HTTP into
// planner.FromMetering calls and shapes the rows into the v1 JSON bodies;
// the meaning (filters, windows, search_offset, scoping, duration
// clamping) lives in planner/metering.go. Errors are {"error": {code,
// title, message}}.
//
// Scope: a request is scoped by its API key (admin: everything; a key
// with --project: that project only). With Config.TrustProxyHeaders, an
// admin key — the auth proxy's own key — may instead pass the end user's
// identity in X-Roles / X-Project-Id / X-User-Id (see Caller); a member
// key's headers are never honoured, so they cannot widen its scope.
//
// Repeated requests reuse their plan and compiled SQL (planCache): the
// cache is keyed by the normalised request and the caller's scope, and
// the SQL — whose values are bound parameters — is reused only while the
// meters manifest (the file list it names) is the same.
package metering

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// Defaults of Config.
const (
	DefaultPlanCacheSize = 1024
	DefaultMaxSamples    = 1_000_000
)

// Config holds the family's settings. The zero value is ready to use.
type Config struct {
	// TrustProxyHeaders makes requests authenticated with an admin key
	// carry the caller's identity in X-Roles, X-Project-Id (or the
	// deprecated X-Tenant-Id) and X-User-Id, as set by a trusted auth proxy
	// (keystone auth_token): roles including "admin" see everything,
	// others only X-Project-Id. Off by default. Member keys are always
	// scoped by the key, whatever headers they send.
	TrustProxyHeaders bool
	// Sources is what GET /v1/sources/{source} answers per source (the
	// reference's sources.json); nil means {"openstack": {}}.
	Sources map[string]json.RawMessage
	// PlanCacheSize bounds the cached plans (0: DefaultPlanCacheSize;
	// negative: no cache).
	PlanCacheSize int
	// MaxSamples caps the samples one sample list returns; a request
	// matching more is a 400 asking for a narrower window (0:
	// DefaultMaxSamples).
	MaxSamples int64
}

// API serves the family.
type API struct {
	cfg   Config
	eng   *engine.Engine
	cache *planCache
}

// New returns the family's handlers over an engine.
func New(cfg Config, eng *engine.Engine) *API {
	if cfg.Sources == nil {
		cfg.Sources = map[string]json.RawMessage{"openstack": json.RawMessage(`{}`)}
	}
	if cfg.PlanCacheSize == 0 {
		cfg.PlanCacheSize = DefaultPlanCacheSize
	}
	if cfg.MaxSamples <= 0 {
		cfg.MaxSamples = DefaultMaxSamples
	}
	return &API{cfg: cfg, eng: eng, cache: newPlanCache(cfg.PlanCacheSize)}
}

// CacheStats reports the plan cache's hits and misses so far.
func (a *API) CacheStats() (hits, misses int64) { return a.cache.stats() }

// WriteError renders an error as {"error": {"code": 400, "title": "Bad
// Request", "message": "…"}} (OpenStack's error body); a detail is
// appended to the message.
func WriteError(c *fiber.Ctx, e *api.Error) error {
	msg := e.Message
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return c.Status(e.Status).JSON(errorBody{Error: errorInner{Code: e.Status, Title: http.StatusText(e.Status), Message: msg}})
}

type errorBody struct {
	Error errorInner `json:"error"`
}

type errorInner struct {
	Code    int    `json:"code"`
	Title   string `json:"title"`
	Message string `json:"message"`
}

// planError turns a planner error into its status: a project the caller
// may not see is 404, a key without a project scope 403, a malformed
// parameter 400; anything else is a 500.
func planError(err error) *api.Error {
	var pe *planner.Error
	if errors.As(err, &pe) {
		switch pe.Message {
		case planner.MsgMeteringNotFound:
			return &api.Error{Status: fiber.StatusNotFound, Message: "The resource could not be found", Detail: pe.Detail}
		case planner.MsgForbidden:
			return &api.Error{Status: fiber.StatusForbidden, Message: pe.Message, Detail: pe.Detail}
		}
		return &api.Error{Status: fiber.StatusBadRequest, Message: "Invalid parameter", Detail: pe.Error()}
	}
	return api.Internal(err)
}

// Caller returns the scope and identity of a request: the key's, or, with
// TrustProxyHeaders and an admin key, the proxy's headers. With trusted
// headers, a request that sends none of them keeps the key's (admin)
// scope; X-Roles including admin (case-insensitive, comma list) is an
// admin; any other identity needs X-Project-Id, else 403 — an empty
// project never means "everything" here.
func (a *API) Caller(c *fiber.Ctx) (planner.MeteringOptions, *api.Error) {
	k := api.KeyFrom(c)
	if !a.cfg.TrustProxyHeaders || !k.Admin() {
		return planner.MeteringOptions{Scope: k.Scope()}, nil
	}
	roles, project, user := c.Get("X-Roles"), c.Get("X-Project-Id"), c.Get("X-User-Id")
	if project == "" {
		project = c.Get("X-Tenant-Id")
	}
	if roles == "" && project == "" && user == "" {
		return planner.MeteringOptions{Scope: k.Scope()}, nil
	}
	for _, r := range strings.Split(roles, ",") {
		if strings.EqualFold(strings.TrimSpace(r), "admin") {
			return planner.MeteringOptions{Scope: planner.Scope{Admin: true}}, nil
		}
	}
	if strings.TrimSpace(project) == "" {
		return planner.MeteringOptions{}, &api.Error{Status: fiber.StatusForbidden, Message: "Forbidden",
			Detail: "the proxy sent a non-admin identity without X-Project-Id"}
	}
	return planner.MeteringOptions{Scope: planner.Scope{Project: project}, UserFromCaller: true, CallerUser: user}, nil
}

// request builds the planner request of a route from the path and the
// query parameters.
func request(c *fiber.Ctx, kind planner.MeteringKind) (planner.MeteringRequest, error) {
	req := planner.MeteringRequest{Kind: kind}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"resource", &req.Resource}, {"project", &req.Project}, {"user", &req.User}, {"source", &req.Source}, {"meter", &req.Meter}} {
		v := c.Params(p.name)
		if v == "" {
			continue
		}
		u, err := url.PathUnescape(v)
		if err != nil {
			return req, &api.Error{Status: fiber.StatusBadRequest, Message: "Invalid parameter", Detail: fmt.Sprintf("path %s %q: %v", p.name, v, err)}
		}
		*p.dst = u
	}
	args := c.Request().URI().QueryArgs()
	req.Start = string(args.Peek("start_timestamp"))
	req.End = string(args.Peek("end_timestamp"))
	req.Offset = string(args.Peek("search_offset"))
	args.VisitAll(func(k, v []byte) {
		key, ok := strings.CutPrefix(string(k), "metadata.")
		if !ok {
			return
		}
		if req.Metadata == nil {
			req.Metadata = map[string]string{}
		}
		if _, seen := req.Metadata[key]; !seen { // the first value, as Flask's args.get
			req.Metadata[key] = string(v)
		}
	})
	return req, nil
}

// cacheKey is the normalised request and caller: every field, metadata
// sorted by key, each part length-prefixed so no two requests collide.
func cacheKey(req planner.MeteringRequest, opt planner.MeteringOptions) string {
	var b strings.Builder
	add := func(s string) { fmt.Fprintf(&b, "%d:%s|", len(s), s) }
	add(req.Kind.String())
	for _, s := range []string{req.Resource, req.Project, req.User, req.Source, req.Meter,
		strings.TrimSpace(req.Start), strings.TrimSpace(req.End), strings.TrimSpace(req.Offset)} {
		add(s)
	}
	keys := make([]string, 0, len(req.Metadata))
	for k := range req.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k)
		add(req.Metadata[k])
	}
	add(fmt.Sprint(opt.Scope.Admin))
	add(opt.Scope.Project)
	add(opt.Scope.Org)
	add(opt.Scope.Account)
	add(fmt.Sprint(opt.UserFromCaller))
	add(opt.CallerUser)
	return b.String()
}
