package planner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
)

// statsCase runs one `stats` data-driven case: input lines are query
// parameters (name=value); it prints the plan's settings, then Rank and
// Series with their SQL, or the error.
func statsCase(t *testing.T, input string, dims []string, cat *datasets.Catalog, opt AnalyticsOptions) string {
	t.Helper()
	req := StatsRequest{Dimensions: dims}
	fields := map[string]*string{
		"select": &req.Select, "timerange": &req.TimeRange, "timeunit": &req.TimeUnit, "sortby": &req.SortBy,
		"sort": &req.Sort, "topk": &req.TopK, "filter": &req.Filter, "limit": &req.Limit, "offset": &req.Offset,
		"tsascending": &req.TSAscending, "tzo": &req.TZO,
	}
	for _, line := range strings.Split(input, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		f, ok := fields[strings.ToLower(k)]
		if !ok {
			t.Fatalf("unknown stats parameter %q", k)
		}
		*f = v
	}
	sp, err := FromStats(req, cat, opt)
	if err != nil {
		return errText(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "dimensions=%v unit=%q metrics=%v rankBy=%s desc=%v topk=%d offset=%d tsAscending=%v\n",
		sp.Dimensions, sp.Unit, sp.Metrics, sp.RankBy, sp.Desc, sp.TopK, sp.Offset, sp.TSAscending)
	print := func(name string, p *Plan) {
		s, err := Compile(p, DuckDB, DuckDB.Ident(p.Dataset.Name))
		if err != nil {
			fmt.Fprintf(&b, "-- %s\ncompile error: %v\n", name, err)
			return
		}
		fmt.Fprintf(&b, "-- %s\n%s--\n%s\n", name, p.String(), s.Text)
		for i, a := range s.Args {
			fmt.Fprintf(&b, "$%d = %#v\n", i+1, a)
		}
	}
	if sp.Rank != nil {
		print("rank", sp.Rank)
	}
	print("series", sp.Series)
	return b.String()
}

func statsPlan(t *testing.T, req StatsRequest) *StatsPlan {
	t.Helper()
	cat, err := datasets.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := FromStats(req, cat, AnalyticsOptions{Options: Options{Scope: Scope{Admin: true}}, Org: "acme", Env: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// TestStatsForGroups checks the restriction of Series to the ranked
// groups: one dimension as an IN list (NULL as IS NULL), several as an OR
// of conjunctions, after the request's own filter.
func TestStatsForGroups(t *testing.T) {
	sp := statsPlan(t, StatsRequest{Dimensions: []string{"apiproxy"}, Select: "sum(message_count)",
		TimeRange: "03/01/2026 00:00~03/02/2026 00:00", TimeUnit: "hour", Filter: "(is_error eq 1)"})
	p, err := sp.ForGroups([][]any{{"a"}, {nil}, {"b"}})
	if err != nil {
		t.Fatal(err)
	}
	got := exprString(p.Filter)
	want := "organization = 'acme' AND environment = 'prod' AND is_error = 1 AND (apiproxy IN ('a', 'b') OR apiproxy IS NULL)"
	if got != want {
		t.Errorf("filter\n got %s\nwant %s", got, want)
	}
	if exprString(sp.Series.Filter) == got {
		t.Error("ForGroups changed the Series plan itself")
	}

	sp = statsPlan(t, StatsRequest{Dimensions: []string{"apiproxy", "response_status_code"}, Select: "sum(message_count)",
		TimeRange: "03/01/2026 00:00~03/02/2026 00:00", TimeUnit: "hour"})
	p, err = sp.ForGroups([][]any{{"a", int64(200)}, {"b", nil}})
	if err != nil {
		t.Fatal(err)
	}
	got = exprString(p.Filter)
	want = "organization = 'acme' AND environment = 'prod' AND (apiproxy = 'a' AND response_status_code = 200 OR apiproxy = 'b' AND response_status_code IS NULL)"
	if got != want {
		t.Errorf("filter\n got %s\nwant %s", got, want)
	}
	if _, err := sp.ForGroups([][]any{{"a"}}); err == nil {
		t.Error("a group of one value for two dimensions was accepted")
	}
}

func TestStatsTimeRange(t *testing.T) {
	for _, c := range []struct {
		in         string
		start, end string // RFC 3339, or "" for an error
		err        string
	}{
		{in: "03/01/2026 00:00~03/31/2026 23:59", start: "2026-03-01T00:00:00Z", end: "2026-03-31T23:59:00Z"},
		{in: "3/1/2026 0:00~3/2/2026 00:00:30", start: "2026-03-01T00:00:00Z", end: "2026-03-02T00:00:30Z"},
		{in: "05/22/2016+15:00:00~05/22/2016+16:00:00", start: "2016-05-22T15:00:00Z", end: "2016-05-22T16:00:00Z"},
		{in: "03/01/2026 00:00~03/01/2026 24:00", err: "24:00 is not a time of day; use 23:59"},
		{in: "2026-03-01T00:00:00Z~2026-03-02T00:00:00Z", err: "is not MM/DD/YYYY HH:MM"},
		{in: "02/30/2026 00:00~03/01/2026 00:00", err: "is not a valid date and time"},
		{in: "03/01/2026 00:00", err: "separated by '~'"},
		{in: "03/02/2026 00:00~03/01/2026 00:00", err: "must be before its end"},
		{in: "", err: "timeRange is required"},
	} {
		s, e, err := parseStatsRange(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want one containing %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := s.Format(time.RFC3339) + " " + e.Format(time.RFC3339); got != c.start+" "+c.end {
			t.Errorf("%q: %s, want %s %s", c.in, got, c.start, c.end)
		}
	}
}
