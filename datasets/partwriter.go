package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// dictionaryMaxBytes bounds a column's dictionary per row group.
const dictionaryMaxBytes = 32 << 10

// pageBufferSize is the target size of a data page; the dictionary limit
// is checked when a page is flushed, so small pages let a column of unique
// values switch to PLAIN early in each row group.
const pageBufferSize = 64 << 10

// RowGroupSize is the number of rows per Parquet row group: small enough
// that row-group statistics prune well for one tenant's rows, large enough
// to scan fast (ARCHITECTURE.md's layout table).
const RowGroupSize = 16384

// ParquetSchema is the Parquet schema of a dataset's stored columns.
// Every column is optional (nullable); DATE is INT32 days, TIMESTAMP is
// INT64 microseconds not adjusted to UTC (DuckDB reads it as TIMESTAMP;
// Quarry keeps every time in UTC).
func ParquetSchema(d *Dataset) *parquet.Schema {
	g := parquet.Group{}
	for _, c := range d.Stored() {
		g[c.Name] = parquet.Optional(parquetNode(c.Type))
	}
	return parquet.NewSchema(d.Name, g)
}

func parquetNode(t Type) parquet.Node {
	switch t {
	case BigInt:
		return parquet.Int(64)
	case Integer:
		return parquet.Int(32)
	case Double:
		return parquet.Leaf(parquet.DoubleType)
	case Boolean:
		return parquet.Leaf(parquet.BooleanType)
	case Date:
		return parquet.Date()
	case Timestamp:
		return parquet.TimestampAdjusted(parquet.Microsecond, false)
	default: // VARCHAR, JSON
		return parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
	}
}

// Row holds one row of a dataset's stored columns, addressed by the
// column's index in Dataset.Stored(). Set every column (or leave it NULL)
// and pass it to PartWriter.Write; a Row is reused across writes.
type Row struct {
	vals parquet.Row
	leaf []int // stored index -> leaf (file) column index
}

// NewRow returns an all-NULL row for the dataset.
func NewRow(d *Dataset) *Row {
	s := ParquetSchema(d)
	leafOf := map[string]int{}
	for i, f := range s.Fields() {
		leafOf[f.Name()] = i
	}
	st := d.Stored()
	r := &Row{vals: make(parquet.Row, len(st)), leaf: make([]int, len(st))}
	for i, c := range st {
		r.leaf[i] = leafOf[c.Name]
	}
	r.Reset()
	return r
}

// Reset sets every column to NULL.
func (r *Row) Reset() {
	for i := range r.vals {
		r.vals[i] = parquet.NullValue().Level(0, 0, i)
	}
}

func (r *Row) set(col int, v parquet.Value) {
	l := r.leaf[col]
	r.vals[l] = v.Level(0, 1, l)
}

// Null sets a column to NULL.
func (r *Row) Null(col int) { l := r.leaf[col]; r.vals[l] = parquet.NullValue().Level(0, 0, l) }

// String sets a VARCHAR or JSON column. The value refers to the string's
// bytes without copying them (Go strings are immutable and the Parquet
// writer copies the bytes into its pages).
func (r *Row) String(col int, s string) {
	r.set(col, parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s))))
}

// Int64 sets a BIGINT column.
func (r *Row) Int64(col int, v int64) { r.set(col, parquet.Int64Value(v)) }

// Int32 sets an INTEGER column.
func (r *Row) Int32(col int, v int32) { r.set(col, parquet.Int32Value(v)) }

// Float64 sets a DOUBLE column.
func (r *Row) Float64(col int, v float64) { r.set(col, parquet.DoubleValue(v)) }

// Bool sets a BOOLEAN column.
func (r *Row) Bool(col int, v bool) { r.set(col, parquet.BooleanValue(v)) }

// Date sets a DATE column to the UTC day of t.
func (r *Row) Date(col int, t time.Time) {
	days := t.UTC().Unix() / 86400
	if t.Unix() < 0 && t.Unix()%86400 != 0 {
		days-- // floor, not truncation, before 1970
	}
	r.set(col, parquet.Int32Value(int32(days)))
}

// Time sets a TIMESTAMP column (microsecond precision, UTC).
func (r *Row) Time(col int, t time.Time) { r.set(col, parquet.Int64Value(t.UTC().UnixMicro())) }

// PartWriter writes one Parquet file of one day partition. The file is
// written under a temporary name and appears under its final name only
// when Close succeeds; it becomes visible to queries only when the
// returned FileEntry is committed to the manifest.
type PartWriter struct {
	store   *Store
	dataset string
	entry   FileEntry
	tmp     string
	final   string
	f       *os.File
	w       *parquet.Writer
	batch   []parquet.Row // batch[:n] holds the pending rows; slots are reused
	n       int
	rows    int64
}

