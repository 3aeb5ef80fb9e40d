package planner

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quarry/quarry/datasets"
)

// StatsRequest is a synchronous stats API request (Apigee Edge
// GET /v1/organizations/{org}/environments/{env}/stats/{dim1,dim2,…}):
// the dimensions of the path and the query parameters as sent. Every
// parameter is text; FromStats parses and validates it.
type StatsRequest struct {
	Dimensions  []string // from the path; empty for …/stats
	Select      string   // sum(message_count),avg(total_response_time),tps
	TimeRange   string   // MM/DD/YYYY HH:MM[:SS]~MM/DD/YYYY HH:MM[:SS], UTC (or tzo)
	TimeUnit    string   // second, minute, hour, day, week, month
	SortBy      string   // a metric of Select
	Sort        string   // ASC or DESC
	TopK        string   // the top k dimension groups
	Filter      string   // the filter-token language (reference §3)
	Limit       string   // default 1000, at most 14400
	Offset      string   // default 0
	TSAscending string   // true or false (default)
	TZO         string   // minutes east of UTC the timeRange is written in
}

// Limits of the stats API.
const (
	StatsDefaultLimit = 1000
	StatsMaxLimit     = 14400
)

// MsgStatsLimit is the public message (and, in the API's body, the code)
// of a limit over StatsMaxLimit, as Edge words it.
const MsgStatsLimit = "Limit value should not exceed 14400"

// StatsPlan is how a stats request runs.
//
// Every plan's outputs are the dimensions first (in path order), then, in
// Series, the time bucket when there is a timeUnit, then the metrics.
//
// Rank, when set, picks and orders the dimension groups: one row per
// group with the ranking metric over the whole time range, ordered by it
// (Sort), ties by the dimension values ascending, NULLs last. Its first
// Offset rows are skipped; the rest are the groups of the response, in
// order. Series, restricted to those groups with ForGroups, then gives
// their values per bucket. Rank is set only with a dimension and a
// timeUnit; otherwise Series is ranked (or, without a dimension, ordered
// by time) itself and its first Offset rows are skipped.
type StatsPlan struct {
	Dimensions  []string // the dimensions' catalog names
	Unit        string   // the timeUnit; "" for none
	Metrics     []string // the metrics' names as the response shows them: sum(message_count), tps
	Rank        *Plan
	Series      *Plan
	Offset      int64
	TSAscending bool
	// RankBy is the name of the ranking metric (SortBy, else the first
	// metric), Desc its direction, TopK the top-k (0: none).
	RankBy string
	Desc   bool
	TopK   int64
}

