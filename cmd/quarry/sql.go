package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/sandbox"
	"github.com/quarry/quarry/parser"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/console"
)

// runSQL is `quarry sql`: raw read-only SQL in the console's sandbox (one
// SELECT-like statement over views of the datasets, external access off,
// settings locked), with the admin scope: the terminal user owns the data
// directory.
func runSQL(ctx context.Context, args []string) error {
	var data, format string
	var maxRows int64
	var timeout time.Duration
	fs := flagSet("sql", &data)
	fs.StringVar(&format, "format", "table", "output: table, csv, json or ndjson")
	fs.Int64Var(&maxRows, "max-rows", 10000, "stop after this many rows (0: no cap); a cut result says so on stderr")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "stop the query after this long")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: quarry sql [--format table|csv|json|ndjson] [--max-rows N] [--timeout 30s] 'SELECT …'")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	text := joinArgs(pos)
	if text == "" {
		return usageError{"no SQL given; pass one SELECT / WITH / DESCRIBE / SUMMARIZE / SHOW / EXPLAIN statement"}
	}
	switch format {
	case "table", "csv", "json", "ndjson":
	default:
		return usageError{fmt.Sprintf("unknown --format %q: use table, csv, json or ndjson", format)}
	}
	eng, err := engine.Open(ctx, engine.Config{DataDir: data, QueryTimeout: timeout})
	if err != nil {
		return err
	}
	defer eng.Close()
	sb := sandbox.New(eng, sandbox.Config{Timeout: timeout})
	defer sb.Close()
	res, err := sb.Query(ctx, planner.Scope{Admin: true}, text, sandbox.Options{MaxRows: maxRows})
	if err != nil {
		return markError(text, positioned(err))
	}
	defer res.Close()
	if maxRows <= 0 {
		maxRows = 1 << 62
	}
	rr := console.Cap(res.Reader, maxRows)
	defer rr.Release()
	var n int64
	switch format {
	case "table":
		n, err = engine.WriteTable(os.Stdout, rr)
	case "json":
		n, err = engine.WriteJSON(os.Stdout, rr)
	case "ndjson":
		n, err = engine.WriteNDJSON(os.Stdout, rr)
	case "csv":
		n, err = console.WriteCSV(os.Stdout, rr)
	}
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return markError(text, positioned(err))
	}
	if rr.Truncated() {
		fmt.Fprintf(os.Stderr, "(truncated at %d rows; --max-rows raises the cap)\n", n)
	}
	return nil
}

// positioned gives a sandbox error the parser's position interface, so
// markError can point at it.
func positioned(err error) error {
	var se *sandbox.Error
	if errors.As(err, &se) && se.Line > 0 {
		return &parser.Error{Pos: parser.Pos{Line: se.Line, Column: se.Column}, Message: se.Code, Msg: se.Message}
	}
	return err
}
