package parser

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cockroachdb/datadriven"
)

// TestDataDriven runs the files under testdata/query and testdata/filter.
// Regenerate the expected output with
//
//	go test ./parser/ -run TestDataDriven -rewrite
//
// Commands:
//
//	query [ast]   parse the input as a report query
//	filter [ast]  parse the input as a filter
//
// Output is the canonical form (String / FormatFilter), followed by the tree
// with positions when ast is given; or the error text, the offending line
// with a caret under the error column, and the public message.
func TestDataDriven(t *testing.T) {
	for _, dir := range []string{"testdata/query", "testdata/filter"} {
		datadriven.Walk(t, dir, func(t *testing.T, path string) {
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				switch d.Cmd {
				case "query":
					return runQuery(t, d.Input, d.HasArg("ast"))
				case "filter":
					return runFilter(t, d.Input, d.HasArg("ast"))
				}
				t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
				return ""
			})
		})
	}
}

func runQuery(t *testing.T, src string, ast bool) string {
	t.Helper()
	q, err := ParseQuery(src)
	if err != nil {
		checkError(t, src, err, queryMessage)
		return describeError(src, err)
	}
	checkQueryRoundTrip(t, src, q)
	checkQueryPositions(t, src, q)
	out := q.String() + "\n"
	if ast {
		out += dumpQuery(q)
	}
	return out
}

func runFilter(t *testing.T, src string, ast bool) string {
	t.Helper()
	f, err := ParseFilter(src)
	if err != nil {
		checkError(t, src, err, filterMessage)
		return describeError(src, err)
	}
	checkFilterRoundTrip(t, src, f)
	checkFilterPositions(t, src, f)
	out := FormatFilter(f) + "\n"
	if ast {
		var b strings.Builder
		dumpFilter(&b, f, "")
		out += b.String()
	}
	return out
}

// checkError asserts the error contract: an *Error with the right public
// message, a consistent position, and a message.
func checkError(t testing.TB, src string, err error, message string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%q: error %T is not *Error: %v", src, err, err)
	}
	if e.Pos.Line < 1 || e.Pos.Column < 1 {
		t.Fatalf("%q: bad error position %+v", src, e.Pos)
	}
	if len(src) <= MaxInputBytes && e.Pos != posAt(src, e.Pos.Offset) {
		t.Fatalf("%q: error position %+v disagrees with its offset (%+v)", src, e.Pos, posAt(src, e.Pos.Offset))
	}
	if e.Message != message || e.Msg == "" {
		t.Fatalf("%q: bad error %#v", src, e)
	}
	return e
}

func describeError(src string, err error) string {
	e := err.(*Error)
	lines := strings.Split(src, "\n")
	line := ""
	if e.Pos.Line-1 < len(lines) {
		line = lines[e.Pos.Line-1]
	}
	return fmt.Sprintf("error: %s\n%s\n%s^\n", e.Error(), line, strings.Repeat(" ", e.Pos.Column-1))
}

func checkQueryRoundTrip(t testing.TB, src string, q *Query) {
	t.Helper()
	s := q.String()
	q2, err := ParseQuery(s)
	if err != nil {
		t.Fatalf("%q: canonical form %q does not parse: %v", src, s, err)
	}
	if a, b := stripQuery(q), stripQuery(q2); !reflect.DeepEqual(a, b) {
		t.Fatalf("%q: round trip through %q changed the query:\n%#v\n%#v", src, s, a, b)
	}
	if s2 := q2.String(); s2 != s {
		t.Fatalf("%q: String is not stable: %q then %q", src, s, s2)
	}
}

func checkFilterRoundTrip(t testing.TB, src string, f Filter) {
	t.Helper()
	s := FormatFilter(f)
	f2, err := ParseFilter(s)
	if err != nil {
		t.Fatalf("%q: canonical form %q does not parse: %v", src, s, err)
	}
	if a, b := stripFilter(f), stripFilter(f2); !reflect.DeepEqual(a, b) {
		t.Fatalf("%q: round trip through %q changed the filter:\n%s\n%s", src, s, FormatFilter(a), FormatFilter(b))
	}
}

