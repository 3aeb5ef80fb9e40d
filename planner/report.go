package planner

import (
	"fmt"
	"strings"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/parser"
)

// DefaultMaxLimit caps LIMIT (and the rows of a query without LIMIT are
// not capped by it: exports may be large).
const DefaultMaxLimit = 10_000_000

// Options carry what a builder needs besides the request itself.
type Options struct {
	Now   time.Time // "now" for TIMESPAN and relative time ranges (UTC)
	Scope Scope
	// MaxLimit caps LIMIT; 0 means DefaultMaxLimit.
	MaxLimit int64
	// Start and End, when set, override the query's TIMESPAN (the insights
	// QueryStartTime / QueryEndTime of a run-now report).
	Start, End *time.Time
}

func (o Options) maxLimit() int64 {
	if o.MaxLimit > 0 {
		return o.MaxLimit
	}
	return DefaultMaxLimit
}

// FromQuery builds the plan of a report query.
//
// Rules (SPEC.md §3; where the public docs are silent, decided here):
//   - Selecting a metric, or filtering on one, aggregates: rows are grouped
//     by every selected non-metric column and each metric is aggregated with
//     its catalog default. A condition on a metric then filters the
//     aggregated rows (HAVING); a condition on any other column filters the
//     input rows.
//   - String comparisons are case-insensitive; output keeps the catalog's
//     spelling of column names.
//   - ORDER BY names selected columns; without a direction it is DESC. When
//     ORDER BY or LIMIT is present, the remaining selected columns follow as
//     ascending tie-breakers so results are deterministic.
func FromQuery(q *parser.Query, cat *datasets.Catalog, opt Options) (*Plan, error) {
	d, ok := cat.Lookup(q.From.Name)
	if !ok {
		detail := fmt.Sprintf("unknown dataset '%s'", q.From.Name)
		if s := cat.Suggest(q.From.Name); s != "" {
			detail += fmt.Sprintf("; did you mean '%s'?", s)
		}
		return nil, errAt(q.From.Pos, MsgInvalidTable, detail)
	}
	p := &Plan{Dataset: d, Distinct: q.Distinct}
	var err error
	if p.Tenant, err = opt.Scope.tenant(d); err != nil {
		return nil, err
	}
	column := func(id parser.Ident) (*datasets.Column, error) {
		c, ok := d.Column(id.Name)
		if !ok {
			detail := fmt.Sprintf("unknown column '%s' in dataset %s", id.Name, q.From.Name)
			if s := d.Suggest(id.Name); s != "" {
				detail += fmt.Sprintf("; did you mean '%s'?", s)
			}
			return nil, errAt(id.Pos, MsgInvalidColumn, detail)
		}
		return c, nil
	}

	// SELECT
	seen := map[*datasets.Column]bool{}
	for _, id := range q.Select {
		c, err := column(id)
		if err != nil {
			return nil, err
		}
		if seen[c] {
			return nil, errAt(id.Pos, MsgInvalidQuery, fmt.Sprintf("column '%s' is selected twice; select it once", c.Name))
		}
		seen[c] = true
		if c.Role == datasets.Metric {
			p.Aggregate = true
			p.Outputs = append(p.Outputs, Output{Name: c.Name, Kind: OutAgg, Column: c, Func: c.Agg})
		} else {
			p.Outputs = append(p.Outputs, Output{Name: c.Name, Kind: OutColumn, Column: c})
		}
	}

	// WHERE
	var rowTerms, havingTerms []Expr
	for _, cond := range q.Where {
		c, err := column(cond.Column)
		if err != nil {
			return nil, err
		}
		cmp, err := reportCondition(c, cond)
		if err != nil {
			return nil, err
		}
		if c.Role == datasets.Metric {
			p.Aggregate = true
			cmp.Func = c.Agg
			havingTerms = append(havingTerms, cmp)
		} else {
			rowTerms = append(rowTerms, cmp)
		}
	}
	p.Filter = conj(rowTerms)
	p.Having = conj(havingTerms)

	// ORDER BY
	ordered := map[int]bool{}
	for _, o := range q.OrderBy {
		c, err := column(o.Column)
		if err != nil {
			return nil, err
		}
		idx := -1
		for i, out := range p.Outputs {
			if out.Column == c {
				idx = i
			}
		}
		if idx < 0 {
			return nil, errAt(o.Column.Pos, MsgInvalidQuery,
				fmt.Sprintf("ORDER BY column '%s' is not selected; add it to the SELECT list", o.Column.Name))
		}
		if ordered[idx] {
			continue
		}
		ordered[idx] = true
		p.Order = append(p.Order, Order{Output: idx, Desc: o.Desc})
	}

	// LIMIT
	if q.Limit != nil {
		if q.Limit.Value <= 0 {
			return nil, errAt(q.Limit.Pos, MsgInvalidQuery, "LIMIT must be a positive integer")
		}
		if q.Limit.Value > opt.maxLimit() {
			return nil, errAt(q.Limit.Pos, MsgInvalidQuery,
				fmt.Sprintf("LIMIT %d is over the maximum of %d rows; lower it", q.Limit.Value, opt.maxLimit()))
		}
		p.Limit = q.Limit.Value
	}
	if len(p.Order) > 0 || p.Limit > 0 {
		for i := range p.Outputs {
			if !ordered[i] {
				p.Order = append(p.Order, Order{Output: i})
			}
		}
	}

	// TIMESPAN
	switch {
	case opt.Start != nil || opt.End != nil:
		p.Window = Window{Start: opt.Start, End: opt.End}
		p.WindowFrom = "QueryStartTime/QueryEndTime"
	default:
		ts, pos := DefaultTimespan, q.Pos
		if q.Timespan != nil {
			ts, pos = q.Timespan.Value, q.Timespan.Pos
		}
		w, err := ResolveTimespan(ts, opt.Now)
		if err != nil {
			return nil, errAt(pos, MsgInvalidQuery, err.Error()+"; use one of "+strings.Join(Timespans, ", "))
		}
		p.Window = w
		p.WindowFrom = "TIMESPAN " + ts
		if q.Timespan == nil {
			p.WindowFrom += " (default)"
		}
	}
	if p.Window.Start != nil && p.Window.End != nil && !p.Window.Start.Before(*p.Window.End) {
		return nil, &Error{Message: MsgInvalidQuery, Detail: "the query's start time must be before its end time"}
	}
	return p, nil
}

