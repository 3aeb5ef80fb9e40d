// Package gen writes deterministic synthetic data for the built-in
// datasets of the catalog (SPEC.md §2).
//
// Generate streams one day partition at a time: the rows of a day are
// produced already in the dataset's sort_by order, written to one Parquet
// part file (row groups of datasets.RowGroupSize) and forgotten, so memory
// stays bounded whatever the row count. Days are generated in parallel;
// every day draws from its own random stream seeded from (seed, dataset,
// day), so the rows do not depend on Workers or scheduling. Entity tables
// (publishers, offers, customers, developers, resources, properties…) are
// drawn once per run from the seed alone.
//
// Generating into a dataset that already has files is a replace: the new
// files are written first, then one manifest commit adds them and drops
// every file the manifest listed before, and only then are the old files
// deleted. Readers see the old data or the new data, never a mix. A run
// that fails or is cancelled removes the files it wrote and leaves the
// manifest untouched.
//
// Tenant ids are fixed so tests and examples can name them (listed in
// Zipf rank order: the first carries the most rows):
//
//   - publishers (PublisherId of the insights datasets) and partners
//     (PartnerId of customers_and_tenants): pub-contoso, pub-fabrikam,
//     pub-northwind, pub-adventureworks, pub-tailspin, pub-wingtip,
//     pub-litware, pub-proseware
//   - organizations (transactions.organization): acme, globex, initech,
//     umbrella, hooli, stark, wayne, wonka; environments prod and test
//   - projects (meters.project_id): proj-a … proj-f
//   - energy accounts (energy.account_id): acct-1 … acct-5
//
// Default sizes (Options.Rows == 0), over the default 400 days:
// transactions 200,000 rows; usage 100,000; meters 100,000; orders 20,000;
// revenue 20,000; marketplace_insights 20,000; customers 10,000;
// quality_of_service 10,000; offer_retention 10,000;
// customers_and_tenants 10,000; exchange_rates 20 currencies per day;
// energy 40 properties per month end. With Options.Rows set, every
// selected dataset gets that many rows (exchange_rates and energy scale
// their currency and property counts instead, so they come close).
package gen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/quarry/quarry/datasets"
)

// Options controls a generation run.
type Options struct {
	Datasets []string // names or aliases; empty = every built-in dataset
	// Rows is the target row count per selected dataset; 0 = each
	// dataset's small default. Datasets with a natural size (energy:
	// properties × months; exchange_rates: days × currencies) scale their
	// entity counts to come close.
	Rows     int64
	Seed     int64
	End      time.Time                        // last day (UTC); zero = today
	Days     int                              // number of days ending at End; 0 = 400
	Workers  int                              // day partitions written in parallel; 0 = runtime.NumCPU()
	Progress func(dataset string, rows int64) // called after each day file with the dataset's rows so far; calls are serialised
}

// Stats describes what was generated for one dataset.
type Stats struct {
	Rows, Files int64
	Elapsed     time.Duration
}

// DefaultDays is the window length when Options.Days is 0.
const DefaultDays = 400

// generator produces one built-in dataset.
type generator interface {
	// plan returns the partition days (UTC midnight, ascending) and the
	// target rows of each.
	plan(e *env) (days []time.Time, rows []int64)
	// day writes the rows of one partition, in sort_by order.
	day(dc *dayCtx) error
}

// env is what a generator may know about the run.
type env struct {
	name   string
	ds     *datasets.Dataset
	seed   int64
	rows   int64       // Options.Rows (0 = default)
	window []time.Time // every day of the window, ascending
	world  *world
}

func (e *env) first() time.Time { return e.window[0] }
func (e *env) last() time.Time  { return e.window[len(e.window)-1] }

// frac is the position of t in the window, 0 at the first day, 1 at the last.
func (e *env) frac(t time.Time) float64 {
	span := e.last().Sub(e.first()).Hours()
	if span <= 0 {
		return 1
	}
	return math.Max(0, math.Min(1, t.Sub(e.first()).Hours()/span))
}