var (
	statsItemRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\))?$`)
	statsTimeRE = regexp.MustCompile(`^(\d{1,2})/(\d{1,2})/(\d{4})[ +]+(\d{1,2}):(\d{2})(?::(\d{2}))?$`)
)

// FromStats builds the plan of a stats request. The metrics, the
// dimensions, the filter, the org/env of the path, the tenant scope and
// the time window are validated and built exactly as FromAnalytics does
// (it is called with the equivalent analytics request); the stats API's
// own parameters are parsed here.
func FromStats(req StatsRequest, cat *datasets.Catalog, opt AnalyticsOptions) (*StatsPlan, error) {
	bad := func(format string, a ...any) error {
		return &Error{Message: "Bad request", Detail: fmt.Sprintf(format, a...)}
	}
	name := opt.Dataset
	if name == "" {
		name = "transactions"
	}
	d, ok := cat.Lookup(name)
	if !ok {
		return nil, &Error{Message: MsgInvalidTable, Detail: fmt.Sprintf("unknown dataset '%s'", name)}
	}
	sp := &StatsPlan{}

	// dimensions of the path
	for _, dim := range req.Dimensions {
		dim = strings.TrimSpace(dim)
		if dim == "" {
			return nil, bad("the path's dimension list has an empty name; write …/stats/apiproxy,developer_app")
		}
		sp.Dimensions = append(sp.Dimensions, dim)
	}
	hasDims := len(sp.Dimensions) > 0

	// select: the metrics, validated by analyticsMetric
	if strings.TrimSpace(req.Select) == "" {
		return nil, bad("select is required, e.g. select=sum(message_count),avg(total_response_time)")
	}
	var metrics []AnalyticsMetric
	for _, item := range strings.Split(req.Select, ",") {
		m, label, err := statsMetric(d, item, "select")
		if err != nil {
			return nil, err
		}
		if slices.Contains(sp.Metrics, label) {
			return nil, bad("select lists %s twice", label)
		}
		sp.Metrics = append(sp.Metrics, label)
		m.Alias = label
		metrics = append(metrics, m)
	}

	// timeUnit
	if u := strings.ToLower(strings.TrimSpace(req.TimeUnit)); u != "" {
		units := TimeUnits
		if !hasDims {
			units = TimeUnits[:slices.Index(TimeUnits, "week")+1]
		}
		if !slices.Contains(units, u) {
			if slices.Contains(TimeUnits, u) {
				return nil, bad("timeUnit '%s' needs a dimension; without one use %s", req.TimeUnit, strings.Join(units, ", "))
			}
			return nil, bad("timeUnit '%s' is not one of %s", req.TimeUnit, strings.Join(units, ", "))
		}
		sp.Unit = u
	}

	// timeRange (and tzo)
	if s := strings.TrimSpace(req.TZO); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < -14*60 || n > 14*60 {
			return nil, bad("tzo '%s' is not an offset in minutes between -840 and 840, e.g. -240 for EST", req.TZO)
		}
		opt.TZOffset = n
	}
	start, end, err := parseStatsRange(req.TimeRange)
	if err != nil {
		return nil, err
	}
	if sp.Unit == "second" && end.Sub(start) > time.Hour {
		return nil, bad("timeUnit second allows a timeRange of at most 1 hour; %s spans %s", req.TimeRange, end.Sub(start))
	}

	// paging and ordering
	limit, err := statsInt(req.Limit, "limit", StatsDefaultLimit, 1)
	if err != nil {
		return nil, err
	}
	if limit > StatsMaxLimit {
		return nil, &Error{Message: MsgStatsLimit}
	}
	if sp.Offset, err = statsInt(req.Offset, "offset", 0, 0); err != nil {
		return nil, err
	}
	if sp.TopK, err = statsInt(req.TopK, "topk", 0, 1); err != nil {
		return nil, err
	}
	switch strings.ToLower(strings.TrimSpace(req.TSAscending)) {
	case "", "false":
	case "true":
		sp.TSAscending = true
	default:
		return nil, bad("tsAscending '%s' is not true or false", req.TSAscending)
	}
	sp.Desc = true
	switch strings.ToLower(strings.TrimSpace(req.Sort)) {
	case "", "desc":
	case "asc":
		sp.Desc = false
	default:
		return nil, bad("sort '%s' is not ASC or DESC", req.Sort)
	}
	sp.RankBy = sp.Metrics[0]
	if strings.TrimSpace(req.SortBy) != "" {
		_, label, err := statsMetric(d, req.SortBy, "sortby")
		if err != nil {
			return nil, err
		}
		if !slices.Contains(sp.Metrics, label) {
			return nil, bad("sortby %s is not a metric of select (%s); add it to select", label, strings.Join(sp.Metrics, ", "))
		}
		sp.RankBy = label
	}
	if !hasDims {
		for _, p := range []struct{ name, val string }{{"sortby", req.SortBy}, {"sort", req.Sort}, {"topk", req.TopK}} {
			if strings.TrimSpace(p.val) != "" {
				return nil, bad("%s orders dimension values; this request has no dimension: add one to the path, e.g. …/stats/apiproxy", p.name)
			}
		}
	}

	// The equivalent analytics request builds the window, the outputs,
	// the filter and the scope.
	const iso = "2006-01-02T15:04:05"
	base, err := FromAnalytics(AnalyticsRequest{
		Metrics:         metrics,
		Dimensions:      sp.Dimensions,
		TimeRange:       TimeRange{Start: start.Format(iso), End: end.Format(iso)},
		Filter:          req.Filter,
		GroupByTimeUnit: sp.Unit,
	}, cat, opt)
	if err != nil {
		return nil, err
	}
	base.WindowFrom = "timeRange " + strings.TrimSpace(req.TimeRange)
	if opt.TZOffset != 0 {
		base.WindowFrom += fmt.Sprintf(" tzo=%d", opt.TZOffset)
	}
	var dims, mets, whole []Output
	var bucket *Output
	for _, o := range base.Outputs {
		o.Text = false // values are rendered by the API, from numbers
		switch o.Kind {
		case OutColumn:
			dims = append(dims, o)
		case OutBucket:
			bucket = &o
		default:
			mets = append(mets, o)
			whole = append(whole, wholeRange(o, base))
		}
	}
	for i := range sp.Dimensions {
		sp.Dimensions[i] = dims[i].Column.Name
	}
	rank := slices.Index(sp.Metrics, sp.RankBy)
	n := len(dims)
	// rows is what the first result's rows are limited to: the page
	// Offset+limit, and never past the top k.
	rows := sp.Offset + limit
	if sp.TopK > 0 {
		rows = min(rows, sp.TopK)
	}
	byDims := func(p *Plan) {
		for i := range n {
			p.Order = append(p.Order, Order{Output: i})
		}
	}
	series := *base
	series.Order, series.Limit = nil, 0
	series.Outputs = slices.Clone(dims)
	switch {
	case bucket == nil:
		// one row per group, ranked (no dimension: one row)
		series.Outputs = append(series.Outputs, whole...)
		if hasDims {
			series.Order = []Order{{Output: n + rank, Desc: sp.Desc}}
			byDims(&series)
		}
		series.Limit = rows
	default:
		series.Outputs = append(append(series.Outputs, *bucket), mets...)
		series.Order = []Order{{Output: n, Desc: !sp.TSAscending}}
		byDims(&series)
		if hasDims {
			r := *base
			r.Outputs = append(slices.Clone(dims), whole[rank])
			r.Order = []Order{{Output: n, Desc: sp.Desc}}
			byDims(&r)
			r.Limit = rows
			sp.Rank = &r
		} else {
			series.Limit = rows
		}
	}
	sp.Series = &series
	return sp, nil
}

// wholeRange is a metric over the whole time range of p, without a
// bucket: a rate (tps, tpm) becomes the row count divided by the range's
// length in seconds (or minutes), a constant of the plan, so that it does
// not depend on the window the engine keeps in the SQL (none, for a range
// of whole days).
func wholeRange(o Output, p *Plan) Output {
	if o.Kind != OutRate || o.Post != nil {
		return o
	}
	per := 1.0
	if o.Unit == "minute" {
		per = 60
	}
	secs := p.Window.End.Sub(*p.Window.Start).Seconds()
	return Output{Name: o.Name, Kind: OutAgg, Func: "count", Column: p.Dataset.Time(), Post: &PostOp{Op: "/", Operand: secs / per}}
}

// ForGroups is Series restricted to the given dimension groups (rows of
// Rank: the values of its dimension outputs, as the engine reads them —
// string, int64, uint64, float64, bool, a time, or nil for NULL).
func (sp *StatsPlan) ForGroups(groups [][]any) (*Plan, error) {
	n := len(sp.Dimensions)
	if n == 0 {
		return sp.Series, nil
	}
	cols := make([]*datasets.Column, n)
	for i := range n {
		cols[i] = sp.Series.Outputs[i].Column
	}
	var alts []Expr
	var in []Value // one dimension: its non-NULL values, as one IN
	for _, g := range groups {
		if len(g) != n {
			return nil, fmt.Errorf("stats group %v has %d values, want %d", g, len(g), n)
		}
		var terms []Expr
		for i, v := range g {
			if v == nil {
				terms = append(terms, &Cmp{Column: cols[i], Op: OpIsNull})
				continue
			}
			val, err := groupValue(cols[i], v)
			if err != nil {
				return nil, err
			}
			if n == 1 {
				in = append(in, val)
				continue
			}
			terms = append(terms, &Cmp{Column: cols[i], Op: OpEq, Values: []Value{val}})
		}
		if len(terms) > 0 {
			alts = append(alts, conj(terms))
		}
	}
	if len(in) > 0 {
		alts = append([]Expr{&Cmp{Column: cols[0], Op: OpIn, Values: in}}, alts...)
	}
	p := *sp.Series
	switch len(alts) {
	case 0:
		// no group: no row
		alts = append(alts, &Cmp{Column: cols[0], Op: OpIsNull}, &Cmp{Column: cols[0], Op: OpIsNotNull})
		p.Filter = conj(append(filterTerms0(p.Filter), &And{Terms: alts}))
	case 1:
		p.Filter = conj(append(filterTerms0(p.Filter), alts[0]))
	default:
		p.Filter = conj(append(filterTerms0(p.Filter), &Or{Terms: alts}))
	}
	return &p, nil
}

// filterTerms0 is a filter as the terms of a conjunction (a copy).
func filterTerms0(e Expr) []Expr {
	switch x := e.(type) {
	case nil:
		return nil
	case *And:
		return slices.Clone(x.Terms)
	}
	return []Expr{e}
}

// groupValue types a value the engine read for a dimension column.
func groupValue(c *datasets.Column, v any) (Value, error) {
	switch x := v.(type) {
	case string:
		return Value{datasets.Varchar, x}, nil
	case int64:
		return Value{datasets.BigInt, x}, nil
	case uint64:
		if x > math.MaxInt64 {
			return Value{datasets.Double, float64(x)}, nil
		}
		return Value{datasets.BigInt, int64(x)}, nil
	case float64:
		return Value{datasets.Double, x}, nil
	case bool:
		return Value{datasets.Boolean, x}, nil
	case time.Time:
		return Value{c.Type, x.UTC()}, nil
	case interface{ UTC() time.Time }: // engine.Date
		return Value{c.Type, x.UTC()}, nil
	}
	return Value{}, fmt.Errorf("stats: value %v (%T) of dimension %s has no SQL type", v, v, c.Name)
}

// statsMetric parses one select (or sortby) item — function(name) or a
// bare name (its default function) — validates it as analyticsMetric does,
// and returns it with its response name: function(column), or tps/tpm.
func statsMetric(d *datasets.Dataset, item, param string) (AnalyticsMetric, string, error) {
	s := strings.TrimSpace(item)
	m := statsItemRE.FindStringSubmatch(s)
	if m == nil {
		if s == "" {
			return AnalyticsMetric{}, "", &Error{Message: "Bad request",
				Detail: fmt.Sprintf("%s has an empty item; write a comma list such as sum(message_count),tps", param)}
		}
		return AnalyticsMetric{}, "", &Error{Message: "Bad request",
			Detail: fmt.Sprintf("%s item '%s' is not a metric or function(metric), e.g. sum(message_count) or tps", param, s)}
	}
	am := AnalyticsMetric{Name: m[1]}
	if m[2] != "" {
		am = AnalyticsMetric{Name: m[2], Function: m[1]}
		if n := strings.ToLower(m[2]); n == "tps" || n == "tpm" {
			return AnalyticsMetric{}, "", &Error{Message: "Bad request",
				Detail: fmt.Sprintf("%s item '%s': metric %s takes no function; write %s", param, s, n, n)}
		}
	}
	o, err := analyticsMetric(d, am)
	if err != nil {
		return AnalyticsMetric{}, "", err
	}
	label := o.Name
	if o.Kind == OutAgg {
		label = o.Func + "(" + o.Column.Name + ")"
	}
	return am, label, nil
}

// statsInt parses an integer parameter: def when absent, at least min.
func statsInt(s, param string, def, lo int64) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo {
		what := "a positive integer"
		if lo == 0 {
			what = "an integer of 0 or more"
		}
		return 0, &Error{Message: "Bad request", Detail: fmt.Sprintf("%s '%s' is not %s", param, s, what)}
	}
	return n, nil
}

// parseStatsRange parses MM/DD/YYYY HH:MM[:SS]~MM/DD/YYYY HH:MM[:SS]
// (single-digit months, days and hours allowed; the space may be a '+').
func parseStatsRange(s string) (time.Time, time.Time, error) {
	bad := func(format string, a ...any) error {
		return &Error{Message: "Bad request", Detail: fmt.Sprintf(format, a...)}
	}
	const want = "write MM/DD/YYYY HH:MM~MM/DD/YYYY HH:MM in UTC, e.g. 03/01/2026 00:00~03/31/2026 23:59"
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, time.Time{}, bad("timeRange is required; %s", want)
	}
	parts := strings.Split(s, "~")
	if len(parts) != 2 {
		return time.Time{}, time.Time{}, bad("timeRange '%s' is not a start and an end separated by '~'; %s", s, want)
	}
	var ts [2]time.Time
	for i, p := range parts {
		p = strings.TrimSpace(p)
		m := statsTimeRE.FindStringSubmatch(p)
		if m == nil {
			return time.Time{}, time.Time{}, bad("timeRange %s '%s' is not MM/DD/YYYY HH:MM; %s", [2]string{"start", "end"}[i], p, want)
		}
		if m[4] == "24" {
			return time.Time{}, time.Time{}, bad("timeRange '%s': 24:00 is not a time of day; use 23:59", p)
		}
		sec := m[6]
		if sec == "" {
			sec = "00"
		}
		t, err := time.Parse("1/2/2006 15:04:05", fmt.Sprintf("%s/%s/%s %s:%s:%s", m[1], m[2], m[3], m[4], m[5], sec))
		if err != nil {
			return time.Time{}, time.Time{}, bad("timeRange %s '%s' is not a valid date and time: %v", [2]string{"start", "end"}[i], p, err)
		}
		ts[i] = t.UTC()
	}
	if !ts[0].Before(ts[1]) {
		return time.Time{}, time.Time{}, bad("timeRange start %s must be before its end %s", strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1]))
	}
	return ts[0], ts[1], nil
}
