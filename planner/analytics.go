package planner

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/parser"
)

// AnalyticsRequest is an async analytics query body (Apigee style).
type AnalyticsRequest struct {
	Metrics         []AnalyticsMetric `json:"metrics"`
	Dimensions      []string          `json:"dimensions"`
	TimeRange       TimeRange         `json:"timeRange"`
	Limit           int64             `json:"limit,omitempty"`
	Filter          string            `json:"filter,omitempty"`
	GroupByTimeUnit string            `json:"groupByTimeUnit,omitempty"`
	OutputFormat    string            `json:"outputFormat,omitempty"`
	CSVDelimiter    string            `json:"csvDelimiter,omitempty"`
}

// AnalyticsMetric is one requested metric.
type AnalyticsMetric struct {
	Name     string `json:"name"`
	Function string `json:"function,omitempty"`
	Alias    string `json:"alias,omitempty"`
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
}

// UnmarshalJSON accepts value as a JSON string ("1000.0", as the docs
// send it) or a bare number.
func (m *AnalyticsMetric) UnmarshalJSON(b []byte) error {
	type plain AnalyticsMetric
	var aux struct {
		plain
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*m = AnalyticsMetric(aux.plain)
	if len(aux.Value) > 0 && string(aux.Value) != "null" {
		var s string
		if err := json.Unmarshal(aux.Value, &s); err != nil {
			m.Value = string(aux.Value)
		} else {
			m.Value = s
		}
	}
	return nil
}

// TimeRange is a keyword (last60minutes, last24hours, last7days) or an
// explicit {start, end}.
type TimeRange struct {
	Keyword    string
	Start, End string
}

// UnmarshalJSON accepts "last24hours" or {"start":…,"end":…}.
func (t *TimeRange) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &t.Keyword)
	}
	var o struct{ Start, End string }
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("timeRange must be last60minutes, last24hours, last7days or {\"start\":…,\"end\":…}: %w", err)
	}
	t.Start, t.End = o.Start, o.End
	return nil
}

// MarshalJSON writes the keyword or the object back.
func (t TimeRange) MarshalJSON() ([]byte, error) {
	if t.Keyword != "" {
		return json.Marshal(t.Keyword)
	}
	return json.Marshal(map[string]string{"start": t.Start, "end": t.End})
}

// AnalyticsOptions are the limits and context of an analytics query.
type AnalyticsOptions struct {
	Options
	Dataset      string // default "transactions"
	Org, Env     string // the organization/environment of the request path; "" = any
	TZOffset     int    // tzo: minutes east of UTC the timeRange is written in
	MaxRangeDays int    // default 365
	MaxFields    int    // dimensions + metrics, default 25
}

// checkRange refuses a window longer than MaxRangeDays (default 365).
func (opt AnalyticsOptions) checkRange(w Window, from string) error {
	maxDays := opt.MaxRangeDays
	if maxDays == 0 {
		maxDays = 365
	}
	if w.End.Sub(*w.Start) > time.Duration(maxDays)*24*time.Hour {
		return &Error{Message: "Bad request", Detail: fmt.Sprintf("%s spans more than %d days; narrow it", from, maxDays)}
	}
	return nil
}

