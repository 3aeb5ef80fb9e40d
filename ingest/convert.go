package ingest

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/quarry/quarry/datasets"
)

// vkind is the kind of an input value before conversion.
type vkind uint8

const (
	vNull   vkind = iota
	vString       // b: text (a JSON string, unescaped; a CSV field; a Parquet byte array)
	vNumber       // b: a JSON number as written
	vBool         // i: 0 or 1
	vRaw          // b: a JSON object or array as written
	vInt          // i (Parquet integers)
	vFloat        // f (Parquet floating point and decimals)
	vDate         // i: days since 1970-01-01
	vTime         // i: microseconds since 1970-01-01 UTC
)

// value is one input value; b may point into a reused buffer.
type value struct {
	k vkind
	b []byte
	i int64
	f float64
	// ascii: b is known to be ASCII (so valid UTF-8)
	ascii bool
}

const microsPerDay = 86400 * 1_000_000

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// show renders a value for an error message.
func show(v *value) string {
	switch v.k {
	case vString:
		s := string(v.b)
		if len(s) > 60 {
			s = s[:57] + "..."
		}
		return strconv.Quote(s)
	case vNumber, vRaw:
		s := string(v.b)
		if len(s) > 60 {
			s = s[:57] + "..."
		}
		return s
	case vBool:
		if v.i != 0 {
			return "true"
		}
		return "false"
	case vInt:
		return strconv.FormatInt(v.i, 10)
	case vFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case vDate:
		return time.UnixMicro(v.i * microsPerDay).UTC().Format(datasets.DayLayout)
	case vTime:
		return time.UnixMicro(v.i).UTC().Format("2006-01-02T15:04:05.999999Z")
	}
	return "NULL"
}

func notA(v *value, t datasets.Type) string {
	what := show(v)
	switch v.k {
	case vRaw:
		if len(v.b) > 0 && v.b[0] == '[' {
			what = "a JSON array"
		} else {
			what = "a JSON object"
		}
	}
	return what + " is not a " + string(t)
}

