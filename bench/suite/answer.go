//go:build duckdb_arrow

package suite

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/quarry/quarry/engine"
)

// Answer is a canonical summary of a result: its shape, an
// order-independent checksum of its rows (the sum of each canonical row's
// hash, so equal multisets of rows have equal sums whatever order they
// came in), the hashes of every row (for subset checks), and for small
// results the sorted rows themselves (for a comparison with float
// tolerance when the checksums differ).
//
// Canonical values: every number (integer, float, decimal, numeric text)
// is a float64 printed with 9 significant digits; every time or date (or
// text that parses as one) is UTC "2006-01-02 15:04:05.000000"; booleans
// are 1/0; NULL is \N; anything else is its text.
type Answer struct {
	Cols   int
	Rows   int64
	Sum    uint64
	hashes map[uint64]int32
	rows   [][]cell // when Rows <= keepRows
}

const (
	keepRows   = 20_000
	keepHashes = 5_000_000
	floatTol   = 1e-6
)

type cell struct {
	s   string
	f   float64
	num bool
	sec int // for a time: the length of its text to the second
}

// Checksum is the answer's checksum as text.
func (a *Answer) Checksum() string { return fmt.Sprintf("%016x", a.Sum) }

// collector builds an Answer from rows.
type collector struct {
	a   Answer
	buf strings.Builder
}

func newCollector() *collector { return &collector{a: Answer{Cols: -1, hashes: map[uint64]int32{}}} }

func (c *collector) add(row []any) {
	if c.a.Cols < 0 {
		c.a.Cols = len(row)
	}
	cells := make([]cell, len(row))
	c.buf.Reset()
	for i, v := range row {
		cells[i] = canon(v)
		if i > 0 {
			c.buf.WriteByte('\x1f')
		}
		c.buf.WriteString(cells[i].s)
	}
	h := fnv.New64a()
	h.Write([]byte(c.buf.String()))
	sum := h.Sum64()
	c.a.Sum += sum
	c.a.Rows++
	if c.a.hashes != nil {
		// previews (HTTP APIs that print times to the second) are checked
		// at second precision
		c.buf.Reset()
		for i, x := range cells {
			if i > 0 {
				c.buf.WriteByte('\x1f')
			}
			if x.sec > 0 {
				c.buf.WriteString(x.s[:x.sec])
			} else {
				c.buf.WriteString(x.s)
			}
		}
		h.Reset()
		h.Write([]byte(c.buf.String()))
		c.a.hashes[h.Sum64()]++
		if len(c.a.hashes) > keepHashes {
			c.a.hashes = nil
		}
	}
	if c.a.Rows <= keepRows {
		c.a.rows = append(c.a.rows, cells)
	} else {
		c.a.rows = nil
	}
}

func (c *collector) answer() *Answer {
	a := c.a
	if a.Cols < 0 {
		a.Cols = 0
	}
	sort.Slice(a.rows, func(i, j int) bool { return rowKey(a.rows[i]) < rowKey(a.rows[j]) })
	return &a
}

func rowKey(r []cell) string {
	var b strings.Builder
	for i, c := range r {
		if i > 0 {
			b.WriteByte('\x1f')
		}
		if c.num {
			// sort numbers by a coarser rounding so that neighbours within
			// the tolerance sort alike
			b.WriteString(strconv.FormatFloat(c.f, 'g', 5, 64))
		} else {
			b.WriteString(c.s)
		}
	}
	return b.String()
}