// FromAnalytics builds the plan of an analytics query.
func FromAnalytics(req AnalyticsRequest, cat *datasets.Catalog, opt AnalyticsOptions) (*Plan, error) {
	name := opt.Dataset
	if name == "" {
		name = "transactions"
	}
	d, ok := cat.Lookup(name)
	if !ok {
		return nil, &Error{Message: MsgInvalidTable, Detail: fmt.Sprintf("unknown dataset '%s'", name)}
	}
	bad := func(format string, a ...any) error {
		return &Error{Message: "Bad request", Detail: fmt.Sprintf(format, a...)}
	}
	maxFields := opt.MaxFields
	if maxFields == 0 {
		maxFields = 25
	}
	if n := len(req.Metrics) + len(req.Dimensions); n > maxFields {
		return nil, bad("the query has %d dimensions and metrics; at most %d are allowed", n, maxFields)
	}
	if len(req.Metrics) == 0 {
		return nil, bad("metrics is empty; ask for at least one metric, e.g. {\"name\":\"message_count\",\"function\":\"sum\"}")
	}
	p := &Plan{Dataset: d}
	var err error
	if p.Tenant, err = opt.Scope.tenant(d); err != nil {
		return nil, err
	}

	// time range
	w, from, err := analyticsWindow(req.TimeRange, opt)
	if err != nil {
		return nil, err
	}
	if err := opt.checkRange(w, from); err != nil {
		return nil, err
	}
	p.Window, p.WindowFrom = w, from

	// Outputs in the order the API's result rows show them: metrics, then
	// dimensions, then the time bucket ({"message_count":"10209",
	// "apiproxy":"guest-auth-v3","hour":"2018-08-07 19:26:00 UTC"}).
	// Integers and timestamps are rendered as text (Output.Text): integers
	// reach JSON as strings, as in the API's samples; timestamps keep their
	// milliseconds. Rows are sorted by the time bucket, then the dimensions.
	names := map[string]bool{}
	for _, m := range req.Metrics {
		o, err := analyticsMetric(d, m)
		if err != nil {
			return nil, err
		}
		if names[strings.ToLower(o.Name)] {
			return nil, bad("two outputs are named '%s'; give one an alias", o.Name)
		}
		names[strings.ToLower(o.Name)] = true
		o.Text = true
		p.Outputs = append(p.Outputs, o)
	}
	var dims []int
	for _, dim := range req.Dimensions {
		c, ok := d.Column(dim)
		if !ok || c.Role == datasets.Metric {
			detail := fmt.Sprintf("invalid dimension '%s'", dim)
			if s := closestOfRole(d, dim, datasets.Metric, false); s != "" {
				detail += fmt.Sprintf("; did you mean '%s'?", s)
			}
			return nil, bad("%s", detail)
		}
		if names[strings.ToLower(c.Name)] {
			return nil, bad("dimension '%s' is listed twice, or is also a metric's alias", dim)
		}
		names[strings.ToLower(c.Name)] = true
		dims = append(dims, len(p.Outputs))
		p.Outputs = append(p.Outputs, Output{Name: c.Name, Kind: OutColumn, Column: c, Text: true})
	}
	if u := strings.ToLower(req.GroupByTimeUnit); u != "" {
		if !slices.Contains(TimeUnits, u) {
			return nil, bad("groupByTimeUnit '%s' is not one of %s", req.GroupByTimeUnit, strings.Join(TimeUnits, ", "))
		}
		if names[u] {
			return nil, bad("an output is named '%s', the name of the groupByTimeUnit column; rename it with an alias", u)
		}
		p.Order = append(p.Order, Order{Output: len(p.Outputs)})
		p.Outputs = append(p.Outputs, Output{Name: u, Kind: OutBucket, Column: d.Time(), Unit: u})
	}
	for _, i := range dims {
		p.Order = append(p.Order, Order{Output: i})
	}
	p.Aggregate = true

	// filter: the path's org/env, then the user's filter
	var terms []Expr
	for _, pc := range []struct{ col, val string }{{"organization", opt.Org}, {"environment", opt.Env}} {
		if pc.val == "" {
			continue
		}
		if c, ok := d.Column(pc.col); ok {
			terms = append(terms, &Cmp{Column: c, Op: OpEq, Values: []Value{{datasets.Varchar, pc.val}}})
		}
	}
	if strings.TrimSpace(req.Filter) != "" {
		f, err := parser.ParseFilter(req.Filter)
		if err != nil {
			return nil, err
		}
		e, err := FilterExpr(f, d)
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
	}
	p.Filter = conj(terms)

	if req.Limit < 0 {
		return nil, bad("limit must be positive")
	}
	if req.Limit > opt.maxLimit() {
		return nil, bad("limit %d is over the maximum of %d", req.Limit, opt.maxLimit())
	}
	p.Limit = req.Limit
	return p, nil
}

func analyticsMetric(d *datasets.Dataset, m AnalyticsMetric) (Output, error) {
	bad := func(format string, a ...any) error {
		return &Error{Message: "Bad request", Detail: fmt.Sprintf(format, a...)}
	}
	name := strings.ToLower(strings.TrimSpace(m.Name))
	var o Output
	switch name {
	case "tps", "tpm":
		if m.Function != "" {
			return o, bad("metric %s takes no function; remove \"function\"", name)
		}
		unit := "second"
		if name == "tpm" {
			unit = "minute"
		}
		o = Output{Name: name, Kind: OutRate, Unit: unit}
	default:
		c, ok := d.Column(m.Name)
		if !ok || c.Role != datasets.Metric {
			detail := fmt.Sprintf("invalid metric '%s'", m.Name)
			if s := closestOfRole(d, m.Name, datasets.Metric, true); s != "" {
				detail += fmt.Sprintf("; did you mean '%s'?", s)
			}
			return o, bad("%s", detail)
		}
		fn := strings.ToLower(strings.TrimSpace(m.Function))
		if fn == "" {
			fn = c.Agg
		}
		if !c.Supports(fn) {
			supported := c.Functions
			if len(supported) == 0 {
				supported = []string{c.Agg}
			}
			return o, bad("function '%s' is not supported for metric %s; use %s", m.Function, c.Name, strings.Join(supported, ", "))
		}
		o = Output{Name: fn + "_" + c.Name, Kind: OutAgg, Column: c, Func: fn}
	}
	if m.Alias != "" {
		o.Name = m.Alias
	}
	if m.Operator != "" || m.Value != "" {
		switch m.Operator {
		case "+", "-", "*", "/", "%":
		default:
			return o, bad("operator '%s' of metric %s must be one of + - * / %%", m.Operator, m.Name)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(m.Value), 64)
		if err != nil {
			return o, bad("value '%s' of metric %s is not a number", m.Value, m.Name)
		}
		if v == 0 && (m.Operator == "/" || m.Operator == "%") {
			return o, bad("value of metric %s must not be 0 with operator %s", m.Name, m.Operator)
		}
		o.Post = &PostOp{Op: m.Operator, Operand: v}
	}
	return o, nil
}

