//go:build duckdb_arrow

package suite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/sandbox"
	"github.com/quarry/quarry/ingest"
	"github.com/quarry/quarry/planner"
)

// drainArrow reads every batch; with a sink, every row's values too.
func drainArrow(rr array.RecordReader, sink func([]any)) (int64, error) {
	var n int64
	for rr.Next() {
		rec := rr.RecordBatch()
		if sink != nil {
			for i := 0; i < int(rec.NumRows()); i++ {
				row := make([]any, rec.NumCols())
				for c := range row {
					row[c] = engine.Value(rec.Column(c), i)
				}
				sink(row)
			}
		}
		n += rec.NumRows()
	}
	return n, rr.Err()
}

// drainSQL scans every row through database/sql.
func drainSQL(rows *sql.Rows, sink func([]any)) (int64, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, fmt.Errorf("columns: %w", err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, fmt.Errorf("scan: %w", err)
		}
		if sink != nil {
			sink(append([]any(nil), vals...))
		}
		n++
	}
	return n, rows.Err()
}

func sqlRunner(db *sql.DB, text string, args []any) *runner {
	return &runner{run: func(ctx context.Context, sink func([]any)) (int64, error) {
		rows, err := db.QueryContext(ctx, text, args...)
		if err != nil {
			return 0, fmt.Errorf("query: %w", err)
		}
		return drainSQL(rows, sink)
	}}
}

// planRunner is Quarry in-process: build the plan, resolve the files,
// compile, run, stream Arrow batches — every run.
func (env *env) planRunner(build func() (*planner.Plan, error)) *runner {
	return &runner{run: func(ctx context.Context, sink func([]any)) (int64, error) {
		p, err := build()
		if err != nil {
			return 0, fmt.Errorf("plan: %w", err)
		}
		res, err := env.e.Run(ctx, p)
		if err != nil {
			return 0, err
		}
		defer closeQuiet(res)
		return drainArrow(res.Reader, sink)
	}}
}

// inputRows is the rows of the files a plan's window reads.
func (env *env) inputRows(p *planner.Plan) int64 {
	m, err := env.e.Store().Manifest(p.Dataset.Name)
	if err != nil {
		return 0
	}
	var n int64
	for _, f := range m.Window(p.Window.Start, p.Window.End) {
		n += f.Rows
	}
	return n
}

// planWorkload is a question asked as a plan: Quarry runs the plan, DuckDB
// direct its compiled SQL over the same files, DuckDB native the plan
// compiled over the native tables (with the time predicate, since a table
// holds every day).
func (env *env) planWorkload(group, question string, q Question) (*Workload, error) {
	w := newWorkload(q.Name, group, question)
	cat := env.e.Catalog()
	p, err := q.Plan(cat)
	if err != nil {
		return nil, fmt.Errorf("workload %s: %w", q.Name, err)
	}
	direct, err := env.e.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("workload %s: %w", q.Name, err)
	}
	native, err := planner.CompileSources(p, planner.DuckDB, nil)
	if err != nil {
		return nil, fmt.Errorf("workload %s native: %w", q.Name, err)
	}
	w.SQL = shortenSQL(direct.Text)
	w.InputRows = env.inputRows(p)
	w.systems[Quarry] = env.planRunner(func() (*planner.Plan, error) { return q.Plan(cat) })
	w.systems[DuckDBDirect] = sqlRunner(env.e.DB(), direct.Text, direct.Args)
	w.systems[DuckDBNative] = sqlRunner(env.native, native.Text, native.Args)
	return w, nil
}

// shortenSQL replaces the explicit file list with a summary for the report.
func shortenSQL(s string) string {
	for {
		i := strings.Index(s, "read_parquet([")
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], "], hive_partitioning = false)")
		if j < 0 {
			return s
		}
		n := strings.Count(s[i:i+j], ".parquet'")
		s = s[:i] + fmt.Sprintf("read_parquet(<%d files from the manifest>)", n) + s[i+j+len("], hive_partitioning = false)"):]
	}
}

