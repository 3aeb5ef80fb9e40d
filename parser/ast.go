// Package parser holds the participle grammars of Quarry's two text
// languages — the report query language (SELECT … FROM … WHERE … ORDER BY …
// LIMIT … TIMESPAN …) and the analytics filter-token language
// ((apiproxy in 'a','b') and (response_status_code ge 500)) — their ASTs,
// and positioned errors. It knows nothing of datasets or SQL.
package parser

import "fmt"

// MaxInputBytes caps the size of any text handed to a parser.
const MaxInputBytes = 64 << 10

// Pos is a position in the source text. Line and Column start at 1;
// Column counts runes, Offset counts bytes.
type Pos struct {
	Offset int
	Line   int
	Column int
}

func (p Pos) String() string { return fmt.Sprintf("line %d, column %d", p.Line, p.Column) }

// Ident is a column or dataset name as written (case preserved; the
// catalog matches it case-insensitively). A name may carry an attached
// parenthesised suffix, as in EstimatedExtendedCharge(CC).
type Ident struct {
	Pos  Pos
	Name string
}

// LitKind tells a string literal from a number.
type LitKind int

// Literal kinds.
const (
	LitString LitKind = iota
	LitNumber
	LitNull // only in the filter language: is null / isnot null
)

// Literal is a value as written. For strings Text is the value without
// quotes (a doubled quote already turned into one); for numbers Text is the number as
// written (-?[0-9]+(\.[0-9]+)?).
type Literal struct {
	Pos  Pos
	Kind LitKind
	Text string
}

// Query is one report query.
type Query struct {
	Pos      Pos
	Distinct bool
	Select   []Ident
	From     Ident
	Where    []*Condition // joined by AND
	OrderBy  []OrderItem
	Limit    *Limit    // nil when absent
	Timespan *Timespan // nil when absent
}

// Condition is `column op value` in a WHERE clause.
// Op is one of = != > < >= <= LIKE, NOT LIKE, IN, NOT IN (upper case,
// single space). Values has one element except for IN / NOT IN.
type Condition struct {
	Pos    Pos
	Column Ident
	Op     string
	OpPos  Pos
	Values []Literal
}

// OrderItem is one ORDER BY term. Without ASC or DESC, Desc is true
// (the language's default) and Explicit is false.
type OrderItem struct {
	Pos      Pos
	Column   Ident
	Desc     bool
	Explicit bool
}

// Limit is the LIMIT clause.
type Limit struct {
	Pos   Pos
	Value int64
}

// Timespan is the TIMESPAN clause; Value is upper case, e.g. LAST_6_MONTHS.
type Timespan struct {
	Pos   Pos
	Value string
}

// Filter is a node of the filter-token language: *FilterAnd, *FilterOr
// or *Predicate.
type Filter interface {
	filterNode()
	Position() Pos
}

// FilterAnd is a conjunction of two or more terms.
type FilterAnd struct {
	Pos   Pos
	Terms []Filter
}

// FilterOr is a disjunction of two or more terms.
type FilterOr struct {
	Pos   Pos
	Terms []Filter
}

// Predicate is one test: column op value(s).
// Op is one of eq ne gt lt ge le in notin like, "not like", "is null",
// "isnot null" (lower case, single space). Values is empty for the null
// tests, has one element for the comparisons and like, one or more for
// in / notin.
type Predicate struct {
	Pos    Pos
	Column Ident
	Op     string
	OpPos  Pos
	Values []Literal
}

func (*FilterAnd) filterNode() {}
func (*FilterOr) filterNode()  {}
func (*Predicate) filterNode() {}

// Position returns where the node starts.
func (f *FilterAnd) Position() Pos { return f.Pos }

// Position returns where the node starts.
func (f *FilterOr) Position() Pos { return f.Pos }

// Position returns where the node starts.
func (p *Predicate) Position() Pos { return p.Pos }

// Error is a positioned error of either language. Its text reads
// `line L, column C: <Msg>` and, when known, `; expected …` and a hint.
// Message is the short public text an API puts in its `message`
// field (e.g. "Invalid query syntax").
type Error struct {
	Pos      Pos
	Message  string   // short public message
	Msg      string   // what is wrong, e.g. "syntax error near 'WHER'"
	Expected []string // what would have been valid here, if known
	Hint     string   // how to fix it, if known, e.g. "did you mean 'WHERE'?"
}

// Position lets callers (CLI, APIs) mark the place under the source text.
func (e *Error) Position() Pos { return e.Pos }

func (e *Error) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if len(e.Expected) > 0 {
		s += "; expected " + joinOr(e.Expected)
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func joinOr(xs []string) string {
	switch len(xs) {
	case 1:
		return xs[0]
	case 2:
		return xs[0] + " or " + xs[1]
	}
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		if i == len(xs)-1 {
			s += "or "
		}
		s += x
	}
	return s
}
