// Package insights is the Partner Center "insights" programmatic-access
// API family (SPEC.md §5; shared/reference/partner-center-insights.md §3):
// the same routes under /insights/v1.1/cmp, /insights/v1/cmp and
// /insights/v1/mpn, every answer in the family's envelope
// {value, nextLink, totalCount, message, statusCode, dataRedacted}.
//
// It serves GET /ScheduledDataset, the saved report queries
// (POST|GET /ScheduledQueries, DELETE /ScheduledQueries/{queryId}; see
// queries.go), GET /ScheduledQueries/testQueryResult, and the reports
// (reports.go): run-once and recurring (engine/schedule), their
// executions, signed download links and completion callbacks
// (callbacks.go).
package insights

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// Prefixes are the base paths the family answers under; they are aliases.
var Prefixes = []string{"/insights/v1.1/cmp", "/insights/v1/cmp", "/insights/v1/mpn"}

// Datasets are the canonical names of the datasets the family serves
// (the commercial-marketplace ISV* datasets and Partner Insights'
// CustomersAndTenants). Other catalog datasets — energy is account-scoped
// too — belong to other families and are "Invalid table name" here.
var Datasets = []string{"usage", "orders", "customers", "revenue", "marketplace_insights",
	"quality_of_service", "offer_retention", "customers_and_tenants"}

// Public messages of the family.
const (
	MsgDatasetsFetched = "Dataset fetched successfully"
	MsgInvalidTable    = "Invalid table name"
	MsgMissingValue    = "Null or missing value"
	MsgInvalidQueryID  = "Invalid QueryId"
	MsgNoItem          = "No item found with given filters"
	MsgQueryCreated    = "Query created successfully"
	MsgQueriesFetched  = "Queries fetched successfully"
	MsgQueryDeleted    = "Query deleted successfully"
	MsgQueryQuota      = "Number of queries exceeded. Delete few queries before creating new queries"
	MsgQueryLength     = "Invalid query parameters for creation - Limit Name and Description length to 256 characters or less"
	MsgSystemQuery     = "Invalid QueryId - system queries cannot be deleted"
	MsgInvalidBody     = "Invalid request payload"
	MsgUnauthorized    = "Unauthorized"
	MsgUnavailable     = "Service unavailable"
)

// DefaultTestQueryTimeout is the public API's testQueryResult limit.
const DefaultTestQueryTimeout = 100 * time.Second

// TestQueryRows is how many rows testQueryResult returns at most.
const TestQueryRows = 100

// DefaultMaxQueriesPerUser is the public API's quota of saved queries.
const DefaultMaxQueriesPerUser = 100

// DefaultReportsPageSize is the page size of GET /ScheduledReport.
const DefaultReportsPageSize = 1000

// Config holds the family's settings.
type Config struct {
	// TestQueryTimeout bounds a testQueryResult run; 0 means
	// DefaultTestQueryTimeout.
	TestQueryTimeout time.Duration
	// Queries stores saved queries; nil means the saved-query routes
	// answer 500 "Service unavailable" (and testQueryResult takes system
	// query ids only).
	Queries meta.Queries
	// MaxQueriesPerUser caps the saved queries of one user (tenant and
	// user, see meta.Query); 0 means DefaultMaxQueriesPerUser.
	MaxQueriesPerUser int

	// Reports and Executions store reports; nil means the report routes
	// answer 500 "Service unavailable".
	Reports    meta.Reports
	Executions meta.Executions
	// Jobs runs report executions; set by AttachJobs.
	Jobs *jobs.Queue
	// SigningKey signs download links (see LoadOrCreateSigningKey).
	SigningKey []byte
	// LinkTTL is how long a download link lives after the file was made
	// (default 7 days, capped by the job queue's ResultTTL).
	LinkTTL time.Duration
	// PublicURL is the base of download links; empty means the request's.
	PublicURL string
	// ReportsPageSize is how many reports one GET /ScheduledReport page
	// holds before nextLink (default 1,000).
	ReportsPageSize int
	// MaxActiveReports caps a user's Active reports (default 50).
	MaxActiveReports int
	// MaxExecuteNow ExecuteNow reports per ExecuteNowWindow per user
	// (default 5 per 60 minutes).
	MaxExecuteNow    int
	ExecuteNowWindow time.Duration

	// CallbackTimeout bounds one callback call (default 10 s),
	// CallbackAttempts is how many calls a callback gets (default 3),
	// CallbackBackoff the wait before the second, doubled before each
	// next (default 1 s), and MaxCallbacks how many calls run at once
	// (default 16).
	CallbackTimeout  time.Duration
	CallbackAttempts int
	CallbackBackoff  time.Duration
	MaxCallbacks     int
}

