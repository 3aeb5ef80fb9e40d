package ingest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"
)

// readCSV reads RFC 4180 CSV with a header row of column names. An empty
// field is NULL.
func (j *job) readCSV(r io.Reader) error {
	r, closeFn, err := maybeGunzip(r, j.name)
	if err != nil {
		return err
	}
	defer closeFn()
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return j.rowErr(1, "", "empty file: a header row with the column names is required")
	}
	if err != nil {
		return j.csvErr(err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	cols := make([]int, len(header))
	seen := map[int]string{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		ref := j.res.resolve([]byte(h))
		if h == "" {
			return j.rowErr(1, "", fmt.Sprintf("header field %d is empty; every column needs a name", i+1))
		}
		if ref.idx < 0 {
			return j.rowErr(1, ref.col, ref.reason)
		}
		if prev, dup := seen[ref.idx]; dup {
			return j.rowErr(1, ref.col, fmt.Sprintf("named twice in the header (%q and %q)", prev, h))
		}
		seen[ref.idx] = h
		cols[i] = ref.idx
	}
	if _, ok := seen[j.b.time]; !ok {
		return j.rowErr(1, j.cols[j.b.time].Name, "missing from the header; the time column is required")
	}
	if j.b.tenant >= 0 {
		if _, ok := seen[j.b.tenant]; !ok {
			return j.rowErr(1, j.cols[j.b.tenant].Name, "missing from the header; the tenant column is required")
		}
	}
	var v value
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return j.csvErr(err)
		}
		line, _ := cr.FieldPos(0)
		if err := j.csvRow(rec, cols, int64(line), &v); err != nil {
			if err = j.reject(err); err != nil {
				return err
			}
		}
	}
}

func (j *job) csvRow(rec []string, cols []int, line int64, v *value) error {
	b := j.b
	b.startRow()
	for i, f := range rec {
		if f == "" {
			v.k = vNull
		} else {
			v.k, v.b = vString, unsafe.Slice(unsafe.StringData(f), len(f))
		}
		if reason := b.set(cols[i], v); reason != "" {
			return j.rowErr(line, j.cols[cols[i]].Name, reason)
		}
	}
	return j.endRow(line)
}

func (j *job) csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		reason := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			reason = "wrong number of fields (the header has a different number)"
		}
		return &RowError{File: j.name, Line: int64(pe.Line), Reason: "CSV: " + reason, err: err}
	}
	return &RowError{File: j.name, Reason: "read: " + err.Error(), err: err}
}