// NewPart starts a new part file for dataset d and day (YYYY-MM-DD).
func (s *Store) NewPart(d *Dataset, day string) (*PartWriter, error) {
	if _, err := time.Parse(DayLayout, day); err != nil {
		return nil, fmt.Errorf("new part of %s: bad day %q: %w", d.Name, day, err)
	}
	rel := "date=" + day + "/part-" + uuid.NewString() + ".parquet"
	final := filepath.Join(s.Dir(d.Name), filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return nil, fmt.Errorf("new part of %s: %w", d.Name, err)
	}
	tmp := filepath.Join(filepath.Dir(final), "."+filepath.Base(final)+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("new part of %s: %w", d.Name, err)
	}
	w := parquet.NewWriter(f, ParquetSchema(d),
		parquet.MaxRowsPerRowGroup(RowGroupSize),
		parquet.Compression(fastSnappy{}),
		// A string column whose values repeat (offer types, proxies) is
		// dictionary-encoded; one whose values are unique (message ids,
		// signatures, JSON) outgrows this and switches to PLAIN for the rest
		// of the row group instead of paying for a useless dictionary.
		parquet.DictionaryMaxBytes(dictionaryMaxBytes),
		parquet.PageBufferSize(pageBufferSize),
		parquet.CreatedBy("quarry", "0", ""),
	)
	return &PartWriter{store: s, dataset: d.Name, entry: FileEntry{Path: rel, Day: day},
		tmp: tmp, final: final, f: f, w: w}, nil
}

// writeBatch is how many rows Write buffers before handing them to the
// Parquet writer.
const writeBatch = 1024

// Write appends one row (copied; r may be reused). The values are copied
// shallowly into a reused slot: a byte-array value refers to memory no
// setter ever changes afterwards, so no deep copy is needed.
func (p *PartWriter) Write(r *Row) error {
	if p.n == len(p.batch) {
		p.batch = append(p.batch, make(parquet.Row, len(r.vals)))
	}
	slot := p.batch[p.n]
	if len(slot) != len(r.vals) {
		slot = make(parquet.Row, len(r.vals))
		p.batch[p.n] = slot
	}
	copy(slot, r.vals)
	p.n++
	p.rows++
	if p.n >= writeBatch {
		return p.flushBatch()
	}
	return nil
}

func (p *PartWriter) flushBatch() error {
	if p.n == 0 {
		return nil
	}
	if _, err := p.w.WriteRows(p.batch[:p.n]); err != nil {
		return fmt.Errorf("write %s: %w", p.tmp, err)
	}
	// Drop the references so the pending strings can be collected.
	for _, row := range p.batch[:p.n] {
		clear(row)
	}
	p.n = 0
	return nil
}

// Rows is the number of rows written so far.
func (p *PartWriter) Rows() int64 { return p.rows }

// Close finishes the file, fsyncs it and renames it to its final name.
func (p *PartWriter) Close() (FileEntry, error) {
	if err := p.flushBatch(); err != nil {
		p.Abort()
		return FileEntry{}, err
	}
	if err := p.w.Close(); err != nil {
		p.Abort()
		return FileEntry{}, fmt.Errorf("close %s: %w", p.tmp, err)
	}
	if err := p.f.Sync(); err != nil {
		p.Abort()
		return FileEntry{}, fmt.Errorf("sync %s: %w", p.tmp, err)
	}
	st, err := p.f.Stat()
	if err != nil {
		p.Abort()
		return FileEntry{}, err
	}
	if err := p.f.Close(); err != nil {
		os.Remove(p.tmp)
		return FileEntry{}, err
	}
	if err := os.Rename(p.tmp, p.final); err != nil {
		os.Remove(p.tmp)
		return FileEntry{}, fmt.Errorf("publish %s: %w", p.final, err)
	}
	if err := SyncDir(filepath.Dir(p.final)); err != nil {
		return FileEntry{}, err
	}
	p.entry.Rows = p.rows
	p.entry.Bytes = st.Size()
	return p.entry, nil
}

// Abort discards the file.
func (p *PartWriter) Abort() {
	p.f.Close()
	os.Remove(p.tmp)
}

// fastSnappy is the SNAPPY Parquet codec using S2's fastest snappy-compatible
// encoder. parquet-go's own codec calls klauspost's snappy.Encode, which
// uses the slower "better" mode; on ingest that alone was 13% of the CPU.
type fastSnappy struct{}

func (fastSnappy) String() string                            { return "SNAPPY" }
func (fastSnappy) CompressionCodec() format.CompressionCodec { return format.Snappy }
func (fastSnappy) Encode(dst, src []byte) ([]byte, error) {
	return s2.EncodeSnappy(dst[:cap(dst)], src), nil
}
func (fastSnappy) Decode(dst, src []byte) ([]byte, error) { return s2.Decode(dst[:cap(dst)], src) }