// API serves the family.
type API struct {
	cfg    Config
	eng    *engine.Engine
	served map[string]bool
	syncMu sync.Mutex // orders execution updates from job state changes
	// fresh holds the jobs StartBatch stored with their executions and
	// has not yet announced (see AttachJobs).
	fresh sync.Map
	// callbacks delivers completion callbacks.
	callbacks *callbacks
}

// New returns the family's handlers over an engine.
func New(cfg Config, eng *engine.Engine) *API {
	if cfg.TestQueryTimeout <= 0 {
		cfg.TestQueryTimeout = DefaultTestQueryTimeout
	}
	if cfg.MaxQueriesPerUser <= 0 {
		cfg.MaxQueriesPerUser = DefaultMaxQueriesPerUser
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = DefaultLinkTTL
	}
	if cfg.MaxActiveReports <= 0 {
		cfg.MaxActiveReports = DefaultMaxActiveReports
	}
	if cfg.MaxExecuteNow <= 0 {
		cfg.MaxExecuteNow = DefaultMaxExecuteNow
	}
	if cfg.ExecuteNowWindow <= 0 {
		cfg.ExecuteNowWindow = DefaultExecuteNowWindow
	}
	if cfg.CallbackTimeout <= 0 {
		cfg.CallbackTimeout = DefaultCallbackTimeout
	}
	if cfg.CallbackAttempts <= 0 {
		cfg.CallbackAttempts = DefaultCallbackAttempts
	}
	if cfg.CallbackBackoff <= 0 {
		cfg.CallbackBackoff = DefaultCallbackBackoff
	}
	if cfg.MaxCallbacks <= 0 {
		cfg.MaxCallbacks = DefaultMaxCallbacks
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.ReportsPageSize <= 0 {
		cfg.ReportsPageSize = DefaultReportsPageSize
	}
	a := &API{cfg: cfg, eng: eng, served: map[string]bool{}, callbacks: newCallbacks(cfg)}
	for _, n := range Datasets {
		a.served[n] = true
	}
	return a
}

// Routes returns the family's route table entries under one prefix.
func (a *API) Routes(prefix string) []api.Route {
	return append(a.queryRoutes(prefix), a.reportRoutes(prefix)...)
}

func (a *API) queryRoutes(prefix string) []api.Route {
	return []api.Route{
		{Method: fiber.MethodGet, Path: prefix + "/ScheduledDataset", Tag: "insights",
			Summary: "Get all datasets: each dataset's selectable columns, metrics and date ranges",
			Params: []api.Param{{Name: "datasetName", In: "query",
				Description: "only this dataset (name or alias, case-insensitive)"}},
			Responses: map[int]string{fiber.StatusBadRequest: MsgInvalidTable, fiber.StatusForbidden: "The key has no account scope"},
			Handler:   a.scheduledDataset, Errors: WriteError},
		{Method: fiber.MethodGet, Path: prefix + "/ScheduledQueries/testQueryResult", Tag: "insights",
			Summary: "Try a query: the first 100 rows of a query text or a system query, within 100 s",
			Params: []api.Param{
				{Name: "exportQuery", In: "query", Description: "the query text (SELECT … FROM … TIMESPAN …); exclusive with queryId"},
				{Name: "queryId", In: "query", Description: "a system query's or one of your saved queries' QueryId; exclusive with exportQuery"},
				{Name: "startTime", In: "query", Description: "with endTime, overrides the query's TIMESPAN (yyyy-MM-ddTHH:mm:ssZ)"},
				{Name: "endTime", In: "query", Description: "end of the range startTime opens (exclusive)"},
			},
			Responses: map[int]string{
				fiber.StatusBadRequest: "Invalid query syntax, Invalid table name, Incorrect column name, …; `detail` gives the position",
				fiber.StatusForbidden:  "The key's scope does not cover the dataset",
			},
			Handler: a.testQueryResult, Errors: WriteError},
		{Method: fiber.MethodPost, Path: prefix + "/ScheduledQueries", Tag: "insights",
			Summary: "Create report query: save a query text under a new QueryId",
			Description: "Body {\"Name\" (required), \"Description\", \"Query\" (required)}, field names in any case. " +
				"The query must parse and plan over the datasets the key may read. At most 100 queries per user.",
			Responses: map[int]string{
				fiber.StatusBadRequest: MsgMissingValue + ", Invalid query syntax, Invalid table name, Incorrect column name, " +
					MsgQueryQuota + ", …; `detail` gives the position of query errors",
				fiber.StatusForbidden: "The key's scope does not cover the query's dataset",
			},
			Handler: a.createQuery, Errors: WriteError},
		{Method: fiber.MethodGet, Path: prefix + "/ScheduledQueries", Tag: "insights",
			Summary: "Get report queries: the system queries and your saved queries",
			Params: []api.Param{
				{Name: "queryId", In: "query", Description: "only this query"},
				{Name: "queryName", In: "query", Description: "only queries of this name (case-insensitive)"},
				{Name: "includeSystemQueries", In: "query", Type: "boolean", Description: "list system queries too (default true)"},
				{Name: "includeOnlySystemQueries", In: "query", Type: "boolean", Description: "list system queries only (default false)"},
			},
			Responses: map[int]string{
				fiber.StatusBadRequest: MsgInvalidQueryID + " (not a UUID), invalid boolean parameters",
				fiber.StatusNotFound:   MsgNoItem + " (a queryId or queryName filter matched nothing)",
			},
			Handler: a.listQueries, Errors: WriteError},
		{Method: fiber.MethodDelete, Path: prefix + "/ScheduledQueries/:queryId", Tag: "insights",
			Summary: "Delete report query: delete one of your saved queries and return it",
			Params:  []api.Param{{Name: "queryId", In: "path", Required: true, Description: "the saved query's QueryId"}},
			Responses: map[int]string{
				fiber.StatusBadRequest: MsgInvalidQueryID + " (not a UUID); " + MsgSystemQuery,
				fiber.StatusNotFound:   MsgNoItem,
			},
			Handler: a.deleteQuery, Errors: WriteError},
	}
}

// Envelope is every answer of the family, success or error.
type Envelope struct {
	Value        any     `json:"value"`
	NextLink     *string `json:"nextLink"`
	TotalCount   int     `json:"totalCount"`
	Message      *string `json:"message"`
	StatusCode   int     `json:"statusCode"`
	DataRedacted bool    `json:"dataRedacted"`
	// Detail is Quarry's addition on errors: what is wrong and how to fix
	// it, with the line and column for query errors.
	Detail string `json:"detail,omitempty"`
}

// WriteError renders an error in the family's envelope (api.ErrorWriter).
func WriteError(c *fiber.Ctx, e *api.Error) error {
	msg, detail := e.Message, e.Detail
	if e.Status >= 500 {
		msg = MsgUnavailable
		if id := api.RequestID(c); id != "" {
			detail = strings.TrimPrefix(detail+"; request id "+id, "; ")
		}
	}
	return c.Status(e.Status).JSON(Envelope{Value: []any{}, Message: &msg, StatusCode: e.Status, Detail: detail})
}

func ok(c *fiber.Ctx, value any, n int, msg *string) error {
	return c.JSON(Envelope{Value: value, TotalCount: n, Message: msg, StatusCode: fiber.StatusOK})
}

func badRequest(msg, detail string) *api.Error {
	return &api.Error{Status: fiber.StatusBadRequest, Code: "bad_request", Message: msg, Detail: detail}
}

// scheduledDataset answers GET /ScheduledDataset[?datasetName=].
func (a *API) scheduledDataset(c *fiber.Ctx) error {
	key := api.KeyFrom(c)
	name, _ := api.Query(c, "datasetName")
	name = strings.TrimSpace(name)
	list := []datasets.Descriptor{}
	if name != "" {
		d, display, err := a.dataset(name)
		if err != nil {
			return err
		}
		if !api.CanRead(key, d) {
			return forbidden(d)
		}
		list = append(list, d.Descriptor(display))
	} else {
		for _, n := range Datasets {
			d, found := a.eng.Catalog().Lookup(n)
			if found && api.CanRead(key, d) {
				list = append(list, d.Descriptor(""))
			}
		}
	}
	msg := MsgDatasetsFetched
	return ok(c, list, len(list), &msg)
}

// dataset finds a served dataset by name or alias, case-insensitively,
// and returns the name to describe it under: the alias as the catalog
// spells it, or "" (its first alias) when asked by canonical name.
func (a *API) dataset(name string) (*datasets.Dataset, string, error) {
	d, found := a.eng.Catalog().Lookup(name)
	if !found || !a.served[d.Name] {
		detail := fmt.Sprintf("unknown dataset '%s'", name)
		if s := datasets.Closest(name, a.names()); s != "" {
			detail += fmt.Sprintf("; did you mean '%s'?", s)
		}
		return nil, "", badRequest(MsgInvalidTable, detail)
	}
	for _, al := range d.Aliases {
		if strings.EqualFold(al, name) {
			return d, al, nil
		}
	}
	return d, "", nil
}

// names lists the served datasets' aliases, the names clients use.
func (a *API) names() []string {
	var out []string
	for _, n := range Datasets {
		if d, found := a.eng.Catalog().Lookup(n); found {
			out = append(out, d.Aliases...)
			if len(d.Aliases) == 0 {
				out = append(out, d.Name)
			}
		}
	}
	return out
}

func forbidden(d *datasets.Dataset) *api.Error {
	return &api.Error{Status: fiber.StatusForbidden, Code: "forbidden", Message: planner.MsgForbidden,
		Detail: fmt.Sprintf("this key has no %s scope, so it cannot read dataset %s; use a key created with --%s",
			d.TenantScope, d.Descriptor("").DatasetName, d.TenantScope)}
}
