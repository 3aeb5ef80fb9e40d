package ingest

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// readParquet reads a Parquet file whose top-level columns are named like
// the dataset's columns. Nested and repeated columns are not supported.
func (j *job) readParquet(r io.Reader) error {
	var (
		ra   io.ReaderAt
		size int64
	)
	if f, ok := r.(*os.File); ok {
		st, err := f.Stat()
		if err != nil {
			return &RowError{File: j.name, Reason: err.Error(), err: err}
		}
		ra, size = f, st.Size()
	} else {
		data, err := io.ReadAll(r)
		if err != nil {
			return &RowError{File: j.name, Reason: "read: " + err.Error(), err: err}
		}
		ra, size = bytes.NewReader(data), int64(len(data))
	}
	pf, err := parquet.OpenFile(ra, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return &RowError{File: j.name, Reason: "not a readable Parquet file: " + err.Error(), err: err}
	}
	schema := pf.Schema()
	nleaf := len(schema.Columns())
	target := make([]int, nleaf) // leaf index -> stored index
	conv := make([]func(parquet.Value, *value) string, nleaf)
	for i := range target {
		target[i] = -1
	}
	seen := map[int]string{}
	for _, f := range schema.Fields() {
		ref := j.res.resolve([]byte(f.Name()))
		if ref.idx < 0 {
			return j.rowErr(0, ref.col, ref.reason)
		}
		if !f.Leaf() || f.Repeated() {
			return j.rowErr(0, ref.col, "nested or repeated Parquet columns are not supported")
		}
		if prev, dup := seen[ref.idx]; dup {
			return j.rowErr(0, ref.col, fmt.Sprintf("given twice (%q and %q)", prev, f.Name()))
		}
		seen[ref.idx] = f.Name()
		leaf, ok := schema.Lookup(f.Name())
		if !ok {
			return j.rowErr(0, ref.col, "cannot find the Parquet column")
		}
		target[leaf.ColumnIndex] = ref.idx
		conv[leaf.ColumnIndex] = parquetConverter(f.Type())
	}
	if _, ok := seen[j.b.time]; !ok {
		return j.rowErr(0, j.cols[j.b.time].Name, "missing from the file; the time column is required")
	}
	if j.b.tenant >= 0 {
		if _, ok := seen[j.b.tenant]; !ok {
			return j.rowErr(0, j.cols[j.b.tenant].Name, "missing from the file; the tenant column is required")
		}
	}

	buf := make([]parquet.Row, 512)
	var rowNum int64
	for _, rg := range pf.RowGroups() {
		if err := j.readRowGroup(rg, buf, &rowNum, target, conv); err != nil {
			return err
		}
	}
	return nil
}

func (j *job) parquetRow(row parquet.Row, rowNum int64, target []int, conv []func(parquet.Value, *value) string, v *value) error {
	b := j.b
	b.startRow()
	for _, pv := range row {
		c := pv.Column()
		if c < 0 || c >= len(target) || target[c] < 0 {
			continue
		}
		if pv.IsNull() {
			v.k = vNull
		} else if reason := conv[c](pv, v); reason != "" {
			return j.rowErr(rowNum, j.cols[target[c]].Name, reason)
		}
		if reason := b.set(target[c], v); reason != "" {
			return j.rowErr(rowNum, j.cols[target[c]].Name, reason)
		}
	}
	return j.endRow(rowNum)
}

