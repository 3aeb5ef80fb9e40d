package planner

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/quarry/quarry/datasets"
)

// SQL is compiled query text with its bound parameters ($1 … $n).
type SQL struct {
	Text string
	Args []any
}

// Dialect is what compilation needs to know of a SQL engine.
type Dialect interface {
	// Ident quotes a catalog identifier.
	Ident(name string) string
	// Param is the placeholder of the n-th argument (1-based).
	Param(n int) string
	// Trunc truncates a timestamp expression to the start of its unit.
	Trunc(unit, expr string) string
	// FormatBucket formats a truncated timestamp as "2006-01-02 15:04:05 UTC".
	FormatBucket(trunc string) string
	// BucketSeconds is the length in seconds of the bucket starting at trunc.
	BucketSeconds(unit, trunc string) string
	// Text renders a value of type t as text (see Output.Text).
	Text(t datasets.Type, expr string) string
}

// DuckDB is the DuckDB dialect.
var DuckDB Dialect = duckDB{}

type duckDB struct{}

func (duckDB) Ident(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
func (duckDB) Param(n int) string       { return "$" + strconv.Itoa(n) }
func (duckDB) Trunc(unit, expr string) string {
	return fmt.Sprintf("date_trunc('%s', %s)", unit, expr)
}
func (duckDB) FormatBucket(trunc string) string {
	return fmt.Sprintf("strftime(%s, '%%Y-%%m-%%d %%H:%%M:%%S UTC')", trunc)
}
func (duckDB) BucketSeconds(unit, trunc string) string {
	return fmt.Sprintf("(epoch(%s + INTERVAL 1 %s) - epoch(%s))", trunc, unit, trunc)
}

func (duckDB) Text(t datasets.Type, expr string) string {
	if t == datasets.Timestamp {
		return fmt.Sprintf("strftime(%s, '%%Y-%%m-%%d %%H:%%M:%%S.%%g UTC')", expr)
	}
	return "CAST(" + expr + " AS VARCHAR)"
}

// Names of the looked-up rate columns (Plan.Rates).
const (
	rateDate     = "__rate_date"
	rateCurrency = "__rate_currency"
	rateValue    = "__rate"
)

// TimeUnits are the units of time buckets, in increasing size.
var TimeUnits = []string{"second", "minute", "hour", "day", "week", "month"}

// compiler accumulates SQL text and arguments.
type compiler struct {
	d    Dialect
	p    *Plan
	args []any
}

func (c *compiler) param(v any) string {
	c.args = append(c.args, v)
	return c.d.Param(len(c.args))
}

// typedParam binds a value; dates and times travel as text and are cast
// in SQL so that DuckDB compares them with the column's own type.
func (c *compiler) typedParam(v Value) string {
	switch x := v.V.(type) {
	case time.Time:
		if v.Type == datasets.Date {
			return "CAST(" + c.param(x.UTC().Format("2006-01-02")) + " AS DATE)"
		}
		return "CAST(" + c.param(x.UTC().Format("2006-01-02 15:04:05.999999")) + " AS TIMESTAMP)"
	}
	return c.param(v.V)
}

func (c *compiler) col(col *datasets.Column) string {
	if col.Derived() {
		return "(" + col.Expr + ")"
	}
	return c.d.Ident(col.Name)
}

// Compile renders the plan as one SELECT over from, a relation the caller
// provides (the engine passes the scan of the plan's files). Every value
// is a bound parameter; every identifier comes from the catalog. A plan
// that looks up rates (Plan.Rates) reads them from the relation named
// after the rates dataset; see CompileSources.
func Compile(p *Plan, d Dialect, from string) (SQL, error) {
	return CompileSources(p, d, map[string]string{p.Dataset.Name: from})
}

// CompileSources is Compile with the relation of every dataset the plan
// reads, by dataset name; a dataset missing from sources is read from
// the relation of its quoted name.
func CompileSources(p *Plan, d Dialect, sources map[string]string) (SQL, error) {
	source := func(ds *datasets.Dataset) string {
		if s, ok := sources[ds.Name]; ok {
			return s
		}
		return d.Ident(ds.Name)
	}
	from := source(p.Dataset)
	c := &compiler{d: d, p: p}
	var b strings.Builder
	b.WriteString("SELECT ")
	if p.Distinct {
		b.WriteString("DISTINCT ")
	}
	var groups []string
	// sortBy[i] is what ORDER BY uses for output i: its position, or the
	// value before Output.Text (text does not sort like numbers or times).
	sortBy := make([]string, len(p.Outputs))
	for i, o := range p.Outputs {
		if i > 0 {
			b.WriteString(", ")
		}
		e, err := c.output(o)
		if err != nil {
			return SQL{}, err
		}
		b.WriteString(e)
		b.WriteString(" AS ")
		b.WriteString(d.Ident(o.Name))
		sortBy[i] = strconv.Itoa(i + 1)
		switch {
		case !p.Aggregate:
		case o.Kind == OutColumn:
			groups = append(groups, c.col(o.Column))
		case o.Kind == OutBucket:
			// group by the truncated time; the formatted text and the
			// bucket's length are functions of it
			groups = append(groups, d.Trunc(o.Unit, c.col(o.Column)))
		}
	}
	b.WriteString("\nFROM ")
	b.WriteString(from)
	if r := p.Rates; r != nil {
		// The rates' columns are renamed so that they cannot collide with
		// the row's; a row without a rate for its day keeps NULL.
		fmt.Fprintf(&b, "\nLEFT JOIN (SELECT %s AS %s, %s AS %s, %s AS %s FROM %s) ON %s = CAST(%s AS DATE) AND %s = %s",
			c.col(r.Date), d.Ident(rateDate), c.col(r.Currency), d.Ident(rateCurrency), c.col(r.Rate), d.Ident(rateValue),
			source(r.Dataset), d.Ident(rateDate), c.col(p.Dataset.Time()), d.Ident(rateCurrency), c.col(r.RowCurrency))
	}
	var where []string
	tc := p.Dataset.Time()
	tv := func(t time.Time) Value { return Value{Type: tc.Type, V: t} }
	if p.Window.Start != nil && !p.WindowImplied {
		where = append(where, c.col(tc)+" >= "+c.typedParam(tv(*p.Window.Start)))
	}
	if p.Window.End != nil && !p.WindowImplied {
		where = append(where, c.col(tc)+" < "+c.typedParam(tv(*p.Window.End)))
	}
	if p.Tenant != nil {
		where = append(where, c.col(p.Tenant.Column)+" = "+c.param(p.Tenant.Value))
	}
	if p.Filter != nil {
		where = append(where, c.expr(p.Filter, false))
	}
	var qualify string
	if p.Periods != nil {
		var w string
		if w, qualify = c.periodPick(p.Periods); w != "" {
			where = append(where, w)
		}
	}
	if len(where) > 0 {
		b.WriteString("\nWHERE ")
		b.WriteString(strings.Join(where, "\n  AND "))
	}
	if len(groups) > 0 {
		b.WriteString("\nGROUP BY ")
		b.WriteString(strings.Join(groups, ", "))
	}
	if p.Having != nil {
		if !p.Aggregate {
			return SQL{}, fmt.Errorf("plan has a HAVING filter but does not aggregate")
		}
		b.WriteString("\nHAVING ")
		b.WriteString(c.expr(p.Having, true))
	}
	if qualify != "" {
		b.WriteString("\nQUALIFY ")
		b.WriteString(qualify)
	}
	if len(p.Order) > 0 {
		b.WriteString("\nORDER BY ")
		for i, o := range p.Order {
			if i > 0 {
				b.WriteString(", ")
			}
			if out := p.Outputs[o.Output]; out.Text && textual(out.Type()) {
				out.Text = false
				raw, err := c.output(out)
				if err != nil {
					return SQL{}, err
				}
				sortBy[o.Output] = raw
			}
			b.WriteString(sortBy[o.Output])
			if o.Desc {
				b.WriteString(" DESC NULLS LAST")
			} else {
				b.WriteString(" ASC NULLS LAST")
			}
		}
	}
	if p.Limit > 0 {
		b.WriteString("\nLIMIT ")
		b.WriteString(c.param(p.Limit))
	}
	return SQL{Text: b.String(), Args: c.args}, nil
}

func (c *compiler) output(o Output) (string, error) {
	var e string
	switch o.Kind {
	case OutColumn:
		e = c.col(o.Column)
	case OutAgg:
		e = aggSQL(o.Func, c.col(o.Column))
		if o.Func == "last" {
			e = "arg_max(" + c.col(o.Column) + ", " + c.col(c.p.Dataset.Time()) + ")"
		}
	case OutBucket:
		e = c.d.FormatBucket(c.d.Trunc(o.Unit, c.col(o.Column)))
	case OutConvert:
		if c.p.Rates == nil {
			return "", fmt.Errorf("output %s converts with a rate, but the plan looks up no rates", o.Name)
		}
		e = c.d.Ident(rateValue)
		if o.Column != nil {
			e = "(" + c.col(o.Column) + " * " + e + ")"
		}
	case OutConst:
		e = c.typedParam(o.Value)
	case OutRate:
		per := 1.0
		if o.Unit == "minute" {
			per = 60
		}
		var secs string
		if b := c.bucket(); b != nil {
			secs = c.d.BucketSeconds(b.Unit, c.d.Trunc(b.Unit, c.col(b.Column)))
		} else {
			w := c.p.Window
			if w.Start == nil || w.End == nil {
				return "", fmt.Errorf("a rate needs a bounded time range or a time bucket")
			}
			secs = c.param(w.End.Sub(*w.Start).Seconds())
		}
		e = fmt.Sprintf("(count(*) * %s / %s)", c.param(per), secs)
	default:
		return "", fmt.Errorf("unknown output kind %d", o.Kind)
	}
	if o.Post != nil {
		switch o.Post.Op {
		case "+", "-", "*", "/", "%":
		default:
			return "", fmt.Errorf("unknown post-operator %q", o.Post.Op)
		}
		e = "(" + e + " " + o.Post.Op + " " + c.param(o.Post.Operand) + ")"
	}
	if t := o.Type(); o.Text && textual(t) {
		e = c.d.Text(t, e)
	}
	return e, nil
}

func (c *compiler) bucket() *Output {
	for i := range c.p.Outputs {
		if c.p.Outputs[i].Kind == OutBucket {
			return &c.p.Outputs[i]
		}
	}
	return nil
}

func aggSQL(fn, e string) string {
	switch fn {
	case "count":
		return "count(" + e + ")"
	case "avg":
		return "avg(" + e + ")"
	case "min":
		return "min(" + e + ")"
	case "max":
		return "max(" + e + ")"
	}
	return "sum(" + e + ")"
}

func (c *compiler) expr(e Expr, having bool) string {
	switch x := e.(type) {
	case *And:
		parts := make([]string, len(x.Terms))
		for i, t := range x.Terms {
			parts[i] = c.expr(t, having)
		}
		return "(" + strings.Join(parts, " AND ") + ")"
	case *Or:
		parts := make([]string, len(x.Terms))
		for i, t := range x.Terms {
			parts[i] = c.expr(t, having)
		}
		return "(" + strings.Join(parts, " OR ") + ")"
	case *Cmp:
		return c.cmp(x)
	}
	panic(fmt.Sprintf("planner: unknown expression %T", e))
}

func (c *compiler) cmp(x *Cmp) string {
	lhs := c.col(x.Column)
	if x.Key != "" {
		// the key travels as a bound JSON pointer (RFC 6901: "~" is "~0",
		// "/" is "~1"), so any key text is safe
		ptr := "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(x.Key)
		lhs = "json_extract_string(" + lhs + ", " + c.param(ptr) + ")"
	}
	if x.Func != "" {
		lhs = aggSQL(x.Func, lhs)
	}
	fold := x.Fold && x.Func == ""
	val := func(v Value) string {
		if s, ok := v.V.(string); ok && fold {
			return c.param(strings.ToLower(s))
		}
		return c.typedParam(v)
	}
	switch x.Op {
	case OpIsNull:
		return lhs + " IS NULL"
	case OpIsNotNull:
		return lhs + " IS NOT NULL"
	case OpLike, OpNotLike:
		if x.Column.Type != datasets.Varchar && x.Column.Type != datasets.JSON {
			lhs = "CAST(" + lhs + " AS VARCHAR)"
		}
		op := " LIKE "
		if x.Fold {
			op = " ILIKE "
		}
		if x.Op == OpNotLike {
			op = " NOT" + op
		}
		return lhs + op + c.param(x.Values[0].V)
	}
	if fold {
		lhs = "lower(" + lhs + ")"
	}
	switch x.Op {
	case OpIn, OpNotIn:
		vs := make([]string, len(x.Values))
		for i, v := range x.Values {
			vs[i] = val(v)
		}
		return lhs + " " + string(x.Op) + " (" + strings.Join(vs, ", ") + ")"
	case OpNe:
		return lhs + " <> " + val(x.Values[0])
	}
	return lhs + " " + string(x.Op) + " " + val(x.Values[0])
}