// dayCtx is one partition being written.
type dayCtx struct {
	ctx  context.Context
	env  *env
	day  time.Time
	n    int64 // target rows
	frac float64
	r    *rng
	w    *rowWriter
}

var registry = map[string]func(*env) generator{}

func register(name string, f func(*env) generator) { registry[name] = f }

// Generated lists the datasets this package can generate, sorted.
func Generated() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Generate writes synthetic data for the selected datasets into store,
// replacing whatever those datasets held (see the package comment). It
// returns the statistics of every generated dataset, keyed by canonical
// name. Datasets are generated one after the other, the days of each in
// parallel.
func Generate(ctx context.Context, store *datasets.Store, cat *datasets.Catalog, opt Options) (map[string]Stats, error) {
	names, err := selectDatasets(cat, opt.Datasets)
	if err != nil {
		return nil, err
	}
	if opt.Days <= 0 {
		opt.Days = DefaultDays
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.NumCPU()
	}
	if opt.Rows < 0 {
		return nil, fmt.Errorf("gen: rows must not be negative")
	}
	end := opt.End
	if end.IsZero() {
		end = time.Now()
	}
	end = end.UTC().Truncate(24 * time.Hour)
	window := make([]time.Time, opt.Days)
	for i := range window {
		window[i] = end.AddDate(0, 0, i-opt.Days+1)
	}
	w := newWorld(opt.Seed)
	out := make(map[string]Stats, len(names))
	for _, name := range names {
		d, _ := cat.Lookup(name)
		e := &env{name: name, ds: d, seed: opt.Seed, rows: opt.Rows, window: window, world: w}
		st, err := generateOne(ctx, store, e, registry[name](e), opt)
		if err != nil {
			return out, fmt.Errorf("gen %s: %w", name, err)
		}
		out[name] = st
	}
	return out, nil
}

func selectDatasets(cat *datasets.Catalog, want []string) ([]string, error) {
	if len(want) == 0 {
		var names []string
		for _, n := range Generated() {
			if _, ok := cat.Lookup(n); !ok {
				return nil, fmt.Errorf("gen: built-in dataset %q is missing from the catalog", n)
			}
			names = append(names, n)
		}
		return names, nil
	}
	seen := map[string]bool{}
	var names []string
	for _, w := range want {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		d, ok := cat.Lookup(w)
		if !ok {
			hint := ""
			if s := cat.Suggest(w); s != "" {
				hint = fmt.Sprintf("; did you mean %q?", s)
			}
			return nil, fmt.Errorf("gen: unknown dataset %q%s", w, hint)
		}
		if _, ok := registry[d.Name]; !ok {
			return nil, fmt.Errorf("gen: dataset %q is not a built-in dataset; there is no generator for it", d.Name)
		}
		if !seen[d.Name] {
			seen[d.Name] = true
			names = append(names, d.Name)
		}
	}
	return names, nil
}

