package parser

import (
	"strings"
	"testing"

	"github.com/alecthomas/participle/v2/lexer"
)

// The hand-written lexer of lexer.go must split text exactly as this
// regular-expression lexer (participle's stateful lexer) does; it exists
// only because it is an order of magnitude faster. checkLexers compares
// the two, on the seeds and under the fuzzers.

// asciiFold spells a keyword as a case-insensitive ASCII-only regular
// expression. (?i) is avoided on purpose: it folds Unicode too, so "ſelect"
// (long s) would lex as a keyword that participle then fails to match.
func asciiFold(word string) string {
	var b strings.Builder
	for _, r := range word {
		lo, up := strings.ToLower(string(r)), strings.ToUpper(string(r))
		if lo == up {
			b.WriteRune(r)
			continue
		}
		b.WriteString("[" + up + lo + "]")
	}
	return b.String()
}

func keywordPattern(words []string) string {
	alts := make([]string, len(words))
	for i, w := range words {
		alts[i] = asciiFold(w)
	}
	return `\b(?:` + strings.Join(alts, "|") + `)\b`
}

const (
	// Whitespace includes Unicode spaces (no-break space from copied docs) and a BOM.
	whitespacePattern = `[\s\x0B\p{Zs}\x{FEFF}]+`
	// A string opens and closes with a straight or curly quote; '' is an escaped quote.
	stringPattern = `['‘’](?:''|[^'‘’])*['‘’]`
	quotePattern  = `['‘’]`
	dqPattern     = `"[^"]*"?`
	// An identifier may carry an attached parenthesised suffix: EstimatedExtendedCharge(CC).
	identPattern  = `[A-Za-z_][A-Za-z0-9_]*(?:\([A-Za-z0-9_]+\))?`
	numberPattern = `-?[0-9]+(?:\.[0-9]+)?`
	badOpPattern  = `<>|==`
	opPattern     = `!=|>=|<=|=|>|<`
	punctPattern  = `[(),]`
	badPattern    = `(?s).`
)

func newRegexLexer(keywords []string) *lexer.StatefulDefinition {
	return lexer.MustSimple([]lexer.SimpleRule{
		{Name: tokWhitespace, Pattern: whitespacePattern},
		{Name: tokString, Pattern: stringPattern},
		{Name: tokQuote, Pattern: quotePattern},
		{Name: tokDQString, Pattern: dqPattern},
		{Name: tokKeyword, Pattern: keywordPattern(keywords)},
		{Name: tokIdent, Pattern: identPattern},
		{Name: tokNumber, Pattern: numberPattern},
		{Name: tokBadOp, Pattern: badOpPattern},
		{Name: tokOp, Pattern: opPattern},
		{Name: tokPunct, Pattern: punctPattern},
		{Name: tokBad, Pattern: badPattern},
	})
}

var (
	regexQueryLexer  = newRegexLexer(queryKeywords)
	regexFilterLexer = newRegexLexer(filterKeywords)
)

// regexTokenize lexes src with the reference lexer, in tokenize's form.
func regexTokenize(def *lexer.StatefulDefinition, src string) []token {
	names := lexer.SymbolsByRune(def)
	lx, err := def.LexString("", src)
	if err != nil {
		panic(err)
	}
	var toks []token
	for {
		t, err := lx.Next()
		if err != nil {
			panic(err)
		}
		if t.EOF() {
			return append(toks, token{kind: tokEOF, off: len(src)})
		}
		if names[t.Type] != tokWhitespace {
			toks = append(toks, token{kind: names[t.Type], text: t.Value, off: t.Pos.Offset})
		}
	}
}

func checkLexers(t *testing.T, src string) {
	t.Helper()
	for _, c := range []struct {
		fast *langLexer
		re   *lexer.StatefulDefinition
	}{{queryLexer, regexQueryLexer}, {filterLexer, regexFilterLexer}} {
		a, b := tokenize(c.fast, src), regexTokenize(c.re, src)
		n := min(len(a), len(b))
		for i := 0; i < n; i++ {
			if a[i] != b[i] {
				t.Fatalf("%q: token %d: lexer %+v, reference %+v", src, i, a[i], b[i])
			}
		}
		if len(a) != len(b) {
			t.Fatalf("%q: lexer gives %d tokens, reference %d", src, len(a), len(b))
		}
	}
}

func TestLexerMatchesReference(t *testing.T) {
	extra := []string{
		"", " ", "'", "''", "'''", "''''", "'ab''", "'a''b", "‘x’", "’x‘", "'x’", "‘x'", "‘", "'it''s' 'x", "'' ''' x",
		`"`, `"x`, `"x"y`, "a(CC)", "a(CC", "a()", "IN(CC)", "in(1)", "notin", "isnot", "is_error", "1IN", "10abc",
		"-", "-1", "--1", "1.", "1.5.6", "-.5", "<>", "==", "!", "!=", "<=>", "≠", "\u00a0a\ufeffb\u3000", "\xff\xfe", "a\x00b",
		"ſelect", "SELECT_x", "x\n\ny", "\r\n\t\v\f", strings.Repeat("'", 7),
	}
	for _, s := range append(append(extra, seedQueries...), seedFilters...) {
		checkLexers(t, s)
	}
}