func (j *job) readRowGroup(rg parquet.RowGroup, buf []parquet.Row, rowNum *int64, target []int, conv []func(parquet.Value, *value) string) error {
	rows := rg.Rows()
	defer rows.Close()
	var v value
	for {
		n, err := rows.ReadRows(buf)
		for _, row := range buf[:n] {
			*rowNum++
			if err := j.parquetRow(row, *rowNum, target, conv, &v); err != nil {
				if err = j.reject(err); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &RowError{File: j.name, Line: *rowNum + 1, Reason: "read Parquet: " + err.Error(), err: err}
		}
	}
}

// parquetConverter returns the function that turns a non-NULL value of a
// Parquet column of type t into an input value.
func parquetConverter(t parquet.Type) func(parquet.Value, *value) string {
	lt := t.LogicalType()
	var ct *deprecated.ConvertedType
	ct = t.ConvertedType()
	isCT := func(c deprecated.ConvertedType) bool { return ct != nil && *ct == c }
	var lv format.LogicalTypeValue
	if lt != nil {
		lv = lt.Value
	}
	kind := t.Kind()

	// Timestamps and dates.
	if ts, ok := lv.(*format.TimestampType); ok && (kind == parquet.Int64) {
		var mul, div int64 = 1, 1
		switch ts.Unit.Value.(type) {
		case *format.MilliSeconds:
			mul = 1000
		case *format.NanoSeconds:
			div = 1000
		}
		return func(pv parquet.Value, v *value) string {
			x := pv.Int64()
			if mul != 1 {
				if x > math.MaxInt64/mul || x < math.MinInt64/mul {
					return "timestamp out of range"
				}
				x *= mul
			}
			if div != 1 {
				x = floorDiv(x, div)
			}
			v.k, v.i = vTime, x
			return ""
		}
	}
	if kind == parquet.Int64 && (isCT(deprecated.TimestampMillis) || isCT(deprecated.TimestampMicros)) {
		mul := int64(1)
		if isCT(deprecated.TimestampMillis) {
			mul = 1000
		}
		return func(pv parquet.Value, v *value) string {
			v.k, v.i = vTime, pv.Int64()*mul
			return ""
		}
	}
	if _, ok := lv.(*format.DateType); (ok || isCT(deprecated.Date)) && kind == parquet.Int32 {
		return func(pv parquet.Value, v *value) string {
			v.k, v.i = vDate, int64(pv.Int32())
			return ""
		}
	}
	// Decimals.
	scale := int32(-1)
	if d, ok := lv.(*format.DecimalType); ok {
		scale = d.Scale
	} else if isCT(deprecated.Decimal) {
		if s, ok := t.(interface{ Scale() int32 }); ok {
			scale = s.Scale()
		}
	}
	if scale >= 0 {
		p := math.Pow10(int(scale))
		switch kind {
		case parquet.Int32:
			return func(pv parquet.Value, v *value) string {
				v.k, v.f = vFloat, float64(pv.Int32())/p
				return ""
			}
		case parquet.Int64:
			return func(pv parquet.Value, v *value) string {
				v.k, v.f = vFloat, float64(pv.Int64())/p
				return ""
			}
		case parquet.ByteArray, parquet.FixedLenByteArray:
			return func(pv parquet.Value, v *value) string {
				bs := pv.ByteArray()
				n := new(big.Int).SetBytes(bs)
				if len(bs) > 0 && bs[0]&0x80 != 0 { // two's complement
					n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(bs))))
				}
				f, _ := new(big.Float).SetInt(n).Float64()
				v.k, v.f = vFloat, f/p
				return ""
			}
		}
	}
	unsigned := false
	if it, ok := lv.(*format.IntType); ok && !it.IsSigned {
		unsigned = true
	}
	switch kind {
	case parquet.Boolean:
		return func(pv parquet.Value, v *value) string {
			v.k, v.i = vBool, 0
			if pv.Boolean() {
				v.i = 1
			}
			return ""
		}
	case parquet.Int32:
		if unsigned {
			return func(pv parquet.Value, v *value) string {
				v.k, v.i = vInt, int64(uint32(pv.Int32()))
				return ""
			}
		}
		return func(pv parquet.Value, v *value) string {
			v.k, v.i = vInt, int64(pv.Int32())
			return ""
		}
	case parquet.Int64:
		return func(pv parquet.Value, v *value) string {
			x := pv.Int64()
			if unsigned && x < 0 {
				return fmt.Sprintf("%d is out of range for a BIGINT", uint64(x))
			}
			v.k, v.i = vInt, x
			return ""
		}
	case parquet.Int96:
		// Legacy timestamps: nanoseconds of the day, then the Julian day.
		return func(pv parquet.Value, v *value) string {
			x := pv.Int96()
			nanos := int64(uint64(x[1])<<32 | uint64(x[0]))
			days := int64(x[2]) - 2440588
			v.k, v.i = vTime, days*microsPerDay+nanos/1000
			return ""
		}
	case parquet.Float:
		return func(pv parquet.Value, v *value) string {
			v.k, v.f = vFloat, float64(pv.Float())
			return ""
		}
	case parquet.Double:
		return func(pv parquet.Value, v *value) string {
			v.k, v.f = vFloat, pv.Double()
			return ""
		}
	case parquet.FixedLenByteArray:
		if _, ok := lv.(*format.UUIDType); ok {
			return func(pv parquet.Value, v *value) string {
				u := pv.ByteArray()
				if len(u) != 16 {
					return "bad UUID"
				}
				s := []byte(uuid.UUID(u).String())
				v.k, v.b = vString, s
				return ""
			}
		}
	}
	// BYTE_ARRAY (strings, JSON, …) and other fixed-length byte arrays.
	return func(pv parquet.Value, v *value) string {
		v.k, v.b = vString, pv.ByteArray()
		return ""
	}
}