func generateOne(ctx context.Context, store *datasets.Store, e *env, g generator, opt Options) (Stats, error) {
	start := time.Now()
	days, rows := g.plan(e)
	entries := make([]datasets.FileEntry, len(days))
	written := make([]bool, len(days))

	var (
		mu       sync.Mutex
		total    int64
		firstErr error
		next     int
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	// Closing a part (last pages, fsync, rename, directory fsync) mostly
	// waits on the disk, so it runs in the background while the workers
	// go on generating; at most closers parts are pending at once. Many
	// concurrent fsyncs share journal commits: with 2 CPUs, 24 pending
	// closes made the default usage run 7× faster than 6.
	closers := min(8*opt.Workers+8, 64)
	sem := make(chan struct{}, closers)
	var closing sync.WaitGroup
	finish := func(i int, pw *datasets.PartWriter) {
		defer closing.Done()
		defer func() { <-sem }()
		ent, err := pw.Close()
		if err != nil {
			fail(fmt.Errorf("day %s: %w", days[i].Format(datasets.DayLayout), err))
			return
		}
		mu.Lock()
		entries[i], written[i] = ent, true
		total += ent.Rows
		if opt.Progress != nil {
			opt.Progress(e.name, total)
		}
		mu.Unlock()
	}
	work := func() {
		for {
			mu.Lock()
			if firstErr != nil || next >= len(days) {
				mu.Unlock()
				return
			}
			i := next
			next++
			mu.Unlock()
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			pw, err := writeDay(ctx, store, e, g, days[i], rows[i])
			if err != nil {
				fail(fmt.Errorf("day %s: %w", days[i].Format(datasets.DayLayout), err))
				return
			}
			if pw == nil {
				continue
			}
			sem <- struct{}{}
			closing.Add(1)
			go finish(i, pw)
		}
	}
	var wg sync.WaitGroup
	for k := 0; k < min(opt.Workers, max(1, len(days))); k++ {
		wg.Add(1)
		go func() { defer wg.Done(); work() }()
	}
	wg.Wait()
	closing.Wait()

	var add []datasets.FileEntry
	for i, ok := range written {
		if ok {
			add = append(add, entries[i])
		}
	}
	if firstErr != nil {
		removeFiles(store, e.name, add)
		return Stats{}, firstErr
	}
	old, err := store.Manifest(e.name)
	if err != nil {
		removeFiles(store, e.name, add)
		return Stats{}, err
	}
	oldFiles := append([]datasets.FileEntry(nil), old.Files...)
	drop := make([]string, len(oldFiles))
	for i, f := range oldFiles {
		drop[i] = f.Path
	}
	if err := store.Commit(e.name, add, drop); err != nil {
		removeFiles(store, e.name, add)
		return Stats{}, err
	}
	removeFiles(store, e.name, oldFiles)
	return Stats{Rows: total, Files: int64(len(add)), Elapsed: time.Since(start)}, nil
}

// writeDay writes the rows of one partition and returns its part, not
// yet closed; nil when the day has no rows (then no file is left behind).
func writeDay(ctx context.Context, store *datasets.Store, e *env, g generator, day time.Time, n int64) (*datasets.PartWriter, error) {
	if n <= 0 {
		return nil, nil
	}
	ds := day.Format(datasets.DayLayout)
	pw, err := store.NewPart(e.ds, ds)
	if err != nil {
		return nil, err
	}
	dc := &dayCtx{ctx: ctx, env: e, day: day, n: n, frac: e.frac(day),
		r: newRNG(e.seed, e.name, ds), w: newRowWriter(e.ds, pw)}
	if err := g.day(dc); err != nil {
		pw.Abort()
		return nil, err
	}
	if pw.Rows() == 0 {
		pw.Abort()
		return nil, nil
	}
	return pw, nil
}

// removeFiles deletes files (not in any manifest any more, or never
// committed) and the day directories they leave empty.
func removeFiles(store *datasets.Store, dataset string, files []datasets.FileEntry) {
	dirs := map[string]bool{}
	for _, f := range files {
		p := store.Abs(dataset, f)
		if err := os.Remove(p); err == nil || errors.Is(err, os.ErrNotExist) {
			dirs[filepath.Dir(p)] = true
		}
	}
	for d := range dirs {
		os.Remove(d) // only succeeds when empty
	}
}

// ---- planning helpers ----

// spread splits total into len(weights) integer parts proportional to
// the weights (cumulative rounding, so the parts sum to total exactly).
func spread(total int64, weights []float64) []int64 {
	out := make([]int64, len(weights))
	var sum float64
	for _, w := range weights {
		sum += w
	}
	if sum <= 0 || total <= 0 {
		return out
	}
	var acc float64
	var prev int64
	for i, w := range weights {
		acc += w
		cur := int64(math.Round(acc / sum * float64(total)))
		if i == len(weights)-1 {
			cur = total
		}
		out[i] = cur - prev
		prev = cur
	}
	return out
}

// weekly holds day-of-week factors (Sunday first).
type weekly [7]float64

var (
	businessWeek = weekly{0.55, 1.05, 1.1, 1.1, 1.08, 0.95, 0.6}
	flatWeek     = weekly{0.9, 1, 1, 1, 1, 1, 0.9}
)

// dailyPlan gives every day of the window a partition, with rows
// following growth over the window (×growth from the first day to the
// last), the weekly pattern and ±10% day-to-day noise.
func dailyPlan(e *env, defRows int64, growth float64, wk weekly) ([]time.Time, []int64) {
	total := e.rows
	if total == 0 {
		total = defRows
	}
	r := newRNG(e.seed, e.name, "plan")
	w := make([]float64, len(e.window))
	for i, d := range e.window {
		w[i] = (1 + (growth-1)*e.frac(d)) * wk[d.Weekday()] * (0.9 + 0.2*r.float())
	}
	return e.window, spread(total, w)
}

// monthStarts returns the first days of the months inside the window.
func monthStarts(e *env) []time.Time {
	var out []time.Time
	for _, d := range e.window {
		if d.Day() == 1 {
			out = append(out, d)
		}
	}
	return out
}

// monthEnds returns the last days of the months inside the window.
func monthEnds(e *env) []time.Time {
	var out []time.Time
	for _, d := range e.window {
		if d.AddDate(0, 0, 1).Day() == 1 {
			out = append(out, d)
		}
	}
	return out
}

// monthlyPlan spreads rows over the month starts of the window, growing
// over time.
func monthlyPlan(e *env, defRows int64, growth float64) ([]time.Time, []int64) {
	days := monthStarts(e)
	if len(days) == 0 { // a window shorter than a month: use its first day
		days = []time.Time{e.first()}
	}
	total := e.rows
	if total == 0 {
		total = defRows
	}
	w := make([]float64, len(days))
	for i, d := range days {
		w[i] = 1 + (growth-1)*e.frac(d)
	}
	return days, spread(total, w)
}

// ---- row writing ----

// rowWriter sets columns by name on a reused datasets.Row and writes it.
type rowWriter struct {
	d   *datasets.Dataset
	row *datasets.Row
	pw  *datasets.PartWriter
	idx map[string]int
}

func newRowWriter(d *datasets.Dataset, pw *datasets.PartWriter) *rowWriter {
	idx := map[string]int{}
	for i, c := range d.Stored() {
		idx[c.Name] = i
	}
	return &rowWriter{d: d, row: datasets.NewRow(d), pw: pw, idx: idx}
}

// has reports whether the dataset stores the column.
func (w *rowWriter) has(name string) bool { _, ok := w.idx[name]; return ok }

// col returns the stored index of a column; a generator asking for a
// column its schema lacks is a programming error.
func (w *rowWriter) col(name string) int {
	i, ok := w.idx[name]
	if !ok {
		panic(fmt.Sprintf("gen: dataset %s has no stored column %q", w.d.Name, name))
	}
	return i
}

func (w *rowWriter) S(name, v string)           { w.row.String(w.col(name), v) }
func (w *rowWriter) I64(name string, v int64)   { w.row.Int64(w.col(name), v) }
func (w *rowWriter) I32(name string, v int)     { w.row.Int32(w.col(name), int32(v)) }
func (w *rowWriter) F(name string, v float64)   { w.row.Float64(w.col(name), v) }
func (w *rowWriter) B(name string, v bool)      { w.row.Bool(w.col(name), v) }
func (w *rowWriter) D(name string, v time.Time) { w.row.Date(w.col(name), v) }
func (w *rowWriter) T(name string, v time.Time) { w.row.Time(w.col(name), v) }
func (w *rowWriter) Null(name string)           { w.row.Null(w.col(name)) }

// SN sets a nullable VARCHAR: NULL when v is "".
func (w *rowWriter) SN(name, v string) {
	if v == "" {
		w.Null(name)
	} else {
		w.S(name, v)
	}
}

// DN sets a nullable DATE: NULL when v is zero.
func (w *rowWriter) DN(name string, v time.Time) {
	if v.IsZero() {
		w.Null(name)
	} else {
		w.D(name, v)
	}
}

// emit writes the current row and resets it to all NULL.
func (w *rowWriter) emit() error {
	err := w.pw.Write(w.row)
	w.row.Reset()
	return err
}

// checkCtx returns the context's error every 64k rows.
func (dc *dayCtx) checkCtx(i int) error {
	if i&0xffff == 0 {
		return dc.ctx.Err()
	}
	return nil
}
