package datasets

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
)

// DayLayout is how a partition day is spelled in paths and the manifest.
const DayLayout = "2006-01-02"

// FileEntry is one committed Parquet file of a dataset.
type FileEntry struct {
	Path  string `json:"path"` // relative to the dataset directory: date=YYYY-MM-DD/part-<id>.parquet
	Day   string `json:"day"`  // YYYY-MM-DD, the day of the time column of every row in the file
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Manifest lists the files of one dataset that queries may read. A file
// becomes visible when a new manifest naming it is renamed into place.
type Manifest struct {
	Dataset string      `json:"dataset"`
	Version int64       `json:"version"`
	Files   []FileEntry `json:"files"` // sorted by Day, then Path
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
	m    *Manifest
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
	if ok && c.mod.Equal(st.ModTime()) && c.size == st.Size() {
		return c.m, nil
	}
	m, err := readManifest(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cache[dataset] = cachedManifest{mod: st.ModTime(), size: st.Size(), m: m}
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
// several processes may commit at once.
func (s *Store) Commit(dataset string, add []FileEntry, remove []string) error {
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
	files = append(files, add...)
	sort.Slice(files, func(i, j int) bool {
		if files[i].Day != files[j].Day {
			return files[i].Day < files[j].Day
		}
		return files[i].Path < files[j].Path
	})
	next := &Manifest{Dataset: dataset, Version: m.Version + 1, Files: files}
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
