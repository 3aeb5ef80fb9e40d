//go:build duckdb_arrow

// Package engine runs plans on DuckDB: it owns the DuckDB instance and its
// settings, resolves a plan's time window to the explicit list of Parquet
// files the manifest names, streams results as Arrow record batches, and
// writes result files through DuckDB COPY. It knows nothing of HTTP.
//
// Build with -tags duckdb_arrow (the Makefile does).
package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/planner"
)

// Config holds the engine's settings.
type Config struct {
	DataDir string
	// MemoryLimit is DuckDB's memory_limit, e.g. "8GB"; "" keeps DuckDB's
	// default (80% of RAM).
	MemoryLimit string
	// Threads is DuckDB's thread count; 0 keeps DuckDB's default (all cores).
	Threads int
	// QueryTimeout bounds every Run and Export; 0 means DefaultQueryTimeout.
	QueryTimeout time.Duration
	// Clock gives "now" for relative time ranges; nil means time.Now.
	Clock func() time.Time
	// OnQuery, if set, is told how long each query ran: op is "run" (from
	// start until the result is closed) or "export". It must not block.
	OnQuery func(op string, elapsed time.Duration, err error)
}

// DefaultQueryTimeout bounds a query when Config.QueryTimeout is 0.
const DefaultQueryTimeout = 10 * time.Minute

// ErrTimeout is returned (wrapped) when a query runs past its time limit.
var ErrTimeout = errors.New("query ran past its time limit")

// Engine executes plans.
type Engine struct {
	cfg   Config
	cat   *datasets.Catalog
	store *datasets.Store
	db    *sql.DB
}

// Open starts a DuckDB instance for the data directory.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	cat, err := datasets.Load(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open engine: %w", err)
	}
	settings := []string{
		"SET parquet_metadata_cache = true",
		"SET TimeZone = 'UTC'",
	}
	if cfg.MemoryLimit != "" {
		settings = append(settings, "SET memory_limit = "+quoteString(cfg.MemoryLimit))
	}
	if cfg.Threads > 0 {
		settings = append(settings, fmt.Sprintf("SET threads = %d", cfg.Threads))
	}
	connector, err := duckdb.NewConnector("", func(ex driver.ExecerContext) error {
		for _, s := range settings {
			if _, err := ex.ExecContext(context.Background(), s, nil); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open engine: %w", err)
	}
	db := sql.OpenDB(connector)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open engine: %w", err)
	}
	return &Engine{cfg: cfg, cat: cat, store: datasets.NewStore(cfg.DataDir), db: db}, nil
}

// Close shuts the DuckDB instance down.
func (e *Engine) Close() error { return e.db.Close() }

// Catalog returns the catalog the engine serves.
func (e *Engine) Catalog() *datasets.Catalog { return e.cat }

// Store returns the datasets store.
func (e *Engine) Store() *datasets.Store { return e.store }

// Now is the engine clock's current time in UTC.
func (e *Engine) Now() time.Time { return e.cfg.Clock().UTC() }

// DB exposes the DuckDB handle for oracles and benchmarks that run SQL of
// their own against the same instance.
func (e *Engine) DB() *sql.DB { return e.db }

// Compile resolves the plan's files and compiles it to DuckDB SQL.
func (e *Engine) Compile(p *planner.Plan) (planner.SQL, error) {
	sources := map[string]string{}
	for _, d := range readDatasets(p) {
		from, err := e.Source(d, p.Window)
		if err != nil {
			return planner.SQL{}, err
		}
		sources[d.Name] = from
	}
	return compile(p, sources)
}

// readDatasets lists the datasets a plan reads: its own, then the rates
// it looks up (read over the same window: a rate is joined on the row's
// day).
func readDatasets(p *planner.Plan) []*datasets.Dataset {
	ds := []*datasets.Dataset{p.Dataset}
	if p.Rates != nil {
		ds = append(ds, p.Rates.Dataset)
	}
	return ds
}

// compile compiles a plan over a relation holding the files of its window.
// Every file holds the rows of one UTC day, so when the window starts and
// ends at midnight the file list is the window exactly and the time
// predicate would only cost a comparison per row (measured: 14 → 8 ms for
// one org over 30 days); it is left out. A window with a partial day keeps
// it.
func compile(p *planner.Plan, sources map[string]string) (planner.SQL, error) {
	if wholeDays(p.Window) {
		q := *p
		q.WindowImplied = true
		return planner.CompileSources(&q, planner.DuckDB, sources)
	}
	return planner.CompileSources(p, planner.DuckDB, sources)
}

