package parser

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2"

	"github.com/quarry/quarry/internal/suggest"
)

// Participle decides whether a text parses and where it first goes wrong,
// but its messages name grammar nodes ("unexpected token "WHER" (expected
// …)"). On failure the token stream is replayed through a small state
// machine per language that knows, at each point, which tokens are valid
// and which mistakes are common there; it produces the *Error, pointing
// at the first token no valid text can continue with. (Participle sometimes
// blames an earlier token: in "SELECT a," it undoes the half-matched
// repetition and reports the comma.) The fuzz tests check that both accept
// the same texts; should the analyser ever accept what participle rejects,
// the error falls back to participle's position with a plain message.

// nearText renders a token for "syntax error near '…'".
func nearText(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		s = string(r[:37]) + "..."
	}
	printable := true
	for _, r := range s {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			printable = false
			break
		}
	}
	switch {
	case !printable:
		return strconv.Quote(s)
	case strings.ContainsRune(s, '\''):
		return `"` + s + `"`
	}
	return "'" + s + "'"
}

// errorOffset extracts the byte offset participle reports.
func errorOffset(src string, err error) int {
	if pe, ok := err.(participle.Error); ok {
		return pe.Position().Offset
	}
	return len(src)
}

// fallbackError is used when the analyser and participle disagree.
func fallbackError(src string, err error, message, what string) *Error {
	off := errorOffset(src, err)
	e := &Error{Pos: posAt(src, off), Message: message}
	toks := tokenizeFor(message, src)
	for _, t := range toks {
		if t.off >= off {
			if t.kind == tokEOF {
				e.Msg = "unexpected end of " + what
			} else {
				e.Msg = "syntax error near " + nearText(t.text)
			}
			return e
		}
	}
	e.Msg = "syntax error"
	return e
}

func tokenizeFor(message, src string) []token {
	if message == queryMessage {
		return tokenize(queryLexer, src)
	}
	return tokenize(filterLexer, src)
}

func queryError(src string, err error) *Error {
	toks := tokenize(queryLexer, src)
	if e := analyzeQuery(src, toks); e != nil {
		return e
	}
	return fallbackError(src, err, queryMessage, "query")
}

func filterError(src string, err error) *Error {
	toks := tokenize(filterLexer, src)
	if e := analyzeFilter(src, toks); e != nil {
		return e
	}
	return fallbackError(src, err, filterMessage, "filter")
}

// ---- query language ------------------------------------------------------

type qState int

const (
	qStart qState = iota
	qAfterSelect
	qSelCol
	qSelNext
	qDataset
	qAfterFrom
	qCondCol
	qCondOp
	qNot
	qValue
	qInOpen
	qListValue
	qListNext
	qAfterCond
	qBy
	qOrderCol
	qAfterOrderCol
	qAfterDir
	qLimit
	qAfterLimit
	qTimespan
	qEnd
)

const (
	exColumnName = "a column name"
	exEndQuery   = "end of query"
)

var qExpected = map[qState][]string{
	qStart:         {"SELECT"},
	qAfterSelect:   {"DISTINCT", exColumnName},
	qSelCol:        {exColumnName},
	qSelNext:       {"','", "FROM"},
	qDataset:       {"a dataset name"},
	qAfterFrom:     {"WHERE", "ORDER BY", "LIMIT", "TIMESPAN", exEndQuery},
	qCondCol:       {exColumnName},
	qCondOp:        {"=", "!=", ">", "<", ">=", "<=", "LIKE", "NOT LIKE", "IN", "NOT IN"},
	qNot:           {"LIKE", "IN"},
	qValue:         {"a number", "a string"},
	qInOpen:        {"'('"},
	qListValue:     {"a number", "a string"},
	qListNext:      {"','", "')'"},
	qAfterCond:     {"AND", "ORDER BY", "LIMIT", "TIMESPAN", exEndQuery},
	qBy:            {"BY"},
	qOrderCol:      {exColumnName},
	qAfterOrderCol: {"ASC", "DESC", "','", "LIMIT", "TIMESPAN", exEndQuery},
	qAfterDir:      {"','", "LIMIT", "TIMESPAN", exEndQuery},
	qLimit:         {"a positive integer"},
	qAfterLimit:    {"TIMESPAN", exEndQuery},
	qTimespan:      timespans,
	qEnd:           {exEndQuery},
}

// clause ranks, for out-of-order and duplicate clause hints.
var clauseRank = map[string]int{"WHERE": 1, "ORDER": 2, "LIMIT": 3, "TIMESPAN": 4}
var clauseName = map[int]string{1: "WHERE", 2: "ORDER BY", 3: "LIMIT", 4: "TIMESPAN"}

