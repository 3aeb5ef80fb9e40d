package parser

import (
	"strconv"
	"strings"
)

// String prints the query in canonical one-line form: keywords upper
// case, names as written, strings in straight quotes with a doubled quote for a quote,
// ORDER BY directions only where written. ParseQuery(q.String()) yields q
// again, positions aside.
func (q *Query) String() string {
	if q == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	if q.Distinct {
		b.WriteString("DISTINCT ")
	}
	for i, c := range q.Select {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Name)
	}
	b.WriteString(" FROM ")
	b.WriteString(q.From.Name)
	for i, c := range q.Where {
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		b.WriteString(c.String())
	}
	for i, o := range q.OrderBy {
		if i == 0 {
			b.WriteString(" ORDER BY ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(o.Column.Name)
		if o.Explicit {
			if o.Desc {
				b.WriteString(" DESC")
			} else {
				b.WriteString(" ASC")
			}
		}
	}
	if q.Limit != nil {
		b.WriteString(" LIMIT ")
		b.WriteString(strconv.FormatInt(q.Limit.Value, 10))
	}
	if q.Timespan != nil {
		b.WriteString(" TIMESPAN ")
		b.WriteString(q.Timespan.Value)
	}
	return b.String()
}

// String prints the condition as in a WHERE clause: `col op value`, with
// IN / NOT IN lists in parentheses.
func (c *Condition) String() string {
	s := c.Column.Name + " " + c.Op + " "
	if c.Op == "IN" || c.Op == "NOT IN" {
		return s + "(" + joinLiterals(c.Values, ", ") + ")"
	}
	return s + joinLiterals(c.Values, ", ")
}

// String prints the literal as written in either language: numbers bare,
// strings in straight single quotes with a doubled quote for a quote, null as null.
func (l Literal) String() string {
	switch l.Kind {
	case LitNumber:
		return l.Text
	case LitNull:
		return "null"
	}
	return quote(l.Text)
}

func joinLiterals(vs []Literal, sep string) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return strings.Join(parts, sep)
}

// FormatFilter prints a filter in canonical one-line form: keywords lower
// case, every predicate and every and / or group in parentheses, strings
// in straight single quotes with a doubled quote for a quote, in lists as 'a','b'.
// ParseFilter(FormatFilter(f)) yields f again, positions aside. A nil
// filter prints as "".
func FormatFilter(f Filter) string {
	var b strings.Builder
	formatFilter(&b, f)
	return b.String()
}

func formatFilter(b *strings.Builder, f Filter) {
	switch f := f.(type) {
	case *FilterAnd:
		formatTerms(b, f.Terms, " and ")
	case *FilterOr:
		formatTerms(b, f.Terms, " or ")
	case *Predicate:
		b.WriteString("(")
		b.WriteString(f.Column.Name)
		b.WriteString(" ")
		b.WriteString(f.Op)
		if len(f.Values) > 0 {
			b.WriteString(" ")
			b.WriteString(joinLiterals(f.Values, ","))
		}
		b.WriteString(")")
	}
}

func formatTerms(b *strings.Builder, terms []Filter, sep string) {
	b.WriteString("(")
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		formatFilter(b, t)
	}
	b.WriteString(")")
}
