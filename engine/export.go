//go:build duckdb_arrow

package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/planner"
)

// Format is a result file format.
type Format string

// Export formats.
const (
	CSV       Format = "csv"
	TSV       Format = "tsv"
	CSVGzip   Format = "csv.gz"
	TSVGzip   Format = "tsv.gz"
	NDJSON    Format = "ndjson"
	NDJSONGz  Format = "ndjson.gz"
	Parquet   Format = "parquet"
	PipeCSVGz Format = "psv.gz" // '|'-delimited CSV, gzipped (analytics csvDelimiter '|')
)

// Formats lists every export format.
var Formats = []Format{CSV, TSV, CSVGzip, TSVGzip, NDJSON, NDJSONGz, Parquet, PipeCSVGz}

// copyOptions are DuckDB COPY options for a format (constant text).
func (f Format) copyOptions() (string, error) {
	switch f {
	case CSV:
		return "FORMAT csv, HEADER true", nil
	case TSV:
		return "FORMAT csv, HEADER true, DELIMITER '\t'", nil
	case CSVGzip:
		return "FORMAT csv, HEADER true, COMPRESSION gzip", nil
	case TSVGzip:
		return "FORMAT csv, HEADER true, DELIMITER '\t', COMPRESSION gzip", nil
	case PipeCSVGz:
		return "FORMAT csv, HEADER true, DELIMITER '|', COMPRESSION gzip", nil
	case NDJSON:
		return "FORMAT json", nil
	case NDJSONGz:
		return "FORMAT json, COMPRESSION gzip", nil
	case Parquet:
		return "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880", nil
	}
	return "", fmt.Errorf("unknown export format %q (use %s)", f, formatList())
}

func formatList() string {
	var s []string
	for _, f := range Formats {
		s = append(s, string(f))
	}
	return strings.Join(s, ", ")
}

// ExportStats describes a written file.
type ExportStats struct {
	Rows    int64
	Bytes   int64
	Elapsed time.Duration
}

// Export runs a plan and writes its result to path in the given format
// through DuckDB COPY. The file is written under a temporary name in the
// same directory, fsynced, and renamed to path only when complete.
func (e *Engine) Export(ctx context.Context, p *planner.Plan, f Format, path string) (ExportStats, error) {
	q, err := e.Compile(p)
	if err != nil {
		return ExportStats{}, err
	}
	return e.ExportSQL(ctx, q, f, path)
}

// ExportSQL writes the result of compiled SQL to path (see Export).
func (e *Engine) ExportSQL(ctx context.Context, q planner.SQL, f Format, path string) (ExportStats, error) {
	return e.copyFile(ctx, f, path, "export", func(ctx context.Context, to, opts string) (int64, error) {
		stmt := "COPY (" + q.Text + ") TO " + quoteString(to) + " (" + opts + ")"
		res, err := e.db.ExecContext(ctx, stmt, q.Args...)
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		return n, nil
	})
}

// copyFile is how every file of query rows is written: copy (a DuckDB
// COPY) writes a temporary name in path's directory under the run-time
// limit; the file is fsynced and renamed to path only when complete, and
// the directory fsynced. what names the operation in errors and metrics.
func (e *Engine) copyFile(ctx context.Context, f Format, path, what string, copy func(ctx context.Context, to, opts string) (int64, error)) (ExportStats, error) {
	opts, err := f.copyOptions()
	if err != nil {
		return ExportStats{}, err
	}
	ctx, cancel, limit := e.timeout(ctx)
	defer cancel()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ExportStats{}, fmt.Errorf("%s: %w", what, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return ExportStats{}, fmt.Errorf("%s: %w", what, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmpName)
		}
	}()
	started := time.Now()
	rows, err := copy(ctx, tmpName, opts)
	if e.cfg.OnQuery != nil {
		e.cfg.OnQuery("export", time.Since(started), err)
	}
	if err != nil {
		return ExportStats{}, e.wrap(ctx, limit, err)
	}
	fh, err := os.OpenFile(tmpName, os.O_RDWR, 0)
	if err != nil {
		return ExportStats{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return ExportStats{}, fmt.Errorf("%s: sync: %w", what, err)
	}
	st, err := fh.Stat()
	fh.Close()
	if err != nil {
		return ExportStats{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return ExportStats{}, fmt.Errorf("%s: %w", what, err)
	}
	ok = true
	if err := datasets.SyncDir(dir); err != nil {
		return ExportStats{}, fmt.Errorf("%s: %w", what, err)
	}
	return ExportStats{Rows: rows, Bytes: st.Size(), Elapsed: time.Since(started)}, nil
}
