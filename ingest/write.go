package ingest

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/quarry/quarry/datasets"
)

// chunk is a run of buffered rows (indexes, in write order) of one day
// that goes to one part file.
type chunk struct {
	day  int32
	rows []int32
}

// writeBatch sorts the rows of a batch and writes them as part files
// (not yet committed), appending their entries to j.parts.
func (j *job) writeBatch(b *batch) error {
	if b.n == 0 {
		return nil
	}
	order := j.sortRows(b)
	var chunks []chunk
	for lo := 0; lo < len(order); {
		day := b.day[order[lo]]
		hi := lo
		for hi < len(order) && b.day[order[hi]] == day && hi-lo < j.opt.MaxRowsPerFile {
			hi++
		}
		chunks = append(chunks, chunk{day: day, rows: order[lo:hi]})
		lo = hi
	}

	entries := make([]datasets.FileEntry, len(chunks))
	done := make([]bool, len(chunks))
	work := make(chan int)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return firstErr != nil }
	workers := min(j.opt.Workers, len(chunks))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			row := j.rowPool.Get().(*datasets.Row)
			defer j.rowPool.Put(row)
			for ci := range work {
				if failed() {
					continue
				}
				e, err := j.writeChunk(b, &chunks[ci], row)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
				} else {
					entries[ci], done[ci] = e, true
				}
				mu.Unlock()
			}
		}()
	}
	for ci := range chunks {
		work <- ci
	}
	close(work)
	wg.Wait()
	j.partsMu.Lock()
	for ci, ok := range done {
		if ok {
			j.parts = append(j.parts, entries[ci])
		}
	}
	j.partsMu.Unlock()
	return firstErr
}

func (j *job) writeChunk(b *batch, c *chunk, row *datasets.Row) (datasets.FileEntry, error) {
	day := time.Unix(int64(c.day)*86400, 0).UTC().Format(datasets.DayLayout)
	pw, err := j.store.NewPart(j.d, day)
	if err != nil {
		return datasets.FileEntry{}, fmt.Errorf("%s: %w", j.name, err)
	}
	for k, i := range c.rows {
		if k&0xffff == 0xffff {
			if err := j.ctx.Err(); err != nil {
				pw.Abort()
				return datasets.FileEntry{}, &RowError{File: j.name, Reason: err.Error(), err: err}
			}
		}
		for ci := range b.cols {
			cb := &b.cols[ci]
			if !cb.valid[i] {
				row.Null(ci)
				continue
			}
			switch cb.typ {
			case datasets.Varchar, datasets.JSON:
				row.String(ci, bstr(cb.str(int(i))))
			case datasets.BigInt:
				row.Int64(ci, cb.i64[i])
			case datasets.Integer:
				row.Int32(ci, int32(cb.i64[i]))
			case datasets.Double:
				row.Float64(ci, cb.f64[i])
			case datasets.Boolean:
				row.Bool(ci, cb.bl[i])
			case datasets.Date:
				row.Date(ci, time.Unix(cb.i64[i]*86400, 0))
			case datasets.Timestamp:
				row.Time(ci, time.UnixMicro(cb.i64[i]))
			}
		}
		if err := pw.Write(row); err != nil {
			pw.Abort()
			return datasets.FileEntry{}, fmt.Errorf("%s: %w", j.name, err)
		}
	}
	e, err := pw.Close()
	if err != nil {
		return datasets.FileEntry{}, fmt.Errorf("%s: %w", j.name, err)
	}
	return e, nil
}

// sortRows returns the buffered row indexes ordered by day, then by the
// dataset's SortBy columns (NULLs last), then by input order.
func (j *job) sortRows(b *batch) []int32 {
	n := b.n
	keys := [][]int64{}
	dayKey := make([]int64, n)
	for i, d := range b.day[:n] {
		dayKey[i] = int64(d)
	}
	keys = append(keys, dayKey)
	for _, name := range j.d.SortBy {
		c, _ := j.d.Column(name)
		si, ok := j.res.stored[c]
		if !ok {
			continue
		}
		keys = append(keys, sortKey(&b.cols[si], n))
	}
	if order, ok := sortPacked(keys, n); ok {
		return order
	}
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	less := func(a, c int32) int {
		for _, k := range keys {
			if x, y := k[a], k[c]; x != y {
				return cmp.Compare(x, y)
			}
		}
		return cmp.Compare(a, c)
	}
	if !slices.IsSortedFunc(order, less) {
		slices.SortFunc(order, less)
	}
	return order
}

