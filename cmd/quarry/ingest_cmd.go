package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/ingest"
)

// runIngest is `quarry ingest`: append files — named, globs, or every
// input file under a directory — to a dataset, several at once. Each file
// is validated and committed on its own: a bad file is rejected whole
// (or, with --skip-bad-rows, loses only its bad rows) and the others go
// on. On a terminal a progress line shows files, rows, rows/s and an ETA
// by bytes; otherwise only the per-file lines are printed.
func runIngest(ctx context.Context, args []string) error {
	var data, name, format string
	var parallel int
	var skipBad, quiet bool
	fset := flagSet("ingest", &data)
	fset.StringVar(&name, "dataset", "", "dataset to append to (required)")
	fset.StringVar(&format, "format", "", "input format: ndjson, csv or parquet (default: from each file's extension)")
	fset.IntVar(&parallel, "parallel", min(4, runtime.GOMAXPROCS(0)), "files ingested at once")
	fset.BoolVar(&skipBad, "skip-bad-rows", false, "leave out rows that fail validation (listed) instead of rejecting their file")
	fset.BoolVar(&quiet, "quiet", false, "no progress line, even on a terminal")
	args, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if name == "" || len(args) == 0 {
		return usageError{"usage: quarry ingest --dataset NAME [--format F] [--parallel N] [--skip-bad-rows] FILE|DIR|GLOB…"}
	}
	if format != "" {
		if _, _, err := ingest.DetectFormat("x." + format); err != nil {
			return usageError{fmt.Sprintf("--format %q is not ndjson, csv or parquet", format)}
		}
	}
	files, err := expandInputs(args, format != "")
	if err != nil {
		return err
	}
	cat, err := datasets.Load(data)
	if err != nil {
		return err
	}
	d, err := lookupDataset(cat, name)
	if err != nil {
		return err
	}
	store := datasets.NewStore(data)
	var total int64
	for _, f := range files {
		total += f.size
	}
	p := &progress{files: len(files), total: total, start: time.Now()}
	if !quiet && isTerminal(os.Stderr) {
		stop := p.show(os.Stderr)
		defer stop()
	}
	work := make(chan inputFile)
	var failed atomic.Int64
	var printMu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < max(parallel, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				res, err := ingestOne(ctx, store, d, f, ingest.Options{Format: ingest.Format(format), SkipBadRows: skipBad}, p)
				p.fileDone(res.Rows)
				printMu.Lock()
				p.clear(os.Stderr)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s: rejected, nothing of it was added: %v\n", f.path, err)
					failed.Add(1)
				} else {
					fmt.Printf("%s: %d rows in %d files (%.0f rows/s)", f.path, res.Rows, len(res.Files),
						float64(res.Rows)/max(res.Elapsed.Seconds(), 1e-9))
					if res.Rejected > 0 {
						fmt.Printf(", %d bad rows left out", res.Rejected)
					}
					fmt.Println()
					for _, e := range res.Errors {
						fmt.Fprintf(os.Stderr, "  %v\n", e)
					}
				}
				printMu.Unlock()
			}
		}()
	}
	for _, f := range files {
		select {
		case work <- f:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d files rejected", n, len(files))
	}
	if len(files) > 1 {
		el := time.Since(p.start)
		fmt.Printf("%d files, %d rows in %s (%.0f rows/s)\n", len(files), p.rows.Load(), el.Round(time.Millisecond),
			float64(p.rows.Load())/max(el.Seconds(), 1e-9))
	}
	return nil
}

type inputFile struct {
	path string
	size int64
}

// expandInputs turns arguments into files: a directory gives every file
// under it whose name says a known format (any name when the format is
// given), a pattern with * ? [ its matches, a name itself. Each file once,
// in argument order, a directory's files sorted.
func expandInputs(args []string, anyName bool) ([]inputFile, error) {
	var out []inputFile
	seen := map[string]bool{}
	add := func(p string) error {
		if seen[p] {
			return nil
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		seen[p] = true
		out = append(out, inputFile{path: p, size: st.Size()})
		return nil
	}
	for _, a := range args {
		paths := []string{a}
		if strings.ContainsAny(a, "*?[") {
			m, err := filepath.Glob(a)
			if err != nil {
				return nil, usageError{fmt.Sprintf("bad pattern %q: %v", a, err)}
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("%s: no file matches", a)
			}
			sort.Strings(m)
			paths = m
		}
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				return nil, err
			}
			if !st.IsDir() {
				if err := add(p); err != nil {
					return nil, err
				}
				continue
			}
			var found []string
			err = filepath.WalkDir(p, func(q string, e fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
					return nil
				}
				if _, _, err := ingest.DetectFormat(q); err == nil || anyName {
					found = append(found, q)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			if len(found) == 0 {
				return nil, fmt.Errorf("%s: no .ndjson, .jsonl, .csv or .parquet file (optionally .gz) under it", p)
			}
			sort.Strings(found)
			for _, q := range found {
				if err := add(q); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// ingestOne ingests one file, counting the bytes read of text formats for
// the progress line.
func ingestOne(ctx context.Context, store *datasets.Store, d *datasets.Dataset, f inputFile, opt ingest.Options, p *progress) (ingest.Result, error) {
	format := opt.Format
	if format == "" {
		var err error
		if format, _, err = ingest.DetectFormat(f.path); err != nil {
			return ingest.Result{}, err
		}
	}
	if format == ingest.Parquet {
		res, err := ingest.File(ctx, store, d, f.path, opt)
		p.bytes.Add(f.size)
		return res, err
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return ingest.Result{}, err
	}
	defer fh.Close()
	cr := &countingReader{r: fh, n: &p.bytes}
	res, err := ingest.Reader(ctx, store, d, cr, f.path, format, opt)
	p.bytes.Add(f.size - cr.read) // the rest, on error or after a short read
	return res, err
}

type countingReader struct {
	r    io.Reader
	n    *atomic.Int64
	read int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.read += int64(n)
	c.n.Add(int64(n))
	return n, err
}

// progress is the state behind the progress line.
type progress struct {
	files     int
	total     int64
	start     time.Time
	done      atomic.Int64
	rows      atomic.Int64
	bytes     atomic.Int64
	mu        sync.Mutex
	lineShown bool
}

func (p *progress) fileDone(rows int64) {
	p.done.Add(1)
	p.rows.Add(rows)
}

// show redraws the progress line every 200 ms until the returned stop.
func (p *progress) show(w io.Writer) func() {
	tick := time.NewTicker(200 * time.Millisecond)
	quit := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				p.draw(w)
			}
		}
	}()
	return func() {
		tick.Stop()
		close(quit)
		<-stopped
		p.clear(w)
	}
}

func (p *progress) draw(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := time.Since(p.start).Seconds()
	b := p.bytes.Load()
	rate := float64(p.rows.Load()) / max(el, 1e-9)
	eta := "?"
	if b > 0 && p.total > 0 {
		eta = (time.Duration(el*float64(p.total-b)/float64(b)) * time.Second / time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(w, "\r\033[K%d/%d files, %d rows, %.0f rows/s, %.0f%% of %s, ETA %s",
		p.done.Load(), p.files, p.rows.Load(), rate, 100*float64(b)/float64(max(p.total, 1)), humanBytes(p.total), eta)
	p.lineShown = true
}

func (p *progress) clear(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lineShown {
		fmt.Fprint(w, "\r\033[K")
		p.lineShown = false
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