func analyticsWindow(tr TimeRange, opt AnalyticsOptions) (Window, string, error) {
	bad := func(format string, a ...any) error {
		return &Error{Message: "Bad request", Detail: fmt.Sprintf(format, a...)}
	}
	now := opt.Now.UTC()
	if tr.Keyword != "" {
		var dur time.Duration
		switch strings.ToLower(tr.Keyword) {
		case "last60minutes":
			dur = time.Hour
		case "last24hours":
			dur = 24 * time.Hour
		case "last7days":
			dur = 7 * 24 * time.Hour
		default:
			return Window{}, "", bad("timeRange '%s' is not last60minutes, last24hours, last7days or {\"start\":…,\"end\":…}", tr.Keyword)
		}
		s := now.Add(-dur)
		return Window{Start: &s, End: &now}, "timeRange " + tr.Keyword, nil
	}
	if tr.Start == "" || tr.End == "" {
		return Window{}, "", bad("timeRange is required: last60minutes, last24hours, last7days or {\"start\":\"2018-07-29T00:13:00Z\",\"end\":\"2018-08-01T00:18:00Z\"}")
	}
	shift := time.Duration(opt.TZOffset) * time.Minute
	s, err := ParseTime(tr.Start)
	if err != nil {
		return Window{}, "", bad("timeRange start: %v", err)
	}
	e, err := ParseTime(tr.End)
	if err != nil {
		return Window{}, "", bad("timeRange end: %v", err)
	}
	s, e = s.Add(-shift), e.Add(-shift)
	if !s.Before(e) {
		return Window{}, "", bad("timeRange start %s must be before end %s", tr.Start, tr.End)
	}
	return Window{Start: &s, End: &e}, "timeRange " + tr.Start + "/" + tr.End, nil
}

var filterOps = map[string]Op{"eq": OpEq, "ne": OpNe, "gt": OpGt, "lt": OpLt, "ge": OpGe, "le": OpLe,
	"in": OpIn, "notin": OpNotIn, "like": OpLike, "not like": OpNotLike, "is null": OpIsNull, "isnot null": OpIsNotNull}

// FilterExpr turns a filter-token AST into a row filter over d. String
// comparisons are exact (case-sensitive), as in the analytics API.
func FilterExpr(f parser.Filter, d *datasets.Dataset) (Expr, error) {
	switch x := f.(type) {
	case *parser.FilterAnd:
		terms, err := filterTerms(x.Terms, d)
		return &And{Terms: terms}, err
	case *parser.FilterOr:
		terms, err := filterTerms(x.Terms, d)
		return &Or{Terms: terms}, err
	case *parser.Predicate:
		c, ok := d.Column(x.Column.Name)
		if !ok {
			detail := fmt.Sprintf("unknown column '%s' in dataset %s", x.Column.Name, d.Name)
			if s := d.Suggest(x.Column.Name); s != "" {
				detail += fmt.Sprintf("; did you mean '%s'?", s)
			}
			return nil, errAt(x.Column.Pos, MsgInvalidColumn, detail)
		}
		op, ok := filterOps[x.Op]
		if !ok {
			return nil, errAt(x.OpPos, "Invalid filter", fmt.Sprintf("unknown operator '%s'", x.Op))
		}
		return newCmp(c, op, x.Values, x.OpPos, false)
	}
	return nil, fmt.Errorf("planner: unknown filter node %T", f)
}

func filterTerms(fs []parser.Filter, d *datasets.Dataset) ([]Expr, error) {
	out := make([]Expr, len(fs))
	for i, f := range fs {
		e, err := FilterExpr(f, d)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

func closestOfRole(d *datasets.Dataset, name string, role datasets.Role, want bool) string {
	var cands []string
	for _, c := range d.Columns {
		if (c.Role == role) == want {
			cands = append(cands, c.Name)
		}
	}
	return datasets.Closest(name, cands)
}
