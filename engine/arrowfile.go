//go:build duckdb_arrow

package engine

import (
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/hex"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/quarry/quarry/planner"
)

// WriteArrow writes the rows of an Arrow stream — produced elsewhere, e.g.
// by the console's sandbox, which may write no file itself — to path in
// format f, with this engine's DuckDB COPY. The stream is registered as a
// temporary view on one connection, copied, and dropped. Like Export, the
// file is written under a temporary name, fsynced and renamed into place
// only when complete. It consumes rr but does not release it.
func (e *Engine) WriteArrow(ctx context.Context, rr array.RecordReader, f Format, path string) (ExportStats, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return ExportStats{}, fmt.Errorf("write arrow: %w", err)
	}
	view := "quarry_arrow_" + hex.EncodeToString(rnd[:])
	return e.copyFile(ctx, f, path, "write arrow", func(ctx context.Context, to, opts string) (int64, error) {
		conn, err := e.db.Conn(ctx)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
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
			res, err := ex.ExecContext(ctx, "COPY (SELECT * FROM "+view+") TO "+quoteString(to)+" ("+opts+")", nil)
			if err != nil {
				return err
			}
			rows, _ = res.RowsAffected()
			return nil
		})
		return rows, err
	})
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