// clauseNext is the state after a clause-opening keyword.
func clauseStart(kw string) qState {
	switch kw {
	case "WHERE":
		return qCondCol
	case "ORDER":
		return qBy
	case "LIMIT":
		return qLimit
	}
	return qTimespan
}

// allowedClauses tells which clause keywords may follow in a state where a
// clause may end, and the rank of the clause being ended.
func clausePoint(s qState) (minRank int, ok bool) {
	switch s {
	case qAfterFrom:
		return 1, true
	case qAfterCond:
		return 2, true
	case qAfterOrderCol, qAfterDir:
		return 3, true
	case qAfterLimit:
		return 4, true
	case qEnd:
		return 5, true
	}
	return 0, false
}

// qStep returns the state after t, or false when t is not valid in s.
func qStep(s qState, t token) (qState, bool) {
	kw := ""
	if t.kind == tokKeyword {
		kw = strings.ToUpper(t.text)
	}
	punct := ""
	if t.kind == tokPunct {
		punct = t.text
	}
	switch s {
	case qStart:
		return qAfterSelect, kw == "SELECT"
	case qAfterSelect:
		if kw == "DISTINCT" {
			return qSelCol, true
		}
		return qSelNext, t.kind == tokIdent
	case qSelCol:
		return qSelNext, t.kind == tokIdent
	case qSelNext:
		if punct == "," {
			return qSelCol, true
		}
		return qDataset, kw == "FROM"
	case qDataset:
		return qAfterFrom, t.kind == tokIdent
	case qCondCol, qOrderCol:
		if s == qCondCol {
			return qCondOp, t.kind == tokIdent
		}
		return qAfterOrderCol, t.kind == tokIdent
	case qCondOp:
		switch {
		case kw == "NOT":
			return qNot, true
		case kw == "IN":
			return qInOpen, true
		case kw == "LIKE", t.kind == tokOp:
			return qValue, true
		}
		return s, false
	case qNot:
		if kw == "IN" {
			return qInOpen, true
		}
		return qValue, kw == "LIKE"
	case qValue:
		return qAfterCond, t.kind == tokString || t.kind == tokNumber
	case qInOpen:
		return qListValue, punct == "("
	case qListValue:
		return qListNext, t.kind == tokString || t.kind == tokNumber
	case qListNext:
		if punct == "," {
			return qListValue, true
		}
		return qAfterCond, punct == ")"
	case qBy:
		return qOrderCol, kw == "BY"
	case qAfterOrderCol:
		if kw == "ASC" || kw == "DESC" {
			return qAfterDir, true
		}
		fallthrough
	case qAfterDir:
		if punct == "," {
			return qOrderCol, true
		}
	case qLimit:
		return qAfterLimit, t.kind == tokNumber
	case qTimespan:
		return qEnd, t.kind == tokIdent
	}
	// Clause keywords and the end, in the states where a clause may end.
	if s == qAfterCond && kw == "AND" {
		return qCondCol, true
	}
	if min, ok := clausePoint(s); ok {
		if t.kind == tokEOF {
			return qEnd, true
		}
		if r, isClause := clauseRank[kw]; isClause && r >= min {
			return clauseStart(kw), true
		}
	}
	return s, false
}

// analyzeQuery replays toks and describes the first invalid token, or
// returns nil when the token stream is valid.
func analyzeQuery(src string, toks []token) *Error {
	s := qStart
	lastClause := 0
	lastOp := ""
	for i, t := range toks {
		next, ok := qStep(s, t)
		if !ok {
			return queryDiag(src, toks, i, s, lastClause, lastOp)
		}
		if t.kind == tokKeyword {
			if r, isClause := clauseRank[strings.ToUpper(t.text)]; isClause {
				lastClause = r
			}
		}
		if s == qCondOp || s == qNot {
			lastOp = strings.ToUpper(t.text)
		}
		if t.kind == tokEOF {
			return nil
		}
		s = next
	}
	return nil
}

