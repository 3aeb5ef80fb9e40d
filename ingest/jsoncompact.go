package ingest

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// appendCompactJSON validates src as exactly one JSON value and appends it
// without insignificant whitespace. It is a faster stand-in for
// encoding/json.Compact on the hot path of JSON columns.
func appendCompactJSON(dst, src []byte) ([]byte, error) {
	c := compactor{s: src, out: dst, ascii: true}
	c.ws()
	if !c.value(0) {
		return dst, c.fail()
	}
	c.ws()
	if c.i != len(c.s) {
		c.err = "unexpected data after the value"
		return dst, c.fail()
	}
	c.out = append(c.out, c.s[c.mark:]...)
	if !c.ascii && !utf8.Valid(c.out[len(dst):]) {
		return dst, errors.New("not valid UTF-8")
	}
	return c.out, nil
}

// compactor copies the input to out in spans, leaving out whitespace
// between tokens.
type compactor struct {
	s     []byte
	i     int
	mark  int // start of the span not yet copied to out
	out   []byte
	err   string
	ascii bool
}

func (c *compactor) fail() error {
	if c.err == "" {
		if c.i >= len(c.s) {
			c.err = "unexpected end"
		} else {
			c.err = "unexpected " + strconv.QuoteRune(rune(c.s[c.i]))
		}
	}
	return errors.New(c.err + " at offset " + strconv.Itoa(c.i))
}

func (c *compactor) ws() {
	if c.i >= len(c.s) {
		return
	}
	switch c.s[c.i] {
	case ' ', '\t', '\r', '\n':
	default:
		return
	}
	c.out = append(c.out, c.s[c.mark:c.i]...)
	for c.i < len(c.s) {
		switch c.s[c.i] {
		case ' ', '\t', '\r', '\n':
			c.i++
		default:
			c.mark = c.i
			return
		}
	}
	c.mark = c.i
}

// elems scans an object's or array's elements (one scans each) from its
// opening bracket to its close.
func (c *compactor) elems(close byte, one func() bool) bool {
	s := c.s
	c.i++
	c.ws()
	if c.i < len(s) && s[c.i] == close {
		c.i++
		return true
	}
	for {
		c.ws()
		if !one() {
			return false
		}
		c.ws()
		if c.i >= len(s) {
			return false
		}
		switch s[c.i] {
		case ',':
			c.i++
			continue
		case close:
			c.i++
			return true
		}
		return false
	}
}

func (c *compactor) value(depth int) bool {
	if c.i >= len(c.s) {
		return false
	}
	if depth > 1000 {
		c.err = "nested too deep"
		return false
	}
	s := c.s
	switch ch := s[c.i]; {
	case ch == '{':
		return c.elems('}', func() bool {
			if c.i >= len(s) || s[c.i] != '"' || !c.str() {
				return false
			}
			c.ws()
			if c.i >= len(s) || s[c.i] != ':' {
				return false
			}
			c.i++
			c.ws()
			return c.value(depth + 1)
		})
	case ch == '[':
		return c.elems(']', func() bool { return c.value(depth + 1) })
	case ch == '"':
		return c.str()
	case ch == '-' || (ch >= '0' && ch <= '9'):
		n, ok := scanNumber(s[c.i:])
		if !ok {
			return false
		}
		c.i += n
		return true
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(s)-c.i >= len(lit) && string(s[c.i:c.i+len(lit)]) == lit {
				c.i += len(lit)
				return true
			}
		}
		return false
	}
}

// str copies a string (at its opening quote) verbatim, checking escapes.
func (c *compactor) str() bool {
	s := c.s
	for i := c.i + 1; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '"':
			c.i = i + 1
			return true
		case ch >= 0x80:
			c.ascii = false
		case ch < 0x20:
			c.i = i
			c.err = "control character in a string"
			return false
		case ch == '\\':
			i++
			if i >= len(s) {
				return false
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := hex4(s[i+1:]); !ok {
					c.i = i
					c.err = "bad \\u escape"
					return false
				}
				i += 4
			default:
				c.i = i
				c.err = "bad escape"
				return false
			}
		}
	}
	c.i = len(s)
	return false
}

// scanNumber returns the length of the JSON number at the start of s.
func scanNumber(s []byte) (int, bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	d0 := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == d0 || (s[d0] == '0' && i-d0 > 1) {
		return i, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		f0 := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == f0 {
			return i, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		e0 := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == e0 {
			return i, false
		}
	}
	return i, true
}