// testQuery is the insights testQueryResult route: the first 100 rows.
func (env *env) testQuery(w *Workload, params url.Values, scope planner.Scope) {
	const path = "/insights/v1.1/cmp/ScheduledQueries/testQueryResult"
	if env.http == nil {
		w.absent[QuarryHTTP] = "server not started: " + env.httpNote
		return
	}
	if !env.http.has("GET", path) {
		w.absent[QuarryHTTP] = "no route GET " + path
		return
	}
	key := env.http.admin
	if !scope.Admin {
		key = env.http.member
	}
	r := env.http.runner("GET", path+"?"+params.Encode(), key, nil, decodeInsights)
	r.limit = 100
	r.note = "testQueryResult: first 100 rows, checked as a subset"
	w.systems[QuarryHTTP] = r
}

// consoleReport asks a report query over HTTP through the console's
// /api/sql (language report), the route that serves every dataset.
func (env *env) consoleReport(w *Workload, q Question) {
	switch {
	case env.http == nil:
		w.absent[QuarryHTTP] = "server not started: " + env.httpNote
	case !env.http.has("POST", "/api/sql"):
		w.absent[QuarryHTTP] = "no route POST /api/sql"
	default:
		key := env.http.admin
		if !q.Scope.Admin {
			key = env.http.member
		}
		r := env.http.runner("POST", "/api/sql", key, map[string]any{"sql": q.Text, "limit": 1_000_000, "language": "report"}, decodeConsole)
		r.note = "POST /api/sql, language report"
		w.systems[QuarryHTTP] = r
	}
}

// workloads builds every workload.
func (env *env) workloads(ctx context.Context) ([]*Workload, error) {
	var out []*Workload
	add := func(w *Workload, err error) error {
		if err != nil {
			return err
		}
		out = append(out, w)
		return nil
	}
	// the five layout questions
	for _, q := range LayoutQuestions() {
		w, err := env.planWorkload("layout", q.Text, q)
		if err != nil {
			return nil, err
		}
		if q.Report {
			env.consoleReport(w, q)
		} else {
			w.absent[QuarryHTTP] = "analytics stats answers nest rows per dimension; not compared yet"
		}
		env.peerLayout(w)
		out = append(out, w)
	}
	// insights: a sample report and the system queries
	uq := UsageReportQuestion()
	w, err := env.planWorkload("insights", uq.Text, uq)
	if err != nil {
		return nil, err
	}
	env.testQuery(w, url.Values{"exportQuery": {uq.Text}}, uq.Scope)
	out = append(out, w)
	seen := map[string]int{}
	for _, sq := range datasets.SystemQueries() {
		name := "sys_" + strings.ToLower(strings.TrimPrefix(sq.Dataset, "ISV"))
		seen[name]++
		if seen[name] > 1 {
			name = fmt.Sprintf("%s_%d", name, seen[name])
		}
		q := ReportQuestion(name, sq.Query, planner.Scope{Admin: true})
		w, err := env.planWorkload("insights", "system query "+sq.QueryID+" ("+sq.Name+")", q)
		if err != nil {
			return nil, err
		}
		env.testQuery(w, url.Values{"queryId": {sq.QueryID}}, q.Scope)
		out = append(out, w)
	}
	// analytics
	for _, q := range AnalyticsQuestions() {
		w, err := env.planWorkload("analytics", q.Text, q)
		if err != nil {
			return nil, err
		}
		w.absent[QuarryHTTP] = "analytics stats answers nest rows per dimension; not compared yet"
		env.peerAnalytics(w)
		out = append(out, w)
	}
	// metering point lookups
	mw, err := env.meteringWorkloads(ctx)
	if err != nil {
		return nil, err
	}
	out = append(out, mw...)
	// console
	if err := add(env.consoleWorkload()); err != nil {
		return nil, err
	}
	// exports
	ew, err := env.exportWorkloads()
	if err != nil {
		return nil, err
	}
	out = append(out, ew...)
	if err := add(env.ingestWorkload(ctx)); err != nil {
		return nil, err
	}
	return out, nil
}

