package ingest

import (
	"bufio"
	"bytes"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

const readBufSize = 1 << 20

// readNDJSON reads one flat JSON object per line. Blank lines are skipped.
// Values are parsed by a hand-written scanner straight into the batch;
// nested objects and arrays are kept as raw JSON (for JSON columns).
func (j *job) readNDJSON(r io.Reader) error {
	r, closeFn, err := maybeGunzip(r, j.name)
	if err != nil {
		return err
	}
	defer closeFn()
	br := bufio.NewReaderSize(r, readBufSize)
	var (
		line  int64
		long  []byte
		p     ndjsonScanner
		first = true
	)
	for {
		buf, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], buf...)
			for err == bufio.ErrBufferFull {
				buf, err = br.ReadSlice('\n')
				long = append(long, buf...)
			}
			buf = long
		}
		if err != nil && err != io.EOF {
			return &RowError{File: j.name, Line: line + 1, Reason: "read: " + err.Error(), err: err}
		}
		if len(buf) > 0 {
			line++
			if first {
				buf = bytes.TrimPrefix(buf, []byte("\xef\xbb\xbf"))
				first = false
			}
			if e := j.ndjsonLine(&p, buf, line); e != nil {
				if e = j.reject(e); e != nil {
					return e
				}
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

func (j *job) ndjsonLine(p *ndjsonScanner, buf []byte, line int64) error {
	p.s, p.i = buf, 0
	p.ws()
	if p.i == len(p.s) {
		return nil // blank line
	}
	if p.s[p.i] != '{' {
		return j.rowErr(line, "", "expected a JSON object, found "+p.near())
	}
	p.i++
	b := j.b
	b.startRow()
	var v value
	for n := 0; ; n++ {
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == '}' && n == 0 {
			p.i++
			break
		}
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return j.rowErr(line, "", "expected a quoted key, found "+p.near())
		}
		key, ok := p.str(&p.key)
		if !ok {
			return j.rowErr(line, "", "bad string: "+p.errMsg)
		}
		var ref colRef
		if n < len(p.pred) && bytes.Equal(p.pred[n].key, key) {
			ref = p.pred[n].ref
		} else {
			ref = j.res.resolve(key)
			for len(p.pred) <= n {
				p.pred = append(p.pred, predKey{})
			}
			p.pred[n] = predKey{key: append(p.pred[n].key[:0], key...), ref: ref}
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return j.rowErr(line, ref.col, "expected ':' after the key, found "+p.near())
		}
		p.i++
		p.ws()
		if !p.value(&v) {
			return j.rowErr(line, ref.col, p.errMsg)
		}
		if ref.idx < 0 {
			return j.rowErr(line, ref.col, ref.reason)
		}
		if reason := b.set(ref.idx, &v); reason != "" {
			return j.rowErr(line, ref.col, reason)
		}
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			break
		}
		return j.rowErr(line, "", "expected ',' or '}', found "+p.near())
	}
	p.ws()
	if p.i != len(p.s) {
		return j.rowErr(line, "", "unexpected "+p.near()+" after the object (one JSON object per line)")
	}
	return j.endRow(line)
}

// ndjsonScanner scans one line of JSON.
type ndjsonScanner struct {
	s      []byte
	i      int
	key    []byte // unescape buffer for keys
	val    []byte // unescape buffer for values
	errMsg string
	pred   []predKey // the keys of the previous row, by position
	ascii  bool      // the last string scanned was ASCII without escapes
}

type predKey struct {
	key []byte
	ref colRef
}

func (p *ndjsonScanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *ndjsonScanner) near() string {
	if p.i >= len(p.s) {
		return "the end of the line"
	}
	e := p.i + 20
	if e > len(p.s) {
		e = len(p.s)
	}
	r := bytes.TrimRight(p.s[p.i:e], "\r\n")
	if len(r) == 0 {
		return "the end of the line"
	}
	return "`" + string(r) + "`"
}

// str scans a string starting at the opening quote. Without escapes the
// result aliases the line; else it is unescaped into *buf.
func (p *ndjsonScanner) str(buf *[]byte) ([]byte, bool) {
	p.i++
	start := p.i
	s := p.s
	p.ascii = true
	for i := start; i < len(s); i++ {
		c := s[i]
		if !strSpecial[c] {
			continue
		}
		if c == '"' {
			p.i = i + 1
			return s[start:i], true
		}
		if c >= 0x80 {
			p.ascii = false
			continue
		}
		if c == '\\' {
			return p.strSlow(start, i, buf)
		}
		p.errMsg = "control character in a string"
		return nil, false
	}
	p.errMsg = "unterminated string"
	return nil, false
}

// strSpecial marks the bytes the string scanner must look at.
var strSpecial = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80
	}
	return t
}()

func (p *ndjsonScanner) strSlow(start, i int, buf *[]byte) ([]byte, bool) {
	s := p.s
	p.ascii = false
	out := append((*buf)[:0], s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			p.i = i + 1
			*buf = out
			return out, true
		case c < 0x20:
			p.errMsg = "control character in a string"
			return nil, false
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s[i+1:])
			if !ok {
				p.errMsg = "bad \\u escape in a string"
				return nil, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2, ok = hex4(s[i+3:])
				}
				if ok {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			p.errMsg = "bad escape \\" + string(s[i]) + " in a string"
			return nil, false
		}
		i++
	}
	p.errMsg = "unterminated string"
	return nil, false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// value scans one JSON value into v.
func (p *ndjsonScanner) value(v *value) bool {
	if p.i >= len(p.s) {
		p.errMsg = "missing value"
		return false
	}
	s := p.s
	switch c := s[p.i]; {
	case c == '"':
		b, ok := p.str(&p.val)
		if !ok {
			return false
		}
		v.k, v.b, v.ascii = vString, b, p.ascii
		return true
	case c == '-' || (c >= '0' && c <= '9'):
		n, ok := scanNumber(s[p.i:])
		if !ok {
			p.errMsg = "bad number " + p.near()
			return false
		}
		v.k, v.b = vNumber, s[p.i:p.i+n]
		p.i += n
		return true
	case c == 't':
		if bytes.HasPrefix(s[p.i:], []byte("true")) {
			p.i += 4
			v.k, v.i = vBool, 1
			return true
		}
	case c == 'f':
		if bytes.HasPrefix(s[p.i:], []byte("false")) {
			p.i += 5
			v.k, v.i = vBool, 0
			return true
		}
	case c == 'n':
		if bytes.HasPrefix(s[p.i:], []byte("null")) {
			p.i += 4
			v.k = vNull
			return true
		}
	case c == '{' || c == '[':
		// Find the matching bracket; the value is validated when stored.
		start := p.i
		depth := 0
		for i := p.i; i < len(s); i++ {
			switch s[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					p.i = i + 1
					v.k, v.b = vRaw, s[start:p.i]
					return true
				}
			case '"':
				for i++; i < len(s) && s[i] != '"'; i++ {
					if s[i] == '\\' {
						i++
					}
				}
			}
		}
		p.errMsg = "unterminated JSON " + map[byte]string{'{': "object", '[': "array"}[c]
		return false
	}
	p.errMsg = "bad value " + p.near()
	return false
}
