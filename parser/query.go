package parser

import (
	"slices"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The participle grammar of the report query language. These types mirror
// the text; ParseQuery turns them into the public AST of ast.go.
//
//	Query    = "SELECT" "DISTINCT"? Ident ("," Ident)* "FROM" Ident
//	           ("WHERE" Cond ("AND" Cond)*)?
//	           ("ORDER" "BY" Order ("," Order)*)?
//	           ("LIMIT" Number)? ("TIMESPAN" Ident)?
//	Cond     = Ident ( "NOT"? "IN" "(" Value ("," Value)* ")"
//	                 | ("NOT" "LIKE" | "LIKE" | Op) Value )
//	Order    = Ident ("ASC" | "DESC")?
//	Value    = String | Number
type gQuery struct {
	Pos      lexer.Position
	Distinct bool       `parser:"'SELECT' @'DISTINCT'?"`
	Select   []gIdent   `parser:"@@ ( ',' @@ )*"`
	From     gIdent     `parser:"'FROM' @@"`
	Where    []*gCond   `parser:"( 'WHERE' @@ ( 'AND' @@ )* )?"`
	Order    []*gOrder  `parser:"( 'ORDER' 'BY' @@ ( ',' @@ )* )?"`
	Limit    *gLimit    `parser:"@@?"`
	Timespan *gTimespan `parser:"@@?"`
}

type gIdent struct {
	Pos  lexer.Position
	Name string `parser:"@Ident"`
}

type gCond struct {
	Pos    lexer.Position
	Column gIdent   `parser:"@@"`
	In     *gIn     `parser:"( @@"`
	Scalar *gScalar `parser:"| @@ )"`
}

type gIn struct {
	Pos    lexer.Position
	Not    bool     `parser:"@'NOT'? 'IN'"`
	Values []gValue `parser:"'(' @@ ( ',' @@ )* ')'"`
}

type gScalar struct {
	Pos     lexer.Position
	NotLike bool   `parser:"( @'NOT' 'LIKE'"`
	Like    bool   `parser:"| @'LIKE'"`
	Op      string `parser:"| @Op )"`
	Value   gValue `parser:"@@"`
}

type gValue struct {
	Pos    lexer.Position
	String *string `parser:"(  @String"`
	Number *string `parser:" | @Number )"`
}

type gOrder struct {
	Pos    lexer.Position
	Column gIdent `parser:"@@"`
	Dir    string `parser:"@( 'ASC' | 'DESC' )?"`
}

type gLimit struct {
	Pos   lexer.Position
	Value gNumber `parser:"'LIMIT' @@"`
}

type gNumber struct {
	Pos  lexer.Position
	Text string `parser:"@Number"`
}

type gTimespan struct {
	Pos   lexer.Position
	Value gIdent `parser:"'TIMESPAN' @@"`
}

var queryParser = participle.MustBuild[gQuery](
	participle.Lexer(queryLexer),
	participle.CaseInsensitive(tokKeyword),
)

// Messages put in Error.Message.
const (
	queryMessage  = "Invalid query syntax"
	filterMessage = "Invalid filter"
)

// timespans lists the valid TIMESPAN values in the order the language
// documents them.
var timespans = []string{
	"TODAY", "YESTERDAY", "LAST_7_DAYS", "LAST_14_DAYS", "LAST_30_DAYS",
	"LAST_90_DAYS", "LAST_180_DAYS", "LAST_365_DAYS", "LAST_MONTH",
	"LAST_3_MONTHS", "LAST_6_MONTHS", "LAST_1_YEAR", "LIFETIME",
}

// TimespanValues returns the valid TIMESPAN values (upper case) in the
// order the language documents them.
func TimespanValues() []string { return append([]string(nil), timespans...) }

// ParseQuery parses one report query:
//
//	SELECT [DISTINCT] col, … FROM Dataset [WHERE cond (AND cond)*]
//	[ORDER BY col [ASC|DESC], …] [LIMIT n] [TIMESPAN T]
//
// Keywords are case-insensitive. Every error is an *Error whose Message
// is "Invalid query syntax" and whose Pos points at the offending token.
//
// Positions: Query.Pos is the SELECT keyword, Condition.Pos and
// OrderItem.Pos the column, Condition.OpPos the operator (NOT of NOT IN /
// NOT LIKE), Limit.Pos and Timespan.Pos their keyword.
func ParseQuery(src string) (*Query, error) {
	if err := checkInput(src, queryMessage, "query", "SELECT"); err != nil {
		return nil, err
	}
	g, err := queryParser.ParseString("", src)
	if err != nil {
		return nil, queryError(src, err)
	}
	return convertQuery(src, g)
}

// checkInput rejects oversized and empty input before any parsing.
func checkInput(src, message, what string, expected ...string) *Error {
	if len(src) > MaxInputBytes {
		return &Error{
			Pos:     Pos{Line: 1, Column: 1},
			Message: message,
			Msg:     what + " is too long (" + strconv.Itoa(len(src)) + " bytes)",
			Hint:    "the limit is " + strconv.Itoa(MaxInputBytes) + " bytes",
		}
	}
	if strings.TrimFunc(src, isSpace) == "" {
		return &Error{
			Pos:      posAt(src, len(src)),
			Message:  message,
			Msg:      "empty " + what,
			Expected: expected,
		}
	}
	return nil
}

func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', '\v', '\u00a0', '\ufeff', '\u1680', '\u202f', '\u205f', '\u3000':
		return true
	}
	return r >= '\u2000' && r <= '\u200a'
}