// AnalyticsQuestions are analytics queries with groupByTimeUnit and filters.
func AnalyticsQuestions() []Question {
	return []Question{
		AnalyticsQuestion("analytics_daily_proxy_errors",
			"analytics: org acme, sum(message_count), avg(total_response_time) by apiproxy and day, status ≥ 400, last 90 days",
			planner.AnalyticsRequest{
				Metrics:    []planner.AnalyticsMetric{{Name: "message_count", Function: "sum"}, {Name: "total_response_time", Function: "avg"}},
				Dimensions: []string{"apiproxy"}, GroupByTimeUnit: "day", Filter: "(response_status_code ge 400)", TimeRange: Window(90)}, "acme"),
		AnalyticsQuestion("analytics_weekly_app_prod",
			"analytics: every org, sum(message_count), avg(total_response_time) by developer_app and week, environment prod and status < 400, last 180 days",
			planner.AnalyticsRequest{
				Metrics:    []planner.AnalyticsMetric{{Name: "message_count", Function: "sum"}, {Name: "total_response_time", Function: "avg"}},
				Dimensions: []string{"developer_app"}, GroupByTimeUnit: "week",
				Filter: "(environment eq 'prod') and (response_status_code lt 400)", TimeRange: Window(180)}, ""),
	}
}

// meteringWorkloads are volume/sum and volume/max of the busiest
// resource's busiest meter on one day, ten days back.
func (env *env) meteringWorkloads(ctx context.Context) ([]*Workload, error) {
	d, ok := env.e.Catalog().Lookup("meters")
	if !ok {
		return nil, fmt.Errorf("no meters dataset")
	}
	day := Now.Truncate(24*time.Hour).AddDate(0, 0, -10)
	next := day.AddDate(0, 0, 1)
	src, err := env.e.Source(d, planner.Window{Start: &day, End: &next})
	if err != nil {
		return nil, err
	}
	var resource, meter string
	if err := env.e.DB().QueryRowContext(ctx, "SELECT resource_id, counter_name FROM "+src+
		" GROUP BY ALL ORDER BY count(*) DESC, 1, 2 LIMIT 1").Scan(&resource, &meter); err != nil {
		return nil, fmt.Errorf("metering case: %w", err)
	}
	start, end := day.Format("2006-01-02T15:04:05"), next.Format("2006-01-02T15:04:05")
	var out []*Workload
	for _, k := range []struct {
		name, agg string
		kind      planner.MeteringKind
	}{{"metering_volume_sum", "sum", planner.MeterVolumeSum}, {"metering_volume_max", "max", planner.MeterVolumeMax}} {
		req := planner.MeteringRequest{Kind: k.kind, Resource: resource, Meter: meter, Start: start, End: end}
		opt := planner.MeteringOptions{Scope: planner.Scope{Admin: true}}
		build := func() (*planner.Plan, error) {
			mp, err := planner.FromMetering(req, env.e.Catalog(), opt)
			if err != nil {
				return nil, err
			}
			return mp.Plan, nil
		}
		q := Question{Name: k.name, Scope: opt.Scope, Plan: func(*datasets.Catalog) (*planner.Plan, error) { return build() }}
		w, err := env.planWorkload("metering", fmt.Sprintf("volume/%s of resource %s, meter %s, one day (%s)", k.agg, resource, meter, day.Format("2006-01-02")), q)
		if err != nil {
			return nil, err
		}
		path := "/v1/resources/" + url.PathEscape(resource) + "/meters/" + url.PathEscape(meter) + "/volume/" + k.agg
		switch {
		case env.http == nil:
			w.absent[QuarryHTTP] = "server not started: " + env.httpNote
		case !env.http.has("GET", "/v1/resources/:resource_id/meters/:meter_name/volume/"+k.agg) && !env.http.hasPrefix("/v1/resources/"):
			w.absent[QuarryHTTP] = "no metering route"
		default:
			w.systems[QuarryHTTP] = env.http.runner("GET", path+"?"+url.Values{"start_timestamp": {start}, "end_timestamp": {end}}.Encode(),
				env.http.admin, nil, decodeVolume)
		}
		lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
		where := func(t func(string) string) string {
			return fmt.Sprintf("resource_id = %s AND counter_name = %s AND timestamp >= %s AND timestamp < %s",
				lit(resource), lit(meter), t(ts(day)), t(ts(next)))
		}
		env.peerSQL(w, map[string]string{
			Postgres:   fmt.Sprintf("SELECT %s(counter_volume) FROM meters WHERE %s", k.agg, where(func(s string) string { return "TIMESTAMP '" + s + "'" })),
			ClickHouse: fmt.Sprintf("SELECT %s(counter_volume) FROM meters WHERE %s", k.agg, where(func(s string) string { return "toDateTime('" + s + "')" })),
		})
		out = append(out, w)
	}
	return out, nil
}

