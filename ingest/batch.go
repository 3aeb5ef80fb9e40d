package ingest

import (
	"fmt"

	"github.com/quarry/quarry/datasets"
)

// resolver maps input column names to stored column indexes.
type resolver struct {
	d      *datasets.Dataset
	stored map[*datasets.Column]int
	names  []string // every column name and alias, for suggestions
	cache  map[string]colRef
}

type colRef struct {
	idx    int    // stored index, or -1
	col    string // catalog spelling (or the name as written when unknown)
	reason string // why the name is rejected
}

func newResolver(d *datasets.Dataset, cols []*datasets.Column) *resolver {
	r := &resolver{d: d, stored: map[*datasets.Column]int{}, cache: map[string]colRef{}}
	for i, c := range cols {
		r.stored[c] = i
	}
	for _, c := range d.Columns {
		r.names = append(r.names, c.Name)
		r.names = append(r.names, c.Aliases...)
	}
	return r
}

// resolve looks a column name up; the cache is keyed by the exact bytes,
// so the common case costs one map lookup without allocation.
func (r *resolver) resolve(name []byte) colRef {
	if ref, ok := r.cache[string(name)]; ok {
		return ref
	}
	s := string(name)
	ref := r.lookup(s)
	if len(r.cache) < 4096 {
		r.cache[s] = ref
	}
	return ref
}

func (r *resolver) lookup(s string) colRef {
	c, ok := r.d.Column(s)
	if !ok {
		reason := "unknown column in dataset " + r.d.Name
		if best := datasets.Closest(s, r.names); best != "" {
			if c2, ok := r.d.Column(best); ok {
				best = c2.Name
			}
			reason += fmt.Sprintf("; did you mean %q?", best)
		}
		return colRef{idx: -1, col: s, reason: reason}
	}
	if c.Derived() {
		return colRef{idx: -1, col: c.Name, reason: fmt.Sprintf("is derived from %s; remove it", c.Expr)}
	}
	return colRef{idx: r.stored[c], col: c.Name}
}

// colbuf holds one stored column of the buffered rows.
type colbuf struct {
	c     *datasets.Column
	typ   datasets.Type
	valid []bool
	i64   []int64   // BIGINT, INTEGER, DATE (days), TIMESTAMP (µs)
	f64   []float64 // DOUBLE
	bl    []bool    // BOOLEAN
	off   []int     // VARCHAR, JSON: end offset of each row's value in data
	data  []byte
}

func (cb *colbuf) isString() bool { return cb.typ == datasets.Varchar || cb.typ == datasets.JSON }

func (cb *colbuf) str(i int) []byte {
	s := 0
	if i > 0 {
		s = cb.off[i-1]
	}
	return cb.data[s:cb.off[i]]
}

func (cb *colbuf) reset() { cb.data = cb.data[:0] }

// batch buffers rows column-wise until they are sorted and written.
type batch struct {
	d      *datasets.Dataset
	cols   []colbuf
	n      int     // complete rows
	day    []int32 // UTC day (days since 1970-01-01) of each complete row
	time   int     // stored index of the time column
	tenant int     // stored index of the tenant column, or -1
	seen   []int   // seen[c] == n+1 when column c was set in the current row
}

func newBatch(d *datasets.Dataset, cols []*datasets.Column) *batch {
	b := &batch{d: d, cols: make([]colbuf, len(cols)), seen: make([]int, len(cols)), tenant: -1}
	tc := d.Time()
	var ten *datasets.Column
	if d.TenantColumn != "" {
		ten, _ = d.Column(d.TenantColumn)
	}
	for i, c := range cols {
		b.cols[i] = colbuf{c: c, typ: c.Type}
		if c == tc {
			b.time = i
		}
		if c == ten {
			b.tenant = i
		}
	}
	return b
}

