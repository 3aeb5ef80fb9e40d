//go:build duckdb_arrow

// Package suite is Quarry's benchmark suite (`quarry bench`): workloads
// over generated data, asked side by side of Quarry in-process, Quarry
// over HTTP, the same compiled SQL straight on DuckDB, DuckDB native
// tables holding the same rows, and — when installed — PostgreSQL and
// ClickHouse loaded with the same rows. Every system's answer is checked
// against DuckDB direct's before its time counts. The report is Markdown,
// JSON and an SVG chart.
package suite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quarry/quarry/engine"
)

// Systems, in the order they run and are reported.
const (
	DuckDBDirect = "duckdb_direct"
	Quarry       = "quarry"
	QuarryHTTP   = "quarry_http"
	DuckDBNative = "duckdb_native"
	Postgres     = "postgres"
	ClickHouse   = "clickhouse"
)

// Systems lists every system in report order.
var Systems = []string{Quarry, QuarryHTTP, DuckDBDirect, DuckDBNative, Postgres, ClickHouse}

// Config is one run of the suite.
type Config struct {
	// Data is the data directory (generated when missing or of another
	// size; reused otherwise). Empty: $TMPDIR/quarry-bench-suite-<rows>-<days>d.
	Data string
	// Rows is the transactions row count (default 10M); usage and meters
	// get a fifth, the other insights datasets a hundredth.
	Rows int64
	// Days is the span of the data in day files (default 400).
	Days int
	// Runs is the timed runs per workload and system, after one warm-up
	// run that also checks the answer (default 5).
	Runs int
	// Out is where the report goes (default bench/results).
	Out string
	// Peers is "auto" (every peer whose binaries are installed), "none",
	// or a comma list of postgres, clickhouse.
	Peers string
	// Workloads, when set, is a regular expression a workload's name must
	// match to run.
	Workloads string
	// Logger receives progress; nil: slog.Default().
	Logger *slog.Logger
	// Tamper, when set, may change an answer before it is checked (tests
	// inject a wrong answer with it).
	Tamper func(workload, system string, a *Answer)
}