// checkQueryPositions asserts every position is consistent with its offset
// and that each node's offset starts the text it stands for.
func checkQueryPositions(t testing.TB, src string, q *Query) {
	t.Helper()
	at := func(p Pos, want string) {
		t.Helper()
		if p != posAt(src, p.Offset) {
			t.Fatalf("%q: position %+v disagrees with its offset", src, p)
		}
		if !strings.HasPrefix(strings.ToUpper(src[p.Offset:]), strings.ToUpper(want)) {
			t.Fatalf("%q: at %+v want %q, have %.20q", src, p, want, src[p.Offset:])
		}
	}
	at(q.Pos, "SELECT")
	for _, c := range q.Select {
		at(c.Pos, c.Name)
	}
	at(q.From.Pos, q.From.Name)
	for _, c := range q.Where {
		at(c.Pos, c.Column.Name)
		at(c.Column.Pos, c.Column.Name)
		at(c.OpPos, strings.Fields(c.Op)[0])
		for _, v := range c.Values {
			if v.Kind == LitNumber {
				at(v.Pos, v.Text)
			} else {
				r, _ := utf8.DecodeRuneInString(src[v.Pos.Offset:])
				if !isQuote(r) {
					t.Fatalf("%q: string literal at %+v does not start with a quote", src, v.Pos)
				}
			}
		}
	}
	for _, o := range q.OrderBy {
		at(o.Pos, o.Column.Name)
	}
	if q.Limit != nil {
		at(q.Limit.Pos, "LIMIT")
	}
	if q.Timespan != nil {
		at(q.Timespan.Pos, "TIMESPAN")
	}
}

func checkFilterPositions(t testing.TB, src string, f Filter) {
	t.Helper()
	p := f.Position()
	if p != posAt(src, p.Offset) {
		t.Fatalf("%q: position %+v disagrees with its offset", src, p)
	}
	switch f := f.(type) {
	case *FilterAnd:
		for _, x := range f.Terms {
			checkFilterPositions(t, src, x)
		}
	case *FilterOr:
		for _, x := range f.Terms {
			checkFilterPositions(t, src, x)
		}
	case *Predicate:
		if !strings.HasPrefix(src[f.Pos.Offset:], f.Column.Name) || f.OpPos != posAt(src, f.OpPos.Offset) ||
			!strings.HasPrefix(strings.ToLower(src[f.OpPos.Offset:]), strings.Fields(f.Op)[0]) {
			t.Fatalf("%q: bad predicate positions %+v", src, f)
		}
	}
}

// stripQuery returns a copy of q with every position zeroed.
func stripQuery(q *Query) *Query {
	c := *q
	c.Pos = Pos{}
	c.Select = append([]Ident(nil), q.Select...)
	for i := range c.Select {
		c.Select[i].Pos = Pos{}
	}
	c.From.Pos = Pos{}
	c.Where = nil
	for _, w := range q.Where {
		w2 := *w
		w2.Pos, w2.OpPos, w2.Column.Pos = Pos{}, Pos{}, Pos{}
		w2.Values = stripLits(w.Values)
		c.Where = append(c.Where, &w2)
	}
	c.OrderBy = append([]OrderItem(nil), q.OrderBy...)
	for i := range c.OrderBy {
		c.OrderBy[i].Pos, c.OrderBy[i].Column.Pos = Pos{}, Pos{}
	}
	if q.Limit != nil {
		c.Limit = &Limit{Value: q.Limit.Value}
	}
	if q.Timespan != nil {
		c.Timespan = &Timespan{Value: q.Timespan.Value}
	}
	return &c
}

func stripLits(vs []Literal) []Literal {
	out := append([]Literal(nil), vs...)
	for i := range out {
		out[i].Pos = Pos{}
	}
	return out
}

func stripFilter(f Filter) Filter {
	switch f := f.(type) {
	case *FilterAnd:
		c := &FilterAnd{}
		for _, x := range f.Terms {
			c.Terms = append(c.Terms, stripFilter(x))
		}
		return c
	case *FilterOr:
		c := &FilterOr{}
		for _, x := range f.Terms {
			c.Terms = append(c.Terms, stripFilter(x))
		}
		return c
	case *Predicate:
		c := *f
		c.Pos, c.OpPos, c.Column.Pos = Pos{}, Pos{}, Pos{}
		c.Values = stripLits(f.Values)
		return &c
	}
	return f
}

func lc(p Pos) string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }

func dumpLits(vs []Literal) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		kind := "string"
		if v.Kind == LitNumber {
			kind = "number"
		}
		parts[i] = fmt.Sprintf("%s %s %q", lc(v.Pos), kind, v.Text)
	}
	return strings.Join(parts, ", ")
}

func dumpQuery(q *Query) string {
	var b strings.Builder
	fmt.Fprintf(&b, "query %s distinct=%v\n", lc(q.Pos), q.Distinct)
	for _, c := range q.Select {
		fmt.Fprintf(&b, "  select %s %s\n", lc(c.Pos), c.Name)
	}
	fmt.Fprintf(&b, "  from %s %s\n", lc(q.From.Pos), q.From.Name)
	for _, c := range q.Where {
		fmt.Fprintf(&b, "  where %s %s, op %s %q, values [%s]\n", lc(c.Pos), c.Column.Name, lc(c.OpPos), c.Op, dumpLits(c.Values))
	}
	for _, o := range q.OrderBy {
		fmt.Fprintf(&b, "  order %s %s desc=%v explicit=%v\n", lc(o.Pos), o.Column.Name, o.Desc, o.Explicit)
	}
	if q.Limit != nil {
		fmt.Fprintf(&b, "  limit %s %d\n", lc(q.Limit.Pos), q.Limit.Value)
	}
	if q.Timespan != nil {
		fmt.Fprintf(&b, "  timespan %s %s\n", lc(q.Timespan.Pos), q.Timespan.Value)
	}
	return b.String()
}