func (t *httpTarget) hasPrefix(p string) bool {
	for r := range t.routes {
		if strings.Contains(r, " "+p) {
			return true
		}
	}
	return false
}

// consoleSQL is the console-style ad-hoc scan; {t} is the transactions relation.
const consoleSQL = "SELECT ax_geo_country, request_verb, count(*) AS calls, sum(response_size) AS bytes, avg(total_response_time) AS avg_ms " +
	"FROM {t} WHERE request_path LIKE '%/v1/%' AND response_status_code < 400 GROUP BY ax_geo_country, request_verb"

func (env *env) consoleWorkload() (*Workload, error) {
	w := newWorkload("console_adhoc_scan", "console", "raw SQL over every transactions row: LIKE filter, two-column group-by")
	d, _ := env.e.Catalog().Lookup("transactions")
	src, err := env.e.Source(d, planner.Window{})
	if err != nil {
		return nil, err
	}
	m, err := env.e.Store().Manifest("transactions")
	if err != nil {
		return nil, err
	}
	w.InputRows = m.Rows()
	text := strings.ReplaceAll(consoleSQL, "{t}", "transactions")
	direct := strings.ReplaceAll(consoleSQL, "{t}", src)
	w.SQL = shortenSQL(direct)
	sb := sandbox.New(env.e, sandbox.Config{})
	w.systems[Quarry] = &runner{note: "the console's sandbox (engine/sandbox), admin scope", run: func(ctx context.Context, sink func([]any)) (int64, error) {
		res, err := sb.Query(ctx, planner.Scope{Admin: true}, text, sandbox.Options{})
		if err != nil {
			return 0, err
		}
		defer closeQuiet(res)
		n, err := drainArrow(res.Reader, sink)
		if err == nil {
			err = res.Err()
		}
		return n, err
	}}
	w.systems[DuckDBDirect] = sqlRunner(env.e.DB(), direct, nil)
	w.systems[DuckDBNative] = sqlRunner(env.native, text, nil)
	switch {
	case env.http == nil:
		w.absent[QuarryHTTP] = "server not started: " + env.httpNote
	case !env.http.has("POST", "/api/sql"):
		w.absent[QuarryHTTP] = "no route POST /api/sql"
	default:
		w.systems[QuarryHTTP] = env.http.runner("POST", "/api/sql", env.http.admin,
			map[string]any{"sql": text, "limit": 1_000_000, "language": "sql"}, decodeConsole)
	}
	env.peerSQL(w, map[string]string{Postgres: text, ClickHouse: text})
	return w, nil
}