func queryDiag(src string, toks []token, i int, s qState, lastClause int, lastOp string) *Error {
	t := toks[i]
	e := &Error{Pos: posAt(src, t.off), Message: queryMessage, Expected: qExpected[s]}
	if t.kind == tokEOF {
		e.Msg = "unexpected end of query"
	} else {
		e.Msg = "syntax error near " + nearText(t.text)
	}
	up := strings.ToUpper(t.text)
	var prev token
	if i > 0 {
		prev = toks[i-1]
	}
	isValueState := s == qValue || s == qListValue
	switch {
	case t.kind == tokQuote:
		e.Msg = "unterminated string"
		e.Hint = "close the string with a matching quote (write '' for a quote inside it)"
	case t.kind == tokDQString:
		inner := strings.Trim(t.text, `"`)
		if (s == qSelCol || s == qAfterSelect || s == qCondCol || s == qOrderCol || s == qDataset) && isIdent(inner) {
			e.Hint = "names take no quotes: write " + inner
		} else {
			e.Hint = "strings take single quotes: write " + quote(inner)
		}
	case t.kind == tokBadOp && t.text == "<>":
		e.Hint = "did you mean '!='?"
	case t.kind == tokBadOp && t.text == "==":
		e.Hint = "did you mean '='?"
	case t.kind == tokKeyword && clauseRank[up] > 0 && clauseRank[up] <= lastClause && isClausePoint(s):
		if clauseRank[up] == lastClause {
			e.Hint = "only one " + clauseName[lastClause] + " clause is allowed"
		} else {
			e.Hint = clauseName[lastClause] + " must come after " + clauseName[clauseRank[up]]
		}
	case isValueState && (t.kind == tokIdent || t.kind == tokKeyword || t.kind == tokBad):
		if q := nextQuote(toks, i); q >= 0 {
			e.Hint = "missing opening quote? write '" + src[t.off:toks[q].off] + "'"
		} else if t.kind == tokIdent {
			e.Hint = "strings take single quotes: write " + quote(t.text)
		}
	case s == qAfterCond && t.kind == tokPunct && t.text == "," && lastOp != "IN":
		e.Hint = lastOp + " takes a single value; use IN (…) for a list"
	case s == qAfterCond && up == "OR":
		e.Hint = "conditions can only be joined with AND"
	case (s == qSelCol || s == qAfterSelect) && t.text == "*":
		e.Hint = "list the columns by name; SELECT * is not supported"
	case t.text == ";" && slices.Contains(qExpected[s], exEndQuery) && toks[i+1].kind == tokEOF:
		e.Hint = "remove the trailing ';'"
	case s == qSelNext && t.kind == tokIdent && i == 2 && closest(strings.ToUpper(prev.text), []string{"DISTINCT"}) != "":
		e.Hint = "did you mean 'DISTINCT'?"
	case s == qListNext && (t.kind == tokString || t.kind == tokNumber):
		e.Hint = "missing comma between " + nearText(prev.text) + " and " + nearText(t.text) + "?"
	case s == qCondOp && unicodeOps[t.text] != "":
		e.Hint = "did you mean '" + unicodeOps[t.text] + "'?"
	case s == qCondOp && up == "IS":
		e.Hint = "the query language has no IS NULL test"
	case s == qSelNext && clauseRank[up] > 0:
		e.Hint = "FROM must come before " + clauseName[clauseRank[up]]
	case s == qValue && t.text == "(":
		e.Hint = lastOp + " takes a single value; use IN (…) for a list"
	case s == qInOpen && (t.kind == tokString || t.kind == tokNumber):
		e.Hint = lastOp + " takes a list in parentheses: " + lastOp + " (" + t.text + ")"
	case (s == qSelCol || s == qOrderCol) && t.text == "," && prev.text == ",":
		e.Hint = "remove the extra comma"
	case (s == qLimit || s == qTimespan) && t.kind == tokString:
		e.Hint = "write the value without quotes"
	}
	if e.Hint != "" {
		return e
	}
	if t.kind == tokIdent || t.kind == tokKeyword {
		if kw := closestKeyword(t.text, qExpected[s], strings.ToUpper); kw != "" {
			e.Hint = "did you mean '" + kw + "'?"
			return e
		}
	}
	switch {
	case (s == qSelNext || s == qAfterOrderCol || s == qAfterDir) && t.kind == tokIdent:
		e.Hint = "missing comma between " + nearText(prev.text) + " and " + nearText(t.text) + "?"
	case (s == qSelCol || s == qOrderCol) && t.kind == tokKeyword && prev.text == ",":
		e.Hint = "remove the comma before " + nearText(t.text)
	case t.kind == tokKeyword && (s == qSelCol || s == qAfterSelect || s == qCondCol || s == qOrderCol || s == qDataset):
		e.Hint = nearText(t.text) + " is a reserved word, not a name"
	}
	return e
}

func isClausePoint(s qState) bool { _, ok := clausePoint(s); return ok }

