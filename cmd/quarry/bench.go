package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/quarry/quarry/bench/suite"
)

// runBench is `quarry bench`: the benchmark suite (bench/suite).
func runBench(ctx context.Context, args []string) error {
	var cfg suite.Config
	var data string
	fs := flagSet("bench", &data)
	fs.Int64Var(&cfg.Rows, "rows", 10_000_000, "transactions rows (usage and meters get a fifth, the other insights datasets a hundredth)")
	fs.IntVar(&cfg.Days, "days", 400, "days of data (one file per day and dataset)")
	fs.IntVar(&cfg.Runs, "runs", 5, "timed runs per workload and system, after a warm-up run that checks the answer")
	fs.StringVar(&cfg.Out, "out", filepath.Join("bench", "results"), "directory for results.md, results.json and results.svg")
	fs.StringVar(&cfg.Peers, "peers", "auto", "auto (every installed peer), none, or a list: postgres,clickhouse")
	fs.StringVar(&cfg.Workloads, "workloads", "", "regular expression: run only the workloads whose name matches")
	cpuprofile := fs.String("cpuprofile", "", "write a Go CPU profile of the whole run to this file (go tool pprof)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: quarry bench [--data DIR] [--rows N] [--days D] [--runs R] [--out DIR] [--peers auto|none|postgres,clickhouse] [--workloads RE]")
		fmt.Fprintln(fs.Output(), "\n--data defaults to $TMPDIR/quarry-bench-suite-<rows>-<days>d unless --data or $QUARRY_DATA is given; the data is generated once and reused.")
		fs.PrintDefaults()
	}
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	dataSet := os.Getenv("QUARRY_DATA") != ""
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "data" {
			dataSet = true
		}
	})
	if dataSet {
		cfg.Data = data
	}
	if cfg.Rows <= 0 || cfg.Days <= 0 || cfg.Runs <= 0 {
		return usageError{"--rows, --days and --runs must be positive"}
	}
	cfg.Logger = slog.Default()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := suite.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	fmt.Printf("wrote %s/results.{md,json,svg}: %d workloads in %s\n", cfg.Out, len(rep.Workloads), rep.Finished.Sub(rep.Started).Round(1e9))
	return nil
}
