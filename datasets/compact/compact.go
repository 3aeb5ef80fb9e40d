// Package compact merges the small Parquet files of a dataset's day
// partitions into large files sorted by the dataset's sort_by columns,
// and deletes the files it replaced once no query can still be reading
// them.
//
// A merge is one manifest commit that adds the merged file and removes
// exactly the files it was made from, so a query (which reads one manifest
// snapshot) sees every row once, before or after. The removed files are
// recorded in the manifest's retired list with the time of the commit and
// deleted by a later pass once they are older than the grace period.
//
// DuckDB does the merge: COPY (SELECT … FROM read_parquet([files]) ORDER BY
// sort_by) TO tmp (FORMAT parquet, ROW_GROUP_SIZE 16384), then fsync and
// rename, like every other writer of a part file.
package compact

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/google/uuid"

	"github.com/quarry/quarry/datasets"
)

// Defaults of Options.
const (
	DefaultMaxFiles   = 4
	DefaultSmallBytes = 16 << 20
	DefaultGrace      = 10 * time.Minute
	DefaultInterval   = time.Minute
)

// Options are the settings of a compaction. The zero value uses the
// defaults.
type Options struct {
	// MaxFiles: a partition with more files than this is merged whole
	// into one file (default 4).
	MaxFiles int
	// SmallBytes: a file smaller than this is small; a partition with two
	// or more small files has them merged into one, leaving its large
	// files alone (default 16 MiB).
	SmallBytes int64
	// Grace is how long a replaced file stays on disk after the commit
	// that removed it, for queries that planned with an older manifest
	// (default 10 minutes). It must exceed the longest query.
	Grace time.Duration
	// Now is the clock used to stamp and expire retired files; nil is
	// time.Now.
	Now func() time.Time
	// DB is a DuckDB handle to merge with; nil opens a private in-memory
	// instance for the call, with Threads and MemoryLimit.
	DB          *sql.DB
	Threads     int    // 0: DuckDB's default (all cores)
	MemoryLimit string // "": DuckDB's default (80% of RAM)
	// TempDir is where the private instance spills a sort larger than
	// its memory; "" is <data>/tmp/compact.
	TempDir string
}

