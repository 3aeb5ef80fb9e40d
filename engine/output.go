//go:build duckdb_arrow

package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Value returns cell i of an Arrow column as a Go value: nil, string,
// int64, uint64, float64, bool, Date (DATE) or time.Time (TIMESTAMP, UTC).
// Strings are copied: Arrow's point into the record's buffers, which
// DuckDB reuses once the reader moves on.
func Value(col arrow.Array, i int) any { return value(col, i, true) }

// value is Value; with clone false a string still points into the batch,
// for writers that use it before the reader moves on.
func value(col arrow.Array, i int, clone bool) any {
	if col.IsNull(i) {
		return nil
	}
	switch c := col.(type) {
	case *array.String:
		if !clone {
			return c.Value(i)
		}
		return strings.Clone(c.Value(i))
	case *array.LargeString:
		if !clone {
			return c.Value(i)
		}
		return strings.Clone(c.Value(i))
	case *array.Int8:
		return int64(c.Value(i))
	case *array.Int16:
		return int64(c.Value(i))
	case *array.Int32:
		return int64(c.Value(i))
	case *array.Int64:
		return c.Value(i)
	case *array.Uint8:
		return uint64(c.Value(i))
	case *array.Uint16:
		return uint64(c.Value(i))
	case *array.Uint32:
		return uint64(c.Value(i))
	case *array.Uint64:
		return c.Value(i)
	case *array.Float32:
		return float64(c.Value(i))
	case *array.Float64:
		return c.Value(i)
	case *array.Boolean:
		return c.Value(i)
	case *array.Date32:
		return Date{c.Value(i).ToTime().UTC()}
	case *array.Date64:
		return Date{c.Value(i).ToTime().UTC()}
	case *array.Timestamp:
		unit := c.DataType().(*arrow.TimestampType).Unit
		return c.Value(i).ToTime(unit).UTC()
	case *array.Decimal128:
		dt := c.DataType().(*arrow.Decimal128Type)
		f, _ := strconv.ParseFloat(c.Value(i).ToString(dt.Scale), 64)
		return f
	}
	return col.ValueStr(i)
}

// Date is a DATE value (midnight UTC of the day), told apart from a
// TIMESTAMP that happens to fall at midnight.
type Date struct{ time.Time }

// FormatValue renders a value as text: dates as 2006-01-02, timestamps as
// 2006-01-02 15:04:05[.ffffff], NULL as "".
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case Date:
		return x.Format("2006-01-02")
	case time.Time:
		return x.Format("2006-01-02 15:04:05.999999")
	}
	return fmt.Sprint(v)
}

// WriteNDJSON writes every row as one JSON object per line, keys in
// column order.
func WriteNDJSON(w io.Writer, rr array.RecordReader) (int64, error) {
	return writeJSON(w, rr, false)
}

// WriteJSON writes the rows as one JSON array of objects.
func WriteJSON(w io.Writer, rr array.RecordReader) (int64, error) {
	return writeJSON(w, rr, true)
}

func writeJSON(w io.Writer, rr array.RecordReader, asArray bool) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	fields := rr.Schema().Fields()
	keys := make([][]byte, len(fields))
	for i, f := range fields {
		k, _ := json.Marshal(f.Name)
		keys[i] = k
	}
	var n int64
	if asArray {
		bw.WriteByte('[')
	}
	for rr.Next() {
		rec := rr.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			if asArray && n > 0 {
				bw.WriteByte(',')
			}
			if asArray {
				bw.WriteByte('\n')
			}
			bw.WriteByte('{')
			for c := range fields {
				if c > 0 {
					bw.WriteByte(',')
				}
				bw.Write(keys[c])
				bw.WriteByte(':')
				writeJSONValue(bw, value(rec.Column(c), r, false)) // written at once: no copy
			}
			bw.WriteByte('}')
			if !asArray {
				bw.WriteByte('\n')
			}
			n++
		}
	}
	if asArray {
		bw.WriteString("\n]\n")
	}
	if err := rr.Err(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

func writeJSONValue(w *bufio.Writer, v any) {
	switch x := v.(type) {
	case nil:
		w.WriteString("null")
	case int64:
		w.WriteString(strconv.FormatInt(x, 10))
	case uint64:
		w.WriteString(strconv.FormatUint(x, 10))
	case float64:
		b, err := json.Marshal(x)
		if err != nil { // NaN, Inf
			w.WriteString("null")
			return
		}
		w.Write(b)
	case bool:
		w.WriteString(strconv.FormatBool(x))
	default:
		b, _ := json.Marshal(FormatValue(v))
		w.Write(b)
	}
}

// WriteTable writes the rows as an aligned text table. It reads every
// row first to size the columns, so it is meant for terminal output.
func WriteTable(w io.Writer, rr array.RecordReader) (int64, error) {
	fields := rr.Schema().Fields()
	rows := [][]string{make([]string, len(fields))}
	for i, f := range fields {
		rows[0][i] = f.Name
	}
	for rr.Next() {
		rec := rr.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			row := make([]string, len(fields))
			for c := range fields {
				v := Value(rec.Column(c), r)
				if v == nil {
					row[c] = "NULL"
				} else {
					row[c] = FormatValue(v)
				}
			}
			rows = append(rows, row)
		}
	}
	if err := rr.Err(); err != nil {
		return 0, err
	}
	width := make([]int, len(fields))
	for _, row := range rows {
		for c, s := range row {
			width[c] = max(width[c], utf8.RuneCountInString(s))
		}
	}
	bw := bufio.NewWriter(w)
	line := func(row []string) {
		for c, s := range row {
			if c > 0 {
				bw.WriteString(" | ")
			}
			bw.WriteString(s)
			if c < len(row)-1 {
				bw.WriteString(strings.Repeat(" ", width[c]-utf8.RuneCountInString(s)))
			}
		}
		bw.WriteByte('\n')
	}
	line(rows[0])
	sep := make([]string, len(fields))
	for c := range sep {
		sep[c] = strings.Repeat("-", width[c])
	}
	bw.WriteString(strings.Join(sep, "-+-"))
	bw.WriteByte('\n')
	for _, row := range rows[1:] {
		line(row)
	}
	fmt.Fprintf(bw, "(%d rows)\n", len(rows)-1)
	return int64(len(rows) - 1), bw.Flush()
}
