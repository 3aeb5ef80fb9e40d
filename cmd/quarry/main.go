// Command quarry is Quarry's one binary: serve, query, sql, gen, ingest,
// bench, version. It wires flags to packages and holds no logic of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"query":   {"run one report query (SELECT … TIMESPAN …)", runQuery},
	"sql":     {"run raw read-only SQL in the console's sandbox", runSQL},
	"bench":   {"run the benchmark suite: Quarry, DuckDB and installed peers side by side", runBench},
	"gen":     {"generate the built-in datasets' synthetic data", runGen},
	"compact": {"merge each day's small files into one sorted file", runCompact},
	"ingest":  {"append NDJSON / CSV / Parquet rows to a dataset", runIngest},
	"keys":    {"create, list and revoke API keys", runKeys},
	"serve":   {"serve every HTTP API on one port", runServe},
	"version": {"print versions", runVersion},
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: quarry <command> [flags] [args]\n\ncommands:")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nEvery command takes --data DIR (default ./data, or $QUARRY_DATA). Run 'quarry <command> -h' for its flags.")
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})))
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		if os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
			usage()
			return
		}
		fmt.Fprintf(os.Stderr, "quarry: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "quarry %s: %v\n", os.Args[1], err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "quarry %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func logLevel() slog.Level {
	if os.Getenv("QUARRY_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// usageError is a bad command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flagSet returns a FlagSet with the common --data flag.
func flagSet(name string, data *string) *flag.FlagSet {
	fs := flag.NewFlagSet("quarry "+name, flag.ContinueOnError)
	def := os.Getenv("QUARRY_DATA")
	if def == "" {
		def = "./data"
	}
	fs.StringVar(data, "data", def, "data directory")
	return fs
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func joinArgs(args []string) string { return strings.TrimSpace(strings.Join(args, " ")) }