func (o *Options) fill() {
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.SmallBytes <= 0 {
		o.SmallBytes = DefaultSmallBytes
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Partition is what a compaction did to one day partition.
type Partition struct {
	Day         string
	FilesBefore int // files in the partition before
	FilesAfter  int // files in the partition after (unchanged when skipped)
	Merged      int // files merged into one
	Rows        int64
	Skipped     string // why a planned merge was not committed, or ""
}

// Stats sums up one Compact call.
type Stats struct {
	Dataset     string
	Partitions  []Partition // the partitions that were merged or skipped
	FilesBefore int         // files in the manifest before
	FilesAfter  int         // files in the manifest after this call's commits
	Rows        int64       // rows rewritten
	Bytes       int64       // bytes written
	Deleted     int         // retired files deleted after their grace period
	Busy        bool        // another compaction of the dataset was running; nothing done
	Elapsed     time.Duration
}

// Compact merges the small files of every eligible day partition of one
// dataset and deletes retired files whose grace period has passed.
func Compact(ctx context.Context, store *datasets.Store, cat *datasets.Catalog, dataset string, opt Options) (Stats, error) {
	opt.fill()
	start := time.Now()
	d, ok := cat.Lookup(dataset)
	if !ok {
		return Stats{}, fmt.Errorf("compact: unknown dataset %q", dataset)
	}
	st := Stats{Dataset: d.Name}
	if _, err := os.Stat(filepath.Join(store.Dir(d.Name), "_manifest.json")); errors.Is(err, os.ErrNotExist) {
		return st, nil // no files yet
	}
	unlock, busy, err := tryLock(store, d.Name)
	if err != nil {
		return st, err
	}
	if busy {
		st.Busy = true
		return st, nil
	}
	defer unlock()

	if st.Deleted, err = sweep(ctx, store, d.Name, opt); err != nil {
		return st, err
	}
	m, err := store.Manifest(d.Name)
	if err != nil {
		return st, fmt.Errorf("compact %s: %w", d.Name, err)
	}
	st.FilesBefore = len(m.Files)
	st.FilesAfter = len(m.Files)
	plans := plan(m, opt)
	if len(plans) == 0 {
		st.Elapsed = time.Since(start)
		return st, nil
	}
	db := opt.DB
	if db == nil {
		if opt.TempDir == "" {
			opt.TempDir = filepath.Join(filepath.Dir(store.Root), "tmp", "compact")
		}
		if db, err = openDuckDB(opt); err != nil {
			return st, fmt.Errorf("compact %s: %w", d.Name, err)
		}
		defer db.Close()
	}
	for _, p := range plans {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("compact %s: %w", d.Name, err)
		}
		part, bytes, err := merge(ctx, db, store, d, m, p, opt)
		if err != nil {
			return st, fmt.Errorf("compact %s %s: %w", d.Name, p.day, err)
		}
		st.Partitions = append(st.Partitions, part)
		if part.Skipped == "" {
			st.Rows += part.Rows
			st.Bytes += bytes
			st.FilesAfter -= part.Merged - 1
		}
	}
	st.Elapsed = time.Since(start)
	slog.Info("compaction", "dataset", d.Name, "partitions", len(st.Partitions), "files_before", st.FilesBefore,
		"files_after", st.FilesAfter, "rows", st.Rows, "deleted", st.Deleted, "elapsed", st.Elapsed)
	return st, nil
}

// All compacts every dataset of the catalog that has files.
func All(ctx context.Context, store *datasets.Store, cat *datasets.Catalog, opt Options) ([]Stats, error) {
	var out []Stats
	for _, d := range cat.Datasets() {
		if _, err := os.Stat(filepath.Join(store.Dir(d.Name), "_manifest.json")); err != nil {
			continue
		}
		st, err := Compact(ctx, store, cat, d.Name, opt)
		out = append(out, st)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Run compacts every dataset now and then every interval (0: a minute)
// until ctx is done, logging failures; it returns ctx's error. A server
// runs it in a goroutine and cancels ctx to stop it; a merge in progress
// is abandoned (its temporary file removed) and nothing is committed.
func Run(ctx context.Context, store *datasets.Store, cat *datasets.Catalog, interval time.Duration, opt Options) error {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := All(ctx, store, cat, opt); err != nil && ctx.Err() == nil {
			slog.Error("background compaction", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// beforeCommit, when set (tests), runs between a merge's write and its commit.
var beforeCommit func()

// partPlan is the files of one partition chosen for one merge.
type partPlan struct {
	day   string
	total int // files in the partition
	files []datasets.FileEntry
}

// plan picks the merges: a partition with more than MaxFiles files is
// merged whole; otherwise its small files are merged when there are two
// or more, leaving its large files as they are (so a day that keeps
// receiving small ingests does not rewrite its large file each time).
func plan(m *datasets.Manifest, opt Options) []partPlan {
	var out []partPlan
	for i := 0; i < len(m.Files); {
		j := i
		for j < len(m.Files) && m.Files[j].Day == m.Files[i].Day {
			j++
		}
		day := m.Files[i:j:j]
		var pick []datasets.FileEntry
		if len(day) > opt.MaxFiles {
			pick = day
		} else {
			for _, f := range day {
				if f.Bytes < opt.SmallBytes {
					pick = append(pick, f)
				}
			}
		}
		if len(pick) >= 2 {
			out = append(out, partPlan{day: m.Files[i].Day, total: len(day), files: append([]datasets.FileEntry(nil), pick...)})
		}
		i = j
	}
	return out
}

// merge writes one partition's files as one sorted file and commits it in
// place of them.
func merge(ctx context.Context, db *sql.DB, store *datasets.Store, d *datasets.Dataset, m *datasets.Manifest, p partPlan, opt Options) (Partition, int64, error) {
	part := Partition{Day: p.day, FilesBefore: p.total, FilesAfter: p.total, Merged: len(p.files)}
	var want int64
	for _, f := range p.files {
		want += f.Rows
	}
	rel := "date=" + p.day + "/part-" + uuid.NewString() + ".parquet"
	final := filepath.Join(store.Dir(d.Name), filepath.FromSlash(rel))
	tmp := filepath.Join(filepath.Dir(final), ".compact-"+filepath.Base(final)+".tmp")
	q := copySQL(store, d, m, p.files, tmp)
	res, err := db.ExecContext(ctx, q)
	if err != nil {
		os.Remove(tmp)
		return part, 0, fmt.Errorf("merge %d files: %w", len(p.files), err)
	}
	rows, err := res.RowsAffected()
	if err == nil && rows != want {
		err = fmt.Errorf("merged file holds %d rows, the manifest says %d", rows, want)
	}
	if err != nil {
		os.Remove(tmp)
		return part, 0, err
	}
	size, err := syncFile(tmp)
	if err != nil {
		os.Remove(tmp)
		return part, 0, err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return part, 0, fmt.Errorf("publish %s: %w", final, err)
	}
	if err := datasets.SyncDir(filepath.Dir(final)); err != nil {
		os.Remove(final)
		return part, 0, fmt.Errorf("publish %s: %w", final, err)
	}
	entry := datasets.FileEntry{Path: rel, Day: p.day, Rows: rows, Bytes: size}
	if beforeCommit != nil {
		beforeCommit()
	}
	now := opt.Now().UTC()
	errGone := errors.New("gone")
	err = store.Update(d.Name, func(cur *datasets.Manifest) error {
		// Re-check under the lock: every merged file must still be in the
		// manifest, exactly as merged. Files committed since (a concurrent
		// ingest) are not in the set and stay.
		merged := make(map[string]datasets.FileEntry, len(p.files))
		for _, f := range p.files {
			merged[f.Path] = f
		}
		keep := cur.Files[:0:0]
		found := 0
		for _, f := range cur.Files {
			if g, ok := merged[f.Path]; ok {
				if g.Rows != f.Rows || g.Bytes != f.Bytes {
					return errGone
				}
				found++
				continue
			}
			keep = append(keep, f)
		}
		if found != len(p.files) {
			return errGone
		}
		cur.Files = append(keep, entry)
		for _, f := range p.files {
			cur.Retired = append(cur.Retired, datasets.RetiredFile{Path: f.Path, Retired: now})
		}
		return nil
	})
	if errors.Is(err, errGone) {
		os.Remove(final)
		part.Skipped = "files changed during the merge (another writer removed some)"
		return part, 0, nil
	}
	if err != nil {
		os.Remove(final)
		return part, 0, err
	}
	part.Rows = rows
	part.FilesAfter = p.total - len(p.files) + 1
	return part, size, nil
}

// copySQL is the COPY statement merging files into tmp: the dataset's
// stored columns (NULL for a column no file holds yet),
// cast to their catalog types, ordered by sort_by (or the time column).
// Files of different schema versions are read by name.
func copySQL(store *datasets.Store, d *datasets.Dataset, m *datasets.Manifest, files []datasets.FileEntry, tmp string) string {
	// Columns in the order the part writer uses (ParquetSchema), so merged
	// and freshly ingested files look alike.
	var stored []*datasets.Column
	for _, fld := range datasets.ParquetSchema(d).Fields() {
		c, _ := d.Column(fld.Name())
		stored = append(stored, c)
	}
	held := map[string]bool{}
	mixed := false
	for _, f := range files {
		cols := m.FileColumns(f)
		if cols == nil {
			for _, c := range stored {
				held[c.Name] = true
			}
			continue
		}
		names := map[string]bool{}
		for _, c := range cols {
			names[c.Name] = true
			held[c.Name] = true
		}
		for _, c := range stored {
			if !names[c.Name] {
				mixed = true
			}
		}
	}
	var b strings.Builder
	b.WriteString("COPY (SELECT ")
	for i, c := range stored {
		if i > 0 {
			b.WriteString(", ")
		}
		src := ident(c.Name)
		if !held[c.Name] {
			src = "NULL"
		}
		fmt.Fprintf(&b, "CAST(%s AS %s) AS %s", src, sqlType(c.Type), ident(c.Name))
	}
	b.WriteString(" FROM read_parquet([")
	for i, f := range files {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(store.Abs(d.Name, f)))
	}
	b.WriteString("], hive_partitioning = false")
	if mixed {
		b.WriteString(", union_by_name = true")
	}
	b.WriteString(") ORDER BY ")
	order := d.SortBy
	if len(order) == 0 {
		order = []string{d.TimeColumn}
	}
	for i, s := range order {
		if i > 0 {
			b.WriteString(", ")
		}
		c, _ := d.Column(s)
		b.WriteString(ident(c.Name))
	}
	fmt.Fprintf(&b, ") TO %s (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE %d)", quote(tmp), datasets.RowGroupSize)
	return b.String()
}

// sweep deletes the retired files older than the grace period and drops
// them from the retired list, then removes merge temporaries a crashed
// compaction left behind. A file is deleted before the manifest stops
// naming it, so a crash in between leaves a name to forget, never a file
// to leak.
func sweep(ctx context.Context, store *datasets.Store, dataset string, opt Options) (int, error) {
	m, err := store.Manifest(dataset)
	if err != nil {
		return 0, fmt.Errorf("sweep %s: %w", dataset, err)
	}
	now := opt.Now()
	due := false
	for _, r := range m.Retired {
		due = due || now.Sub(r.Retired) >= opt.Grace
	}
	deleted := 0
	if due {
		err = store.Update(dataset, func(cur *datasets.Manifest) error {
			live := make(map[string]bool, len(cur.Files))
			for _, f := range cur.Files {
				live[f.Path] = true
			}
			keep := cur.Retired[:0:0]
			for _, r := range cur.Retired {
				if now.Sub(r.Retired) < opt.Grace || ctx.Err() != nil {
					keep = append(keep, r)
					continue
				}
				if !live[r.Path] { // never delete a file the manifest lists again
					p := filepath.Join(store.Dir(dataset), filepath.FromSlash(path.Clean(r.Path)))
					if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
						keep = append(keep, r)
						slog.Warn("compaction: delete retired file", "dataset", dataset, "path", r.Path, "err", err)
						continue
					}
					deleted++
				}
			}
			cur.Retired = keep
			return nil
		})
		if err != nil {
			return deleted, fmt.Errorf("sweep %s: %w", dataset, err)
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(store.Dir(dataset), "date=*", ".compact-*.tmp"))
	for _, t := range tmps {
		if st, err := os.Stat(t); err == nil && now.Sub(st.ModTime()) >= opt.Grace {
			os.Remove(t)
		}
	}
	return deleted, nil
}

// tryLock takes the dataset's compaction lock without waiting; busy when
// another compaction (this process or another) holds it.
func tryLock(store *datasets.Store, dataset string) (unlock func(), busy bool, err error) {
	dir := store.Dir(dataset)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("compact %s: %w", dataset, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".compact.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("compact %s: %w", dataset, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("compact %s: lock: %w", dataset, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck
		f.Close()
	}, false, nil
}

func openDuckDB(opt Options) (*sql.DB, error) {
	settings := []string{"SET TimeZone = 'UTC'", "SET temp_directory = " + quote(opt.TempDir)}
	if opt.Threads > 0 {
		settings = append(settings, fmt.Sprintf("SET threads = %d", opt.Threads))
	}
	if opt.MemoryLimit != "" {
		settings = append(settings, "SET memory_limit = "+quote(opt.MemoryLimit))
	}
	connector, err := duckdb.NewConnector("", func(ex driver.ExecerContext) error {
		for _, s := range settings {
			if _, err := ex.ExecContext(context.Background(), s, nil); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(connector), nil
}

func syncFile(p string) (int64, error) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("sync %s: %w", p, err)
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func sqlType(t datasets.Type) string {
	if t == datasets.JSON {
		return "VARCHAR"
	}
	return string(t)
}

func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quote renders a string literal for text Quarry produced (paths, settings).
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