// compare checks got against want (DuckDB direct's answer). limit > 0
// means got is at most the first limit rows of a result (a preview): it
// must hold min(limit, want.Rows) rows, each one of want's.
func compare(got, want *Answer, limit int64) error {
	if got.Rows > 0 && want.Rows > 0 && got.Cols != want.Cols {
		return fmt.Errorf("%d columns, DuckDB direct has %d", got.Cols, want.Cols)
	}
	if limit > 0 {
		n := min(limit, want.Rows)
		if got.Rows != n {
			return fmt.Errorf("%d rows, want the first %d of DuckDB direct's %d", got.Rows, n, want.Rows)
		}
		if got.rows != nil && want.rows != nil {
			// each preview row must be one of the answer's, within the float
			// tolerance and to the second
			for i, r := range got.rows {
				found := false
				for _, w := range want.rows {
					if equalRowsPreview(r, w) == nil {
						found = true
						break
					}
				}
				if !found {
					return fmt.Errorf("sorted preview row %d is not one of DuckDB direct's rows", i+1)
				}
			}
			return nil
		}
		if want.hashes == nil {
			return nil
		}
		for h := range got.hashes {
			if want.hashes[h] == 0 {
				return fmt.Errorf("a row that DuckDB direct's answer does not hold")
			}
		}
		return nil
	}
	if got.Rows != want.Rows {
		return fmt.Errorf("%d rows, DuckDB direct has %d", got.Rows, want.Rows)
	}
	if got.Sum == want.Sum {
		return nil
	}
	if got.rows == nil || want.rows == nil {
		return fmt.Errorf("checksum %s, DuckDB direct has %s (%d rows, too many to compare one by one)",
			got.Checksum(), want.Checksum(), got.Rows)
	}
	for i := range got.rows {
		if err := equalRows(got.rows[i], want.rows[i]); err != nil {
			return fmt.Errorf("sorted row %d: %w", i+1, err)
		}
	}
	return nil
}

func equalRows(a, b []cell) error { return equalCells(a, b, false) }

func equalRowsPreview(a, b []cell) error { return equalCells(a, b, true) }

func equalCells(a, b []cell, seconds bool) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d columns vs %d", len(a), len(b))
	}
	for j := range a {
		x, y := a[j], b[j]
		if seconds && x.sec > 0 && y.sec > 0 {
			x.s, y.s = x.s[:x.sec], y.s[:y.sec]
		}
		switch {
		case x.num && y.num:
			d := math.Abs(x.f - y.f)
			if d > floatTol*math.Max(1, math.Max(math.Abs(x.f), math.Abs(y.f))) {
				return fmt.Errorf("column %d: %s vs DuckDB direct's %s", j+1, x.s, y.s)
			}
		case x.s != y.s:
			return fmt.Errorf("column %d: %q vs DuckDB direct's %q", j+1, x.s, y.s)
		}
	}
	return nil
}

const timeLayout = "2006-01-02 15:04:05.000000"

func timeCell(t time.Time) cell {
	return cell{s: t.UTC().Format(timeLayout), sec: len("2006-01-02 15:04:05")}
}

func num(f float64) cell {
	if f == 0 {
		f = 0 // no -0
	}
	return cell{s: strconv.FormatFloat(f, 'g', 9, 64), f: f, num: true}
}

// canon is a value's canonical cell.
func canon(v any) cell {
	switch x := v.(type) {
	case nil:
		return cell{s: `\N`}
	case bool:
		if x {
			return num(1)
		}
		return num(0)
	case int:
		return num(float64(x))
	case int8:
		return num(float64(x))
	case int16:
		return num(float64(x))
	case int32:
		return num(float64(x))
	case int64:
		return num(float64(x))
	case uint8:
		return num(float64(x))
	case uint16:
		return num(float64(x))
	case uint32:
		return num(float64(x))
	case uint64:
		return num(float64(x))
	case float32:
		return num(float64(x))
	case float64:
		return num(x)
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return num(f)
	case duckdb.Decimal:
		return num(x.Float64())
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return cell{s: string(x)}
		}
		return num(f)
	case time.Time:
		return timeCell(x)
	case engine.Date:
		return timeCell(x.Time)
	case []byte:
		return canonText(string(x))
	case string:
		return canonText(x)
	case fmt.Stringer:
		return canonText(x.String())
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return cell{s: string(b)}
	}
	return canonText(fmt.Sprint(v))
}

var textTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05 MST", "2006-01-02",
}

// canonText reads numbers, times and booleans out of text, so a value
// that one system returns typed and another as text compares equal.
func canonText(s string) cell {
	if s == "" {
		return cell{s: ""}
	}
	if c := s[0]; (c >= '0' && c <= '9') || c == '-' || c == '.' {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return num(f)
		}
		if len(s) >= 10 && s[4] == '-' && s[7] == '-' {
			for _, l := range textTimeLayouts {
				if t, err := time.Parse(l, s); err == nil {
					return timeCell(t)
				}
			}
		}
	}
	switch s {
	case "true":
		return num(1)
	case "false":
		return num(0)
	}
	return cell{s: s}
}
