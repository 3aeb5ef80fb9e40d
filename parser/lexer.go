package parser

import (
	"io"
	"strings"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2/lexer"
)

// Token type names shared by the two lexers.
const (
	tokWhitespace = "Whitespace"
	tokString     = "String"   // a complete single-quoted string
	tokQuote      = "Quote"    // an opening quote that is never closed
	tokDQString   = "DQString" // a double-quoted string (always an error)
	tokKeyword    = "Keyword"
	tokIdent      = "Ident"
	tokNumber     = "Number"
	tokBadOp      = "BadOp" // <> or == (always an error, lexed whole for good messages)
	tokOp         = "Op"
	tokPunct      = "Punct"
	tokBad        = "Bad" // any other character
)

// Curly quotes accepted as string delimiters besides the straight one.
const (
	lquote = '\u2018' // ‘
	rquote = '\u2019' // ’
)

// queryKeywords are the reserved words of the report query language.
var queryKeywords = []string{
	"SELECT", "DISTINCT", "FROM", "WHERE", "AND", "ORDER", "BY", "ASC", "DESC",
	"LIMIT", "TIMESPAN", "NOT", "LIKE", "IN",
}

// filterKeywords are the reserved words of the filter-token language.
var filterKeywords = []string{
	"eq", "ne", "gt", "lt", "ge", "le", "in", "notin", "like", "not",
	"isnot", "is", "null", "and", "or",
}

var (
	queryLexer  = newLexer(queryKeywords)
	filterLexer = newLexer(filterKeywords)
)

// Token types, in participle's convention of negative numbers (EOF is -1).
const (
	ttString lexer.TokenType = -(iota + 2)
	ttQuote
	ttDQString
	ttKeyword
	ttIdent
	ttNumber
	ttBadOp
	ttOp
	ttPunct
	ttBad
)

var typeNames = map[lexer.TokenType]string{
	lexer.EOF:  tokEOF,
	ttString:   tokString,
	ttQuote:    tokQuote,
	ttDQString: tokDQString,
	ttKeyword:  tokKeyword,
	ttIdent:    tokIdent,
	ttNumber:   tokNumber,
	ttBadOp:    tokBadOp,
	ttOp:       tokOp,
	ttPunct:    tokPunct,
	ttBad:      tokBad,
}

// langLexer is a hand-written participle lexer for both languages; only the
// keyword set differs. It never fails: a character no rule accepts becomes
// a Bad token for the parser to reject with a position. Whitespace (ASCII,
// Unicode spaces, BOM) is dropped.
//
//	String   ['‘’] ( '' | [^'‘’] )* ['‘’]   ('' is a quote)
//	Quote    ['‘’]                          (a string never closed)
//	DQString "[^"]*"?
//	Keyword  a whole word [A-Za-z0-9_]+ equal (ASCII case-insensitively) to a keyword
//	Ident    [A-Za-z_][A-Za-z0-9_]* ( \( [A-Za-z0-9_]+ \) )?
//	Number   -?[0-9]+(\.[0-9]+)?
//	BadOp    <> | ==
//	Op       != >= <= = > <
//	Punct    ( ) ,
//	Bad      any other character
type langLexer struct {
	keywords map[string]bool // upper case
	symbols  map[string]lexer.TokenType
}

func newLexer(keywords []string) *langLexer {
	l := &langLexer{keywords: map[string]bool{}, symbols: map[string]lexer.TokenType{}}
	for _, k := range keywords {
		l.keywords[strings.ToUpper(k)] = true
	}
	for t, n := range typeNames {
		l.symbols[n] = t
	}
	return l
}

// Symbols implements lexer.Definition.
func (l *langLexer) Symbols() map[string]lexer.TokenType { return l.symbols }

// Lex implements lexer.Definition.
func (l *langLexer) Lex(filename string, r io.Reader) (lexer.Lexer, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return l.LexString(filename, string(b))
}

// LexString implements lexer.StringDefinition.
func (l *langLexer) LexString(filename, src string) (lexer.Lexer, error) {
	return &scanner{def: l, src: src, pos: lexer.Position{Filename: filename, Line: 1, Column: 1}}, nil
}

type scanner struct {
	def *langLexer
	src string
	pos lexer.Position
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// advance moves the position over n bytes.
func (s *scanner) advance(n int) {
	text := s.src[s.pos.Offset : s.pos.Offset+n]
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		s.pos.Line += strings.Count(text, "\n")
		s.pos.Column = 1 + utf8.RuneCountInString(text[i+1:])
	} else {
		s.pos.Column += utf8.RuneCountInString(text)
	}
	s.pos.Offset += n
}

// Next implements lexer.Lexer.
func (s *scanner) Next() (lexer.Token, error) {
	for s.pos.Offset < len(s.src) {
		r, n := utf8.DecodeRuneInString(s.src[s.pos.Offset:])
		if !isSpace(r) {
			break
		}
		s.advance(n)
	}
	if s.pos.Offset >= len(s.src) {
		return lexer.EOFToken(s.pos), nil
	}
	typ, n := s.def.scan(s.src[s.pos.Offset:])
	t := lexer.Token{Type: typ, Value: s.src[s.pos.Offset : s.pos.Offset+n], Pos: s.pos}
	s.advance(n)
	return t, nil
}