func (c Config) withDefaults() Config {
	if c.Rows <= 0 {
		c.Rows = 10_000_000
	}
	if c.Days <= 0 {
		c.Days = 400
	}
	if c.Runs <= 0 {
		c.Runs = 5
	}
	if c.Out == "" {
		c.Out = filepath.Join("bench", "results")
	}
	if c.Peers == "" {
		c.Peers = "auto"
	}
	if c.Data == "" {
		c.Data = filepath.Join(os.TempDir(), fmt.Sprintf("quarry-bench-suite-%d-%dd", c.Rows, c.Days))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// runner is how one system answers one workload.
type runner struct {
	// run asks the question once; sink, when set, receives every row of
	// the answer. It returns the rows answered (or written).
	run func(ctx context.Context, sink func([]any)) (int64, error)
	// verify, when set, gives the answer of the run just made (the file
	// an export wrote, the rows an ingest committed) instead of the rows
	// run streams.
	verify func(ctx context.Context) (*Answer, error)
	// after cleans up after each run, outside the timing.
	after func()
	// limit > 0: the answer is a preview of at most limit rows.
	limit int64
	note  string
	pids  func() []int // processes whose memory counts (nil: this one)
}

// Workload is one question and how each system answers it.
type Workload struct {
	Name, Group, Question string
	// InputRows is the rows the question reads (its window's rows), or
	// the rows written for exports and ingest.
	InputRows int64
	// SQL is DuckDB direct's statement.
	SQL     string
	systems map[string]*runner
	absent  map[string]string
}

func newWorkload(name, group, question string) *Workload {
	return &Workload{Name: name, Group: group, Question: question, systems: map[string]*runner{}, absent: map[string]string{}}
}

// Run runs the suite and writes its report under cfg.Out.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	log := cfg.Logger
	var filter *regexp.Regexp
	if cfg.Workloads != "" {
		var err error
		if filter, err = regexp.Compile(cfg.Workloads); err != nil {
			return nil, fmt.Errorf("--workloads: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	rep := &Report{Started: time.Now().UTC(), LoadStart: loadavg()}
	if err := prepareData(ctx, cfg, log); err != nil {
		return nil, err
	}
	e, err := engine.Open(ctx, engine.Config{DataDir: cfg.Data, Clock: func() time.Time { return Now }})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	native, err := openNative(ctx, e, cfg, log)
	if err != nil {
		return nil, err
	}
	defer native.Close()
	tmp, err := os.MkdirTemp("", "quarry-bench-run-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	env := &env{cfg: cfg, log: log, e: e, native: native, tmp: tmp, peers: map[string]peer{}, peerNote: map[string]string{}}
	if env.http, err = startHTTP(ctx, e, tmp); err != nil {
		log.Warn("quarry over HTTP unavailable", "err", err)
		env.httpNote = err.Error()
	} else {
		defer env.http.stop()
	}
	stopPeers := env.startPeers(ctx)
	defer stopPeers()

	rep.Machine = machine(ctx, e)
	rep.Config = ReportConfig{Rows: cfg.Rows, Days: cfg.Days, Runs: cfg.Runs, Data: cfg.Data, Peers: cfg.Peers, Workloads: cfg.Workloads}
	rep.Datasets = map[string]int64{}
	for _, n := range nativeTables(e, cfg) {
		if m, err := e.Store().Manifest(n); err == nil {
			rep.Datasets[n] = m.Rows()
		}
	}
	for _, p := range []string{Postgres, ClickHouse} {
		if _, ok := env.peers[p]; ok {
			rep.Peers = append(rep.Peers, PeerStatus{System: p, Status: "running", Version: env.peerVersion[p]})
		} else {
			rep.Peers = append(rep.Peers, PeerStatus{System: p, Status: env.peerNote[p]})
		}
	}

	workloads, err := env.workloads(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range workloads {
		if filter != nil && !filter.MatchString(w.Name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rep.Workloads = append(rep.Workloads, env.measure(ctx, w))
	}
	rep.Finished = time.Now().UTC()
	rep.LoadEnd = loadavg()
	rep.ratios()
	if err := rep.Write(cfg.Out); err != nil {
		return rep, err
	}
	return rep, nil
}

// env is what the workloads run against.
type env struct {
	cfg         Config
	log         *slog.Logger
	e           *engine.Engine
	native      *sql.DB
	tmp         string
	http        *httpTarget
	httpNote    string
	peers       map[string]peer
	peerNote    map[string]string
	peerVersion map[string]string
}

// measure checks and times every system of one workload.
func (env *env) measure(ctx context.Context, w *Workload) WorkloadResult {
	log := env.log
	wr := WorkloadResult{Name: w.Name, Group: w.Group, Question: w.Question, InputRows: w.InputRows, SQL: w.SQL,
		Results: map[string]*SystemResult{}, LoadBefore: loadavg()}
	var want *Answer
	order := []string{DuckDBDirect}
	for _, s := range Systems {
		if s != DuckDBDirect {
			order = append(order, s)
		}
	}
	for _, sys := range order {
		r, ok := w.systems[sys]
		if !ok {
			note := w.absent[sys]
			if note == "" {
				note = "n/a"
			}
			wr.Results[sys] = &SystemResult{Status: StatusAbsent, Note: note}
			continue
		}
		res := &SystemResult{Note: r.note}
		wr.Results[sys] = res
		// warm-up run, which also gives the answer to check
		col := newCollector()
		var sink func([]any)
		if r.verify == nil {
			sink = col.add
		}
		n, err := r.run(ctx, sink)
		var got *Answer
		if err == nil {
			if r.verify != nil {
				got, err = r.verify(ctx)
			} else {
				got = col.answer()
			}
		}
		if r.after != nil {
			r.after()
		}
		if err != nil {
			res.Status, res.Error = StatusError, err.Error()
			log.Warn("workload failed", "workload", w.Name, "system", sys, "err", err)
			if sys == DuckDBDirect {
				break
			}
			continue
		}
		if env.cfg.Tamper != nil {
			env.cfg.Tamper(w.Name, sys, got)
		}
		res.Rows, res.Checksum, res.AnswerRows = n, got.Checksum(), got.Rows
		if sys == DuckDBDirect {
			want = got
		} else if err := compare(got, want, r.limit); err != nil {
			res.Status, res.Error = StatusMismatch, err.Error()
			log.Warn("answer differs from DuckDB direct's; not timed", "workload", w.Name, "system", sys, "err", err)
			continue
		}
		// timed runs
		pids := []int{os.Getpid()}
		if r.pids != nil {
			pids = r.pids()
		}
		mem := startSampler(pids)
		times := make([]time.Duration, 0, env.cfg.Runs)
		for i := 0; i < env.cfg.Runs && err == nil; i++ {
			runtime.GC()
			t0 := time.Now()
			_, err = r.run(ctx, nil)
			times = append(times, time.Since(t0))
			if r.after != nil {
				r.after()
			}
		}
		peak, base := mem.stop()
		if err != nil {
			res.Status, res.Error = StatusError, err.Error()
			continue
		}
		res.Status = StatusOK
		res.TimesMS = ms(times)
		res.MedianMS, res.P95MS = quantile(res.TimesMS, 0.5), quantile(res.TimesMS, 0.95)
		res.PeakMemMB = float64(peak) / (1 << 20)
		res.MemDeltaMB = float64(peak-base) / (1 << 20)
		if res.MedianMS > 0 {
			rows := w.InputRows
			if rows == 0 {
				rows = n
			}
			res.RowsPerSec = float64(rows) / (res.MedianMS / 1000)
		}
		log.Info("measured", "workload", w.Name, "system", sys, "median_ms", round3(res.MedianMS), "p95_ms", round3(res.P95MS), "rows", n)
	}
	wr.LoadAfter = loadavg()
	return wr
}

func ms(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d.Microseconds()) / 1000
	}
	return out
}

// quantile is the nearest-rank quantile of xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if q == 0.5 && len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func round3(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 3, 64), 64)
	return v
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func sortStrings(s []string) { sort.Strings(s) }

// closeQuiet closes c, ignoring its error (results and temp files).
func closeQuiet(c io.Closer) { _ = c.Close() }

var errNoAnswer = errors.New("no answer")
