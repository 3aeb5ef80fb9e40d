package planner

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/parser"
)

// timeLayouts are the accepted spellings of DATE and TIMESTAMP literals.
var timeLayouts = []string{
	"2006-01-02",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
}

// ParseTime parses a date or timestamp literal; a time without a zone is UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date or time; write YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", s)
}

// convert turns a literal into a value of the column's type. The report
// language lets any value be written as a string ("converted to the
// native types of columns").
func convert(c *datasets.Column, lit parser.Literal) (Value, error) {
	text := lit.Text
	bad := func(what string) error {
		return errAt(lit.Pos, MsgInvalidValue,
			fmt.Sprintf("value '%s' for column %s is not %s", text, c.Name, what))
	}
	switch c.Type {
	case datasets.Varchar, datasets.JSON:
		return Value{datasets.Varchar, text}, nil
	case datasets.BigInt, datasets.Integer:
		t := strings.TrimSpace(text)
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(t, 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return Value{}, bad("an integer")
			}
			n = int64(f)
		}
		if c.Type == datasets.Integer && (n > math.MaxInt32 || n < math.MinInt32) {
			return Value{}, bad("a 32-bit integer")
		}
		return Value{datasets.BigInt, n}, nil
	case datasets.Double:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return Value{}, bad("a number")
		}
		return Value{datasets.Double, f}, nil
	case datasets.Boolean:
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "true", "1", "yes":
			return Value{datasets.Boolean, true}, nil
		case "false", "0", "no":
			return Value{datasets.Boolean, false}, nil
		}
		return Value{}, bad("a boolean (true/false or 1/0)")
	case datasets.Date, datasets.Timestamp:
		t, err := ParseTime(text)
		if err != nil {
			return Value{}, bad("a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)")
		}
		if c.Type == datasets.Date && !t.Equal(t.Truncate(24*time.Hour)) {
			return Value{}, bad("a date (YYYY-MM-DD)")
		}
		return Value{c.Type, t}, nil
	}
	return Value{}, bad("a supported value")
}
