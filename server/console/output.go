package console

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/quarry/quarry/engine"
)

// Capped passes at most max rows of a reader on (slicing the batch
// that crosses the cap) and notes whether more were there: how the
// console and `quarry sql` cut a result.
type Capped struct {
	array.RecordReader
	left      int64
	truncated bool
	cur       arrow.RecordBatch
	rows      int64
	refs      atomic.Int64
}

// Cap wraps r to pass at most max rows.
func Cap(r array.RecordReader, max int64) *Capped {
	c := &Capped{RecordReader: r, left: max}
	c.refs.Store(1)
	return c
}

func (c *Capped) Next() bool {
	if c.cur != nil {
		c.cur.Release()
		c.cur = nil
	}
	for c.RecordReader.Next() {
		rec := c.RecordReader.RecordBatch()
		n := rec.NumRows()
		if n == 0 {
			continue
		}
		if c.left <= 0 {
			c.truncated = true
			return false
		}
		if n > c.left {
			c.truncated = true
			c.cur = rec.NewSlice(0, c.left)
		} else {
			rec.Retain()
			c.cur = rec
		}
		c.left -= c.cur.NumRows()
		c.rows += c.cur.NumRows()
		return true
	}
	return false
}

func (c *Capped) RecordBatch() arrow.RecordBatch { return c.cur }

// Truncated reports whether rows past the cap were there.
func (c *Capped) Truncated() bool { return c.truncated }

// Record is RecordBatch (the interface's deprecated name).
func (c *Capped) Record() arrow.RecordBatch { return c.cur }

// Retain and Release count the wrapper's own references; the wrapped
// reader belongs to the caller.
func (c *Capped) Retain() { c.refs.Add(1) }

func (c *Capped) Release() {
	if c.refs.Add(-1) == 0 && c.cur != nil {
		c.cur.Release()
		c.cur = nil
	}
}

// typeName is a column type as DuckDB spells it.
func typeName(t arrow.DataType) string {
	switch dt := t.(type) {
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return "VARCHAR"
	case *arrow.Int8Type:
		return "TINYINT"
	case *arrow.Int16Type:
		return "SMALLINT"
	case *arrow.Int32Type:
		return "INTEGER"
	case *arrow.Int64Type:
		return "BIGINT"
	case *arrow.Uint8Type:
		return "UTINYINT"
	case *arrow.Uint16Type:
		return "USMALLINT"
	case *arrow.Uint32Type:
		return "UINTEGER"
	case *arrow.Uint64Type:
		return "UBIGINT"
	case *arrow.Float32Type:
		return "FLOAT"
	case *arrow.Float64Type:
		return "DOUBLE"
	case *arrow.BooleanType:
		return "BOOLEAN"
	case *arrow.Date32Type, *arrow.Date64Type:
		return "DATE"
	case *arrow.TimestampType:
		if dt.TimeZone != "" {
			return "TIMESTAMP WITH TIME ZONE"
		}
		return "TIMESTAMP"
	case *arrow.Decimal128Type:
		return fmt.Sprintf("DECIMAL(%d,%d)", dt.Precision, dt.Scale)
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		return "BLOB"
	case *arrow.ListType:
		return typeName(dt.Elem()) + "[]"
	case *arrow.LargeListType:
		return typeName(dt.Elem()) + "[]"
	}
	return t.String()
}

func columns(s *arrow.Schema) []Column {
	out := make([]Column, 0, s.NumFields())
	for _, f := range s.Fields() {
		out = append(out, Column{Name: f.Name, Type: typeName(f.Type)})
	}
	return out
}

// writeJSON streams {"columns": […], "rows": [[…], …], "row_count": n,
// "truncated": b, …extra} — rows as arrays in column order: numbers and
// booleans as JSON, dates as 2006-01-02, timestamps as 2006-01-02
// 15:04:05[.ffffff], nested values as JSON.
func writeJSON(w *bufio.Writer, cr *Capped, extra func() map[string]any) error {
	cols, _ := json.Marshal(columns(cr.Schema()))
	w.WriteString(`{"columns":`)
	w.Write(cols)
	w.WriteString(`,"rows":[`)
	var n int64
	for cr.Next() {
		rec := cr.RecordBatch()
		nc := int(rec.NumCols())
		for r := 0; r < int(rec.NumRows()); r++ {
			if n > 0 {
				w.WriteByte(',')
			}
			w.WriteString("\n[")
			for c := 0; c < nc; c++ {
				if c > 0 {
					w.WriteByte(',')
				}
				writeCell(w, rec.Column(c), r)
			}
			w.WriteByte(']')
			n++
		}
	}
	w.WriteString("\n],")
	fmt.Fprintf(w, `"row_count":%d,"truncated":%t`, n, cr.Truncated())
	if extra != nil {
		for k, v := range extra() {
			b, _ := json.Marshal(v)
			kb, _ := json.Marshal(k)
			w.WriteByte(',')
			w.Write(kb)
			w.WriteByte(':')
			w.Write(b)
		}
	}
	w.WriteString("}\n")
	return nil
}

