// Package planner turns every front end's request (a report query AST, an
// analytics JSON request, …) into one logical Plan, validates it against
// the catalog, and compiles it to SQL text plus bound parameters for a
// Dialect. It executes nothing.
package planner

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/quarry/quarry/datasets"
)

// Plan is one logical query over one dataset.
type Plan struct {
	Dataset *datasets.Dataset
	// Window bounds the time column: Start inclusive, End exclusive; a nil
	// bound is open. WindowFrom says where it came from, for printing.
	Window     Window
	WindowFrom string
	// WindowImplied says the relation compiled over holds exactly the
	// rows of the window (the engine's day files of a whole-day window),
	// so no time predicate is needed; the window still sizes rates.
	WindowImplied bool
	// Tenant is the mandatory row scope of a non-admin caller; nil for an
	// admin. It is applied to every scan and nothing can remove it.
	Tenant *Tenant
	Filter Expr // on input rows; nil = all rows
	// Outputs are the result columns, in order.
	Outputs []Output
	// Aggregate is true when some output aggregates: the rows are grouped
	// by every non-aggregate output.
	Aggregate bool
	Having    Expr // on aggregated rows; only with Aggregate
	Distinct  bool
	Order     []Order
	Limit     int64 // 0 = no limit
	// Rates, when set, joins each row with the exchange rate of its
	// currency on its day; OutConvert outputs read it.
	Rates *RateJoin
	// Periods, when set, keeps per group only the rows of some periods
	// (energy reports' timeframes).
	Periods *PeriodPick
}

// RateJoin looks up, for each row, the rate of the row's currency on the
// row's day in a rates dataset (exchange_rates): rates.Date = the row's
// time truncated to a day, rates.Currency = the row's Currency.
type RateJoin struct {
	Dataset  *datasets.Dataset
	Date     *datasets.Column // the rates' day
	Currency *datasets.Column // the rates' currency
	Rate     *datasets.Column // the rate used, e.g. rate_to_usd
	// RowCurrency is the currency column of the plan's dataset.
	RowCurrency *datasets.Column
}

// Window is a half-open time range [Start, End).
type Window struct {
	Start, End *time.Time
}

// Tenant restricts rows to one tenant.
type Tenant struct {
	Column *datasets.Column
	Value  string
}

// OutputKind says how an output column is computed.
type OutputKind int

// Output kinds.
const (
	OutColumn  OutputKind = iota // a column as stored (or derived), grouped when the plan aggregates
	OutAgg                       // an aggregate of a metric
	OutBucket                    // the time column truncated to Unit, formatted "2006-01-02 15:04:05 UTC"
	OutRate                      // count of rows per Unit ("second" = tps, "minute" = tpm) over the bucket or window
	OutConvert                   // Column × the row's rate (Plan.Rates); the rate itself when Column is nil
	OutConst                     // the constant Value
)

// Output is one result column.
type Output struct {
	Name   string // result column name
	Kind   OutputKind
	Column *datasets.Column // OutColumn, OutAgg; the time column for OutBucket
	Func   string           // OutAgg: sum, avg, min, max, count, or last (the value on the row with the latest time)
	Unit   string           // OutBucket: second … month; OutRate: second or minute
	Post   *PostOp          // optional arithmetic applied after aggregation
	Value  Value            // OutConst
	// Text renders the value as text: integers in decimal (so JSON
	// carries them as strings, as BigQuery exports do and the analytics
	// API's results show), timestamps as "2006-01-02 15:04:05.000 UTC".
	// Other types are left as they are.
	Text bool
}

// Type is the type of the output's value (before Text).
func (o Output) Type() datasets.Type {
	if o.Post != nil {
		return datasets.Double // the operand is a float
	}
	switch o.Kind {
	case OutBucket:
		return datasets.Varchar
	case OutRate, OutConvert:
		return datasets.Double
	case OutConst:
		return o.Value.Type
	case OutAgg:
		switch {
		case o.Func == "count":
			return datasets.BigInt
		case o.Func == "avg":
			return datasets.Double
		case o.Column.Type == datasets.Integer && o.Func == "sum":
			return datasets.BigInt
		}
	}
	return o.Column.Type
}

// PostOp is an arithmetic post-operator: result = value Op Operand.
type PostOp struct {
	Op      string // + - * / %
	Operand float64
}

// Order is one ORDER BY term over an output column (by index).
type Order struct {
	Output int
	Desc   bool
}

// Expr is a boolean expression node: *And, *Or or *Cmp.
type Expr interface{ isExpr() }

// And is a conjunction.
type And struct{ Terms []Expr }

// Or is a disjunction.
type Or struct{ Terms []Expr }

// Op is a comparison operator.
type Op string

// Comparison operators.
const (
	OpEq        Op = "="
	OpNe        Op = "!="
	OpGt        Op = ">"
	OpLt        Op = "<"
	OpGe        Op = ">="
	OpLe        Op = "<="
	OpIn        Op = "IN"
	OpNotIn     Op = "NOT IN"
	OpLike      Op = "LIKE"
	OpNotLike   Op = "NOT LIKE"
	OpIsNull    Op = "IS NULL"
	OpIsNotNull Op = "IS NOT NULL"
)

// Cmp compares a column (or, in Having, an aggregate of a metric) with
// typed values.
type Cmp struct {
	Column *datasets.Column
	Func   string // in Having: the aggregate applied to Column; else ""
	Op     Op
	Values []Value
	// Fold makes string comparisons case-insensitive (report language).
	Fold bool
	// Key, on a JSON column, compares the text of the object's member
	// Key (a top-level key, any characters) instead of the column; a row
	// whose JSON has no such member has NULL there.
	Key string
}

