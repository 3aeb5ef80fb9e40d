//go:build duckdb_arrow

// Package sandbox runs user-written DuckDB SQL (the developer console and
// `quarry sql`) in DuckDB instances that can read nothing but the datasets
// the caller may see.
//
// Every principal scope (admin, or a member's account/org/project) gets a
// DuckDB instance of its own, built on first use and kept in a bounded LRU
// cache. Its only tables are views, one per readable dataset, over the
// explicit file list of the dataset's manifest; a member's views carry its
// tenant predicate (WHERE "PublisherId" = 'pub-contoso'). A view records
// the manifest version it was built from and is replaced (CREATE OR
// REPLACE VIEW) before the next query once the manifest has moved on.
//
// The instance is locked down as SPEC.md §6 says, in this order: a
// private temp directory, allowed_directories = the readable datasets'
// directories, enable_external_access = false, extension auto-install and
// auto-load off, community and unsigned extensions off, a memory limit,
// then the views, then lock_configuration = true. The settings are read
// back and an instance whose settings are not the expected ones is
// refused (Verify does this at server start).
//
// Because the views must read their Parquet files at query time, DuckDB
// must be allowed the datasets' directories, and a member's files hold
// other tenants' rows too. So before a statement runs it is parsed by
// DuckDB itself (the extract-statements API counts statements;
// json_serialize_sql gives the parse tree) and checked: exactly one
// statement, SELECT-like (SELECT, WITH, VALUES, FROM-first, DESCRIBE,
// SUMMARIZE, SHOW, or EXPLAIN of one of those), no table function outside
// a short list of in-memory ones (no read_parquet, read_csv, glob, query,
// …), and no table name that DuckDB could take for a file (a replacement
// scan: 'x.parquet'). The check needs no string splitting of its own: the
// parser is DuckDB's.
package sandbox

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/planner"
)

// Defaults of Config.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultLongTimeout  = time.Hour
	DefaultMemoryLimit  = "2GB"
	DefaultThreads      = 2
	DefaultConns        = 4
	DefaultMaxInstances = 8
)

