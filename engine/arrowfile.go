//go:build duckdb_arrow

package engine

import (
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/planner"
)

// WriteArrow writes the rows of an Arrow stream — produced elsewhere, e.g.
// by the console's sandbox, which may write no file itself — to path in
// format f, with this engine's DuckDB COPY. The stream is registered as a
// temporary view on one connection, copied, and dropped. Like Export, the
// file is written under a temporary name, fsynced and renamed into place
// only when complete. It consumes rr but does not release it.
func (e *Engine) WriteArrow(ctx context.Context, rr array.RecordReader, f Format, path string) (ExportStats, error) {
	opts, err := f.copyOptions()
	if err != nil {
		return ExportStats{}, err
	}
	ctx, cancel, limit := e.timeout(ctx)
	defer cancel()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ExportStats{}, fmt.Errorf("write arrow: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return ExportStats{}, fmt.Errorf("write arrow: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmpName)
		}
	}()
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return ExportStats{}, fmt.Errorf("write arrow: %w", err)
	}
	view := "quarry_arrow_" + hex.EncodeToString(rnd[:])
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return ExportStats{}, e.wrap(ctx, limit, err)
	}
	defer conn.Close()
	started := time.Now()
	var rows int64
	err = conn.Raw(func(dc any) error {
		ar, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
		if err != nil {
			return err
		}
		release, err := ar.RegisterView(rr, view)
		if err != nil {
			return err
		}
		defer release()
		ex := dc.(driver.ExecerContext)
		defer ex.ExecContext(context.WithoutCancel(ctx), "DROP VIEW IF EXISTS "+view, nil) //nolint:errcheck
		res, err := ex.ExecContext(ctx, "COPY (SELECT * FROM "+view+") TO "+quoteString(tmpName)+" ("+opts+")", nil)
		if err != nil {
			return err
		}
		rows, _ = res.RowsAffected()
		return nil
	})
	if e.cfg.OnQuery != nil {
		e.cfg.OnQuery("export", time.Since(started), err)
	}
	if err != nil {
		return ExportStats{}, e.wrap(ctx, limit, err)
	}
	fh, err := os.OpenFile(tmpName, os.O_RDWR, 0)
	if err != nil {
		return ExportStats{}, fmt.Errorf("write arrow: %w", err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return ExportStats{}, fmt.Errorf("write arrow: sync: %w", err)
	}
	st, err := fh.Stat()
	fh.Close()
	if err != nil {
		return ExportStats{}, fmt.Errorf("write arrow: %w", err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return ExportStats{}, fmt.Errorf("write arrow: %w", err)
	}
	ok = true
	if err := datasets.SyncDir(dir); err != nil {
		return ExportStats{}, fmt.Errorf("write arrow: %w", err)
	}
	return ExportStats{Rows: rows, Bytes: st.Size(), Elapsed: time.Since(started)}, nil
}

// ReadParquet streams the rows of a Parquet file Quarry wrote itself (a
// job's result, never a path from a request), at most limit rows when
// limit > 0.
func (e *Engine) ReadParquet(ctx context.Context, path string, limit int64) (*Result, error) {
	q := "SELECT * FROM read_parquet(" + quoteString(path) + ")"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return e.RunSQL(ctx, planner.SQL{Text: q})
}