func (*And) isExpr() {}
func (*Or) isExpr()  {}
func (*Cmp) isExpr() {}

// Value is a literal converted to a column's type. V holds string, int64,
// float64, bool or time.Time (DATE and TIMESTAMP, UTC).
type Value struct {
	Type datasets.Type
	V    any
}

// String renders the value as a SQL-style literal, for plan printing only.
func (v Value) String() string {
	switch x := v.V.(type) {
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		if v.Type == datasets.Date {
			return "DATE '" + x.Format("2006-01-02") + "'"
		}
		return "TIMESTAMP '" + x.Format("2006-01-02 15:04:05.999999") + "'"
	}
	return fmt.Sprint(v.V)
}

// String prints the plan as an indented operator tree, top operator first.
func (p *Plan) String() string {
	var lines []string
	add := func(s string) { lines = append(lines, s) }
	if p.Limit > 0 {
		add(fmt.Sprintf("Limit %d", p.Limit))
	}
	if len(p.Order) > 0 {
		var parts []string
		for _, o := range p.Order {
			dir := "ASC"
			if o.Desc {
				dir = "DESC"
			}
			parts = append(parts, p.Outputs[o.Output].Name+" "+dir)
		}
		add("Sort " + strings.Join(parts, ", "))
	}
	if p.Distinct {
		add("Distinct")
	}
	var outs []string
	for _, o := range p.Outputs {
		outs = append(outs, o.describe())
	}
	add("Project " + strings.Join(outs, ", "))
	if p.Having != nil {
		add("Having " + exprString(p.Having))
	}
	if p.Aggregate {
		var keys, aggs []string
		for _, o := range p.Outputs {
			if o.Kind == OutAgg || o.Kind == OutRate {
				aggs = append(aggs, o.describe())
			} else {
				keys = append(keys, o.Name)
			}
		}
		add(fmt.Sprintf("Aggregate by [%s] compute [%s]", strings.Join(keys, ", "), strings.Join(aggs, ", ")))
	}
	if p.Periods != nil {
		add(p.Periods.String())
	}
	if p.Filter != nil {
		add("Filter " + exprString(p.Filter))
	}
	if r := p.Rates; r != nil {
		add(fmt.Sprintf("LookupRate %s.%s where %s.%s = day(%s) and %s.%s = %s", r.Dataset.Name, r.Rate.Name,
			r.Dataset.Name, r.Date.Name, p.Dataset.Time().Name, r.Dataset.Name, r.Currency.Name, r.RowCurrency.Name))
	}
	scan := "Scan " + p.Dataset.Name + " window=" + p.Window.String()
	if p.WindowFrom != "" {
		scan += " (" + p.WindowFrom + ")"
	}
	if p.Tenant != nil {
		scan += fmt.Sprintf(" tenant=%s='%s'", p.Tenant.Column.Name, p.Tenant.Value)
	}
	add(scan)
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(strings.Repeat("  ", i))
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func (w Window) String() string {
	f := func(t *time.Time) string {
		if t == nil {
			return "∞"
		}
		if t.Equal(t.Truncate(24 * time.Hour)) {
			return t.Format("2006-01-02")
		}
		return t.Format(time.RFC3339)
	}
	if w.Start == nil && w.End == nil {
		return "all"
	}
	start := "-∞"
	if w.Start != nil {
		start = f(w.Start)
	}
	return "[" + start + ", " + f(w.End) + ")"
}

func (o Output) describe() string {
	var s string
	switch o.Kind {
	case OutColumn:
		s = o.Column.Name
	case OutAgg:
		s = o.Func + "(" + o.Column.Name + ")"
	case OutBucket:
		s = "bucket(" + o.Unit + ", " + o.Column.Name + ")"
	case OutRate:
		s = "rate(per " + o.Unit + ")"
	case OutConvert:
		s = "rate"
		if o.Column != nil {
			s = o.Column.Name + " × rate"
		}
	case OutConst:
		s = o.Value.String()
	}
	if o.Post != nil {
		s = "(" + s + " " + o.Post.Op + " " + strconv.FormatFloat(o.Post.Operand, 'g', -1, 64) + ")"
	}
	if o.Text && textual(o.Type()) {
		s = "text(" + s + ")"
	}
	if o.Kind != OutColumn || o.Name != o.Column.Name || (o.Text && textual(o.Type())) {
		s += " AS " + o.Name
	}
	return s
}

// textual reports whether Output.Text changes a value of type t.
func textual(t datasets.Type) bool {
	return t == datasets.BigInt || t == datasets.Integer || t == datasets.Timestamp
}

func exprString(e Expr) string {
	switch x := e.(type) {
	case *And:
		return joinExprs(x.Terms, " AND ")
	case *Or:
		return "(" + joinExprs(x.Terms, " OR ") + ")"
	case *Cmp:
		col := x.Column.Name
		if x.Key != "" {
			col += "[" + Value{Type: datasets.Varchar, V: x.Key}.String() + "]"
		}
		if x.Func != "" {
			col = x.Func + "(" + col + ")"
		}
		op := string(x.Op)
		if x.Fold && x.Column.Type == datasets.Varchar {
			op += "/ci"
		}
		switch x.Op {
		case OpIsNull, OpIsNotNull:
			return col + " " + op
		case OpIn, OpNotIn:
			var vs []string
			for _, v := range x.Values {
				vs = append(vs, v.String())
			}
			return col + " " + op + " (" + strings.Join(vs, ", ") + ")"
		}
		return col + " " + op + " " + x.Values[0].String()
	}
	return "?"
}

func joinExprs(es []Expr, sep string) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = exprString(e)
	}
	return strings.Join(parts, sep)
}