// Config tunes the sandbox; zero fields take the defaults.
type Config struct {
	// Timeout is the longest an interactive query may run (default 30 s);
	// a request may ask for less, never more.
	Timeout time.Duration
	// LongTimeout bounds a query run with Options.Long (async console
	// jobs; default 1 h).
	LongTimeout time.Duration
	// MemoryLimit is each instance's DuckDB memory_limit (default 2GB).
	MemoryLimit string
	// Threads is each instance's DuckDB thread count (default 2).
	Threads int
	// Conns is how many queries one instance runs at once (default 4);
	// more wait for a free connection.
	Conns int
	// MaxInstances bounds the cached instances, one per principal scope
	// (default 8); the least recently used idle one is closed beyond it.
	MaxInstances int
	// TempDir is where each instance gets its private spill directory
	// (default os.TempDir()).
	TempDir string
	// Logger receives the sandbox's logs (default slog.Default()).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.LongTimeout <= 0 {
		c.LongTimeout = DefaultLongTimeout
	}
	if c.MemoryLimit == "" {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.Threads <= 0 {
		c.Threads = DefaultThreads
	}
	if c.Conns <= 0 {
		c.Conns = DefaultConns
	}
	if c.MaxInstances <= 0 {
		c.MaxInstances = DefaultMaxInstances
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Sandbox hands out locked-down DuckDB instances per principal scope.
type Sandbox struct {
	eng *engine.Engine
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	insts  map[string]*instance
	tick   uint64 // LRU clock
	closed bool
}

// New returns a sandbox over the engine's catalog and datasets store.
// Instances are built on first use; call Verify to build one at start.
func New(eng *engine.Engine, cfg Config) *Sandbox {
	cfg = cfg.withDefaults()
	return &Sandbox{eng: eng, cfg: cfg, log: cfg.Logger.With("component", "sandbox"), insts: map[string]*instance{}}
}

// Config returns the sandbox's configuration, defaults applied.
func (s *Sandbox) Config() Config { return s.cfg }

// Verify builds the admin instance, which reads its settings back, and
// fails if any is not what SPEC.md §6 requires. quarry serve calls it and
// refuses to start on an error.
func (s *Sandbox) Verify(ctx context.Context) error {
	inst, err := s.acquire(ctx, planner.Scope{Admin: true})
	if err != nil {
		return err
	}
	defer s.release(inst)
	c, err := inst.get(ctx)
	if err != nil {
		return err
	}
	defer inst.put(c)
	return verify(ctx, c.dc, inst.allowed)
}

// Close closes every instance. Queries still running fail.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	s.closed = true
	insts := s.insts
	s.insts = map[string]*instance{}
	s.mu.Unlock()
	var errs []error
	for _, in := range insts {
		in.mu.Lock()
		in.evicted = true
		idle := in.refs == 0
		in.mu.Unlock()
		if idle {
			errs = append(errs, in.close())
		}
	}
	return errors.Join(errs...)
}

// ScopeKey names a principal scope: the instances' cache key.
func ScopeKey(sc planner.Scope) string {
	if sc.Admin {
		return "admin"
	}
	return "account=" + sc.Account + "\x00org=" + sc.Org + "\x00project=" + sc.Project
}

// Readable lists the datasets a scope may read with the tenant value each
// view filters on ("" for none: an admin, or a dataset without tenants).
func Readable(cat *datasets.Catalog, sc planner.Scope) []View {
	var out []View
	for _, d := range cat.Datasets() {
		v := View{Dataset: d}
		if !sc.Admin && d.TenantColumn != "" {
			switch d.TenantScope {
			case "account":
				v.Tenant = sc.Account
			case "org":
				v.Tenant = sc.Org
			case "project":
				v.Tenant = sc.Project
			}
			if v.Tenant == "" {
				continue // no scope for this dataset: no view at all
			}
		}
		out = append(out, v)
	}
	return out
}

// View is one table of a sandbox: a dataset, filtered to one tenant when
// Tenant is set.
type View struct {
	Dataset *datasets.Dataset
	Tenant  string
}

// Name is the view's table name: the dataset's canonical name.
func (v View) Name() string { return v.Dataset.Name }

// instance is one locked-down DuckDB instance of a principal scope.
type instance struct {
	key     string
	scope   planner.Scope
	conn    *duckdb.Connector
	views   []View
	names   map[string]bool // lower-cased view names
	allowed []string        // allowed_directories
	tempDir string
	free    chan *sconn
	all     []*sconn

	ddl      sync.Mutex       // serialises view refreshes
	versions map[string]int64 // dataset → manifest version its view shows

	mu      sync.Mutex // guards refs, used, evicted
	refs    int
	used    uint64
	evicted bool
}

// sconn is one connection of an instance, with its raw DuckDB handle for
// progress and statement extraction.
type sconn struct {
	dc  driver.Conn
	raw rawConn
}

func (s *Sandbox) acquire(ctx context.Context, sc planner.Scope) (*instance, error) {
	key := ScopeKey(sc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("sandbox is closed")
	}
	s.tick++
	if in, ok := s.insts[key]; ok {
		in.mu.Lock()
		in.refs++
		in.used = s.tick
		in.mu.Unlock()
		s.mu.Unlock()
		if err := s.refresh(ctx, in); err != nil {
			s.release(in)
			return nil, err
		}
		return in, nil
	}
	tick := s.tick
	s.mu.Unlock()

	// Built outside the lock: it takes a few milliseconds per dataset. Two
	// requests of one new scope may both build; the second one's is closed.
	in, err := s.build(ctx, sc)
	if err != nil {
		return nil, err
	}
	in.refs, in.used = 1, tick
	s.mu.Lock()
	if old, ok := s.insts[key]; ok && !s.closed {
		old.mu.Lock()
		old.refs++
		old.mu.Unlock()
		s.mu.Unlock()
		in.close()
		if err := s.refresh(ctx, old); err != nil {
			s.release(old)
			return nil, err
		}
		return old, nil
	}
	if s.closed {
		s.mu.Unlock()
		in.close()
		return nil, errors.New("sandbox is closed")
	}
	s.insts[key] = in
	s.evictLocked()
	s.mu.Unlock()
	return in, nil
}

// evictLocked closes least recently used idle instances beyond
// MaxInstances. An instance in use is marked and closed by its last
// release.
func (s *Sandbox) evictLocked() {
	for len(s.insts) > s.cfg.MaxInstances {
		var victim *instance
		for _, in := range s.insts {
			in.mu.Lock()
			u := in.used
			in.mu.Unlock()
			if victim == nil || u < victim.used {
				victim = in
			}
		}
		delete(s.insts, victim.key)
		victim.mu.Lock()
		victim.evicted = true
		idle := victim.refs == 0
		victim.mu.Unlock()
		s.log.Debug("sandbox instance evicted", "scope", redactKey(victim.key))
		if idle {
			go victim.close()
		}
	}
}

func (s *Sandbox) release(in *instance) {
	in.mu.Lock()
	in.refs--
	closeNow := in.refs == 0 && in.evicted
	in.mu.Unlock()
	if closeNow {
		in.close()
	}
}

// redactKey is a scope key for logs: a short hash, not tenant ids.
func redactKey(k string) string {
	h := sha256.Sum256([]byte(k))
	return hex.EncodeToString(h[:6])
}

// build opens and locks down a new instance for a scope.
func (s *Sandbox) build(ctx context.Context, sc planner.Scope) (in *instance, err error) {
	views := Readable(s.eng.Catalog(), sc)
	in = &instance{key: ScopeKey(sc), scope: sc, views: views, names: map[string]bool{}, versions: map[string]int64{}}
	for _, v := range views {
		in.names[strings.ToLower(v.Name())] = true
		in.allowed = append(in.allowed, filepath.Clean(s.eng.Store().Dir(v.Name()))+string(filepath.Separator))
	}
	if in.tempDir, err = os.MkdirTemp(s.cfg.TempDir, "quarry-sandbox-"); err != nil {
		return nil, fmt.Errorf("sandbox: temp directory: %w", err)
	}
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	if in.conn, err = duckdb.NewConnector("", nil); err != nil {
		return nil, fmt.Errorf("sandbox: open duckdb: %w", err)
	}
	for i := 0; i < s.cfg.Conns; i++ {
		dc, err := in.conn.Connect(ctx)
		if err != nil {
			return nil, fmt.Errorf("sandbox: connect: %w", err)
		}
		raw, err := rawOf(dc)
		if err != nil {
			dc.Close()
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		in.all = append(in.all, &sconn{dc: dc, raw: raw})
	}
	setup := in.all[0].dc
	// Global settings first, then access off, then the views (which need
	// their files to be allowed), then per-connection settings, then the
	// lock. Every value here is text Quarry produced, never a request's.
	global := []string{
		"SET memory_limit = " + quote(s.cfg.MemoryLimit),
		fmt.Sprintf("SET threads = %d", s.cfg.Threads),
		"SET temp_directory = " + quote(in.tempDir),
		"SET max_temp_directory_size = '4GB'",
		"SET parquet_metadata_cache = true",
		"SET allowed_directories = " + quoteList(in.allowed),
		"SET enable_external_access = false",
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		"SET allow_community_extensions = false",
		"SET allow_unsigned_extensions = false",
		"SET allow_persistent_secrets = false",
	}
	for _, q := range global {
		if err := exec(ctx, setup, q); err != nil {
			return nil, fmt.Errorf("sandbox setup: %s: %w", q, err)
		}
	}
	if err := s.refreshViews(ctx, in, true); err != nil {
		return nil, err
	}
	for _, c := range in.all {
		for _, q := range []string{
			"SET TimeZone = 'UTC'",
			"SET enable_progress_bar = true",
			"SET enable_progress_bar_print = false",
			"SET progress_bar_time = 0",
		} {
			if err := exec(ctx, c.dc, q); err != nil {
				return nil, fmt.Errorf("sandbox setup: %s: %w", q, err)
			}
		}
	}
	if err := exec(ctx, setup, "SET lock_configuration = true"); err != nil {
		return nil, fmt.Errorf("sandbox setup: lock configuration: %w", err)
	}
	for _, c := range in.all {
		if err := verify(ctx, c.dc, in.allowed); err != nil {
			return nil, err
		}
	}
	in.free = make(chan *sconn, len(in.all))
	for _, c := range in.all {
		in.free <- c
	}
	s.log.Debug("sandbox instance built", "scope", redactKey(in.key), "views", len(views))
	return in, nil
}

// refresh replaces the views whose manifest changed since they were built.
func (s *Sandbox) refresh(ctx context.Context, in *instance) error {
	return s.refreshViews(ctx, in, false)
}

func (s *Sandbox) refreshViews(ctx context.Context, in *instance, all bool) error {
	type change struct {
		v   View
		m   *datasets.Manifest
		sql string
	}
	var changes []change
	for _, v := range in.views {
		m, err := s.eng.Store().Manifest(v.Name())
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		in.ddl.Lock()
		ver, ok := in.versions[v.Name()]
		in.ddl.Unlock()
		if all || !ok || ver != m.Version {
			changes = append(changes, change{v: v, m: m})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	in.ddl.Lock()
	defer in.ddl.Unlock()
	// The DDL runs on a pooled connection (the first when building).
	var c *sconn
	if all {
		c = in.all[0]
	} else {
		var err error
		if c, err = in.get(ctx); err != nil {
			return err
		}
		defer in.put(c)
	}
	for _, ch := range changes {
		if !all && in.versions[ch.v.Name()] == ch.m.Version {
			continue // another request refreshed it meanwhile
		}
		q := "CREATE OR REPLACE VIEW " + planner.DuckDB.Ident(ch.v.Name()) + " AS " + s.viewSQL(ch.v, ch.m)
		if err := exec(ctx, c.dc, q); err != nil {
			return fmt.Errorf("sandbox: view %s: %w", ch.v.Name(), err)
		}
		in.versions[ch.v.Name()] = ch.m.Version
	}
	return nil
}

// viewSQL is the query of a dataset's view: every catalog column, in
// catalog order (derived columns computed), over the manifest's explicit
// file list, with the tenant predicate when the view has a tenant.
func (s *Sandbox) viewSQL(v View, m *datasets.Manifest) string {
	d := v.Dataset
	var cols []string
	for _, c := range d.Columns {
		id := planner.DuckDB.Ident(c.Name)
		switch {
		case c.Derived():
			cols = append(cols, "("+c.Expr+") AS "+id)
		case c.Type == datasets.JSON:
			cols = append(cols, "CAST("+id+" AS VARCHAR) AS "+id)
		default:
			cols = append(cols, id)
		}
	}
	// the engine's relation over the files: an empty one when there are
	// none, typed NULLs for columns older files lack (schema evolution)
	from := s.eng.SourceOf(d, m, m.Files)
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + from
	if v.Tenant != "" {
		q += " WHERE " + planner.DuckDB.Ident(d.TenantColumn) + " = " + quote(v.Tenant)
	}
	return q
}

func (in *instance) get(ctx context.Context) (*sconn, error) {
	select {
	case c := <-in.free:
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("sandbox: waiting for a free connection: %w", ctx.Err())
	}
}

func (in *instance) put(c *sconn) { in.free <- c }

func (in *instance) close() error {
	var errs []error
	for _, c := range in.all {
		errs = append(errs, c.dc.Close())
	}
	if in.conn != nil {
		errs = append(errs, in.conn.Close())
	}
	if in.tempDir != "" {
		errs = append(errs, os.RemoveAll(in.tempDir))
	}
	return errors.Join(errs...)
}

// Tables lists the view names a scope's instance has, sorted.
func (s *Sandbox) Tables(sc planner.Scope) []string {
	var out []string
	for _, v := range Readable(s.eng.Catalog(), sc) {
		out = append(out, v.Name())
	}
	sort.Strings(out)
	return out
}

// Options tune one query.
type Options struct {
	// Timeout is the query's time limit; 0 or more than the sandbox's
	// limit means the sandbox's limit.
	Timeout time.Duration
	// Long uses Config.LongTimeout as the limit instead of Config.Timeout
	// (async jobs).
	Long bool
	// MaxRows, when set, stops a SELECT-like query after MaxRows+1 rows
	// (it runs as SELECT * FROM (<query>) LIMIT MaxRows+1, so DuckDB
	// stops early and never holds more): a result with more than MaxRows
	// rows was truncated. EXPLAIN is not capped.
	MaxRows int64
	// Progress, when set, follows the query while it runs (DuckDB
	// computes the whole result before Query returns).
	Progress *Progress
}

// Progress follows one query's progress as DuckDB reports it
// (duckdb_query_progress). Its zero value is ready to use; Get may be
// called from any goroutine.
type Progress struct {
	mu   sync.Mutex
	raw  *rawConn
	last float64
	done bool
}

func (p *Progress) start(r *rawConn) {
	p.mu.Lock()
	p.raw = r
	p.mu.Unlock()
}

func (p *Progress) finish() {
	p.mu.Lock()
	p.raw, p.done, p.last = nil, true, 100
	p.mu.Unlock()
}

// Get returns the percentage done (0–100), never going back, and
// whether DuckDB has given an estimate yet.
func (p *Progress) Get() (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.raw != nil {
		if pct, _, _, ok := p.raw.progress(); ok && pct > p.last {
			p.last = min(pct, 99.9) // 100 only once the result is there
		}
	}
	return p.last, p.done || p.last > 0
}

// Result streams one query's rows. Close it.
type Result struct {
	// Reader yields the rows as Arrow record batches.
	Reader array.RecordReader
	// Statement is what ran: its kind and text.
	Statement Statement
	// Limit is the time limit the query runs under.
	Limit time.Duration

	ctx     context.Context
	cancel  context.CancelFunc
	inst    *instance
	conn    *sconn
	s       *Sandbox
	started time.Time
	once    sync.Once
}

// Schema is the result's Arrow schema.
func (r *Result) Schema() *arrow.Schema { return r.Reader.Schema() }

// Elapsed is the time since the query started.
func (r *Result) Elapsed() time.Duration { return time.Since(r.started) }

// Cancel interrupts the query.
func (r *Result) Cancel() { r.cancel() }

// Err is the error that ended reading, if any, as an *Error (a timeout
// or an interrupted query named as such).
func (r *Result) Err() error {
	err := r.Reader.Err()
	if err == nil {
		return nil
	}
	return runError(r.ctx, r.Limit, r.Statement.Text, err)
}

// Close releases the reader and returns the connection to its instance.
func (r *Result) Close() error {
	r.once.Do(func() {
		r.Reader.Release()
		r.cancel()
		r.inst.put(r.conn)
		r.s.release(r.inst)
	})
	return nil
}

// Query checks one statement and runs it in the scope's instance.
// Errors are *Error: a syntax error or a refused statement before
// anything runs (Code "syntax_error", "not_allowed"), a timeout
// ("timeout") or DuckDB's error ("query_error").
func (s *Sandbox) Query(ctx context.Context, sc planner.Scope, text string, opt Options) (*Result, error) {
	limit := s.cfg.Timeout
	if opt.Long {
		limit = s.cfg.LongTimeout
	}
	if opt.Timeout > 0 && opt.Timeout < limit {
		limit = opt.Timeout
	}
	inst, err := s.acquire(ctx, sc)
	if err != nil {
		return nil, err
	}
	qctx, cancel := context.WithTimeout(ctx, limit)
	c, err := inst.get(qctx)
	if err != nil {
		cancel()
		s.release(inst)
		return nil, runError(qctx, limit, text, err)
	}
	fail := func(err error) (*Result, error) {
		cancel()
		inst.put(c)
		s.release(inst)
		return nil, err
	}
	st, err := check(qctx, c, text, inst.names)
	if err != nil {
		return fail(err)
	}
	ar, err := duckdb.NewArrowFromConn(c.dc)
	if err != nil {
		return fail(fmt.Errorf("sandbox: %w", err))
	}
	run, shift := st.Text, false
	if opt.MaxRows > 0 && st.Kind != KindExplain {
		w := capPrefix + strings.TrimRight(st.Text, " \t\r\n;") + fmt.Sprintf("\n) LIMIT %d", opt.MaxRows+1)
		// A trailing comment after a semicolon would swallow the wrapper's
		// end; such a text runs as it is (the row cap is then applied by
		// the reader only).
		if n, err := c.raw.countStatements(w); err == nil && n == 1 {
			run, shift = w, true
		}
	}
	started := time.Now()
	if opt.Progress != nil {
		opt.Progress.start(&c.raw)
	}
	rr, err := ar.QueryContext(qctx, run)
	if opt.Progress != nil {
		opt.Progress.finish()
	}
	if err != nil {
		err = runError(qctx, limit, run, err)
		if shift {
			unshift(err, st.Text)
		}
		return fail(err)
	}
	return &Result{Reader: rr, Statement: st, Limit: limit, ctx: qctx, cancel: cancel, inst: inst, conn: c, s: s, started: started}, nil
}

// Check parses and checks a statement for a scope without running it.
func (s *Sandbox) Check(ctx context.Context, sc planner.Scope, text string) (Statement, error) {
	inst, err := s.acquire(ctx, sc)
	if err != nil {
		return Statement{}, err
	}
	defer s.release(inst)
	c, err := inst.get(ctx)
	if err != nil {
		return Statement{}, err
	}
	defer inst.put(c)
	return check(ctx, c, text, inst.names)
}

// Explain returns DuckDB's plan of a statement (EXPLAIN, or EXPLAIN
// ANALYZE when analyze is set, which runs it), as text.
func (s *Sandbox) Explain(ctx context.Context, sc planner.Scope, text string, analyze bool, opt Options) (string, error) {
	inner, err := s.Check(ctx, sc, text)
	if err != nil {
		return "", err
	}
	q := inner.Inner
	if q == "" {
		q = inner.Text
	}
	prefix := "EXPLAIN "
	if analyze || inner.Analyze {
		prefix = "EXPLAIN ANALYZE "
	}
	res, err := s.Query(ctx, sc, prefix+q, opt)
	if err != nil {
		return "", err
	}
	defer res.Close()
	var b strings.Builder
	for res.Reader.Next() {
		rec := res.Reader.RecordBatch()
		col := int(rec.NumCols()) - 1 // explain_key, explain_value: the plan is the last column
		for i := 0; i < int(rec.NumRows()); i++ {
			b.WriteString(engine.FormatValue(engine.Value(rec.Column(col), i)))
			b.WriteByte('\n')
		}
	}
	if err := res.Err(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// capPrefix starts the row-capping wrapper on a line of its own, so the
// user's text keeps its line and column numbers (shifted by one line).
const capPrefix = "SELECT * FROM (\n"

// unshift maps an error position in the capped text back to the user's.
func unshift(err error, text string) {
	var e *Error
	if !errors.As(err, &e) || e.Offset < 0 {
		return
	}
	off := e.Offset - len(capPrefix)
	if off < 0 || off > len(text) {
		e.Offset, e.Line, e.Column = -1, 0, 0
		return
	}
	e.Offset = off
	e.Line, e.Column = lineCol(text, off)
}

// exec runs one statement of Quarry's own on a raw connection.
func exec(ctx context.Context, dc driver.Conn, q string) error {
	_, err := dc.(driver.ExecerContext).ExecContext(ctx, q, nil)
	return err
}

// quote renders a string literal for text Quarry itself produced (paths,
// settings, a key's tenant id) — never for request text.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TableStats are the rows a scope sees in one of its tables and the
// first and last day of their time column ("" when none).
type TableStats struct {
	Rows              int64
	FirstDay, LastDay string
}

// Stats counts the rows a scope sees in each of its tables (for a
// member key's dataset listing: its tenant's rows, not every tenant's).
// The SQL is Quarry's own, over the instance's views.
func (s *Sandbox) Stats(ctx context.Context, sc planner.Scope) (map[string]TableStats, error) {
	inst, err := s.acquire(ctx, sc)
	if err != nil {
		return nil, err
	}
	defer s.release(inst)
	c, err := inst.get(ctx)
	if err != nil {
		return nil, err
	}
	defer inst.put(c)
	out := map[string]TableStats{}
	for _, v := range inst.views {
		tc := planner.DuckDB.Ident(v.Dataset.TimeColumn)
		q := "SELECT count(*), CAST(CAST(min(" + tc + ") AS DATE) AS VARCHAR), CAST(CAST(max(" + tc + ") AS DATE) AS VARCHAR) FROM " +
			planner.DuckDB.Ident(v.Name())
		rows, err := c.dc.(driver.QueryerContext).QueryContext(ctx, q, nil)
		if err != nil {
			return nil, fmt.Errorf("sandbox: stats of %s: %w", v.Name(), err)
		}
		vals := make([]driver.Value, 3)
		err = rows.Next(vals)
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sandbox: stats of %s: %w", v.Name(), err)
		}
		st := TableStats{}
		st.Rows, _ = vals[0].(int64)
		st.FirstDay, _ = vals[1].(string)
		st.LastDay, _ = vals[2].(string)
		out[v.Name()] = st
	}
	return out, nil
}