// nextQuote finds the first unterminated-quote token after i, as long as
// no complete string comes before it.
func nextQuote(toks []token, i int) int {
	for j := i + 1; j < len(toks); j++ {
		switch toks[j].kind {
		case tokQuote:
			return j
		case tokString:
			return -1
		}
	}
	return -1
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// ---- filter language -----------------------------------------------------

type fState int

const (
	fTerm fState = iota
	fOp
	fNot
	fValue
	fLikeValue
	fNull
	fListValue
	fListNext
	fAfterTerm
)

const exEndFilter = "end of filter"

var fOps = []string{"eq", "ne", "gt", "lt", "ge", "le", "in", "notin", "like", "not like", "is null", "isnot null"}

var symbolToFilterOp = map[string]string{
	"=": "eq", "==": "eq", "!=": "ne", "<>": "ne", ">": "gt", "<": "lt", ">=": "ge", "<=": "le",
	"≠": "ne", "≥": "ge", "≤": "le", "equals": "eq",
}

// unicodeOps maps look-alike operators to the query language's own.
var unicodeOps = map[string]string{"≠": "!=", "≥": ">=", "≤": "<="}

func fExpected(s fState, depth int) []string {
	var ex []string
	switch s {
	case fTerm:
		return []string{exColumnName, "'('"}
	case fOp:
		return fOps
	case fNot:
		return []string{"like"}
	case fValue, fListValue:
		return []string{"a number", "a string"}
	case fLikeValue:
		return []string{"a string"}
	case fNull:
		return []string{"null"}
	case fListNext:
		ex = []string{"','"}
	}
	ex = append(ex, "and", "or")
	if depth > 0 {
		return append(ex, "')'")
	}
	return append(ex, exEndFilter)
}

func fStep(s fState, depth int, t token) (fState, int, bool) {
	kw := ""
	if t.kind == tokKeyword {
		kw = strings.ToLower(t.text)
	}
	punct := ""
	if t.kind == tokPunct {
		punct = t.text
	}
	switch s {
	case fTerm:
		if punct == "(" {
			return fTerm, depth + 1, true
		}
		return fOp, depth, t.kind == tokIdent
	case fOp:
		switch kw {
		case "eq", "ne", "gt", "lt", "ge", "le":
			return fValue, depth, true
		case "in", "notin":
			return fListValue, depth, true
		case "like":
			return fLikeValue, depth, true
		case "not":
			return fNot, depth, true
		case "is", "isnot":
			return fNull, depth, true
		}
		return s, depth, false
	case fNot:
		return fLikeValue, depth, kw == "like"
	case fValue, fListValue:
		next := fAfterTerm
		if s == fListValue {
			next = fListNext
		}
		return next, depth, t.kind == tokString || t.kind == tokNumber
	case fLikeValue:
		return fAfterTerm, depth, t.kind == tokString
	case fNull:
		return fAfterTerm, depth, kw == "null"
	case fListNext:
		if punct == "," {
			return fListValue, depth, true
		}
	}
	// fAfterTerm and fListNext
	switch {
	case kw == "and" || kw == "or":
		return fTerm, depth, true
	case punct == ")" && depth > 0:
		return fAfterTerm, depth - 1, true
	case t.kind == tokEOF && depth == 0:
		return fAfterTerm, depth, true
	}
	return s, depth, false
}

func analyzeFilter(src string, toks []token) *Error {
	s, depth := fTerm, 0
	var lastOp string
	for i, t := range toks {
		next, nd, ok := fStep(s, depth, t)
		if !ok {
			return filterDiag(src, toks, i, s, depth, lastOp)
		}
		if s == fOp || s == fNot {
			lastOp = strings.ToLower(t.text)
		}
		if t.kind == tokEOF {
			return nil
		}
		s, depth = next, nd
	}
	return nil
}

func filterDiag(src string, toks []token, i int, s fState, depth int, lastOp string) *Error {
	t := toks[i]
	e := &Error{Pos: posAt(src, t.off), Message: filterMessage, Expected: fExpected(s, depth)}
	if t.kind == tokEOF {
		e.Msg = "unexpected end of filter"
	} else {
		e.Msg = "syntax error near " + nearText(t.text)
	}
	low := strings.ToLower(t.text)
	var prev token
	if i > 0 {
		prev = toks[i-1]
	}
	switch {
	case t.kind == tokQuote:
		e.Msg = "unterminated string"
		e.Hint = "close the string with a matching quote (write '' for a quote inside it)"
	case t.kind == tokDQString:
		e.Hint = "strings take single quotes: write " + quote(strings.Trim(t.text, `"`))
	case s == fOp && symbolToFilterOp[low] != "":
		e.Hint = "did you mean '" + symbolToFilterOp[low] + "'?"
	case s == fNull && low == "not":
		e.Hint = "did you mean 'isnot null'?"
	case s == fNot && (low == "in" || low == "notin"):
		e.Hint = "did you mean 'notin'?"
	case s == fNot && low == "null":
		e.Hint = "did you mean 'isnot null'?"
	case (s == fValue || s == fListValue) && low == "null":
		if lastOp == "ne" {
			e.Hint = "did you mean 'isnot null'?"
		} else {
			e.Hint = "did you mean 'is null'?"
		}
	case s == fLikeValue && t.kind == tokNumber:
		e.Hint = "like takes a string pattern, e.g. '" + t.text + "%'"
	case (s == fValue || s == fListValue || s == fLikeValue) && (t.kind == tokIdent || t.kind == tokKeyword || t.kind == tokBad):
		if q := nextQuote(toks, i); q >= 0 {
			e.Hint = "missing opening quote? write '" + src[t.off:toks[q].off] + "'"
		} else if t.kind == tokIdent {
			e.Hint = "strings take single quotes: write " + quote(t.text)
		}
	case s == fListValue && t.kind == tokPunct && t.text == "(":
		e.Hint = "in lists take no parentheses: write 'a','b'"
	case t.kind == tokPunct && t.text == ")" && depth == 0:
		e.Hint = "unbalanced ')'"
	case t.kind == tokEOF && depth > 0:
		e.Hint = "missing ')'"
	case s == fAfterTerm && t.kind == tokPunct && t.text == "," && lastOp != "in" && lastOp != "notin":
		e.Hint = lastOp + " takes a single value; use in for a list"
	case s == fListNext && (t.kind == tokString || t.kind == tokNumber):
		e.Hint = "missing comma between " + nearText(prev.text) + " and " + nearText(t.text) + "?"
	}
	if e.Hint != "" {
		return e
	}
	if t.kind == tokIdent || t.kind == tokKeyword {
		if kw := closestKeyword(t.text, e.Expected, strings.ToLower); kw != "" {
			e.Hint = "did you mean '" + kw + "'?"
			return e
		}
	}
	switch {
	case (s == fAfterTerm || s == fListNext) && strings.HasPrefix(src[t.off:], "&&"):
		e.Hint = "did you mean 'and'?"
	case (s == fAfterTerm || s == fListNext) && strings.HasPrefix(src[t.off:], "||"):
		e.Hint = "did you mean 'or'?"
	case s == fAfterTerm && (t.kind == tokIdent || t.text == "("):
		e.Hint = "join conditions with and / or"
	}
	return e
}

// ---- suggestions ---------------------------------------------------------

// closestKeyword suggests the keyword among expected (items made only of
// letters, underscores and spaces) nearest to word, or "". The first word
// of a two-word keyword is also compared, and so is the keyword written
// without its space ("ORDERBY").
func closestKeyword(word string, expected []string, norm func(string) string) string {
	w := norm(word)
	best, bestD := "", 1<<30
	for _, ex := range expected {
		if !isKeywordLabel(ex) || norm(ex) == w {
			continue
		}
		cands := []string{norm(ex), strings.ReplaceAll(norm(ex), " ", "")}
		if first, _, ok := strings.Cut(norm(ex), " "); ok {
			cands = append(cands, first)
		}
		for _, c := range cands {
			if c == w {
				// Wrote only the first word of "ORDER BY" and the rest is wrong
				// elsewhere; not a typo of this one.
				continue
			}
			d := editDistance(w, c)
			limit := maxTypo(c)
			if len(c) <= 2 && len(w) >= 2 && w[0] == c[0] {
				limit = 1 // eqq, lee
			}
			if d < bestD && d <= limit {
				best, bestD = ex, d
			}
		}
	}
	return best
}

func isKeywordLabel(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '_' || r == ' ' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != exEndQuery && s != exEndFilter && !strings.HasPrefix(s, "a ")
}

func maxTypo(s string) int {
	switch n := len(s); {
	case n <= 2:
		return 0
	case n <= 5:
		return 1
	case n <= 9:
		return 2
	default:
		return 3
	}
}

// closest returns the candidate nearest to s, or "" when none is close.
func closest(s string, cands []string) string {
	best, bestD := "", 1<<30
	for _, c := range cands {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD > maxTypo(best)+1 {
		return ""
	}
	return best
}

// editDistance is the edit distance of two keywords (see suggest.Distance).
func editDistance(a, b string) int { return suggest.Distance(a, b) }