// sortPacked sorts when the keys, offset by their minimum, fit in two
// 64-bit words: each row becomes one small struct compared by value.
func sortPacked(keys [][]int64, n int) ([]int32, bool) {
	type packed struct {
		a, b uint64
		i    int32
	}
	var (
		word  [2][]int   // key indexes per word
		shift [2][]uint8 // shift of each key in its word
		used  [2]int
		mins  = make([]int64, len(keys))
	)
	w := 0
	for ki, k := range keys {
		lo, hi := k[0], k[0]
		for _, x := range k[:n] {
			lo = min(lo, x)
			hi = max(hi, x)
		}
		mins[ki] = lo
		span := uint64(hi) - uint64(lo)
		bits := 64 - leadingZeros(span)
		if used[w]+bits > 64 {
			w++
			if w == 2 {
				return nil, false
			}
		}
		used[w] += bits
		word[w] = append(word[w], ki)
		shift[w] = append(shift[w], uint8(64-used[w]))
	}
	if len(word[1]) == 0 {
		return radixOrder(keys, word[0], shift[0], mins, used[0], n), true
	}
	ps := make([]packed, n)
	for i := range ps {
		ps[i].i = int32(i)
	}
	for wi := 0; wi < 2; wi++ {
		for j, ki := range word[wi] {
			k, lo, sh := keys[ki], mins[ki], shift[wi][j]
			for i := 0; i < n; i++ {
				v := (uint64(k[i]) - uint64(lo)) << sh
				if wi == 0 {
					ps[i].a |= v
				} else {
					ps[i].b |= v
				}
			}
		}
	}
	c := func(x, y packed) int {
		if x.a != y.a {
			return cmp.Compare(x.a, y.a)
		}
		if x.b != y.b {
			return cmp.Compare(x.b, y.b)
		}
		return cmp.Compare(x.i, y.i)
	}
	if !slices.IsSortedFunc(ps, c) {
		slices.SortFunc(ps, c)
	}
	order := make([]int32, n)
	for i := range ps {
		order[i] = ps[i].i
	}
	return order, true
}

// radixOrder sorts the rows by one packed 64-bit key with a stable LSD
// radix sort (ties keep input order).
func radixOrder(keys [][]int64, word []int, shift []uint8, mins []int64, used, n int) []int32 {
	a := make([]uint64, n)
	for j, ki := range word {
		k, lo, sh := keys[ki], mins[ki], shift[j]
		for i := 0; i < n; i++ {
			a[i] |= (uint64(k[i]) - uint64(lo)) << sh
		}
	}
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	sorted := true
	for i := 1; i < n; i++ {
		if a[i] < a[i-1] {
			sorted = false
			break
		}
	}
	if sorted {
		return order
	}
	const digit = 11
	tmpA := make([]uint64, n)
	tmpO := make([]int32, n)
	var count [1 << digit]int
	for lo := 64 - used; lo < 64; lo += digit {
		clear(count[:])
		for _, x := range a {
			count[(x>>uint(lo))&(1<<digit-1)]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for i, x := range a {
			d := (x >> uint(lo)) & (1<<digit - 1)
			tmpA[count[d]] = x
			tmpO[count[d]] = order[i]
			count[d]++
		}
		a, tmpA = tmpA, a
		order, tmpO = tmpO, order
	}
	return order
}

func leadingZeros(x uint64) int { return bits.LeadingZeros64(x) }

// sortKey maps a column to int64 keys with the column's order (strings by
// their rank among the distinct values); NULL sorts last.
func sortKey(cb *colbuf, n int) []int64 {
	k := make([]int64, n)
	const null = math.MaxInt64
	switch cb.typ {
	case datasets.Varchar, datasets.JSON:
		ids := make(map[string]int64)
		var distinct []string
		for i := 0; i < n; i++ {
			if !cb.valid[i] {
				k[i] = null
				continue
			}
			s := cb.str(i)
			id, ok := ids[string(s)]
			if !ok {
				id = int64(len(distinct))
				distinct = append(distinct, string(s))
				ids[distinct[id]] = id
			}
			k[i] = id
		}
		rank := make([]int64, len(distinct))
		perm := make([]int, len(distinct))
		for i := range perm {
			perm[i] = i
		}
		sort.Slice(perm, func(a, c int) bool { return distinct[perm[a]] < distinct[perm[c]] })
		for r, id := range perm {
			rank[id] = int64(r)
		}
		for i := 0; i < n; i++ {
			if k[i] != null {
				k[i] = rank[k[i]]
			}
		}
	case datasets.Double:
		for i := 0; i < n; i++ {
			if !cb.valid[i] {
				k[i] = null
				continue
			}
			u := math.Float64bits(cb.f64[i])
			if u>>63 == 1 {
				u = ^u
			} else {
				u |= 1 << 63
			}
			k[i] = int64(u ^ (1 << 63))
			if k[i] == null {
				k[i]--
			}
		}
	case datasets.Boolean:
		for i := 0; i < n; i++ {
			switch {
			case !cb.valid[i]:
				k[i] = null
			case cb.bl[i]:
				k[i] = 1
			}
		}
	default:
		for i := 0; i < n; i++ {
			if !cb.valid[i] {
				k[i] = null
			} else {
				k[i] = cb.i64[i]
			}
		}
	}
	return k
}