func writeCell(w *bufio.Writer, col arrow.Array, i int) {
	if col.IsNull(i) {
		w.WriteString("null")
		return
	}
	switch c := col.(type) {
	case *array.Int64:
		w.WriteString(strconv.FormatInt(c.Value(i), 10))
		return
	case *array.Int32:
		w.WriteString(strconv.FormatInt(int64(c.Value(i)), 10))
		return
	case *array.Float64:
		writeFloat(w, c.Value(i))
		return
	case *array.String:
		writeString(w, c.Value(i))
		return
	case *array.Boolean:
		w.WriteString(strconv.FormatBool(c.Value(i)))
		return
	case *array.List, *array.LargeList, *array.Struct, *array.Map:
		b, err := json.Marshal(col.GetOneForMarshal(i))
		if err != nil {
			w.WriteString("null")
			return
		}
		w.Write(b)
		return
	case *array.Binary:
		writeString(w, fmt.Sprintf("%x", c.Value(i)))
		return
	}
	if b, quoted, ok := fastText(w.AvailableBuffer(), col, i); ok {
		if quoted {
			w.WriteByte('"')
			w.Write(b)
			w.WriteByte('"')
		} else {
			w.Write(b)
		}
		return
	}
	switch v := engine.Value(col, i).(type) {
	case int64:
		w.WriteString(strconv.FormatInt(v, 10))
	case uint64:
		w.WriteString(strconv.FormatUint(v, 10))
	case float64:
		writeFloat(w, v)
	case bool:
		w.WriteString(strconv.FormatBool(v))
	case string:
		writeString(w, v)
	default:
		writeString(w, engine.FormatValue(v))
	}
}

// fastText appends the text of cells whose generic rendering is slow
// (decimals, dates, timestamps) without allocating; quoted says whether
// JSON needs quotes. ok is false for other types.
func fastText(dst []byte, col arrow.Array, i int) (b []byte, quoted, ok bool) {
	switch c := col.(type) {
	case *array.Decimal128:
		v := c.Value(i)
		hi, lo := v.HighBits(), v.LowBits()
		if (hi == 0 && lo < 1<<63) || (hi == -1 && lo >= 1<<63) {
			return appendDecimal(dst, int64(lo), int(c.DataType().(*arrow.Decimal128Type).Scale)), false, true
		}
	case *array.Date32:
		return c.Value(i).ToTime().UTC().AppendFormat(dst, "2006-01-02"), true, true
	case *array.Timestamp:
		unit := c.DataType().(*arrow.TimestampType).Unit
		return c.Value(i).ToTime(unit).UTC().AppendFormat(dst, "2006-01-02 15:04:05.999999"), true, true
	}
	return dst, false, false
}

// appendDecimal writes n × 10^-scale exactly: 1225, 2 → 12.25.
func appendDecimal(dst []byte, n int64, scale int) []byte {
	if scale <= 0 {
		return strconv.AppendInt(dst, n, 10)
	}
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
		dst = append(dst, '-')
	}
	digits := strconv.AppendUint(nil, u, 10)
	for len(digits) <= scale {
		digits = append([]byte{'0'}, digits...)
	}
	dst = append(dst, digits[:len(digits)-scale]...)
	dst = append(dst, '.')
	return append(dst, digits[len(digits)-scale:]...)
}

func writeFloat(w *bufio.Writer, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.WriteString("null")
		return
	}
	w.Write(strconv.AppendFloat(w.AvailableBuffer(), f, 'g', -1, 64))
}

// writeString writes a JSON string (no HTML escaping: the body is JSON,
// not HTML).
func writeString(w *bufio.Writer, s string) {
	const hex = "0123456789abcdef"
	w.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 0x20 && b != '"' && b != '\\' {
			continue
		}
		w.WriteString(s[start:i])
		switch b {
		case '"', '\\':
			w.WriteByte('\\')
			w.WriteByte(b)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		case '\t':
			w.WriteString(`\t`)
		default:
			w.WriteString(`\u00`)
			w.WriteByte(hex[b>>4])
			w.WriteByte(hex[b&0xf])
		}
		start = i + 1
	}
	w.WriteString(s[start:])
	w.WriteByte('"')
}

// writeCSV writes a header row and the rows; NULL is an empty field.
func WriteCSV(w io.Writer, cr *Capped) (int64, error) {
	cw := csv.NewWriter(w)
	fields := cr.Schema().Fields()
	rec := make([]string, len(fields))
	for i, f := range fields {
		rec[i] = f.Name
	}
	if err := cw.Write(rec); err != nil {
		return 0, err
	}
	var n int64
	buf := make([]byte, 0, 64)
	for cr.Next() {
		b := cr.RecordBatch()
		for r := 0; r < int(b.NumRows()); r++ {
			for c := range fields {
				col := b.Column(c)
				switch x := col.(type) {
				case *array.String:
					if x.IsNull(r) {
						rec[c] = ""
					} else {
						rec[c] = x.Value(r)
					}
				case *array.Int64:
					if x.IsNull(r) {
						rec[c] = ""
					} else {
						buf = strconv.AppendInt(buf[:0], x.Value(r), 10)
						rec[c] = string(buf)
					}
				default:
					if !col.IsNull(r) {
						if b, _, ok := fastText(buf[:0], col, r); ok {
							buf = b
							rec[c] = string(b)
							continue
						}
					}
					rec[c] = engine.FormatValue(engine.Value(col, r))
				}
			}
			if err := cw.Write(rec); err != nil {
				return n, err
			}
			n++
		}
	}
	cw.Flush()
	return n, cw.Error()
}

// writeArrow writes an Arrow IPC stream.
func writeArrow(w io.Writer, cr *Capped) (int64, error) {
	iw := ipc.NewWriter(w, ipc.WithSchema(cr.Schema()))
	var n int64
	for cr.Next() {
		rec := cr.RecordBatch()
		if err := iw.Write(rec); err != nil {
			iw.Close()
			return n, err
		}
		n += rec.NumRows()
	}
	return n, iw.Close()
}
