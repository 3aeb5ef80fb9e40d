package parser

import (
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The participle grammar of the filter-token language; "and" binds
// tighter than "or":
//
//	Or    = And ("or" And)*
//	And   = Term ("and" Term)*
//	Term  = "(" Or ")" | Pred
//	Pred  = Ident ( ("eq"|"ne"|"gt"|"lt"|"ge"|"le") Value
//	              | ("in"|"notin") Value ("," Value)*
//	              | "not"? "like" String
//	              | ("is"|"isnot") "null" )
type fOrG struct {
	Pos   lexer.Position
	Terms []*fAndG `parser:"@@ ( 'or' @@ )*"`
}

type fAndG struct {
	Pos   lexer.Position
	Terms []*fTermG `parser:"@@ ( 'and' @@ )*"`
}

type fTermG struct {
	Pos   lexer.Position
	Group *fOrG   `parser:"  '(' @@ ')'"`
	Pred  *fPredG `parser:"| @@"`
}

type fPredG struct {
	Pos    lexer.Position
	Column gIdent `parser:"@@"`
	Op     fOpG   `parser:"@@"`
}

type fOpG struct {
	Pos     lexer.Position
	Cmp     string   `parser:"(  @( 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' )"`
	CmpVal  *gValue  `parser:"   @@"`
	In      string   `parser:" | @( 'in' | 'notin' )"`
	InVals  []gValue `parser:"   @@ ( ',' @@ )*"`
	NotLike bool     `parser:" | ( @'not' 'like'"`
	Like    bool     `parser:"   | @'like' )"`
	Pattern *gString `parser:"   @@"`
	Null    string   `parser:" | @( 'is' | 'isnot' ) 'null' )"`
}

type gString struct {
	Pos  lexer.Position
	Text string `parser:"@String"`
}

var filterParser = participle.MustBuild[fOrG](
	participle.Lexer(filterLexer),
	participle.CaseInsensitive(tokKeyword),
)

// ParseFilter parses an analytics filter expression such as
//
//	(apiproxy in 'books','music') and (response_status_code ge 500)
//
// Predicates are `column op value` with op one of eq ne gt lt ge le (one
// value), in / notin (a comma-separated list), like / not like (a string
// pattern), is null / isnot null; they combine with and / or ("and" binds
// tighter) and parentheses. Keywords are case-insensitive. The result is
// a *Predicate, or a *FilterAnd / *FilterOr of two or more terms, with
// nested conjunctions (disjunctions) flattened and redundant parentheses
// gone; a FilterAnd's or FilterOr's Pos is where its first term starts.
// Every error is an *Error whose Message is "Invalid filter".
func ParseFilter(src string) (Filter, error) {
	if err := checkInput(src, filterMessage, "filter", exColumnName, "'('"); err != nil {
		return nil, err
	}
	if err := checkDepth(src); err != nil {
		return nil, err
	}
	g, err := filterParser.ParseString("", src)
	if err != nil {
		return nil, filterError(src, err)
	}
	return convertOr(g), nil
}

func convertOr(g *fOrG) Filter {
	if len(g.Terms) == 1 {
		return convertAnd(g.Terms[0])
	}
	or := &FilterOr{Pos: pos(g.Pos)}
	for _, t := range g.Terms {
		f := convertAnd(t)
		if inner, ok := f.(*FilterOr); ok {
			or.Terms = append(or.Terms, inner.Terms...)
		} else {
			or.Terms = append(or.Terms, f)
		}
	}
	return or
}

func convertAnd(g *fAndG) Filter {
	if len(g.Terms) == 1 {
		return convertTerm(g.Terms[0])
	}
	and := &FilterAnd{Pos: pos(g.Pos)}
	for _, t := range g.Terms {
		f := convertTerm(t)
		if inner, ok := f.(*FilterAnd); ok {
			and.Terms = append(and.Terms, inner.Terms...)
		} else {
			and.Terms = append(and.Terms, f)
		}
	}
	return and
}

func convertTerm(g *fTermG) Filter {
	if g.Group != nil {
		return convertOr(g.Group)
	}
	p := g.Pred
	pred := &Predicate{Pos: pos(p.Pos), Column: ident(p.Column), OpPos: pos(p.Op.Pos)}
	op := p.Op
	switch {
	case op.Cmp != "":
		pred.Op = strings.ToLower(op.Cmp)
		pred.Values = []Literal{literal(*op.CmpVal)}
	case op.In != "":
		pred.Op = strings.ToLower(op.In)
		pred.Values = make([]Literal, len(op.InVals))
		for i, v := range op.InVals {
			pred.Values[i] = literal(v)
		}
	case op.NotLike || op.Like:
		pred.Op = "like"
		if op.NotLike {
			pred.Op = "not like"
		}
		pred.Values = []Literal{{Pos: pos(op.Pattern.Pos), Kind: LitString, Text: unquote(op.Pattern.Text)}}
	default:
		pred.Op = strings.ToLower(op.Null) + " null"
	}
	return pred
}

// maxFilterDepth bounds the nesting of parentheses in a filter, which the
// recursive-descent parser pays for in stack and time.
const maxFilterDepth = 100

func checkDepth(src string) *Error {
	if strings.Count(src, "(") <= maxFilterDepth {
		return nil
	}
	depth := 0
	for _, t := range tokenize(filterLexer, src) {
		switch {
		case t.kind == tokPunct && t.text == "(":
			depth++
			if depth > maxFilterDepth {
				return &Error{
					Pos:     posAt(src, t.off),
					Message: filterMessage,
					Msg:     "filter is nested too deeply",
					Hint:    "use at most " + strconv.Itoa(maxFilterDepth) + " levels of parentheses",
				}
			}
		case t.kind == tokPunct && t.text == ")":
			depth--
		}
	}
	return nil
}
