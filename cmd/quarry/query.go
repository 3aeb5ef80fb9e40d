package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/parser"
	"github.com/quarry/quarry/planner"
)

func runQuery(ctx context.Context, args []string) error {
	var data, format, now, id, out string
	var explain bool
	var timeout time.Duration
	var memLimit string
	fs := flagSet("query", &data)
	fs.DurationVar(&timeout, "timeout", engine.DefaultQueryTimeout, "stop the query after this long")
	fs.StringVar(&memLimit, "memory-limit", "", "DuckDB memory limit, e.g. 4GB (default: DuckDB's, 80% of RAM)")
	fs.StringVar(&format, "format", "table", "output: table, csv, tsv, json, ndjson or parquet")
	fs.BoolVar(&explain, "explain", false, "print the plan and the SQL instead of running")
	fs.StringVar(&now, "now", "", "the time TIMESPAN is relative to (default: the current time), e.g. 2026-11-22 or 2026-11-22T10:00:00Z")
	fs.StringVar(&id, "id", "", "run a system query by its QueryId instead of a query text")
	fs.StringVar(&out, "out", "", "write to this file instead of standard output")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: quarry query [flags] 'SELECT … FROM … [WHERE …] [ORDER BY …] [LIMIT n] [TIMESPAN …]'")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	text := joinArgs(pos)
	if id != "" {
		sq, ok := datasets.SystemQueryByID(id)
		if !ok {
			return usageError{fmt.Sprintf("Invalid QueryId %q: no system query has this id", id)}
		}
		text = sq.Query
	}
	if text == "" {
		return usageError{"no query given; pass the query text as an argument, or --id QueryId"}
	}
	clock := time.Now
	if now != "" {
		t, err := planner.ParseTime(now)
		if err != nil {
			return usageError{"--now: " + err.Error()}
		}
		clock = func() time.Time { return t }
	}
	eng, err := engine.Open(ctx, engine.Config{DataDir: data, Clock: clock, QueryTimeout: timeout, MemoryLimit: memLimit})
	if err != nil {
		return err
	}
	defer eng.Close()

	q, err := parser.ParseQuery(text)
	if err != nil {
		return markError(text, err)
	}
	p, err := planner.FromQuery(q, eng.Catalog(), planner.Options{Now: eng.Now(), Scope: planner.Scope{Admin: true}})
	if err != nil {
		return markError(text, err)
	}
	if explain {
		text, err := eng.Explain(p)
		if err != nil {
			return err
		}
		fmt.Print(text)
		return nil
	}
	w := io.Writer(os.Stdout)
	if out != "" && format != "parquet" && format != "csv" && format != "tsv" && format != "ndjson" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	switch format {
	case "table", "json":
		res, err := eng.Run(ctx, p)
		if err != nil {
			return err
		}
		defer res.Close()
		if format == "json" {
			_, err = engine.WriteJSON(w, res.Reader)
		} else {
			_, err = engine.WriteTable(w, res.Reader)
		}
		return err
	case "csv", "tsv", "ndjson", "parquet":
		if out != "" {
			_, err := eng.Export(ctx, p, engine.Format(format), out)
			return err
		}
		dir, err := os.MkdirTemp("", "quarry-query-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "result."+format)
		if _, err := eng.Export(ctx, p, engine.Format(format), path); err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(os.Stdout, f)
		return err
	}
	return usageError{fmt.Sprintf("unknown --format %q: use table, csv, tsv, json, ndjson or parquet", format)}
}

// markError prints the query line the error points at with a caret under
// the position, and returns the error.
func markError(text string, err error) error {
	var pe interface{ Position() parser.Pos }
	if !errors.As(err, &pe) || pe.Position().Line < 1 {
		return err
	}
	pos := pe.Position()
	lines := strings.Split(text, "\n")
	if pos.Line > len(lines) {
		return err
	}
	line := lines[pos.Line-1]
	col := pos.Column - 1
	if col < 0 {
		col = 0
	}
	// keep tabs so the caret lines up under tab-indented text
	pad := []rune(line)
	if col > len(pad) {
		col = len(pad)
	}
	marker := make([]rune, col)
	for i := range marker {
		if pad[i] == '\t' {
			marker[i] = '\t'
		} else {
			marker[i] = ' '
		}
	}
	return fmt.Errorf("%w\n  %s\n  %s^", err, line, string(marker))
}