// convert stores a non-NULL value in row i of the column.
func (cb *colbuf) convert(i int, v *value) string {
	switch cb.typ {
	case datasets.Varchar:
		switch v.k {
		case vString:
			if !v.ascii && !utf8.Valid(v.b) {
				return "is not valid UTF-8"
			}
			cb.data = append(cb.data, v.b...)
		case vNumber:
			cb.data = append(cb.data, v.b...)
		case vBool:
			cb.data = strconv.AppendBool(cb.data, v.i != 0)
		case vInt:
			cb.data = strconv.AppendInt(cb.data, v.i, 10)
		case vFloat:
			cb.data = strconv.AppendFloat(cb.data, v.f, 'g', -1, 64)
		case vDate, vTime:
			cb.data = append(cb.data, show(v)...)
		default:
			return notA(v, cb.typ)
		}
		cb.off[i] = len(cb.data)
	case datasets.JSON:
		switch v.k {
		case vRaw, vString:
			n := len(cb.data)
			var err error
			cb.data, err = appendCompactJSON(cb.data, v.b)
			if err != nil {
				cb.data = cb.data[:n]
				if v.k == vString {
					return show(v) + " is not valid JSON: " + err.Error()
				}
				return "invalid JSON: " + err.Error()
			}
		case vNumber:
			cb.data = append(cb.data, v.b...)
		case vBool:
			cb.data = strconv.AppendBool(cb.data, v.i != 0)
		case vInt:
			cb.data = strconv.AppendInt(cb.data, v.i, 10)
		case vFloat:
			if math.IsNaN(v.f) || math.IsInf(v.f, 0) {
				return notA(v, cb.typ)
			}
			cb.data = strconv.AppendFloat(cb.data, v.f, 'g', -1, 64)
		default:
			return notA(v, cb.typ)
		}
		cb.off[i] = len(cb.data)
	case datasets.BigInt, datasets.Integer:
		var n int64
		switch v.k {
		case vString, vNumber:
			var ok bool
			if n, ok = parseIntText(v.b); !ok {
				return notA(v, cb.typ)
			}
		case vInt:
			n = v.i
		case vFloat:
			if v.f != math.Trunc(v.f) || v.f < -9.223372036854775e18 || v.f > 9.223372036854775e18 {
				return notA(v, cb.typ)
			}
			n = int64(v.f)
		default:
			return notA(v, cb.typ)
		}
		if cb.typ == datasets.Integer && (n < math.MinInt32 || n > math.MaxInt32) {
			return show(v) + " is out of range for an INTEGER"
		}
		cb.i64[i] = n
	case datasets.Double:
		switch v.k {
		case vString, vNumber:
			f, err := strconv.ParseFloat(bstr(trimSpace(v.b)), 64)
			if err != nil {
				return notA(v, cb.typ)
			}
			cb.f64[i] = f
		case vInt:
			cb.f64[i] = float64(v.i)
		case vFloat:
			cb.f64[i] = v.f
		default:
			return notA(v, cb.typ)
		}
	case datasets.Boolean:
		switch v.k {
		case vBool:
			cb.bl[i] = v.i != 0
		case vString, vNumber:
			b, ok := parseBoolText(v.b)
			if !ok {
				return notA(v, cb.typ)
			}
			cb.bl[i] = b
		case vInt:
			if v.i != 0 && v.i != 1 {
				return notA(v, cb.typ)
			}
			cb.bl[i] = v.i == 1
		default:
			return notA(v, cb.typ)
		}
	case datasets.Date:
		switch v.k {
		case vString:
			us, ok := parseTimeText(trimSpace(v.b))
			if !ok {
				return notA(v, cb.typ)
			}
			if us%microsPerDay != 0 {
				return show(v) + " is not a DATE (its UTC time of day is not midnight)"
			}
			cb.i64[i] = floorDiv(us, microsPerDay)
		case vDate:
			cb.i64[i] = v.i
		case vTime:
			if v.i%microsPerDay != 0 {
				return show(v) + " is not a DATE (its UTC time of day is not midnight)"
			}
			cb.i64[i] = floorDiv(v.i, microsPerDay)
		default:
			return notA(v, cb.typ)
		}
	case datasets.Timestamp:
		switch v.k {
		case vString:
			t := trimSpace(v.b)
			us, ok := parseTimeText(t)
			if !ok {
				ms, ok2 := parseInt(t)
				if !ok2 {
					return notA(v, cb.typ)
				}
				if us, ok = epochMillis(ms); !ok {
					return show(v) + " is out of range for a TIMESTAMP"
				}
			}
			cb.i64[i] = us
		case vNumber, vInt:
			ms, ok := v.i, v.k == vInt
			if !ok {
				ms, ok = parseInt(v.b)
			}
			if !ok {
				return show(v) + " is not a TIMESTAMP (a number must be integer epoch milliseconds)"
			}
			us, ok := epochMillis(ms)
			if !ok {
				return show(v) + " is out of range for a TIMESTAMP"
			}
			cb.i64[i] = us
		case vTime:
			cb.i64[i] = v.i
		case vDate:
			cb.i64[i] = v.i * microsPerDay
		default:
			return notA(v, cb.typ)
		}
	}
	cb.valid[i] = true
	return ""
}

