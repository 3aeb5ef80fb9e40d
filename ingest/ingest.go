// Package ingest appends rows from NDJSON, CSV and Parquet files to a
// dataset, all or nothing per file.
//
// Every row of a file is read, converted to the dataset's column types and
// validated. Rows are grouped by the UTC day of the dataset's time column,
// sorted inside each day by Dataset.SortBy (NULLs last, ties keep input
// order) and written with datasets.PartWriter as one Parquet part file per
// day (a day with more than Options.MaxRowsPerFile rows is split). Part
// files may be written while reading goes on, but only when every row of
// the file is valid and every part file is complete are all parts committed
// to the manifest in one datasets.Store.Commit call; on any error (a bad
// row, an I/O error, a cancelled context) every part file written so far is
// removed and the manifest is left as it was.
//
// Rows are buffered column-wise in memory (roughly the size of the decoded
// values). To bound memory on very large inputs, the buffer is flushed to
// (still uncommitted) part files every Options.FlushRows rows; a day that
// spans several flushes then gets one file per flush, each sorted.
//
// Column rules:
//   - Input column names match the catalog's names and aliases
//     case-insensitively. An unknown column is an error naming the closest
//     catalog column; a derived column (Column.Expr) is an error too.
//   - A column absent from the input (not in the CSV header or the Parquet
//     schema, or a key missing from an NDJSON object) is NULL. That is an
//     error only for the time column and the tenant column.
//   - An explicit NULL (JSON null, empty CSV field, Parquet null) in a
//     column that is not Nullable is an error; the time and tenant columns
//     are never NULL.
//
// Type conversion (input value → column type):
//   - VARCHAR: strings; JSON numbers and booleans become their text.
//   - JSON: a JSON object/array is stored as compact JSON text; a string
//     must hold valid JSON (stored compacted); numbers/booleans as text.
//   - BIGINT, INTEGER: integers, integral floats and numeric strings;
//     INTEGER is range-checked.
//   - DOUBLE: numbers and numeric strings.
//   - BOOLEAN: true/false, 1/0, "true"/"false"/"1"/"0" (any case).
//   - DATE: YYYY-MM-DD, or a timestamp whose UTC time is midnight.
//   - TIMESTAMP: RFC 3339 with or without fraction and zone,
//     "YYYY-MM-DD HH:MM:SS[.ffffff]" (no zone = UTC), a bare date
//     (midnight), or epoch milliseconds (a JSON integer, or an all-digit
//     string, e.g. in CSV). Stored as UTC microseconds.
//
// Dataset defaults: for the dataset named "meters", a missing or NULL
// message_id is filled with a random UUID and a missing or NULL
// message_signature with the hex HMAC-SHA256 (key MeterSignatureKey) of the
// row's canonical JSON (see fill.go).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quarry/quarry/datasets"
)

// Format is an input file format.
type Format string

// Input formats.
const (
	NDJSON  Format = "ndjson"
	CSV     Format = "csv"
	Parquet Format = "parquet"
)

// Default limits.
const (
	DefaultMaxRowsPerFile = 1 << 20 // rows per part file before a day is split
	DefaultFlushRows      = 8 << 20 // rows buffered in memory before parts are written
)

// Options tune an ingest. The zero value is ready to use.
type Options struct {
	// Format of the input; empty: detected from the file name
	// (.ndjson/.jsonl/.json, .csv, .parquet, each text format optionally
	// followed by .gz). Gzip-compressed text input is also detected from
	// its magic bytes.
	Format Format
	// MaxRowsPerFile caps the rows of one part file (default
	// DefaultMaxRowsPerFile).
	MaxRowsPerFile int
	// FlushRows caps the rows buffered in memory before part files are
	// written (default DefaultFlushRows).
	FlushRows int
	// Workers is the number of buffers written at once, and of part files
	// written at once per buffer (default GOMAXPROCS+1: writing Parquet
	// costs more CPU than reading, so it gets the spare cores). Memory
	// holds up to Workers+2 buffers.
	Workers int
	// NoDefaults turns off the per-dataset defaults (meters' message_id
	// and message_signature).
	NoDefaults bool
	// SkipBadRows keeps going past rows that fail validation: they are
	// left out and reported in Result.Rejected/Errors, and the good rows
	// are committed. Problems that are not about one row (a bad CSV
	// header, a Parquet schema, an I/O error) still fail the whole input.
	SkipBadRows bool
	// MaxErrors caps Result.Errors when skipping bad rows (default 100;
	// Result.Rejected still counts every one).
	MaxErrors int
	// Tenant, when set, is the only value the dataset's tenant column may
	// take: a row without it gets it, a row with another value is
	// rejected (a member key writing its own tenant's rows).
	Tenant string
}

