//go:build duckdb_arrow

package suite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/gen"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/planner"
)

// sizes is how many rows each dataset gets for cfg.Rows transactions:
// usage and meters a fifth, the other insights datasets a hundredth (at
// least their generator's default scale).
func sizes(cat *datasets.Catalog, rows int64) map[string]int64 {
	s := map[string]int64{"transactions": rows, "usage": max(rows/5, 1000), "meters": max(rows/5, 1000)}
	for _, q := range datasets.SystemQueries() {
		if d, ok := cat.Lookup(q.Dataset); ok {
			if _, set := s[d.Name]; !set {
				s[d.Name] = max(rows/100, 10_000)
			}
		}
	}
	s["exchange_rates"] = 0 // natural size
	return s
}

// prepareData generates (or reuses) the data under dir.
func prepareData(ctx context.Context, cfg Config, log *slog.Logger) error {
	cat, err := datasets.Load(cfg.Data)
	if err != nil {
		return fmt.Errorf("load catalog: %w", err)
	}
	store := datasets.NewStore(cfg.Data)
	end := Now.AddDate(0, 0, -1).Truncate(24 * time.Hour)
	first := end.AddDate(0, 0, -(cfg.Days - 1)).Format("2006-01-02")
	for ds, rows := range sizes(cat, cfg.Rows) {
		m, err := store.Manifest(ds)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", ds, err)
		}
		f, _ := m.Days()
		if m.Rows() > 0 && m.Rows() >= rows*9/10 && (f == first || ds == "exchange_rates" || ds == "energy") && (rows == 0 || m.Rows() <= rows*11/10) {
			continue
		}
		start := time.Now()
		st, err := gen.Generate(ctx, store, cat, gen.Options{Datasets: []string{ds}, Rows: rows, Seed: 1, End: end, Days: cfg.Days})
		if err != nil {
			return fmt.Errorf("generate %s: %w", ds, err)
		}
		log.Info("generated", "dataset", ds, "rows", st[ds].Rows, "files", st[ds].Files, "elapsed", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// signature describes the data a native copy was built from.
func signature(e *engine.Engine, names []string) (string, error) {
	var b strings.Builder
	for _, n := range names {
		m, err := e.Store().Manifest(n)
		if err != nil {
			return "", err
		}
		f, l := m.Days()
		fmt.Fprintf(&b, "%s:%d:%d:%s:%s\n", n, m.Rows(), len(m.Files), f, l)
	}
	return b.String(), nil
}

// nativeTables are the datasets copied into DuckDB tables.
func nativeTables(e *engine.Engine, cfg Config) []string {
	var out []string
	for n := range sizes(e.Catalog(), cfg.Rows) {
		out = append(out, n)
	}
	sortStrings(out)
	return out
}

// openNative opens (building when stale) a DuckDB database file holding
// every dataset as a table sorted like its files (sort_by: tenant, time),
// the engine's own limit: same rows, DuckDB's native storage.
func openNative(ctx context.Context, e *engine.Engine, cfg Config, log *slog.Logger) (*sql.DB, error) {
	names := nativeTables(e, cfg)
	sig, err := signature(e, names)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.Data, "bench-native.duckdb")
	marker := path + ".sig"
	if old, err := os.ReadFile(marker); err != nil || string(old) != sig {
		os.Remove(path)
		os.Remove(path + ".wal")
		db, err := sql.Open("duckdb", path)
		if err != nil {
			return nil, fmt.Errorf("open native: %w", err)
		}
		start := time.Now()
		for _, n := range names {
			d, _ := e.Catalog().Lookup(n)
			src, err := e.Source(d, planner.Window{})
			if err != nil {
				db.Close()
				return nil, err
			}
			order := ""
			if len(d.SortBy) > 0 {
				var cols []string
				for _, c := range d.SortBy {
					cols = append(cols, planner.DuckDB.Ident(c))
				}
				order = " ORDER BY " + strings.Join(cols, ", ")
			}
			stmt := "CREATE TABLE " + planner.DuckDB.Ident(n) + " AS SELECT * FROM " + src + order
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				db.Close()
				return nil, fmt.Errorf("native table %s: %w", n, err)
			}
		}
		if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
			db.Close()
			return nil, fmt.Errorf("native checkpoint: %w", err)
		}
		db.Close()
		if err := os.WriteFile(marker, []byte(sig), 0o644); err != nil {
			return nil, fmt.Errorf("native marker: %w", err)
		}
		log.Info("built native DuckDB tables", "path", path, "elapsed", time.Since(start).Round(time.Millisecond))
	}
	connector, err := duckdb.NewConnector(path+"?access_mode=read_only", func(ex driver.ExecerContext) error {
		_, err := ex.ExecContext(context.Background(), "SET TimeZone = 'UTC'", nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open native: %w", err)
	}
	db := sql.OpenDB(connector)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open native: %w", err)
	}
	return db, nil
}
