package datasets

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// DayLayout is how a partition day is spelled in paths and the manifest.
const DayLayout = "2006-01-02"

// FileEntry is one committed Parquet file of a dataset.
type FileEntry struct {
	Path  string `json:"path"` // relative to the dataset directory: date=YYYY-MM-DD/part-<id>.parquet
	Day   string `json:"day"`  // YYYY-MM-DD, the day of the time column of every row in the file
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
	// Schema is the 1-based index in Manifest.Schemas of the columns the
	// file holds; 0 when not recorded (a manifest written before schema
	// evolution): such a file is taken to hold the dataset's stored columns.
	Schema int `json:"schema,omitempty"`
}

// SchemaColumn is one column of a Parquet file as the manifest records it.
type SchemaColumn struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
}

// FileSchema is the list of columns one or more files hold, in file order.
type FileSchema struct {
	Columns []SchemaColumn `json:"columns"`
}

func (s FileSchema) key() string {
	var b strings.Builder
	for _, c := range s.Columns {
		b.WriteString(c.Name)
		b.WriteByte(' ')
		b.WriteString(string(c.Type))
		b.WriteByte(',')
	}
	return b.String()
}

// RetiredFile is a file a compaction took out of the manifest. It stays on
// disk until Retired is older than the grace period, so a query that
// planned with an older manifest can still read it.
type RetiredFile struct {
	Path    string    `json:"path"`
	Retired time.Time `json:"retired"`
}

// Manifest lists the files of one dataset that queries may read. A file
// becomes visible when a new manifest naming it is renamed into place.
type Manifest struct {
	Dataset string      `json:"dataset"`
	Version int64       `json:"version"`
	Files   []FileEntry `json:"files"` // sorted by Day, then Path
	// Schemas holds the distinct column lists of the files (FileEntry.Schema).
	Schemas []FileSchema `json:"schemas,omitempty"`
	// Retired lists files removed by compaction and not yet deleted.
	Retired []RetiredFile `json:"retired,omitempty"`
}

// FileColumns returns the columns recorded for a file, or nil when the
// manifest does not record them (the file holds the dataset's stored
// columns as they were when it was written).
func (m *Manifest) FileColumns(f FileEntry) []SchemaColumn {
	if f.Schema <= 0 || f.Schema > len(m.Schemas) {
		return nil
	}
	return m.Schemas[f.Schema-1].Columns
}

// Rows is the total number of rows in the manifest.
func (m *Manifest) Rows() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Rows
	}
	return n
}

// Window returns the files whose day lies in [start, end) truncated to
// days; a nil bound is open. Files are returned in day order.
func (m *Manifest) Window(start, end *time.Time) []FileEntry {
	lo, hi := "", "9999-12-31"
	if start != nil {
		lo = start.UTC().Format(DayLayout)
	}
	if end != nil {
		e := end.UTC()
		// end is exclusive: a bound at midnight excludes that day.
		if e.Equal(e.Truncate(24 * time.Hour)) {
			e = e.Add(-time.Nanosecond)
		}
		hi = e.Format(DayLayout)
	}
	i := sort.Search(len(m.Files), func(i int) bool { return m.Files[i].Day >= lo })
	var out []FileEntry
	for ; i < len(m.Files) && m.Files[i].Day <= hi; i++ {
		out = append(out, m.Files[i])
	}
	return out
}

// Days returns the first and last partition day, or "" when empty.
func (m *Manifest) Days() (first, last string) {
	if len(m.Files) == 0 {
		return "", ""
	}
	return m.Files[0].Day, m.Files[len(m.Files)-1].Day
}

// Store is the on-disk home of the datasets: <root>/<dataset>/….
// It caches manifests and reloads one when its file changes.
type Store struct {
	Root string

	mu    sync.Mutex
	cache map[string]cachedManifest
}

type cachedManifest struct {
	mod  time.Time
	size int64
	ino  uint64
	m    *Manifest
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

// NewStore opens the datasets directory under dataDir.
func NewStore(dataDir string) *Store {
	return &Store{Root: filepath.Join(dataDir, "datasets"), cache: map[string]cachedManifest{}}
}

// Dir is the directory of a dataset.
func (s *Store) Dir(dataset string) string { return filepath.Join(s.Root, dataset) }

func (s *Store) manifestPath(dataset string) string {
	return filepath.Join(s.Dir(dataset), "_manifest.json")
}

// Abs turns a manifest path into an absolute file path.
func (s *Store) Abs(dataset string, f FileEntry) string {
	return filepath.Join(s.Dir(dataset), filepath.FromSlash(f.Path))
}

// Manifest returns the current manifest of a dataset (empty when it has
// no files yet). The returned value must not be modified.
func (s *Store) Manifest(dataset string) (*Manifest, error) {
	p := s.manifestPath(dataset)
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return &Manifest{Dataset: dataset}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", dataset, err)
	}
	s.mu.Lock()
	c, ok := s.cache[dataset]
	s.mu.Unlock()
	// Every commit renames a new file into place, so the inode tells two
	// manifests apart even within one mtime tick.
	if ok && c.mod.Equal(st.ModTime()) && c.size == st.Size() && c.ino == inode(st) {
		return c.m, nil
	}
	m, err := readManifest(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cache[dataset] = cachedManifest{mod: st.ModTime(), size: st.Size(), ino: inode(st), m: m}
	s.mu.Unlock()
	return m, nil
}

func readManifest(p string) (*Manifest, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", p, err)
	}
	return &m, nil
}

