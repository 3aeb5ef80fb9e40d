package server

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/planner"
)

// statsPath is GET …/stats[/dims] of the test org/env with the query.
func statsPath(org, env, dims string, q url.Values) string {
	p := "/v1/organizations/" + org + "/environments/" + env + "/stats"
	if dims != "" {
		p += "/" + dims
	}
	return p + "?" + q.Encode()
}

// statsOracle describes the expected response of a stats request as
// hand-written DuckDB SQL over the test data's files (window functions
// rank the groups; a join keeps the page of them): the fragments below
// are SQL text.
type statsOracle struct {
	dims    []string // dimension columns, path order
	metrics []string // aggregate expressions, select order
	where   string   // the filter, as SQL ("" = none)
	start   string   // window, timestamps
	end     string
	unit    string // date_trunc unit, "" = none
	rank    string // the ranking aggregate
	asc     bool   // ranking direction
	topk    int
	offset  int
	limit   int // default 1000
	tsAsc   bool
}

func (o statsOracle) sql() string {
	glob := filepath.Join(testDataDir, "datasets", "transactions", "*", "*.parquet")
	where := fmt.Sprintf("organization = '%s' AND environment = '%s' AND timestamp >= TIMESTAMP '%s' AND timestamp < TIMESTAMP '%s'",
		axOrg, axEnv, o.start, o.end)
	if o.where != "" {
		where += " AND (" + o.where + ")"
	}
	limit := o.limit
	if limit == 0 {
		limit = 1000
	}
	ts, tsOrder := "CAST(NULL AS BIGINT)", ""
	if o.unit != "" {
		ts = "epoch_ms(date_trunc('" + o.unit + "', t.timestamp))"
		tsOrder = ", ts DESC"
		if o.tsAsc {
			tsOrder = ", ts ASC"
		}
	}
	var mets []string
	for i, m := range o.metrics {
		mets = append(mets, fmt.Sprintf("CAST(%s AS DOUBLE) AS m%d", m, i))
	}
	with := "WITH t AS (SELECT * FROM read_parquet('" + glob + "') WHERE " + where + ")\n"
	if len(o.dims) == 0 {
		return with + "SELECT '' AS name, " + ts + " AS ts, " + strings.Join(mets, ", ") + " FROM t GROUP BY ALL ORDER BY 1" + tsOrder +
			fmt.Sprintf(" LIMIT %d OFFSET %d", limit, o.offset)
	}
	dir := "DESC"
	if o.asc {
		dir = "ASC"
	}
	var gcols, names, on []string
	for _, d := range o.dims {
		gcols = append(gcols, d+" ASC NULLS LAST")
		names = append(names, "coalesce(CAST(g."+d+" AS VARCHAR), '(not set)')")
		on = append(on, "t."+d+" IS NOT DISTINCT FROM g."+d)
	}
	last := o.offset + limit
	if o.topk > 0 {
		last = min(last, o.topk)
	}
	dl := strings.Join(o.dims, ", ")
	return with +
		"  , g AS (SELECT " + dl + ", row_number() OVER (ORDER BY " + o.rank + " " + dir + " NULLS LAST, " + strings.Join(gcols, ", ") + ") AS rn FROM t GROUP BY " + dl + ")\n" +
		"SELECT g.rn, concat_ws(',', " + strings.Join(names, ", ") + ") AS name, " + ts + " AS ts, " + strings.Join(mets, ", ") + "\n" +
		"FROM t JOIN g ON " + strings.Join(on, " AND ") + "\n" +
		fmt.Sprintf("WHERE g.rn > %d AND g.rn <= %d\n", o.offset, last) +
		"GROUP BY ALL ORDER BY g.rn" + tsOrder
}

// statsRow is one value position of a response: the dimension entry's
// name, the timestamp (-1 without a timeUnit) and one value per metric.
type statsRow struct {
	name string
	ts   int64
	vals []*float64
}

