package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"time"

	"github.com/quarry/quarry/datasets"
)

// Group commits: many small inputs (HTTP ingest requests) are parsed and
// validated on their own (Parse), then written together as one set of
// part files per day and one manifest commit (CommitParsed), so that a
// stream of tiny requests does not make a stream of tiny files.

// ErrTooManyRows is returned (wrapped) by Parse when the input holds more
// rows than it may keep in memory.
var ErrTooManyRows = errors.New("too many rows to hold in memory")

// Parsed is an input's validated rows, held in memory until committed.
type Parsed struct {
	d        *datasets.Dataset
	batches  []*batch
	Rows     int64       // rows accepted
	Rejected int64       // rows left out (Options.SkipBadRows)
	Errors   []*RowError // the first Options.MaxErrors of them
}

// Parse reads and validates r as Reader does, keeping at most maxRows
// accepted rows in memory instead of writing them. Nothing is written or
// committed. Parquet input must be an io.ReaderAt of known size or is read
// into memory.
func Parse(ctx context.Context, d *datasets.Dataset, r io.Reader, name string, format Format, opt Options, maxRows int) (*Parsed, error) {
	format, err := resolveFormat(format, opt, name)
	if err != nil {
		return nil, err
	}
	if opt.MaxErrors <= 0 {
		opt.MaxErrors = 100
	}
	opt.FlushRows = 1 << 30 // one buffer unless the input's days change
	j := newJob(ctx, nil, d, name, opt)
	j.collect, j.maxRows = true, int64(maxRows)
	switch format {
	case NDJSON:
		err = j.readNDJSON(r)
	case CSV:
		err = j.readCSV(r)
	case Parquet:
		err = j.readParquet(r)
	}
	if err = j.finish(err); err != nil {
		return nil, err
	}
	return &Parsed{d: d, batches: j.collected, Rows: j.rows, Rejected: j.rejected, Errors: j.errs}, nil
}

// CommitParsed writes the rows of every input as one sorted set of part
// files (one per day, split past Options.MaxRowsPerFile) and commits them
// in one manifest commit: all the inputs' rows become visible at once, or
// none of them.
func CommitParsed(ctx context.Context, store *datasets.Store, d *datasets.Dataset, inputs []*Parsed, opt Options) (Result, error) {
	start := time.Now()
	if opt.MaxRowsPerFile <= 0 {
		opt.MaxRowsPerFile = DefaultMaxRowsPerFile
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0) + 1
	}
	j := newJob(ctx, store, d, "batch", opt)
	merged := newBatch(d, j.cols)
	var rejected int64
	for _, in := range inputs {
		if in.d != d {
			return Result{}, fmt.Errorf("ingest: committing rows of dataset %s into %s", in.d.Name, d.Name)
		}
		rejected += in.Rejected
		for _, b := range in.batches {
			for i := 0; i < b.n; i++ {
				merged.appendRow(b, i)
			}
		}
	}
	if merged.n == 0 {
		return Result{Elapsed: time.Since(start), Rejected: rejected}, nil
	}
	err := j.writeBatch(merged)
	sort.Slice(j.parts, func(a, b int) bool {
		if j.parts[a].Day != j.parts[b].Day {
			return j.parts[a].Day < j.parts[b].Day
		}
		return j.parts[a].Path < j.parts[b].Path
	})
	if err == nil {
		err = store.Commit(d.Name, j.parts, nil)
	}
	if err != nil {
		j.removeParts()
		return Result{}, err
	}
	return Result{Rows: int64(merged.n), Files: j.parts, Elapsed: time.Since(start), Rejected: rejected}, nil
}