func wholeDays(w planner.Window) bool {
	midnight := func(t *time.Time) bool { return t == nil || t.Equal(t.Truncate(24*time.Hour)) }
	return (w.Start != nil || w.End != nil) && midnight(w.Start) && midnight(w.End)
}

// Source returns the relation scanning a dataset's files in a window:
// read_parquet over the explicit file list the manifest gives (never a
// glob), or an empty relation of the dataset's schema when no file falls
// in the window. File paths come from the manifest, never from a request.
func (e *Engine) Source(d *datasets.Dataset, w planner.Window) (string, error) {
	m, err := e.store.Manifest(d.Name)
	if err != nil {
		return "", err
	}
	return e.SourceOf(d, m, m.Window(w.Start, w.End)), nil
}

// SourceOf is the relation scanning the given files of a manifest (see
// Source): for callers that hold a manifest snapshot (the console's views
// record the version they were built from).
func (e *Engine) SourceOf(d *datasets.Dataset, m *datasets.Manifest, files []datasets.FileEntry) string {
	if len(files) == 0 {
		var cols []string
		for _, c := range d.Stored() {
			cols = append(cols, fmt.Sprintf("CAST(NULL AS %s) AS %s", sqlType(c.Type), planner.DuckDB.Ident(c.Name)))
		}
		return "(SELECT " + strings.Join(cols, ", ") + " WHERE false)"
	}
	if groups := schemaGroups(d, m, files); groups != nil {
		return e.evolvedSource(d, groups)
	}
	return e.readParquet(d, files)
}

func (e *Engine) readParquet(d *datasets.Dataset, files []datasets.FileEntry) string {
	var b strings.Builder
	b.WriteString("read_parquet([")
	for i, f := range files {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteString(e.store.Abs(d.Name, f)))
	}
	b.WriteString("], hive_partitioning = false)")
	return b.String()
}

// fileGroup is the files of a window that hold the same stored columns.
type fileGroup struct {
	has   map[string]bool // stored column names the files hold
	files []datasets.FileEntry
}

// schemaGroups splits a window's files by the stored columns they hold.
// It returns nil — the fast path, one read_parquet — when every file holds
// every stored column (a file whose columns the manifest does not record
// is taken to). The catalog has checked that a column a file lacks is
// nullable.
func schemaGroups(d *datasets.Dataset, m *datasets.Manifest, files []datasets.FileEntry) []*fileGroup {
	stored := d.Stored()
	var groups []*fileGroup
	byKey := map[string]*fileGroup{}
	differ := false
	for _, f := range files {
		has := make(map[string]bool, len(stored))
		var key strings.Builder
		if cols := m.FileColumns(f); cols == nil {
			for _, c := range stored {
				has[c.Name] = true
			}
		} else {
			for _, c := range cols {
				has[c.Name] = true
			}
		}
		for _, c := range stored {
			if !has[c.Name] {
				differ = true
				key.WriteString(c.Name)
				key.WriteByte(',')
			}
		}
		g, ok := byKey[key.String()]
		if !ok {
			g = &fileGroup{has: has}
			byKey[key.String()] = g
			groups = append(groups, g)
		}
		g.files = append(g.files, f)
	}
	if !differ {
		return nil
	}
	return groups
}

// evolvedSource reads files of different schema versions: one
// read_parquet per group of files holding the same columns, each projected
// to the dataset's stored columns (NULL for a column its files lack) and
// glued with UNION ALL. Unlike union_by_name it reads no file's schema
// while planning, and filters still push into each scan.
func (e *Engine) evolvedSource(d *datasets.Dataset, groups []*fileGroup) string {
	var b strings.Builder
	b.WriteString("(")
	for i, g := range groups {
		if i > 0 {
			b.WriteString("\nUNION ALL ")
		}
		b.WriteString("SELECT ")
		for j, c := range d.Stored() {
			if j > 0 {
				b.WriteString(", ")
			}
			id := planner.DuckDB.Ident(c.Name)
			if g.has[c.Name] {
				b.WriteString(id)
			} else {
				fmt.Fprintf(&b, "CAST(NULL AS %s) AS %s", sqlType(c.Type), id)
			}
		}
		b.WriteString(" FROM ")
		b.WriteString(e.readParquet(d, g.files))
	}
	b.WriteString(")")
	return b.String()
}