// exportWorkloads write about a quarter of the window's rows of one org
// (one row per proxy, client and timestamp) to a file in each format.
func (env *env) exportWorkloads() ([]*Workload, error) {
	days := max(1, env.cfg.Days/4)
	q := AnalyticsQuestion("export", "", planner.AnalyticsRequest{
		Metrics:    []planner.AnalyticsMetric{{Name: "message_count", Function: "sum"}, {Name: "total_response_time", Function: "avg"}},
		Dimensions: []string{"apiproxy", "client_id", "timestamp"}, TimeRange: Window(days), Limit: 10_000_000}, "acme")
	cat := env.e.Catalog()
	p, err := q.Plan(cat)
	if err != nil {
		return nil, fmt.Errorf("export plan: %w", err)
	}
	direct, err := env.e.Compile(p)
	if err != nil {
		return nil, err
	}
	native, err := planner.CompileSources(p, planner.DuckDB, nil)
	if err != nil {
		return nil, err
	}
	var out []*Workload
	for _, f := range []struct {
		format      engine.Format
		ext, opts   string
		read        string
		name, title string
	}{
		{engine.CSV, ".csv", "FORMAT csv, HEADER true", "read_csv(%s, header = true)", "export_csv", "CSV"},
		{engine.NDJSONGz, ".ndjson.gz", "FORMAT json, COMPRESSION gzip", "read_json(%s, format = 'newline_delimited')", "export_ndjson_gz", "NDJSON.gz"},
		{engine.Parquet, ".parquet", "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880", "read_parquet(%s)", "export_parquet", "Parquet"},
	} {
		w := newWorkload(f.name, "export", fmt.Sprintf("org acme, one row per (apiproxy, client_id, timestamp), last %d days, written as %s", days, f.title))
		w.SQL = shortenSQL(direct.Text)
		file := func(sys string) string { return filepath.Join(env.tmp, "export-"+sys+f.ext) }
		verify := func(sys string) func(ctx context.Context) (*Answer, error) {
			return func(ctx context.Context) (*Answer, error) {
				rows, err := env.e.DB().QueryContext(ctx, "SELECT * FROM "+fmt.Sprintf(f.read, quote(file(sys))))
				if err != nil {
					return nil, fmt.Errorf("read back: %w", err)
				}
				c := newCollector()
				if _, err := drainSQL(rows, c.add); err != nil {
					return nil, err
				}
				return c.answer(), nil
			}
		}
		after := func(sys string) func() { return func() { os.Remove(file(sys)) } }
		w.systems[Quarry] = &runner{note: "engine.Export (COPY to a temp name, fsync, rename)", verify: verify(Quarry), after: after(Quarry),
			run: func(ctx context.Context, _ func([]any)) (int64, error) {
				p, err := q.Plan(cat)
				if err != nil {
					return 0, err
				}
				st, err := env.e.Export(ctx, p, f.format, file(Quarry))
				return st.Rows, err
			}}
		copyRunner := func(sys string, db *sql.DB, text string, args []any) *runner {
			stmt := "COPY (" + text + ") TO " + quote(file(sys)) + " (" + f.opts + ")"
			return &runner{verify: verify(sys), after: after(sys), run: func(ctx context.Context, _ func([]any)) (int64, error) {
				res, err := db.ExecContext(ctx, stmt, args...)
				if err != nil {
					return 0, fmt.Errorf("copy: %w", err)
				}
				return res.RowsAffected()
			}}
		}
		w.systems[DuckDBDirect] = copyRunner(DuckDBDirect, env.e.DB(), direct.Text, direct.Args)
		w.systems[DuckDBNative] = copyRunner(DuckDBNative, env.native, native.Text, native.Args)
		w.absent[QuarryHTTP] = "exports run as async jobs over HTTP; not timed here"
		out = append(out, w)
	}
	// rows written: set after the first run by measure through InputRows 0
	return out, nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ingestWorkload appends an NDJSON file of transactions (the last tenth of
// the days, as DuckDB writes them) to an empty data directory.
func (env *env) ingestWorkload(ctx context.Context) (*Workload, error) {
	d, _ := env.e.Catalog().Lookup("transactions")
	days := max(1, env.cfg.Days/10)
	end := Now.Truncate(24 * time.Hour)
	start := end.AddDate(0, 0, -days)
	src, err := env.e.Source(d, planner.Window{Start: &start, End: &end})
	if err != nil {
		return nil, err
	}
	file := filepath.Join(env.tmp, "ingest.ndjson")
	res, err := env.e.DB().ExecContext(ctx, "COPY (SELECT * FROM "+src+") TO "+quote(file)+" (FORMAT json)")
	if err != nil {
		return nil, fmt.Errorf("ingest input: %w", err)
	}
	n, _ := res.RowsAffected()
	w := newWorkload("ingest_ndjson", "ingest", fmt.Sprintf("append an NDJSON file of %d transactions rows (%d days) to an empty dataset", n, days))
	w.InputRows = n
	readJSON := "read_json(" + quote(file) + ", format = 'newline_delimited')"
	w.SQL = "COPY (SELECT * FROM " + readJSON + " ORDER BY organization, timestamp) TO '<dir>/part.parquet' (FORMAT parquet, ROW_GROUP_SIZE 16384)"
	readBack := func(db *sql.DB, from string) func(ctx context.Context) (*Answer, error) {
		return func(ctx context.Context) (*Answer, error) {
			rows, err := db.QueryContext(ctx, "SELECT * FROM "+from)
			if err != nil {
				return nil, fmt.Errorf("read back: %w", err)
			}
			c := newCollector()
			if _, err := drainSQL(rows, c.add); err != nil {
				return nil, err
			}
			return c.answer(), nil
		}
	}
	qdir := filepath.Join(env.tmp, "ingest-quarry")
	w.systems[Quarry] = &runner{note: "ingest.File: validate, sort, one Parquet part per day, manifest commit",
		verify: readBack(env.e.DB(), "read_parquet("+quote(filepath.Join(qdir, "**", "*.parquet"))+", hive_partitioning = false)"),
		after:  func() { os.RemoveAll(qdir) },
		run: func(ctx context.Context, _ func([]any)) (int64, error) {
			r, err := ingest.File(ctx, datasets.NewStore(qdir), d, file, ingest.Options{})
			return r.Rows, err
		}}
	ddir := filepath.Join(env.tmp, "ingest-direct")
	w.systems[DuckDBDirect] = &runner{note: "DuckDB read_json → one sorted Parquet file",
		verify: readBack(env.e.DB(), "read_parquet("+quote(filepath.Join(ddir, "part.parquet"))+")"),
		after:  func() { os.RemoveAll(ddir) },
		run: func(ctx context.Context, _ func([]any)) (int64, error) {
			if err := os.MkdirAll(ddir, 0o755); err != nil {
				return 0, fmt.Errorf("ingest dir: %w", err)
			}
			r, err := env.e.DB().ExecContext(ctx, "COPY (SELECT * FROM "+readJSON+" ORDER BY organization, timestamp) TO "+
				quote(filepath.Join(ddir, "part.parquet"))+" (FORMAT parquet, ROW_GROUP_SIZE 16384)")
			if err != nil {
				return 0, fmt.Errorf("copy: %w", err)
			}
			return r.RowsAffected()
		}}
	mem, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("ingest native: %w", err)
	}
	mem.SetMaxOpenConns(1)
	w.systems[DuckDBNative] = &runner{note: "DuckDB read_json → sorted in-memory table",
		verify: readBack(mem, "ingested"),
		after:  func() { _, _ = mem.Exec("DROP TABLE IF EXISTS ingested") },
		run: func(ctx context.Context, _ func([]any)) (int64, error) {
			if _, err := mem.ExecContext(ctx, "CREATE TABLE ingested AS SELECT * FROM "+readJSON+" ORDER BY organization, timestamp"); err != nil {
				return 0, fmt.Errorf("create table: %w", err)
			}
			var n int64
			err := mem.QueryRowContext(ctx, "SELECT count(*) FROM ingested").Scan(&n)
			return n, err
		}}
	w.absent[QuarryHTTP] = "POST /api/ingest is measured by server/ingest_bench_test.go; not here"
	return w, nil
}