func pos(p lexer.Position) Pos { return Pos{Offset: p.Offset, Line: p.Line, Column: p.Column} }

func ident(g gIdent) Ident { return Ident{Pos: pos(g.Pos), Name: g.Name} }

func literal(v gValue) Literal {
	if v.String != nil {
		return Literal{Pos: pos(v.Pos), Kind: LitString, Text: unquote(*v.String)}
	}
	return Literal{Pos: pos(v.Pos), Kind: LitNumber, Text: *v.Number}
}

func convertQuery(src string, g *gQuery) (*Query, error) {
	q := &Query{Pos: pos(g.Pos), Distinct: g.Distinct, From: ident(g.From)}
	q.Select = make([]Ident, len(g.Select))
	for i, s := range g.Select {
		q.Select[i] = ident(s)
	}
	for _, c := range g.Where {
		cond := &Condition{Pos: pos(c.Pos), Column: ident(c.Column)}
		if c.In != nil {
			cond.OpPos = pos(c.In.Pos)
			cond.Op = "IN"
			if c.In.Not {
				cond.Op = "NOT IN"
			}
			cond.Values = make([]Literal, len(c.In.Values))
			for i, v := range c.In.Values {
				cond.Values[i] = literal(v)
			}
		} else {
			s := c.Scalar
			cond.OpPos = pos(s.Pos)
			switch {
			case s.NotLike:
				cond.Op = "NOT LIKE"
			case s.Like:
				cond.Op = "LIKE"
			default:
				cond.Op = s.Op
			}
			cond.Values = []Literal{literal(s.Value)}
		}
		q.Where = append(q.Where, cond)
	}
	for _, o := range g.Order {
		item := OrderItem{Pos: pos(o.Pos), Column: ident(o.Column), Desc: true}
		if o.Dir != "" {
			item.Explicit = true
			item.Desc = strings.EqualFold(o.Dir, "DESC")
		}
		q.OrderBy = append(q.OrderBy, item)
	}
	if g.Limit != nil {
		n, err := parseLimit(src, g.Limit.Value)
		if err != nil {
			return nil, err
		}
		q.Limit = &Limit{Pos: pos(g.Limit.Pos), Value: n}
	}
	if g.Timespan != nil {
		v := g.Timespan.Value
		up := strings.ToUpper(v.Name)
		if !slices.Contains(timespans, up) {
			e := &Error{
				Pos:      pos(v.Pos),
				Message:  queryMessage,
				Msg:      "unknown TIMESPAN value " + nearText(v.Name),
				Expected: timespans,
			}
			if best := closest(up, timespans); best != "" {
				e.Hint = "did you mean '" + best + "'?"
			}
			return nil, e
		}
		q.Timespan = &Timespan{Pos: pos(g.Timespan.Pos), Value: up}
	}
	return q, nil
}

func parseLimit(src string, n gNumber) (int64, error) {
	e := &Error{Pos: pos(n.Pos), Message: queryMessage}
	if strings.HasPrefix(n.Text, "-") || strings.Contains(n.Text, ".") {
		e.Msg = "LIMIT must be a positive integer, not " + nearText(n.Text)
		return 0, e
	}
	v, err := strconv.ParseInt(n.Text, 10, 64)
	if err != nil {
		e.Msg = "LIMIT " + n.Text + " is out of range"
		e.Hint = "LIMIT must be a positive integer no larger than " + strconv.FormatInt(1<<63-1, 10)
		return 0, e
	}
	if v <= 0 {
		e.Msg = "LIMIT must be a positive integer, not " + nearText(n.Text)
		return 0, e
	}
	return v, nil
}