// scan returns the type and byte length of the token at the start of rest.
func (l *langLexer) scan(rest string) (lexer.TokenType, int) {
	c := rest[0]
	switch {
	case c == '\'' || strings.HasPrefix(rest, "‘") || strings.HasPrefix(rest, "’"):
		return scanString(rest)
	case c == '"':
		if i := strings.IndexByte(rest[1:], '"'); i >= 0 {
			return ttDQString, i + 2
		}
		return ttDQString, len(rest)
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		n := 1
		for n < len(rest) && isWordByte(rest[n]) {
			n++
		}
		if l.keywords[strings.ToUpper(rest[:n])] {
			return ttKeyword, n
		}
		// An attached suffix: (CC), (USD).
		if n < len(rest) && rest[n] == '(' {
			m := n + 1
			for m < len(rest) && isWordByte(rest[m]) {
				m++
			}
			if m > n+1 && m < len(rest) && rest[m] == ')' {
				n = m + 1
			}
		}
		return ttIdent, n
	case isDigit(c) || c == '-' && len(rest) > 1 && isDigit(rest[1]):
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if n+1 < len(rest) && rest[n] == '.' && isDigit(rest[n+1]) {
			n += 2
			for n < len(rest) && isDigit(rest[n]) {
				n++
			}
		}
		// A keyword glued to a number ("1IN") stays a keyword; so does the
		// rest of a word ("10abc" lexes as 10, abc) — as with \b rules.
		return ttNumber, n
	case strings.HasPrefix(rest, "<>") || strings.HasPrefix(rest, "=="):
		return ttBadOp, 2
	case strings.HasPrefix(rest, "!=") || strings.HasPrefix(rest, ">=") || strings.HasPrefix(rest, "<="):
		return ttOp, 2
	case c == '=' || c == '>' || c == '<':
		return ttOp, 1
	case c == '(' || c == ')' || c == ',':
		return ttPunct, 1
	}
	_, n := utf8.DecodeRuneInString(rest)
	return ttBad, n
}

// scanString scans a string literal opening at rest[0]. Like the regular
// expression ['‘’](”|[^'‘’])*['‘’] it prefers reading ” as an escaped
// quote, but when the string then never closes it ends at the last such
// pair instead. With no closing quote at all only the opening quote is
// returned, as a Quote token.
func scanString(rest string) (lexer.TokenType, int) {
	_, i := utf8.DecodeRuneInString(rest)
	lastPair := -1
	for i < len(rest) {
		if rest[i] == '\'' {
			if i+1 < len(rest) && rest[i+1] == '\'' {
				lastPair = i
				i += 2
				continue
			}
			return ttString, i + 1
		}
		if strings.HasPrefix(rest[i:], "‘") || strings.HasPrefix(rest[i:], "’") {
			return ttString, i + len("‘")
		}
		i++
	}
	if lastPair >= 0 {
		return ttString, lastPair + 1
	}
	_, n := utf8.DecodeRuneInString(rest)
	return ttQuote, n
}

// token is a lexed token in the form the error analysers use.
type token struct {
	kind string // one of the tok* names, or "EOF"
	text string
	off  int // byte offset
}

const tokEOF = "EOF"

// tokenize lexes src, dropping whitespace. The result always ends with an
// EOF token.
func tokenize(def *langLexer, src string) []token {
	s := &scanner{def: def, src: src, pos: lexer.Position{Line: 1, Column: 1}}
	var toks []token
	for {
		t, _ := s.Next()
		if t.EOF() {
			return append(toks, token{kind: tokEOF, off: t.Pos.Offset})
		}
		toks = append(toks, token{kind: typeNames[t.Type], text: t.Value, off: t.Pos.Offset})
	}
}

// posAt turns a byte offset into a Pos (line and rune column start at 1).
func posAt(src string, off int) Pos {
	if off < 0 {
		off = 0
	}
	if off > len(src) {
		off = len(src)
	}
	head := src[:off]
	line := 1 + strings.Count(head, "\n")
	lineStart := strings.LastIndexByte(head, '\n') + 1
	return Pos{Offset: off, Line: line, Column: 1 + utf8.RuneCountInString(head[lineStart:])}
}

// isQuote reports whether r opens or closes a string.
func isQuote(r rune) bool { return r == '\'' || r == lquote || r == rquote }

// unquote strips the delimiters of a String token and turns a doubled quote into one.
func unquote(raw string) string {
	_, n1 := utf8.DecodeRuneInString(raw)
	_, n2 := utf8.DecodeLastRuneInString(raw)
	body := raw[n1 : len(raw)-n2]
	if strings.Contains(body, "''") {
		body = strings.ReplaceAll(body, "''", "'")
	}
	return body
}

// quote writes s as a straight-quoted string literal, doubling quotes.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