func dumpFilter(b *strings.Builder, f Filter, indent string) {
	switch f := f.(type) {
	case *FilterAnd:
		fmt.Fprintf(b, "%sand %s\n", indent, lc(f.Pos))
		for _, x := range f.Terms {
			dumpFilter(b, x, indent+"  ")
		}
	case *FilterOr:
		fmt.Fprintf(b, "%sor %s\n", indent, lc(f.Pos))
		for _, x := range f.Terms {
			dumpFilter(b, x, indent+"  ")
		}
	case *Predicate:
		fmt.Fprintf(b, "%spredicate %s %s, op %s %q, values [%s]\n", indent, lc(f.Pos), f.Column.Name, lc(f.OpPos), f.Op, dumpLits(f.Values))
	}
}

func TestTooLong(t *testing.T) {
	q := "SELECT a FROM X WHERE b IN (" + strings.Repeat("1, ", MaxInputBytes/3) + "1)"
	_, err := ParseQuery(q)
	e := checkError(t, q, err, queryMessage)
	if !strings.Contains(e.Msg, "too long") {
		t.Fatalf("got %v", err)
	}
	f := "(a in " + strings.Repeat("1,", MaxInputBytes/2) + "1)"
	_, err = ParseFilter(f)
	e = checkError(t, f, err, filterMessage)
	if !strings.Contains(e.Msg, "too long") {
		t.Fatalf("got %v", err)
	}
	// Just under the cap parses.
	q = "SELECT a FROM X WHERE b IN (" + strings.Repeat("1, ", (MaxInputBytes-40)/3) + "1)"
	if _, err := ParseQuery(q); err != nil {
		t.Fatalf("%d bytes: %v", len(q), err)
	}
}

func TestFilterDepth(t *testing.T) {
	ok := strings.Repeat("(", maxFilterDepth) + "a eq 1" + strings.Repeat(")", maxFilterDepth)
	if _, err := ParseFilter(ok); err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat("(", maxFilterDepth+1) + "a eq 1" + strings.Repeat(")", maxFilterDepth+1)
	_, err := ParseFilter(deep)
	if e := checkError(t, deep, err, filterMessage); e.Pos.Column != maxFilterDepth+1 || !strings.Contains(e.Msg, "nested") {
		t.Fatal(err)
	}
	// Many parentheses side by side are fine.
	wide := strings.Repeat("(a eq 1) or ", 200) + "(b eq 2)"
	if f, err := ParseFilter(wide); err != nil || len(f.(*FilterOr).Terms) != 201 {
		t.Fatal(err)
	}
}

func TestErrorFields(t *testing.T) {
	_, err := ParseQuery("SELECT a FROM X WHER b = 1")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	want := &Error{
		Pos:      Pos{Offset: 16, Line: 1, Column: 17},
		Message:  "Invalid query syntax",
		Msg:      "syntax error near 'WHER'",
		Expected: []string{"WHERE", "ORDER BY", "LIMIT", "TIMESPAN", "end of query"},
		Hint:     "did you mean 'WHERE'?",
	}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("got %#v", e)
	}
	if e.Position() != want.Pos {
		t.Fatal("Position")
	}
}

func TestTimespanValues(t *testing.T) {
	vs := TimespanValues()
	if len(vs) != 13 || vs[0] != "TODAY" || vs[12] != "LIFETIME" {
		t.Fatal(vs)
	}
	vs[0] = "X"
	if TimespanValues()[0] != "TODAY" {
		t.Fatal("TimespanValues exposes its backing array")
	}
}

func TestRoundTripExamples(t *testing.T) {
	for _, s := range seedQueries {
		if q, err := ParseQuery(s); err == nil {
			checkQueryRoundTrip(t, s, q)
		}
	}
	for _, s := range seedFilters {
		if f, err := ParseFilter(s); err == nil {
			checkFilterRoundTrip(t, s, f)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"WHER", "WHERE", 1}, {"FORM", "FROM", 1}, {"kitten", "sitting", 3}, {"ab", "ba", 1}} {
		if d := editDistance(c.a, c.b); d != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, d, c.d)
		}
	}
}