// Commit atomically adds files to (and removes paths from) a dataset's
// manifest. Writers of one dataset are serialised by a file lock, so
// several processes may commit at once. The columns of every added file
// are read from its Parquet footer (before the lock is taken) and
// recorded in the manifest.
func (s *Store) Commit(dataset string, add []FileEntry, remove []string) error {
	known := make(map[string]FileSchema, len(add))
	for _, f := range add {
		if fs, err := ReadFileSchema(s.Abs(dataset, f)); err == nil {
			known[f.Path] = fs
		}
	}
	return s.update(dataset, known, func(m *Manifest) error {
		drop := make(map[string]bool, len(remove))
		for _, r := range remove {
			drop[r] = true
		}
		files := make([]FileEntry, 0, len(m.Files)+len(add))
		for _, f := range m.Files {
			if !drop[f.Path] {
				files = append(files, f)
			}
		}
		m.Files = append(files, add...)
		return nil
	})
}

// Update runs fn on a copy of a dataset's current manifest under the
// dataset's commit lock and, when fn returns nil, commits the result as
// the next version. fn may change Files and Retired. FileEntry.Schema is
// 0 inside fn and recomputed after it: a file already in the manifest
// keeps its recorded columns, any other file's are read from its footer.
// Nothing is written when fn returns an error, which Update returns.
func (s *Store) Update(dataset string, fn func(m *Manifest) error) error {
	return s.update(dataset, nil, fn)
}

func (s *Store) update(dataset string, known map[string]FileSchema, fn func(m *Manifest) error) error {
	dir := s.Dir(dataset)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("commit %s: %w", dataset, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".manifest.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("commit %s: %w", dataset, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("commit %s: lock: %w", dataset, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck

	m := &Manifest{Dataset: dataset}
	p := s.manifestPath(dataset)
	if _, err := os.Stat(p); err == nil {
		if m, err = readManifest(p); err != nil {
			return err
		}
	}
	// The schema table is rebuilt from the files that remain, so remember
	// each recorded file's columns by path.
	cols := make(map[string]FileSchema, len(m.Files))
	for _, f := range m.Files {
		if c := m.FileColumns(f); c != nil {
			cols[f.Path] = FileSchema{Columns: c}
		}
	}
	work := &Manifest{Dataset: dataset, Version: m.Version,
		Files:   append([]FileEntry(nil), m.Files...),
		Retired: append([]RetiredFile(nil), m.Retired...)}
	for i := range work.Files {
		work.Files[i].Schema = 0
	}
	if err := fn(work); err != nil {
		return err
	}
	next := &Manifest{Dataset: dataset, Version: m.Version + 1, Files: work.Files, Retired: work.Retired}
	sort.Slice(next.Files, func(i, j int) bool {
		if next.Files[i].Day != next.Files[j].Day {
			return next.Files[i].Day < next.Files[j].Day
		}
		return next.Files[i].Path < next.Files[j].Path
	})
	index := map[string]int{}
	for i := range next.Files {
		f := &next.Files[i]
		fs, ok := cols[f.Path]
		if !ok {
			fs, ok = known[f.Path]
		}
		if !ok {
			// Added without a known schema, or recorded by an older Quarry:
			// read the footer once so the manifest knows from now on.
			var err error
			if fs, err = ReadFileSchema(s.Abs(dataset, *f)); err != nil {
				slog.Warn("manifest: columns of a file not recorded", "dataset", dataset, "path", f.Path, "err", err)
				f.Schema = 0
				continue
			}
		}
		k := fs.key()
		n, seen := index[k]
		if !seen {
			next.Schemas = append(next.Schemas, fs)
			n = len(next.Schemas)
			index[k] = n
		}
		f.Schema = n
	}
	b, err := json.MarshalIndent(next, "", " ")
	if err != nil {
		return fmt.Errorf("commit %s: %w", dataset, err)
	}
	if err := WriteFileAtomic(p, b); err != nil {
		return fmt.Errorf("commit %s: %w", dataset, err)
	}
	return nil
}

// WriteFileAtomic writes b to path through a temporary file in the same
// directory, fsyncs it, renames it into place and fsyncs the directory.
func WriteFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so a rename inside it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadFileSchema reads the columns of a Parquet file from its footer.
func ReadFileSchema(path string) (FileSchema, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileSchema{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return FileSchema{}, err
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return FileSchema{}, fmt.Errorf("footer of %s: %w", path, err)
	}
	var fs FileSchema
	for _, fld := range pf.Schema().Fields() {
		fs.Columns = append(fs.Columns, SchemaColumn{Name: fld.Name(), Type: typeOfNode(fld)})
	}
	return fs, nil
}

// typeOfNode maps a Parquet column to the catalog type it stores. JSON
// columns are stored as strings and read back as VARCHAR.
func typeOfNode(n parquet.Node) Type {
	if !n.Leaf() {
		return "STRUCT"
	}
	t := n.Type()
	var lt format.LogicalTypeValue
	if l := t.LogicalType(); l != nil {
		lt = l.Value
	}
	switch t.Kind() {
	case parquet.Boolean:
		return Boolean
	case parquet.Int32:
		if _, ok := lt.(*format.DateType); ok {
			return Date
		}
		if it, ok := lt.(*format.IntType); ok && it.BitWidth < 32 {
			return Type(fmt.Sprintf("INT%d", it.BitWidth))
		}
		return Integer
	case parquet.Int64:
		if _, ok := lt.(*format.TimestampType); ok {
			return Timestamp
		}
		return BigInt
	case parquet.Double:
		return Double
	case parquet.Float:
		return "FLOAT"
	case parquet.ByteArray:
		return Varchar
	default:
		return Type(t.Kind().String())
	}
}

// SameType reports whether files holding a column of type file can be read
// as the catalog type want (JSON is stored as VARCHAR).
func SameType(want, file Type) bool {
	norm := func(t Type) Type {
		if t == JSON {
			return Varchar
		}
		return t
	}
	return norm(want) == norm(file)
}