var reportOps = map[string]Op{"=": OpEq, "!=": OpNe, ">": OpGt, "<": OpLt, ">=": OpGe, "<=": OpLe,
	"LIKE": OpLike, "NOT LIKE": OpNotLike, "IN": OpIn, "NOT IN": OpNotIn}

func reportCondition(c *datasets.Column, cond *parser.Condition) (*Cmp, error) {
	op, ok := reportOps[cond.Op]
	if !ok {
		return nil, errAt(cond.OpPos, MsgInvalidQuery, fmt.Sprintf("unknown operator %s", cond.Op))
	}
	return newCmp(c, op, cond.Values, cond.OpPos, true)
}

// newCmp converts the literals of a comparison to the column's type.
func newCmp(c *datasets.Column, op Op, lits []parser.Literal, opPos parser.Pos, fold bool) (*Cmp, error) {
	cmp := &Cmp{Column: c, Op: op, Fold: fold && c.Type == datasets.Varchar}
	switch op {
	case OpIsNull, OpIsNotNull:
		return cmp, nil
	case OpIn, OpNotIn:
		if len(lits) == 0 {
			return nil, errAt(opPos, MsgInvalidQuery, fmt.Sprintf("%s needs at least one value", op))
		}
	default:
		if len(lits) != 1 {
			return nil, errAt(opPos, MsgInvalidQuery, fmt.Sprintf("%s takes one value; use IN for a list", op))
		}
	}
	for _, l := range lits {
		if l.Kind == parser.LitNull {
			return nil, errAt(l.Pos, MsgInvalidValue, "null is only allowed with is null / isnot null")
		}
		if op == OpLike || op == OpNotLike {
			if l.Kind != parser.LitString {
				return nil, errAt(l.Pos, MsgInvalidValue, fmt.Sprintf("%s takes a quoted pattern such as '%%abc%%'", op))
			}
			cmp.Values = append(cmp.Values, Value{datasets.Varchar, l.Text})
			continue
		}
		v, err := convert(c, l)
		if err != nil {
			return nil, err
		}
		cmp.Values = append(cmp.Values, v)
	}
	if op == OpLike || op == OpNotLike {
		cmp.Fold = fold // ILIKE, on the column's text for non-string columns
	}
	return cmp, nil
}

func conj(terms []Expr) Expr {
	switch len(terms) {
	case 0:
		return nil
	case 1:
		return terms[0]
	}
	return &And{Terms: terms}
}
