//go:build duckdb_arrow

package engine

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/quarry/quarry/datasets"
)

// ZipEntry is one file to put in a zip archive: Path on disk, stored in
// the archive as Name.
type ZipEntry struct {
	Name string
	Path string
}

// WriteZip writes a zip archive at path holding the entries, stored
// without recompression (result parts are gzipped already, so deflating
// them again would cost time and save nothing). Like every file Quarry
// writes, the archive is written under a temporary name, fsynced and
// renamed to path only when complete. It returns the archive's size.
func WriteZip(path string, entries []ZipEntry, modified time.Time) (int64, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("zip: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	zw := zip.NewWriter(tmp)
	for _, e := range entries {
		if err := addStored(zw, e, modified); err != nil {
			return 0, fmt.Errorf("zip: %s: %w", e.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("zip: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("zip: sync: %w", err)
	}
	st, err := tmp.Stat()
	if err != nil {
		return 0, fmt.Errorf("zip: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("zip: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("zip: %w", err)
	}
	ok = true
	if err := datasets.SyncDir(dir); err != nil {
		return 0, fmt.Errorf("zip: %w", err)
	}
	return st.Size(), nil
}

func addStored(zw *zip.Writer, e ZipEntry, modified time.Time) error {
	f, err := os.Open(e.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := &zip.FileHeader{Name: e.Name, Method: zip.Store, Modified: modified.UTC()}
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}