// Result describes a committed ingest.
type Result struct {
	Rows    int64
	Files   []datasets.FileEntry
	Elapsed time.Duration
	// Rejected counts the rows left out (Options.SkipBadRows); Errors
	// holds the first Options.MaxErrors of them.
	Rejected int64
	Errors   []*RowError
}

// RowError is a rejected input: the file, the line (NDJSON/CSV line,
// 1-based, the CSV header is line 1; the 1-based row number for Parquet;
// 0 when the problem is not tied to a row), the column (catalog spelling
// when known, else as written; empty when not tied to a column) and why.
type RowError struct {
	File   string
	Line   int64
	Column string
	Reason string

	err error // underlying error, if any (I/O, gzip, Parquet)
}

func (e *RowError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Column != "" {
		fmt.Fprintf(&b, "column %q: ", e.Column)
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the underlying error (an I/O error, a cancelled
// context, …), if any.
func (e *RowError) Unwrap() error { return e.err }

// DetectFormat returns the format a file name implies and whether the
// name says gzip.
func DetectFormat(name string) (Format, bool, error) {
	n := strings.ToLower(filepath.Base(name))
	gz := false
	if strings.HasSuffix(n, ".gz") {
		gz = true
		n = strings.TrimSuffix(n, ".gz")
	}
	switch filepath.Ext(n) {
	case ".ndjson", ".jsonl", ".json":
		return NDJSON, gz, nil
	case ".csv":
		return CSV, gz, nil
	case ".parquet":
		if gz {
			return "", false, fmt.Errorf("%s: gzip-compressed Parquet is not supported (Parquet compresses its pages itself)", name)
		}
		return Parquet, false, nil
	}
	return "", false, fmt.Errorf("%s: cannot tell the format from the name; use .ndjson, .jsonl, .json, .csv or .parquet (text formats may end in .gz), or set the format", name)
}

// resolveFormat is an input's format: format, else opt.Format, else what
// name's extension says.
func resolveFormat(format Format, opt Options, name string) (Format, error) {
	if format == "" {
		format = opt.Format
	}
	if format == "" {
		f, _, err := DetectFormat(name)
		return f, err
	}
	f, err := parseFormat(format)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

func parseFormat(f Format) (Format, error) {
	switch Format(strings.ToLower(strings.TrimPrefix(string(f), "."))) {
	case NDJSON, "jsonl", "json":
		return NDJSON, nil
	case CSV:
		return CSV, nil
	case Parquet:
		return Parquet, nil
	}
	return "", fmt.Errorf("unknown format %q (use ndjson, csv or parquet)", f)
}

// File appends the rows of the file at path to dataset d.
func File(ctx context.Context, store *datasets.Store, d *datasets.Dataset, path string, opt Options) (Result, error) {
	format, err := resolveFormat("", opt, path)
	if err != nil {
		return Result{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	opt.Format = format
	return Reader(ctx, store, d, f, path, format, opt)
}

// Reader appends the rows read from r to dataset d. name is used in error
// messages (and to detect the format when format is empty). For Parquet,
// r is used directly when it is an io.ReaderAt with a known size (an
// *os.File); otherwise it is read into memory.
func Reader(ctx context.Context, store *datasets.Store, d *datasets.Dataset, r io.Reader, name string, format Format, opt Options) (Result, error) {
	start := time.Now()
	format, err := resolveFormat(format, opt, name)
	if err != nil {
		return Result{}, err
	}
	if store == nil || d == nil {
		return Result{}, errors.New("ingest: nil store or dataset")
	}
	if opt.MaxRowsPerFile <= 0 {
		opt.MaxRowsPerFile = DefaultMaxRowsPerFile
	}
	if opt.FlushRows <= 0 {
		opt.FlushRows = DefaultFlushRows
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0) + 1
	}
	if opt.MaxErrors <= 0 {
		opt.MaxErrors = 100
	}

	j := newJob(ctx, store, d, name, opt)
	switch format {
	case NDJSON:
		err = j.readNDJSON(r)
	case CSV:
		err = j.readCSV(r)
	case Parquet:
		err = j.readParquet(r)
	}
	err = j.finish(err)
	sort.Slice(j.parts, func(a, b int) bool {
		if j.parts[a].Day != j.parts[b].Day {
			return j.parts[a].Day < j.parts[b].Day
		}
		return j.parts[a].Path < j.parts[b].Path
	})
	if err == nil && len(j.parts) > 0 {
		if cerr := store.Commit(d.Name, j.parts, nil); cerr != nil {
			err = fmt.Errorf("%s: %w", name, cerr)
		}
	}
	if err != nil {
		j.removeParts()
		return Result{}, err
	}
	return Result{Rows: j.rows, Files: j.parts, Elapsed: time.Since(start), Rejected: j.rejected, Errors: j.errs}, nil
}

// job is one file's ingest: the schema mapping, the row buffer and the
// part files written so far.
//
// Reading and writing overlap: a full buffer is handed to a writer
// goroutine and reading goes on into a fresh one. While the input's days
// never go backwards, the buffer is also handed off at each change of day
// once it holds handoffRows rows, so each day of time-ordered input still
// becomes one file (parts of a day are split only past MaxRowsPerFile or
// FlushRows). Unordered input is buffered up to FlushRows rows.
type job struct {
	ctx   context.Context
	store *datasets.Store
	d     *datasets.Dataset
	name  string
	opt   Options

	cols []*datasets.Column // stored columns
	res  *resolver
	b    *batch // the buffer being filled
	fill filler
	rows int64 // rows accepted

	rejected int64       // rows left out (SkipBadRows)
	errs     []*RowError // the first MaxErrors of them
	tenant   []byte      // Options.Tenant

	// collect keeps full buffers in collected instead of writing them
	// (Parse), up to maxRows rows.
	collect   bool
	collected []*batch
	maxRows   int64

	ordered bool  // no row so far had a day before its predecessor's
	lastDay int32 // day of the previous row
	hasLast bool

	wch     chan *batch   // to the writer goroutine
	free    chan *batch   // written buffers, for reuse
	wdone   chan struct{} // closed when the writer is done
	wfailed atomic.Bool
	werr    error // the writer's first error (read after wdone)
	rowPool sync.Pool

	werrOnce sync.Once
	partsMu  sync.Mutex
	parts    []datasets.FileEntry
}

// handoffRows is the least number of buffered rows handed to the writer at
// a change of day.
const handoffRows = 32768

func newJob(ctx context.Context, store *datasets.Store, d *datasets.Dataset, name string, opt Options) *job {
	j := &job{ctx: ctx, store: store, d: d, name: name, opt: opt, cols: d.Stored(), ordered: true}
	j.res = newResolver(d, j.cols)
	j.b = newBatch(d, j.cols)
	if !opt.NoDefaults {
		j.fill = fillerFor(d, j.cols)
	}
	j.rowPool.New = func() any { return datasets.NewRow(d) }
	if opt.Tenant != "" {
		j.tenant = []byte(opt.Tenant)
	}
	return j
}

// reject handles a row-level problem: with SkipBadRows the row is dropped
// and recorded, and reading goes on (nil); otherwise the error ends the
// input. Errors that are not one row's (I/O, cancellation) always end it.
func (j *job) reject(err error) error {
	var re *RowError
	if !j.opt.SkipBadRows || !errors.As(err, &re) || re.err != nil {
		return err
	}
	j.b.discard()
	j.rejected++
	if len(j.errs) < j.opt.MaxErrors {
		j.errs = append(j.errs, re)
	}
	return nil
}

func (j *job) rowErr(line int64, col, reason string) *RowError {
	return &RowError{File: j.name, Line: line, Column: col, Reason: reason}
}

// endRow validates and completes the current row; it hands the buffer to
// the writer when it is full or a time-ordered input moves to a new day.
func (j *job) endRow(line int64) error {
	b := j.b
	if j.fill != nil {
		j.fill(b)
	}
	if j.tenant != nil && b.tenant >= 0 {
		cb := &b.cols[b.tenant]
		if !cb.valid[b.n] {
			if reason := b.set(b.tenant, &value{k: vString, b: j.tenant}); reason != "" {
				return j.rowErr(line, cb.c.Name, reason)
			}
		} else if got := cb.str(b.n); string(got) != string(j.tenant) {
			return j.rowErr(line, cb.c.Name, fmt.Sprintf("is %q, but this key may only write rows of %q", got, j.tenant))
		}
	}
	if c, reason := b.endRow(); reason != "" {
		return j.rowErr(line, c, reason)
	}
	j.rows++
	if j.collect && j.rows > j.maxRows {
		return &RowError{File: j.name, Line: line, Reason: fmt.Sprintf("more than %d rows to hold in memory", j.maxRows), err: ErrTooManyRows}
	}
	if j.rows&0xffff == 0 {
		if err := j.ctx.Err(); err != nil {
			return &RowError{File: j.name, Line: line, Reason: err.Error(), err: err}
		}
	}
	day := b.day[b.n-1]
	if j.hasLast && day != j.lastDay {
		if day < j.lastDay {
			j.ordered = false
		} else if j.ordered && b.n-1 >= handoffRows {
			nb := j.newBatch()
			nb.moveLast(b)
			if err := j.handoff(nb); err != nil {
				return err
			}
		}
	}
	j.lastDay, j.hasLast = day, true
	if j.b.n >= j.opt.FlushRows {
		return j.handoff(j.newBatch())
	}
	return nil
}

func (j *job) newBatch() *batch {
	select {
	case b := <-j.free:
		b.reset()
		return b
	default:
		return newBatch(j.d, j.cols)
	}
}

// handoff sends the current buffer to the writer and continues with next.
func (j *job) handoff(next *batch) error {
	if j.collect {
		j.collected = append(j.collected, j.b)
		j.b = next
		return nil
	}
	if j.wfailed.Load() {
		return j.werr // written before wfailed was set
	}
	if j.wch == nil {
		j.wch = make(chan *batch, 1)
		j.free = make(chan *batch, j.opt.Workers+1)
		j.wdone = make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < j.opt.Workers; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); j.writer() }()
		}
		go func() { wg.Wait(); close(j.wdone) }()
	}
	j.wch <- j.b
	j.b = next
	return nil
}

func (j *job) writer() {
	for b := range j.wch {
		if !j.wfailed.Load() {
			if err := j.writeBatch(b); err != nil {
				j.werrOnce.Do(func() {
					j.werr = err
					j.wfailed.Store(true)
				})
			}
		}
		select {
		case j.free <- b:
		default:
		}
	}
}

// finish writes what is left (when reading succeeded), waits for the
// writer and returns the first error.
func (j *job) finish(readErr error) error {
	if readErr == nil && j.b.n > 0 {
		if j.collect {
			readErr = j.handoff(nil)
		} else if j.wch == nil {
			readErr = j.writeBatch(j.b) // small input: no goroutine
		} else {
			readErr = j.handoff(nil)
		}
	}
	if j.wch != nil {
		if readErr != nil {
			j.wfailed.Store(true) // skip the queued buffers
		}
		close(j.wch)
		<-j.wdone
		if readErr == nil {
			readErr = j.werr
		}
	}
	return readErr
}

func (j *job) removeParts() {
	for _, p := range j.parts {
		os.Remove(j.store.Abs(j.d.Name, p))
	}
	j.parts = nil
}
