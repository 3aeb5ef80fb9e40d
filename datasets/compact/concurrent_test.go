//go:build duckdb_arrow

package compact_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/quarry/quarry/datasets/compact"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/ingest"
	"github.com/quarry/quarry/planner"
)

// writeNDJSON writes the rows of ingest number k: rows rows over two days,
// every row with n = k, so a query can tell which ingests it saw and
// whether it saw each one whole.
func writeNDJSON(t testing.TB, dir string, k, rows int) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < rows; i++ {
		day := 19 + i%2
		fmt.Fprintf(&b, `{"org":%q,"kind":"k%d","ts":"2026-11-%02dT%02d:%02d:%02dZ","v":%d.5,"n":%d}`+"\n",
			[]string{"acme", "globex", "initech"}[(i+k)%3], i%4, day, (i*7+k)%24, i%60, k%60, i, k)
	}
	p := filepath.Join(dir, fmt.Sprintf("in-%d.ndjson", k))
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Queries running while ingests and compactions commit always see a whole
// number of ingests, each exactly once, and never fewer than before.
func TestConcurrentIngestCompactQuery(t *testing.T) {
	f := newFixture(t)
	const ingests, rows = 60, 100
	in := t.TempDir()
	var paths []string
	for k := 0; k < ingests; k++ {
		paths = append(paths, writeNDJSON(t, in, k, rows))
	}
	e, err := engine.Open(context.Background(), engine.Config{DataDir: f.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)

	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		defer done.Store(true)
		for _, p := range paths {
			if _, err := ingest.File(ctx, f.store, f.d, p, ingest.Options{}); err != nil {
				errs <- err
				return
			}
		}
	}()
	var compactions, merged atomic.Int64
	wg.Add(1)
	go func() { // the compactor
		defer wg.Done()
		for !done.Load() {
			st, err := compact.Compact(ctx, f.store, f.cat, "tiny", compact.Options{MaxFiles: 2, Threads: 1})
			if err != nil {
				errs <- err
				return
			}
			compactions.Add(1)
			merged.Add(int64(len(st.Partitions)))
		}
	}()
	var queries atomic.Int64
	for q := 0; q < 2; q++ {
		wg.Add(1)
		go func() { // readers
			defer wg.Done()
			last := 0
			for !done.Load() {
				src, err := e.Source(f.d, planner.Window{})
				if err != nil {
					errs <- err
					return
				}
				var cnt, distinct, top int
				err = e.DB().QueryRowContext(ctx, "SELECT count(*), count(DISTINCT n), coalesce(max(n), -1) FROM "+src).Scan(&cnt, &distinct, &top)
				if err != nil {
					errs <- fmt.Errorf("query: %w", err)
					return
				}
				if cnt != distinct*rows || top != distinct-1 {
					errs <- fmt.Errorf("inconsistent snapshot: %d rows, %d distinct ingests, last %d", cnt, distinct, top)
					return
				}
				if distinct < last {
					errs <- fmt.Errorf("count went back: %d ingests after %d", distinct, last)
					return
				}
				last = distinct
				queries.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// a last compaction leaves one file per day; the total is every row
	if _, err := compact.Compact(ctx, f.store, f.cat, "tiny", compact.Options{MaxFiles: 1}); err != nil {
		t.Fatal(err)
	}
	m, _ := f.store.Manifest("tiny")
	if got := perDay(m); len(got) != 2 || got["2026-11-19"] != 1 || got["2026-11-20"] != 1 {
		t.Errorf("files per day at the end: %v", got)
	}
	src, _ := e.Source(f.d, planner.Window{})
	var cnt, distinct int
	if err := e.DB().QueryRow("SELECT count(*), count(DISTINCT n) FROM "+src).Scan(&cnt, &distinct); err != nil {
		t.Fatal(err)
	}
	if cnt != ingests*rows || distinct != ingests {
		t.Errorf("at the end: %d rows of %d ingests", cnt, distinct)
	}
	t.Logf("%d queries, %d compactions merging %d partitions while %d ingests ran", queries.Load(), compactions.Load(), merged.Load(), ingests)
	if queries.Load() == 0 || merged.Load() == 0 {
		t.Error("nothing ran concurrently")
	}
}