// startRow starts an all-NULL row at index n.
func (b *batch) startRow() {
	if b.n == len(b.day) {
		b.grow()
	}
	n := b.n
	for i := range b.cols {
		cb := &b.cols[i]
		cb.valid[n] = false
		if cb.off != nil {
			cb.off[n] = len(cb.data)
		}
	}
}

// grow makes room for more rows; every per-row slice has len == capacity.
func (b *batch) grow() {
	c := max(2*len(b.day), 16384)
	b.day = growTo(b.day, c)
	for i := range b.cols {
		cb := &b.cols[i]
		cb.valid = growTo(cb.valid, c)
		switch cb.typ {
		case datasets.Varchar, datasets.JSON:
			cb.off = growTo(cb.off, c)
		case datasets.Double:
			cb.f64 = growTo(cb.f64, c)
		case datasets.Boolean:
			cb.bl = growTo(cb.bl, c)
		default:
			cb.i64 = growTo(cb.i64, c)
		}
	}
}

func growTo[T any](s []T, n int) []T {
	out := make([]T, n)
	copy(out, s)
	return out
}

// appendRow copies complete row i of src to a new row of b.
func (b *batch) appendRow(src *batch, i int) {
	b.startRow()
	n := b.n
	for c := range b.cols {
		s, d := &src.cols[c], &b.cols[c]
		if !s.valid[i] {
			continue
		}
		d.valid[n] = true
		switch d.typ {
		case datasets.Varchar, datasets.JSON:
			d.data = append(d.data, s.str(i)...)
			d.off[n] = len(d.data)
		case datasets.Double:
			d.f64[n] = s.f64[i]
		case datasets.Boolean:
			d.bl[n] = s.bl[i]
		default:
			d.i64[n] = s.i64[i]
		}
	}
	b.day[n] = src.day[i]
	b.n++
}

// moveLast moves the last complete row of src to a new row of b.
func (b *batch) moveLast(src *batch) {
	b.appendRow(src, src.n-1)
	src.n--
}

// set stores v in column c of the current row; it returns a reason when
// the value does not fit.
func (b *batch) set(c int, v *value) string {
	if b.seen[c] == b.n+1 {
		return "given twice in one row"
	}
	b.seen[c] = b.n + 1
	cb := &b.cols[c]
	if v.k == vNull {
		if c == b.time {
			return "is NULL; the time column is required"
		}
		if c == b.tenant {
			return "is NULL; the tenant column is required"
		}
		if !cb.c.Nullable {
			return "is NULL but the column is not nullable"
		}
		return ""
	}
	return cb.convert(b.n, v)
}

// endRow checks the required columns of the current row and completes it.
// It returns the column and reason of a problem.
func (b *batch) endRow() (string, string) {
	if !b.cols[b.time].valid[b.n] {
		return b.cols[b.time].c.Name, "missing; the time column is required"
	}
	if b.tenant >= 0 && !b.cols[b.tenant].valid[b.n] {
		return b.cols[b.tenant].c.Name, "missing; the tenant column is required"
	}
	tc := &b.cols[b.time]
	t := tc.i64[b.n]
	if tc.typ == datasets.Timestamp {
		t = floorDiv(t, microsPerDay)
	}
	b.day[b.n] = int32(t)
	b.n++
	return "", ""
}

// discard drops the current, incomplete row (a rejected row when bad rows
// are skipped): its string bytes, its values and its seen marks.
func (b *batch) discard() {
	n := b.n
	if n >= len(b.day) {
		return // the row was never started
	}
	for i := range b.cols {
		cb := &b.cols[i]
		cb.valid[n] = false
		if cb.off != nil {
			start := 0
			if n > 0 {
				start = cb.off[n-1]
			}
			cb.data = cb.data[:start]
			cb.off[n] = start
		}
		if b.seen[i] == n+1 {
			b.seen[i] = 0
		}
	}
}

func (b *batch) reset() {
	for i := range b.cols {
		b.cols[i].reset()
	}
	b.n = 0
	for i := range b.seen {
		b.seen[i] = 0
	}
}
