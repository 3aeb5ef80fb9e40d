package analytics

import (
	"context"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// StatsPath is the base path of the synchronous stats API (a Fiber
// pattern); StatsPath + "/:dimensions" takes a comma list of dimensions.
const StatsPath = "/v1/organizations/:org/environments/:env/stats"

// DimensionSeparator joins the values of a dimension group into the name
// of its entry when the path names several dimensions (in path order).
const DimensionSeparator = ","

// NotSet names the entry of a NULL dimension value, as Apigee shows
// unknown identities.
const NotSet = "(not set)"

func (a *API) statsRoutes() []api.Route {
	params := []api.Param{
		{Name: "org", In: "path", Required: true, Description: "organization: scopes the rows (transactions.organization)"},
		{Name: "env", In: "path", Required: true, Description: "environment: scopes the rows (transactions.environment)"},
		{Name: "select", In: "query", Required: true, Description: "comma list of metrics, function(name) or tps, e.g. sum(message_count),avg(total_response_time),tps"},
		{Name: "timeRange", In: "query", Required: true, Description: "MM/DD/YYYY HH:MM[:SS]~MM/DD/YYYY HH:MM[:SS] in UTC (or tzo); 24:00 is not accepted"},
		{Name: "timeUnit", In: "query", Description: "second (range of at most 1 hour), minute, hour, day, week, or month (with a dimension); buckets are UTC, weeks start on Monday"},
		{Name: "sortby", In: "query", Description: "the metric of select that ranks the dimension values (default: the first)"},
		{Name: "sort", In: "query", Description: "ASC or DESC (default) ranking"},
		{Name: "topk", In: "query", Type: "integer", Description: "only the top k dimension values by the ranking metric over the whole range"},
		{Name: "filter", In: "query", Description: "filter expression, e.g. (apiproxy in 'a','b') and (response_status_code ge 400)"},
		{Name: "limit", In: "query", Type: "integer", Description: "dimension values (without a dimension: time buckets) per page, default 1000, at most 14400"},
		{Name: "offset", In: "query", Type: "integer", Description: "dimension values (time buckets) to skip"},
		{Name: "tsAscending", In: "query", Type: "boolean", Description: "true: oldest bucket first; false (default): newest first"},
		{Name: "tzo", In: "query", Type: "integer", Description: "offset from UTC in minutes the timeRange is written in, e.g. -240 for EST"},
	}
	withDims := append(append([]api.Param(nil), params[:2]...),
		api.Param{Name: "dimensions", In: "path", Required: true, Description: "comma list of dimensions, e.g. apiproxy,developer_app"})
	withDims = append(withDims, params[2:]...)
	responses := map[int]string{
		fiber.StatusBadRequest: "invalid select, function, dimension, timeRange, timeUnit, filter, sortby, …; limit over 14400 (code and message \"" + planner.MsgStatsLimit + "\")",
		fiber.StatusForbidden:  "the key is not allowed the organization",
	}
	desc := "Answers {environments:[{name, dimensions:[{name, metrics:[{name, values}]}]}], metaData:{errors, notices}}; " +
		"values are {timestamp (epoch ms of the bucket's start), value} with a timeUnit, plain values without; every value is a decimal string " +
		"with at least one fractional digit (\"39.0\"), null when the metric has no value. Dimension entries are ranked by sortby over the whole range."
	return []api.Route{
		{Method: fiber.MethodGet, Path: StatsPath, Tag: "analytics",
			Summary:     "Metrics of an org/env over a time range, optionally per time bucket (no dimension: metrics under the environment)",
			Description: desc, Params: params, Responses: responses, Handler: a.stats, Errors: writeStatsError},
		{Method: fiber.MethodGet, Path: StatsPath + "/:dimensions", Tag: "analytics",
			Summary:     "Metrics per dimension value (several dimensions: per combination, named by the values joined with \"" + DimensionSeparator + "\")",
			Description: desc, Params: withDims, Responses: responses, Handler: a.stats, Errors: writeStatsError},
	}
}

// writeStatsError is WriteError, except that a limit over 14400 has the
// code and message Edge gives it.
func writeStatsError(c *fiber.Ctx, e *api.Error) error {
	if e.Message == planner.MsgStatsLimit && e.Detail == "" {
		return c.Status(e.Status).JSON(errorBody{Code: e.Message, Message: e.Message, Contexts: []string{}})
	}
	return WriteError(c, e)
}

// stats is GET …/stats[/{dimensions}].
func (a *API) stats(c *fiber.Ctx) error {
	org, env, aerr := pathOrgEnv(c)
	if aerr != nil {
		return aerr
	}
	q := func(name string) string {
		v, _ := api.Query(c, name)
		return v
	}
	req := planner.StatsRequest{
		Select: q("select"), TimeRange: q("timeRange"), TimeUnit: q("timeUnit"), SortBy: q("sortby"), Sort: q("sort"),
		TopK: q("topk"), Filter: q("filter"), Limit: q("limit"), Offset: q("offset"), TSAscending: q("tsAscending"), TZO: q("tzo"),
	}
	if dims := c.Params("dimensions"); dims != "" {
		if u, err := url.PathUnescape(dims); err == nil {
			dims = u
		}
		req.Dimensions = strings.Split(dims, ",")
	}
	key := api.KeyFrom(c)
	sp, err := planner.FromStats(req, a.eng.Catalog(), planner.AnalyticsOptions{
		Options:      planner.Options{Now: a.eng.Now(), Scope: key.Scope()},
		Org:          org,
		Env:          env,
		MaxRangeDays: a.cfg.MaxRangeDays,
		MaxFields:    a.cfg.MaxFields,
	})
	if err != nil {
		return planError(err)
	}
	out, err := a.runStats(c.UserContext(), sp, env)
	if err != nil {
		return planError(err)
	}
	return c.JSON(out)
}

// The response (reference §5.2, verbose).
type (
	statsResponse struct {
		Environments []statsEnv `json:"environments"`
		MetaData     statsMeta  `json:"metaData"`
	}
	statsEnv struct {
		Name       string          `json:"name"`
		Dimensions *[]statsDim     `json:"dimensions,omitempty"`
		Metrics    *[]statsMetrics `json:"metrics,omitempty"`
	}
	statsDim struct {
		Name    string         `json:"name"`
		Metrics []statsMetrics `json:"metrics"`
	}
	statsMetrics struct {
		Name string `json:"name"`
		// Values are statsPoint with a timeUnit, else *string (nil: null).
		Values []any `json:"values"`
	}
	statsPoint struct {
		Timestamp int64   `json:"timestamp"`
		Value     *string `json:"value"`
	}
	statsMeta struct {
		Errors  []string `json:"errors"`
		Notices []string `json:"notices"`
	}
)

// runStats runs the plan (Rank, then Series for the ranked groups; or
// Series alone) and shapes the response.
func (a *API) runStats(ctx context.Context, sp *planner.StatsPlan, env string) (*statsResponse, error) {
	n := len(sp.Dimensions)
	newMetrics := func() []statsMetrics {
		ms := make([]statsMetrics, len(sp.Metrics))
		for i, m := range sp.Metrics {
			ms[i] = statsMetrics{Name: m, Values: []any{}}
		}
		return ms
	}
	// add appends a Series row's metric values (after the dimensions and
	// the bucket) to ms.
	add := func(ms []statsMetrics, row []any) error {
		vals := row[n:]
		var ts int64
		if sp.Unit != "" {
			b, _ := vals[0].(string)
			t, err := time.Parse("2006-01-02 15:04:05 UTC", b)
			if err != nil {
				return err
			}
			ts, vals = t.UnixMilli(), vals[1:]
		}
		for i := range ms {
			v := statsValue(vals[i])
			if sp.Unit != "" {
				ms[i].Values = append(ms[i].Values, statsPoint{Timestamp: ts, Value: v})
			} else {
				ms[i].Values = append(ms[i].Values, v)
			}
		}
		return nil
	}

	e := statsEnv{Name: env}
	first := sp.Series
	if sp.Rank != nil {
		first = sp.Rank
	}
	rows, err := a.statsRows(ctx, first, sp.Offset)
	if err != nil {
		return nil, err
	}
	switch {
	case n == 0:
		ms := newMetrics()
		for _, r := range rows {
			if err := add(ms, r); err != nil {
				return nil, err
			}
		}
		e.Metrics = &ms
	case sp.Rank == nil:
		dims := make([]statsDim, 0, len(rows))
		for _, r := range rows {
			d := statsDim{Name: groupName(r[:n]), Metrics: newMetrics()}
			if err := add(d.Metrics, r); err != nil {
				return nil, err
			}
			dims = append(dims, d)
		}
		e.Dimensions = &dims
	default:
		dims := make([]statsDim, 0, len(rows))
		index := map[string]int{}
		groups := make([][]any, 0, len(rows))
		for _, r := range rows {
			index[groupKey(r[:n])] = len(dims)
			groups = append(groups, r[:n])
			dims = append(dims, statsDim{Name: groupName(r[:n]), Metrics: newMetrics()})
		}
		if len(groups) > 0 {
			p, err := sp.ForGroups(groups)
			if err != nil {
				return nil, err
			}
			series, err := a.statsRows(ctx, p, 0)
			if err != nil {
				return nil, err
			}
			for _, r := range series {
				i, ok := index[groupKey(r[:n])]
				if !ok {
					continue // a group the ranking did not return (data committed in between)
				}
				if err := add(dims[i].Metrics, r); err != nil {
					return nil, err
				}
			}
		}
		e.Dimensions = &dims
	}
	notices := []string{"Source:Quarry", "Table used: " + sp.Series.Dataset.Name}
	if sp.TopK > 0 {
		notices = append(notices, "topk: "+strconv.FormatInt(sp.TopK, 10)+" by "+sp.RankBy)
	}
	return &statsResponse{Environments: []statsEnv{e}, MetaData: statsMeta{Errors: []string{}, Notices: notices}}, nil
}

// statsRows runs a plan and returns its rows after the first skip.
func (a *API) statsRows(ctx context.Context, p *planner.Plan, skip int64) ([][]any, error) {
	res, err := a.eng.Run(ctx, p)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var rows [][]any
	var seen int64
	for res.Reader.Next() {
		rec := res.Reader.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			seen++
			if seen <= skip {
				continue
			}
			row := make([]any, rec.NumCols())
			for c := range row {
				row[c] = engine.Value(rec.Column(c), r)
			}
			rows = append(rows, row)
		}
	}
	return rows, res.Reader.Err()
}

// statsValue renders a metric value: a decimal number with at least one
// fractional digit ("39.0", "12.5", "0.3333333333333333"; the shortest
// text that reads back as the same float64, never an exponent), nil for
// NULL, NaN or ±Inf.
func statsValue(v any) *string {
	var s string
	switch x := v.(type) {
	case int64:
		s = strconv.FormatInt(x, 10) + ".0"
	case uint64:
		s = strconv.FormatUint(x, 10) + ".0"
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
	case nil:
		return nil
	default:
		s = engine.FormatValue(v)
	}
	return &s
}

// groupName names a dimension entry: its values joined with
// DimensionSeparator, NULL as NotSet.
func groupName(vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		if v == nil {
			parts[i] = NotSet
		} else {
			parts[i] = engine.FormatValue(v)
		}
	}
	return strings.Join(parts, DimensionSeparator)
}

// groupKey identifies a group exactly (types included, NULL apart from
// the text "(not set)").
func groupKey(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
		if v == nil {
			b.WriteString("\x01")
		} else {
			b.WriteString("\x02" + engine.FormatValue(v))
		}
		b.WriteByte(0)
	}
	return b.String()
}