func (r statsRow) String() string {
	var vs []string
	for _, v := range r.vals {
		if v == nil {
			vs = append(vs, "null")
		} else {
			vs = append(vs, strconv.FormatFloat(*v, 'g', -1, 64))
		}
	}
	return fmt.Sprintf("%s@%d[%s]", r.name, r.ts, strings.Join(vs, " "))
}

func (o statsOracle) rows(t *testing.T) []statsRow {
	t.Helper()
	q := o.sql()
	rs, err := testEngine.DB().QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("oracle: %v\n%s", err, q)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []statsRow
	for rs.Next() {
		dest := make([]any, len(cols))
		for i := range dest {
			dest[i] = new(any)
		}
		if err := rs.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		vals := make([]any, len(cols))
		for i := range dest {
			vals[i] = *(dest[i].(*any))
		}
		if len(o.dims) > 0 {
			vals = vals[1:] // rn
		}
		r := statsRow{name: vals[0].(string), ts: -1}
		if vals[1] != nil {
			r.ts = vals[1].(int64)
		}
		for _, v := range vals[2:] {
			if v == nil {
				r.vals = append(r.vals, nil)
				continue
			}
			f := v.(float64)
			r.vals = append(r.vals, &f)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var statsValueRE = regexp.MustCompile(`^-?[0-9]+\.[0-9]+$`)

// statsBody is the verbose response.
type statsBody struct {
	Environments []struct {
		Name       string          `json:"name"`
		Dimensions *[]statsBodyDim `json:"dimensions"`
		Metrics    *[]statsBodyMet `json:"metrics"`
	} `json:"environments"`
	MetaData *struct {
		Errors  []string `json:"errors"`
		Notices []string `json:"notices"`
	} `json:"metaData"`
}

type statsBodyDim struct {
	Name    string         `json:"name"`
	Metrics []statsBodyMet `json:"metrics"`
}

type statsBodyMet struct {
	Name   string `json:"name"`
	Values []any  `json:"values"`
}

// flatten checks the response's shape and turns it into rows.
func (b statsBody) flatten(t *testing.T, metrics []string, dims, unit bool) []statsRow {
	t.Helper()
	if len(b.Environments) != 1 || b.Environments[0].Name != axEnv {
		t.Fatalf("environments %+v", b.Environments)
	}
	if b.MetaData == nil || b.MetaData.Errors == nil || len(b.MetaData.Errors) != 0 || len(b.MetaData.Notices) == 0 || b.MetaData.Notices[0] != "Source:Quarry" {
		t.Errorf("metaData %+v", b.MetaData)
	}
	e := b.Environments[0]
	var entries []statsBodyDim
	switch {
	case dims && (e.Dimensions == nil || e.Metrics != nil):
		t.Fatalf("want dimensions (and no metrics) under the environment: %+v", e)
	case !dims && (e.Metrics == nil || e.Dimensions != nil):
		t.Fatalf("want metrics (and no dimensions) under the environment: %+v", e)
	case dims:
		entries = *e.Dimensions
	default:
		entries = []statsBodyDim{{Name: "", Metrics: *e.Metrics}}
	}
	var out []statsRow
	for _, d := range entries {
		if len(d.Metrics) != len(metrics) {
			t.Fatalf("entry %q has %d metrics, want %d", d.Name, len(d.Metrics), len(metrics))
		}
		n := len(d.Metrics[0].Values)
		for i, m := range d.Metrics {
			if m.Name != metrics[i] || len(m.Values) != n {
				t.Fatalf("entry %q metric %d: %s with %d values, want %s with %d", d.Name, i, m.Name, len(m.Values), metrics[i], n)
			}
		}
		for j := range n {
			r := statsRow{name: d.Name, ts: -1}
			for i, m := range d.Metrics {
				v := m.Values[j]
				if unit {
					p, ok := v.(map[string]any)
					if !ok || len(p) != 2 {
						t.Fatalf("value %v is not {timestamp, value}", v)
					}
					ts, ok := p["timestamp"].(float64)
					if !ok || ts != math.Trunc(ts) {
						t.Fatalf("timestamp %v", p["timestamp"])
					}
					if i > 0 && int64(ts) != r.ts {
						t.Fatalf("metric %s's value %d has timestamp %v, the first metric's %d", m.Name, j, ts, r.ts)
					}
					r.ts = int64(ts)
					v = p["value"]
				}
				if v == nil {
					r.vals = append(r.vals, nil)
					continue
				}
				s, ok := v.(string)
				if !ok || !statsValueRE.MatchString(s) {
					t.Fatalf("value %#v is not a decimal string with a fraction", v)
				}
				f, _ := strconv.ParseFloat(s, 64)
				if f == math.Trunc(f) && math.Abs(f) < 1e15 && s != strconv.FormatInt(int64(f), 10)+".0" {
					t.Errorf("whole value %q, want %s.0", s, strconv.FormatInt(int64(f), 10))
				}
				r.vals = append(r.vals, &f)
			}
			out = append(out, r)
		}
	}
	return out
}

func sameStatsRows(t *testing.T, got, want []statsRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d value positions, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		ok := g.name == w.name && g.ts == w.ts && len(g.vals) == len(w.vals)
		for k := 0; ok && k < len(g.vals); k++ {
			switch {
			case g.vals[k] == nil || w.vals[k] == nil:
				ok = g.vals[k] == nil && w.vals[k] == nil
			default:
				ok = math.Abs(*g.vals[k]-*w.vals[k]) <= 1e-9*math.Max(1, math.Abs(*w.vals[k]))
			}
		}
		if !ok {
			t.Fatalf("position %d: got %s, want %s", i, g, w)
		}
	}
}

// TestStatsAgainstOracle checks GET …/stats against hand-written SQL over
// the same Parquet files.
func TestStatsAgainstOracle(t *testing.T) {
	ts := startServer(t, serverSetup{})
	member := ts.key(t, meta.Key{Name: "acme", Org: axOrg})
	const (
		march     = "03/01/2026 00:00~03/31/2026 00:00"
		marchFrom = "2026-03-01 00:00:00"
		marchTo   = "2026-03-31 00:00:00"
	)
	for _, c := range []struct {
		name    string
		dims    string
		q       url.Values
		oracle  statsOracle
		minRows int // at least this many value positions (the data exercises the case)
		check   func(t *testing.T, rows []statsRow)
	}{
		{name: "one dimension by day",
			dims: "apiproxy",
			q:    url.Values{"select": {"sum(message_count),avg(total_response_time)"}, "timeRange": {march}, "timeUnit": {"day"}},
			oracle: statsOracle{dims: []string{"apiproxy"}, metrics: []string{"sum(message_count)", "avg(total_response_time)"},
				start: marchFrom, end: marchTo, unit: "day", rank: "sum(message_count)"},
			minRows: 60,
			check: func(t *testing.T, rows []statsRow) {
				if rows[0].ts <= rows[1].ts && rows[0].name == rows[1].name {
					t.Errorf("timestamps ascend by default: %s, %s", rows[0], rows[1])
				}
			}},
		{name: "tsAscending",
			dims: "apiproxy",
			q: url.Values{"select": {"sum(message_count)"}, "timeRange": {"3/1/2026 00:00~3/8/2026 00:00"}, "timeUnit": {"day"},
				"TSASCENDING": {"true"}},
			oracle: statsOracle{dims: []string{"apiproxy"}, metrics: []string{"sum(message_count)"},
				start: marchFrom, end: "2026-03-08 00:00:00", unit: "day", rank: "sum(message_count)", tsAsc: true},
			minRows: 14,
			check: func(t *testing.T, rows []statsRow) {
				if rows[0].name != rows[1].name || rows[0].ts >= rows[1].ts {
					t.Errorf("timestamps do not ascend: %s, %s", rows[0], rows[1])
				}
			}},
		{name: "two dimensions by hour, partial days, tps",
			dims: "apiproxy,response_status_code",
			q: url.Values{"select": {"sum(message_count),tps"}, "timeRange": {"03/10/2026 06:30~03/12/2026 18:15:30"}, "timeUnit": {"hour"},
				"tsAscending": {"false"}},
			oracle: statsOracle{dims: []string{"apiproxy", "response_status_code"}, metrics: []string{"sum(message_count)", "count(*) / 3600.0"},
				start: "2026-03-10 06:30:00", end: "2026-03-12 18:15:30", unit: "hour", rank: "sum(message_count)"},
			minRows: 50,
			check: func(t *testing.T, rows []statsRow) {
				if !strings.Contains(rows[0].name, ",200") {
					t.Errorf("first entry %q is not named proxy,200", rows[0].name)
				}
			}},
		{name: "no dimension by week",
			q: url.Values{"select": {"sum(message_count),max(target_response_time)"}, "timeRange": {march}, "timeUnit": {"week"}},
			oracle: statsOracle{metrics: []string{"sum(message_count)", "max(target_response_time)"},
				start: marchFrom, end: marchTo, unit: "week"},
			minRows: 5},
		{name: "no dimension, no timeUnit",
			q: url.Values{"select": {"sum(is_error),tps,avg(request_processing_latency)"}, "timeRange": {"03/05/2026 12:00~03/06/2026 12:00"}},
			oracle: statsOracle{metrics: []string{"sum(is_error)", "count(*) / 86400.0", "avg(request_processing_latency)"},
				start: "2026-03-05 12:00:00", end: "2026-03-06 12:00:00"},
			minRows: 1},
		{name: "no timeUnit, whole days, tps ranked",
			dims: "apiproxy",
			q:    url.Values{"select": {"sum(message_count),tps"}, "timeRange": {march}, "sortby": {"tps"}, "sort": {"asc"}},
			oracle: statsOracle{dims: []string{"apiproxy"}, metrics: []string{"sum(message_count)", "count(*) / 2592000.0"},
				start: marchFrom, end: marchTo, rank: "count(*)", asc: true},
			minRows: 3,
			check: func(t *testing.T, rows []statsRow) {
				if *rows[0].vals[1] > *rows[len(rows)-1].vals[1] {
					t.Errorf("tps does not ascend: %s … %s", rows[0], rows[len(rows)-1])
				}
			}},
		{name: "topk by sortby",
			dims: "developer_app",
			q: url.Values{"select": {"sum(message_count),avg(total_response_time)"}, "timeRange": {march}, "timeUnit": {"day"},
				"sortby": {"avg(total_response_time)"}, "topk": {"3"}},
			oracle: statsOracle{dims: []string{"developer_app"}, metrics: []string{"sum(message_count)", "avg(total_response_time)"},
				start: marchFrom, end: marchTo, unit: "day", rank: "avg(total_response_time)", topk: 3},
			minRows: 10,
			check: func(t *testing.T, rows []statsRow) {
				names := map[string]bool{}
				for _, r := range rows {
					names[r.name] = true
				}
				if len(names) != 3 {
					t.Errorf("%d entries, want the top 3", len(names))
				}
			}},
		{name: "filter, keyless calls (not set)",
			dims: "developer_app",
			q: url.Values{"select": {"sum(message_count),sum(is_error)"}, "timeRange": {march}, "timeUnit": {"week"},
				"filter": {"(request_verb in 'POST','PUT') or (response_status_code ge 400)"}},
			oracle: statsOracle{dims: []string{"developer_app"}, metrics: []string{"sum(message_count)", "sum(is_error)"},
				where: "request_verb IN ('POST', 'PUT') OR response_status_code >= 400",
				start: marchFrom, end: marchTo, unit: "week", rank: "sum(message_count)"},
			minRows: 10,
			check: func(t *testing.T, rows []statsRow) {
				for _, r := range rows {
					if r.name == "(not set)" {
						return
					}
				}
				t.Error("no (not set) entry: the test does not exercise NULL dimension values")
			}},
		{name: "limit and offset, ranked groups",
			dims: "developer_app",
			q:    url.Values{"select": {"sum(message_count)"}, "timeRange": {march}, "limit": {"2"}, "offset": {"1"}},
			oracle: statsOracle{dims: []string{"developer_app"}, metrics: []string{"sum(message_count)"},
				start: marchFrom, end: marchTo, rank: "sum(message_count)", limit: 2, offset: 1},
			minRows: 2},
		{name: "limit and offset within topk, by day",
			dims: "developer_app",
			q: url.Values{"select": {"sum(message_count),min(response_size)"}, "timeRange": {march}, "timeUnit": {"day"},
				"limit": {"3"}, "offset": {"2"}, "topk": {"4"}, "sortby": {"sum(message_count)"}, "sort": {"DESC"}},
			oracle: statsOracle{dims: []string{"developer_app"}, metrics: []string{"sum(message_count)", "min(response_size)"},
				start: marchFrom, end: marchTo, unit: "day", rank: "sum(message_count)", topk: 4, limit: 3, offset: 2},
			minRows: 20},
		{name: "limit and offset over buckets without a dimension",
			q:       url.Values{"select": {"sum(message_count)"}, "timeRange": {march}, "timeUnit": {"day"}, "limit": {"5"}, "offset": {"2"}, "tsAscending": {"true"}},
			oracle:  statsOracle{metrics: []string{"sum(message_count)"}, start: marchFrom, end: marchTo, unit: "day", limit: 5, offset: 2, tsAsc: true},
			minRows: 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := c.oracle.rows(t)
			if len(want) < c.minRows {
				t.Fatalf("the oracle returns %d positions, want at least %d: the test data does not exercise this case", len(want), c.minRows)
			}
			metrics := strings.Split(c.q.Get("select"), ",")
			for _, secret := range []string{ts.Admin, member} {
				r := ts.get(t, statsPath(axOrg, axEnv, c.dims, c.q), secret)
				wantStatus(t, r, 200)
				var b statsBody
				r.json(t, &b)
				got := b.flatten(t, metrics, c.dims != "", c.q.Get("timeUnit") != "")
				sameStatsRows(t, got, want)
				if c.check != nil && len(got) > 1 {
					c.check(t, got)
				}
				if c.q.Get("timeUnit") == "" && c.dims != "" && len(got) > 0 {
					// without a timeUnit, values are plain strings
					if !strings.Contains(string(r.Body), `"values":["`) {
						t.Errorf("values are not plain strings: %.300s", r.Body)
					}
				}
			}
		})
	}
}

// TestStatsErrors checks the error answers: the family's body {code,
// message, contexts}, Edge's limit error, the org scope of member keys.
func TestStatsErrors(t *testing.T) {
	ts := startServer(t, serverSetup{})
	other := ts.key(t, meta.Key{Name: "globex", Org: "globex"})
	noOrg := ts.key(t, meta.Key{Name: "none"})
	ok := url.Values{"select": {"sum(message_count)"}, "timeRange": {"03/01/2026 00:00~03/02/2026 00:00"}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range ok {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	type body struct {
		Code     string   `json:"code"`
		Message  string   `json:"message"`
		Contexts []string `json:"contexts"`
	}
	for _, c := range []struct {
		name, secret, dims string
		q                  url.Values
		status             int
		code, message      string // message: a substring, or the exact text with code set to it
	}{
		{"member key of another org", other, "apiproxy", ok, 404, "analytics.OrganizationNotFound", "scoped to organization 'globex'"},
		{"key without org", noOrg, "apiproxy", ok, 403, "analytics.Forbidden", "no organization scope"},
		{"limit over 14400", "", "apiproxy", with("limit", "14401"), 400, planner.MsgStatsLimit, planner.MsgStatsLimit},
		{"bad select metric", "", "apiproxy", with("select", "sum(message_count),sum(mesage_count)"), 400, "analytics.BadRequest", "invalid metric 'mesage_count'"},
		{"bad select function", "", "apiproxy", with("select", "avg(message_count)"), 400, "analytics.BadRequest", "function 'avg' is not supported for metric message_count"},
		{"select missing", "", "", with("select", ""), 400, "analytics.BadRequest", "select is required"},
		{"malformed timeRange", "", "apiproxy", with("timeRange", "2026-03-01T00:00:00Z/2026-03-02T00:00:00Z"), 400, "analytics.BadRequest", "is not a start and an end separated by '~'"},
		{"malformed timeRange date", "", "apiproxy", with("timeRange", "03/01/26 00:00~03/02/26 00:00"), 400, "analytics.BadRequest", "is not MM/DD/YYYY HH:MM"},
		{"timeRange 24:00", "", "apiproxy", with("timeRange", "03/01/2026 00:00~03/01/2026 24:00"), 400, "analytics.BadRequest", "use 23:59"},
		{"second over an hour", "", "apiproxy", with("timeUnit", "second"), 400, "analytics.BadRequest", "at most 1 hour"},
		{"month without dimension", "", "", with("timeUnit", "month"), 400, "analytics.BadRequest", "needs a dimension"},
		{"bad dimension", "", "apiproxy,nope", ok, 400, "analytics.BadRequest", "invalid dimension 'nope'"},
		{"bad filter", "", "apiproxy", with("filter", "(apiproxy eq 'a'"), 400, "analytics.BadRequest", "Invalid filter"},
		{"sortby not selected", "", "apiproxy", with("sortby", "tps"), 400, "analytics.BadRequest", "sortby tps is not a metric of select"},
	} {
		t.Run(c.name, func(t *testing.T) {
			secret := c.secret
			if secret == "" {
				secret = ts.Admin
			}
			r := ts.get(t, statsPath(axOrg, axEnv, c.dims, c.q), secret)
			wantStatus(t, r, c.status)
			var b body
			r.json(t, &b)
			if b.Code != c.code || b.Contexts == nil || len(b.Contexts) != 0 {
				t.Errorf("body %s: code %q, want %q, and contexts []", r.Body, b.Code, c.code)
			}
			if c.code == c.message {
				if b.Message != c.message {
					t.Errorf("message %q, want exactly %q", b.Message, c.message)
				}
			} else if !strings.Contains(b.Message, c.message) {
				t.Errorf("message %q does not contain %q", b.Message, c.message)
			}
		})
	}
	// no key at all
	r := ts.get(t, statsPath(axOrg, axEnv, "apiproxy", ok), "")
	wantStatus(t, r, 401)
}

// TestStatsEmpty checks the shape of a response without rows: an empty
// dimensions list; without a dimension, one null value per metric.
func TestStatsEmpty(t *testing.T) {
	ts := startServer(t, serverSetup{})
	member := ts.key(t, meta.Key{Name: "acme", Org: axOrg})
	q := url.Values{"select": {"sum(message_count),tps"}, "timeRange": {"03/01/2026 00:00~03/31/2026 00:00"},
		"filter": {"(organization eq 'globex')"}}
	r := ts.get(t, statsPath(axOrg, axEnv, "apiproxy", q), member)
	wantStatus(t, r, 200)
	var b statsBody
	r.json(t, &b)
	if d := b.Environments[0].Dimensions; d == nil || len(*d) != 0 {
		t.Errorf("want \"dimensions\":[]: %s", r.Body)
	}
	r = ts.get(t, statsPath(axOrg, axEnv, "", q), member)
	wantStatus(t, r, 200)
	if !strings.Contains(string(r.Body), `"metrics":[{"name":"sum(message_count)","values":[null]},{"name":"tps","values":["0.0"]}]`) {
		t.Errorf("no-dimension empty response %s", r.Body)
	}
}
