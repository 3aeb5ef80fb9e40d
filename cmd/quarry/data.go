package main

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/gen"
)

func runGen(ctx context.Context, args []string) error {
	var data, names, end string
	var rows, seed int64
	var days, workers int
	fs := flagSet("gen", &data)
	fs.Int64Var(&rows, "rows", 0, "rows per selected dataset (0: each dataset's small default)")
	fs.Int64Var(&seed, "seed", 1, "random seed; the same seed gives the same data")
	fs.StringVar(&names, "datasets", "", "comma-separated datasets to generate (default: all built-in)")
	fs.StringVar(&end, "end", "", "last day of data, YYYY-MM-DD (default: today, UTC)")
	fs.IntVar(&days, "days", 400, "days of data ending at --end")
	fs.IntVar(&workers, "workers", runtime.NumCPU(), "parallel writers")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	endDay := time.Now().UTC().Truncate(24 * time.Hour)
	if end != "" {
		t, err := time.Parse("2006-01-02", end)
		if err != nil {
			return usageError{fmt.Sprintf("--end %q: write YYYY-MM-DD", end)}
		}
		endDay = t
	}
	if days < 1 {
		return usageError{"--days must be at least 1"}
	}
	cat, err := datasets.Load(data)
	if err != nil {
		return err
	}
	var list []string
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		d, err := lookupDataset(cat, n)
		if err != nil {
			return err
		}
		list = append(list, d.Name)
	}
	started := time.Now()
	stats, err := gen.Generate(ctx, datasets.NewStore(data), cat, gen.Options{
		Datasets: list, Rows: rows, Seed: seed, End: endDay, Days: days, Workers: workers,
	})
	if err != nil {
		return err
	}
	var total int64
	for _, d := range cat.Datasets() {
		s, ok := stats[d.Name]
		if !ok {
			continue
		}
		total += s.Rows
		fmt.Printf("%-22s %12d rows %6d files %8.2fs %12.0f rows/s\n", d.Name, s.Rows, s.Files,
			s.Elapsed.Seconds(), float64(s.Rows)/max(s.Elapsed.Seconds(), 1e-9))
	}
	el := time.Since(started)
	fmt.Printf("%-22s %12d rows in %.2fs (%.0f rows/s) into %s\n", "total", total, el.Seconds(), float64(total)/el.Seconds(), data)
	return nil
}

// lookupDataset finds a dataset by name or alias; an unknown name is a
// usage error with the closest name as a hint.
func lookupDataset(cat *datasets.Catalog, name string) (*datasets.Dataset, error) {
	d, ok := cat.Lookup(name)
	if !ok {
		msg := fmt.Sprintf("unknown dataset %q", name)
		if s := cat.Suggest(name); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return nil, usageError{msg}
	}
	return d, nil
}

func runVersion(ctx context.Context, args []string) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&v); err != nil {
		return fmt.Errorf("ask DuckDB its version: %w", err)
	}
	fmt.Printf("quarry %s (%s, DuckDB %s)\n", version, runtime.Version(), v)
	return nil
}
