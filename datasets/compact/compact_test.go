package compact_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/compact"
)

const tinySchema = `{
 "name": "tiny", "time_column": "ts",
 "tenant_column": "org", "tenant_scope": "org", "sort_by": ["org", "ts"],
 "columns": [
  {"name": "org", "type": "VARCHAR", "role": "dimension"},
  {"name": "kind", "type": "VARCHAR", "role": "dimension", "nullable": true},
  {"name": "ts", "type": "TIMESTAMP", "role": "time"},
  {"name": "v", "type": "DOUBLE", "role": "metric", "agg": "sum"},
  {"name": "n", "type": "BIGINT", "role": "metric", "agg": "max"}
 ]}`

type fixture struct {
	dir   string
	cat   *datasets.Catalog
	d     *datasets.Dataset
	store *datasets.Store
	db    *sql.DB
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	ds := filepath.Join(dir, "datasets", "tiny")
	if err := os.MkdirAll(ds, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ds, "schema.json"), []byte(tinySchema), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, err := datasets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := cat.Lookup("tiny")
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &fixture{dir: dir, cat: cat, d: d, store: datasets.NewStore(dir), db: db}
}

// writePart writes one part file of a day with rows in an unsorted order
// (orgs interleaved, time descending) and commits it.
func (f *fixture) writePart(t *testing.T, day string, seed, rows int) datasets.FileEntry {
	t.Helper()
	pw, err := f.store.NewPart(f.d, day)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := time.Parse(datasets.DayLayout, day)
	r := datasets.NewRow(f.d)
	for i := 0; i < rows; i++ {
		r.Reset()
		r.String(0, []string{"globex", "acme", "initech"}[(i+seed)%3])
		if i%7 != 0 {
			r.String(1, fmt.Sprintf("k%d", i%5))
		}
		r.Time(2, base.Add(time.Duration((rows-i)*37+seed)*time.Second))
		r.Float64(3, float64(i*seed)+0.25)
		r.Int64(4, int64(seed*1000+i))
		if err := pw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	e, err := pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Commit("tiny", []datasets.FileEntry{e}, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *fixture) manifest(t *testing.T) *datasets.Manifest {
	t.Helper()
	m, err := f.store.Manifest("tiny")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) fileList(m *datasets.Manifest) string {
	var q []string
	for _, e := range m.Files {
		q = append(q, "'"+f.store.Abs("tiny", e)+"'")
	}
	return "read_parquet([" + strings.Join(q, ", ") + "])"
}

// digest is the oracle: per day, row count, sums, distinct counts and an
// order-independent hash of every row.
func (f *fixture) digest(t *testing.T, m *datasets.Manifest) [][]string {
	t.Helper()
	q := `SELECT strftime(ts, '%Y-%m-%d') AS day, count(*), sum(v), sum(n), count(kind), count(DISTINCT org),
	        min(ts), max(ts), bit_xor(hash(org, kind, ts, v, n)), sum(hash(org, kind, ts, v, n) % 1000003)
	      FROM ` + f.fileList(m) + ` GROUP BY ALL ORDER BY day`
	rows, err := f.db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]any, 10)
		ptrs := make([]any, 10)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = fmt.Sprint(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func perDay(m *datasets.Manifest) map[string]int {
	out := map[string]int{}
	for _, f := range m.Files {
		out[f.Day]++
	}
	return out
}

func TestCompactMergesPartitionsSorted(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 6; i++ {
		f.writePart(t, "2026-11-19", i+1, 100+i*13)
		f.writePart(t, "2026-11-20", i+11, 50+i)
	}
	f.writePart(t, "2026-11-21", 3, 40) // one file: left alone
	f.writePart(t, "2026-11-22", 4, 40) // two small files: merged
	f.writePart(t, "2026-11-22", 5, 41)
	before := f.manifest(t)
	want := f.digest(t, before)

	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	st, err := compact.Compact(context.Background(), f.store, f.cat, "tiny", compact.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	after := f.manifest(t)
	if got := perDay(after); !reflect.DeepEqual(got, map[string]int{"2026-11-19": 1, "2026-11-20": 1, "2026-11-21": 1, "2026-11-22": 1}) {
		t.Errorf("files per day after: %v", got)
	}
	if st.FilesBefore != 15 || st.FilesAfter != 4 || len(st.Partitions) != 3 || st.Rows != before.Rows()-40 {
		t.Errorf("stats: %+v", st)
	}
	if after.Rows() != before.Rows() {
		t.Errorf("manifest rows %d, want %d", after.Rows(), before.Rows())
	}
	if got := f.digest(t, after); !reflect.DeepEqual(got, want) {
		t.Errorf("rows changed:\n got %v\nwant %v", got, want)
	}
	// sorted by (org, ts) inside each merged file, in 16k row groups
	for _, e := range after.Files {
		if e.Day == "2026-11-21" {
			continue // never merged, written unsorted
		}
		var unsorted int
		q := fmt.Sprintf(`SELECT count(*) FROM (SELECT org, ts, lag(org) OVER w AS po, lag(ts) OVER w AS pt
		      FROM read_parquet('%s', file_row_number = true) WINDOW w AS (ORDER BY file_row_number))
		      WHERE po > org OR (po = org AND pt > ts)`, f.store.Abs("tiny", e))
		if err := f.db.QueryRow(q).Scan(&unsorted); err != nil {
			t.Fatal(err)
		}
		if unsorted != 0 {
			t.Errorf("%s: %d rows out of (org, ts) order", e.Path, unsorted)
		}
		if cols := after.FileColumns(e); !reflect.DeepEqual(cols, before.FileColumns(before.Files[0])) {
			t.Errorf("%s: recorded columns %v", e.Path, cols)
		}
	}
	// the replaced files are retired, still on disk
	if len(after.Retired) != 14 {
		t.Errorf("retired: %d files, want 14", len(after.Retired))
	}
	for _, r := range after.Retired {
		if !r.Retired.Equal(now) {
			t.Errorf("retired at %v", r.Retired)
		}
		if _, err := os.Stat(filepath.Join(f.store.Dir("tiny"), r.Path)); err != nil {
			t.Errorf("retired file deleted early: %v", err)
		}
	}
	// nothing more to do
	st, err = compact.Compact(context.Background(), f.store, f.cat, "tiny", compact.Options{Now: func() time.Time { return now }})
	if err != nil || len(st.Partitions) != 0 || st.Deleted != 0 {
		t.Errorf("second pass: %+v %v", st, err)
	}
}

func TestRetiredFilesDeletedAfterGrace(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 3; i++ {
		f.writePart(t, "2026-11-19", i+1, 30)
	}
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	now := t0
	opt := compact.Options{Grace: 10 * time.Minute, Now: func() time.Time { return now }}
	old := f.manifest(t).Files
	if _, err := compact.Compact(context.Background(), f.store, f.cat, "tiny", opt); err != nil {
		t.Fatal(err)
	}
	exists := func() int {
		n := 0
		for _, e := range old {
			if _, err := os.Stat(f.store.Abs("tiny", e)); err == nil {
				n++
			}
		}
		return n
	}
	now = t0.Add(10*time.Minute - time.Second)
	st, err := compact.Compact(context.Background(), f.store, f.cat, "tiny", opt)
	if err != nil || st.Deleted != 0 || exists() != 3 || len(f.manifest(t).Retired) != 3 {
		t.Fatalf("before the grace period: deleted %d, %d files left, %v", st.Deleted, exists(), err)
	}
	now = t0.Add(10 * time.Minute)
	st, err = compact.Compact(context.Background(), f.store, f.cat, "tiny", opt)
	if err != nil || st.Deleted != 3 || exists() != 0 || len(f.manifest(t).Retired) != 0 {
		t.Fatalf("after the grace period: deleted %d, %d files left, %v", st.Deleted, exists(), err)
	}
	// the merged file is untouched
	if m := f.manifest(t); len(m.Files) != 1 || m.Rows() != 90 {
		t.Fatalf("manifest after sweep: %+v", m.Files)
	}
	if _, err := os.Stat(f.store.Abs("tiny", f.manifest(t).Files[0])); err != nil {
		t.Fatal(err)
	}
}

func TestSmallFilesMergedLargeKept(t *testing.T) {
	f := newFixture(t)
	big := f.writePart(t, "2026-11-19", 1, 20000)
	f.writePart(t, "2026-11-19", 2, 10)
	f.writePart(t, "2026-11-19", 3, 10)
	opt := compact.Options{SmallBytes: big.Bytes}
	st, err := compact.Compact(context.Background(), f.store, f.cat, "tiny", opt)
	if err != nil {
		t.Fatal(err)
	}
	m := f.manifest(t)
	if len(m.Files) != 2 || len(st.Partitions) != 1 || st.Partitions[0].Merged != 2 || st.Rows != 20 {
		t.Fatalf("stats %+v, files %+v", st, m.Files)
	}
	found := false
	for _, e := range m.Files {
		found = found || e.Path == big.Path
	}
	if !found {
		t.Error("the large file was rewritten")
	}
	// a partition with one small file and one large one is left alone
	st, err = compact.Compact(context.Background(), f.store, f.cat, "tiny", opt)
	if err != nil || len(st.Partitions) != 0 {
		t.Fatalf("second pass: %+v %v", st, err)
	}
	// more than MaxFiles: merged whole
	f.writePart(t, "2026-11-19", 4, 10)
	f.writePart(t, "2026-11-19", 5, 10)
	f.writePart(t, "2026-11-19", 6, 10)
	opt.SmallBytes = 1 // nothing is small
	if _, err := compact.Compact(context.Background(), f.store, f.cat, "tiny", opt); err != nil {
		t.Fatal(err)
	}
	if m := f.manifest(t); len(m.Files) != 1 || m.Rows() != 20050 {
		t.Fatalf("after merging whole: %+v", m.Files)
	}
}

// A merge commits only if every file it merged is still in the manifest;
// files committed meanwhile stay.
func TestMergeRecheckedUnderLock(t *testing.T) {
	f := newFixture(t)
	var parts []datasets.FileEntry
	for i := 0; i < 5; i++ {
		parts = append(parts, f.writePart(t, "2026-11-19", i+1, 30))
	}
	// an ingest commits a new file of the same day during the merge: kept
	compact.SetBeforeCommit(func() { f.writePart(t, "2026-11-19", 9, 7) })
	st, err := compact.Compact(context.Background(), f.store, f.cat, "tiny", compact.Options{})
	compact.SetBeforeCommit(nil)
	if err != nil || st.Partitions[0].Skipped != "" {
		t.Fatalf("%+v %v", st, err)
	}
	if m := f.manifest(t); len(m.Files) != 2 || m.Rows() != 157 {
		t.Fatalf("after a concurrent ingest: %+v", m.Files)
	}
	// another writer removes a merged file during the merge: not committed
	for i := 0; i < 4; i++ {
		parts = append(parts, f.writePart(t, "2026-11-20", i+1, 30))
	}
	before := f.manifest(t)
	var gone string
	compact.SetBeforeCommit(func() {
		gone = before.Files[len(before.Files)-1].Path
		if err := f.store.Commit("tiny", nil, []string{gone}); err != nil {
			t.Error(err)
		}
	})
	st, err = compact.Compact(context.Background(), f.store, f.cat, "tiny", compact.Options{MaxFiles: 3})
	compact.SetBeforeCommit(nil)
	if err != nil || len(st.Partitions) != 2 || st.Partitions[1].Skipped == "" {
		t.Fatalf("%+v %v", st, err)
	}
	m := f.manifest(t)
	if perDay(m)["2026-11-20"] != 3 || m.Rows() != 157+90 || len(m.Retired) != 7 {
		t.Fatalf("after a conflicting removal: %+v retired %d", m.Files, len(m.Retired))
	}
	// the merged file of the abandoned merge is gone from disk
	on, _ := filepath.Glob(filepath.Join(f.store.Dir("tiny"), "date=2026-11-20", "*.parquet"))
	if len(on) != 4 { // 3 listed + the one removed by the other writer (it deletes its own)
		t.Fatalf("files on disk: %v", on)
	}
}

func TestBusyWhenAnotherCompactionRuns(t *testing.T) {
	f := newFixture(t)
	f.writePart(t, "2026-11-19", 1, 10)
	lock, err := os.OpenFile(filepath.Join(f.store.Dir("tiny"), ".compact.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	st, err := compact.Compact(context.Background(), f.store, f.cat, "tiny", compact.Options{})
	if err != nil || !st.Busy {
		t.Fatalf("%+v %v", st, err)
	}
}

// Old manifests (no schemas, no retired list) still load and commit.
func TestOldManifestLoads(t *testing.T) {
	f := newFixture(t)
	e := f.writePart(t, "2026-11-19", 1, 10)
	old := fmt.Sprintf(`{"dataset":"tiny","version":3,"files":[{"path":%q,"day":"2026-11-19","rows":10,"bytes":%d}]}`, e.Path, e.Bytes)
	if err := os.WriteFile(filepath.Join(f.store.Dir("tiny"), "_manifest.json"), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	store := datasets.NewStore(f.dir)
	m, err := store.Manifest("tiny")
	if err != nil || len(m.Files) != 1 || m.FileColumns(m.Files[0]) != nil {
		t.Fatalf("%+v %v", m, err)
	}
	// a commit records the columns of the files listed before
	if err := store.Commit("tiny", nil, nil); err != nil {
		t.Fatal(err)
	}
	m, _ = store.Manifest("tiny")
	if m.Version != 4 || len(m.FileColumns(m.Files[0])) != 5 {
		t.Fatalf("%+v", m)
	}
}

func TestRunCompactsUntilCancelled(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 6; i++ {
		f.writePart(t, "2026-11-19", i+1, 20)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- compact.Run(ctx, f.store, f.cat, 10*time.Millisecond, compact.Options{}) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.manifest(t).Files) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the background loop did not compact")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}