func sqlType(t datasets.Type) string {
	if t == datasets.JSON {
		return "VARCHAR"
	}
	return string(t)
}

// quoteString renders a string literal for text Quarry itself produced
// (file paths, settings) — never for request values, which are bound.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Result streams a query's rows as Arrow record batches. Close it.
type Result struct {
	Reader  array.RecordReader
	SQL     planner.SQL
	conn    *sql.Conn
	cancel  context.CancelFunc
	started time.Time
	onQuery func(string, time.Duration, error)
}

// Elapsed is the time since the query started.
func (r *Result) Elapsed() time.Duration { return time.Since(r.started) }

// Schema is the result's Arrow schema.
func (r *Result) Schema() *arrow.Schema { return r.Reader.Schema() }

// Close releases the reader and its connection.
func (r *Result) Close() error {
	if r.onQuery != nil {
		r.onQuery("run", r.Elapsed(), r.Reader.Err())
	}
	r.Reader.Release()
	r.cancel()
	return r.conn.Close()
}

// Run executes a plan and streams its rows.
func (e *Engine) Run(ctx context.Context, p *planner.Plan) (*Result, error) {
	q, err := e.Compile(p)
	if err != nil {
		return nil, err
	}
	return e.RunSQL(ctx, q)
}

type timeoutKey struct{}

// WithQueryTimeout returns a context under which Run and Export are
// bounded by d instead of Config.QueryTimeout: for work that has a limit
// of its own, such as an async job and its run-time limit (6 hours for an
// analytics query, where interactive queries stop at 10 minutes).
func WithQueryTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, timeoutKey{}, d)
}

// timeout bounds one query run under ctx.
func (e *Engine) timeout(ctx context.Context) (context.Context, context.CancelFunc, time.Duration) {
	d := e.cfg.QueryTimeout
	if v, ok := ctx.Value(timeoutKey{}).(time.Duration); ok && v > 0 {
		d = v
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, d
}

// RunSQL executes compiled SQL and streams its rows.
func (e *Engine) RunSQL(ctx context.Context, q planner.SQL) (*Result, error) {
	ctx, cancel, limit := e.timeout(ctx)
	conn, err := e.db.Conn(ctx)
	if err != nil {
		cancel()
		return nil, e.wrap(ctx, limit, err)
	}
	var rr array.RecordReader
	started := time.Now()
	err = conn.Raw(func(dc any) error {
		ar, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
		if err != nil {
			return err
		}
		rr, err = ar.QueryContext(ctx, q.Text, q.Args...)
		return err
	})
	if err != nil {
		conn.Close()
		cancel()
		return nil, e.wrap(ctx, limit, err)
	}
	slog.Debug("query started", "sql", q.Text, "args", len(q.Args))
	return &Result{Reader: rr, SQL: q, conn: conn, cancel: cancel, started: started, onQuery: e.cfg.OnQuery}, nil
}

func (e *Engine) wrap(ctx context.Context, limit time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (%s): %w", ErrTimeout, limit, err)
	}
	return fmt.Errorf("run query: %w", err)
}

// Explain describes how a plan runs: the printed plan, the files the
// manifest gives for its window, and the SQL with its parameters. The file
// list is summarised as the relation name "<dataset>_files".
func (e *Engine) Explain(p *planner.Plan) (string, error) {
	m, err := e.store.Manifest(p.Dataset.Name)
	if err != nil {
		return "", err
	}
	files := m.Window(p.Window.Start, p.Window.End)
	sources := map[string]string{}
	for _, d := range readDatasets(p) {
		sources[d.Name] = d.Name + "_files"
	}
	q, err := compile(p, sources)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("-- plan\n")
	b.WriteString(p.String())
	var rows int64
	for _, f := range files {
		rows += f.Rows
	}
	fmt.Fprintf(&b, "\n-- files\n%s_files = read_parquet([%d files", p.Dataset.Name, len(files))
	if len(files) > 0 {
		fmt.Fprintf(&b, ", %s … %s", files[0].Day, files[len(files)-1].Day)
	}
	fmt.Fprintf(&b, "]) -- %d rows, from the manifest\n\n-- sql\n%s\n", rows, q.Text)
	for i, a := range q.Args {
		fmt.Fprintf(&b, "-- $%d = %#v\n", i+1, a)
	}
	return b.String(), nil
}