func epochMillis(ms int64) (int64, bool) {
	if ms > math.MaxInt64/1000 || ms < math.MinInt64/1000 {
		return 0, false
	}
	return ms * 1000, true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseInt parses an optionally signed decimal integer.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	switch b[0] {
	case '-':
		neg = true
		b = b[1:]
	case '+':
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// parseIntText parses an integer, or an integral number written with a
// fraction or exponent ("3.0", "1e3").
func parseIntText(b []byte) (int64, bool) {
	b = trimSpace(b)
	if n, ok := parseInt(b); ok {
		return n, true
	}
	f, err := strconv.ParseFloat(bstr(b), 64)
	if err != nil || f != math.Trunc(f) || f < -9.223372036854775e18 || f > 9.223372036854775e18 {
		return 0, false
	}
	return int64(f), true
}

func parseBoolText(b []byte) (bool, bool) {
	b = trimSpace(b)
	switch len(b) {
	case 1:
		switch b[0] {
		case '1':
			return true, true
		case '0':
			return false, true
		}
	case 4:
		if (b[0]|0x20) == 't' && (b[1]|0x20) == 'r' && (b[2]|0x20) == 'u' && (b[3]|0x20) == 'e' {
			return true, true
		}
	case 5:
		if (b[0]|0x20) == 'f' && (b[1]|0x20) == 'a' && (b[2]|0x20) == 'l' && (b[3]|0x20) == 's' && (b[4]|0x20) == 'e' {
			return false, true
		}
	}
	return false, false
}

func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func digits(b []byte, n int) (int64, bool) {
	if len(b) < n {
		return 0, false
	}
	var v int64
	for _, c := range b[:n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// parseTimeText parses YYYY-MM-DD, optionally followed by 'T' or ' ' and
// HH:MM[:SS[.fraction]] and an optional zone (Z, ±HH, ±HHMM, ±HH:MM).
// A timestamp without a zone is UTC. It returns UTC microseconds.
func parseTimeText(b []byte) (int64, bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(b, 4)
	mo, ok2 := digits(b[5:], 2)
	d, ok3 := digits(b[8:], 2)
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) {
		return 0, false
	}
	us := daysFromCivil(y, mo, d) * microsPerDay
	b = b[10:]
	if len(b) == 0 {
		return us, true
	}
	if b[0] != 'T' && b[0] != 't' && b[0] != ' ' {
		return 0, false
	}
	b = b[1:]
	h, ok1 := digits(b, 2)
	if !ok1 || len(b) < 5 || b[2] != ':' {
		return 0, false
	}
	mi, ok2 := digits(b[3:], 2)
	if !ok2 || h > 23 || mi > 59 {
		return 0, false
	}
	b = b[5:]
	var s, frac int64
	if len(b) > 0 && b[0] == ':' {
		var ok bool
		if s, ok = digits(b[1:], 2); !ok || s > 59 {
			return 0, false
		}
		b = b[3:]
		if len(b) > 0 && (b[0] == '.' || b[0] == ',') {
			b = b[1:]
			n := 0
			for n < len(b) && b[n] >= '0' && b[n] <= '9' {
				if n < 6 {
					frac = frac*10 + int64(b[n]-'0')
				}
				n++
			}
			if n == 0 {
				return 0, false
			}
			for k := n; k < 6; k++ {
				frac *= 10
			}
			b = b[n:]
		}
	}
	us += ((h*60+mi)*60+s)*1_000_000 + frac
	if len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	switch {
	case len(b) == 0:
	case len(b) == 1 && (b[0] == 'Z' || b[0] == 'z'):
	case len(b) == 3 && (b[0] == 'U' || b[0] == 'u') && (b[1]|0x20) == 't' && (b[2]|0x20) == 'c':
	case b[0] == '+' || b[0] == '-':
		sign := int64(1)
		if b[0] == '-' {
			sign = -1
		}
		b = b[1:]
		zh, ok := digits(b, 2)
		if !ok {
			return 0, false
		}
		b = b[2:]
		var zm int64
		if len(b) > 0 && b[0] == ':' {
			b = b[1:]
		}
		if len(b) > 0 {
			if zm, ok = digits(b, 2); !ok || len(b) != 2 {
				return 0, false
			}
		}
		if zh > 23 || zm > 59 {
			return 0, false
		}
		us -= sign * (zh*60 + zm) * 60 * 1_000_000
	default:
		return 0, false
	}
	return us, true
}
