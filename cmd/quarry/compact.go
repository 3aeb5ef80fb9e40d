package main

import (
	"context"
	"fmt"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/compact"
)

func runCompact(ctx context.Context, args []string) error {
	var data, name string
	var opt compact.Options
	fs := flagSet("compact", &data)
	fs.StringVar(&name, "dataset", "", "dataset to compact (default: every dataset with files)")
	fs.IntVar(&opt.MaxFiles, "max-files", compact.DefaultMaxFiles, "merge a day partition holding more files than this")
	fs.Int64Var(&opt.SmallBytes, "small-bytes", compact.DefaultSmallBytes, "merge a day partition's files smaller than this when it has two or more")
	fs.DurationVar(&opt.Grace, "grace", compact.DefaultGrace, "keep replaced files this long for queries still reading them")
	fs.IntVar(&opt.Threads, "threads", 0, "DuckDB threads (0: all cores)")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError{"usage: quarry compact [--data DIR] [--dataset NAME]"}
	}
	cat, err := datasets.Load(data)
	if err != nil {
		return err
	}
	store := datasets.NewStore(data)
	var all []compact.Stats
	if name != "" {
		d, err := lookupDataset(cat, name)
		if err != nil {
			return err
		}
		st, err := compact.Compact(ctx, store, cat, d.Name, opt)
		if err != nil {
			return err
		}
		all = append(all, st)
	} else if all, err = compact.All(ctx, store, cat, opt); err != nil {
		return err
	}
	for _, st := range all {
		if st.Busy {
			fmt.Printf("%-22s busy: another compaction is running\n", st.Dataset)
			continue
		}
		fmt.Printf("%-22s %6d files -> %6d  %3d partitions merged  %10d rows in %.2fs (%.0f rows/s)  %d retired files deleted\n",
			st.Dataset, st.FilesBefore, st.FilesAfter, merged(st), st.Rows, st.Elapsed.Seconds(),
			float64(st.Rows)/max(st.Elapsed.Seconds(), 1e-9), st.Deleted)
		for _, p := range st.Partitions {
			if p.Skipped != "" {
				fmt.Printf("  %s skipped: %s\n", p.Day, p.Skipped)
			}
		}
	}
	return nil
}

func merged(st compact.Stats) int {
	n := 0
	for _, p := range st.Partitions {
		if p.Skipped == "" {
			n++
		}
	}
	return n
}
