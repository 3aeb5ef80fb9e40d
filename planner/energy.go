package planner

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quarry/quarry/datasets"
)

// Energy custom reports (ENERGY STAR Portfolio Manager style): a template's
// metrics over a report's properties and timeframe. The energy dataset has
// one row per property per month end; its metrics cover the 12 months
// ending on period_ending, so a "period" of a report is one period ending
// date and one row per property.

// PeriodEnding is a month and year ending a 12-month period.
type PeriodEnding struct {
	Month int `json:"month"`
	Year  int `json:"year"`
}

// Date is the last day of the period's month.
func (p PeriodEnding) Date() time.Time {
	return time.Date(p.Year, time.Month(p.Month)+1, 0, 0, 0, 0, 0, time.UTC)
}

func (p PeriodEnding) String() string { return fmt.Sprintf("%02d/%d", p.Month, p.Year) }

func (p PeriodEnding) check(field string) error {
	if p.Month < 1 || p.Month > 12 || p.Year < 1900 || p.Year > 9999 {
		return &Error{Message: "Invalid timeframe", Detail: fmt.Sprintf("%s: month %d, year %d is not a period ending date; give <month>1…12</month> and a <year> such as 2023", field, p.Month, p.Year)}
	}
	return nil
}

// Timeframe kinds (the children of timeframeType, exactly one per report).
const (
	SinglePeriod          = "singlePeriod"
	DateRange             = "dateRange"
	TwoPeriods            = "twoPeriods"
	CurrentPeriod         = "currentPeriod"
	BaselinePeriod        = "baselinePeriod"
	CurrentVsBaseline     = "currentVsBaseline"
	CompareCurrentPeriod  = "compareCurrentPeriod"
	CompareBaselinePeriod = "compareBaselinePeriod"
)

// TimeframeKinds lists the timeframe kinds.
var TimeframeKinds = []string{SinglePeriod, DateRange, TwoPeriods, CurrentPeriod, BaselinePeriod,
	CurrentVsBaseline, CompareCurrentPeriod, CompareBaselinePeriod}

// Timeframe is a report's timeframe: Kind and the fields it uses.
type Timeframe struct {
	Kind      string       `json:"kind"`
	MeterType string       `json:"meterType,omitempty"` // ENERGY, WATER, WASTE
	Period    PeriodEnding `json:"periodEndingDate,omitempty"`
	PeriodTwo PeriodEnding `json:"periodEndingDateTwo,omitempty"`
	From      PeriodEnding `json:"fromPeriodEndingDate,omitempty"`
	To        PeriodEnding `json:"toPeriodEndingDate,omitempty"`
	Interval  string       `json:"interval,omitempty"` // MONTHLY, QUARTERLY, YEARLY
}

// MaxDateRangePeriods bounds the periods one dateRange may produce.
const MaxDateRangePeriods = 1200

// Periods resolves the timeframe: explicit period ending dates (oldest
// first), and whether each property's latest (current) and earliest
// (baseline) period with data is wanted.
func (t Timeframe) Periods() (dates []time.Time, latest, earliest bool, err error) {
	bad := func(format string, a ...any) error {
		return &Error{Message: "Invalid timeframe", Detail: fmt.Sprintf(format, a...)}
	}
	meter := func() error {
		switch strings.ToUpper(t.MeterType) {
		case "ENERGY":
			return nil
		case "WATER", "WASTE":
			return bad("%s: meterType %s has no data in this deployment (the energy dataset holds energy meters only); use ENERGY", t.Kind, strings.ToUpper(t.MeterType))
		case "":
			return bad("%s needs a <meterType>: ENERGY", t.Kind)
		}
		return bad("%s: meterType '%s' is not ENERGY, WATER or WASTE", t.Kind, t.MeterType)
	}
	switch t.Kind {
	case SinglePeriod:
		if err := t.Period.check("singlePeriod/periodEndingDate"); err != nil {
			return nil, false, false, err
		}
		return []time.Time{t.Period.Date()}, false, false, nil
	case TwoPeriods:
		if err := t.Period.check("twoPeriods/periodEndingDateOne"); err != nil {
			return nil, false, false, err
		}
		if err := t.PeriodTwo.check("twoPeriods/periodEndingDateTwo"); err != nil {
			return nil, false, false, err
		}
		a, b := t.Period.Date(), t.PeriodTwo.Date()
		if a.Equal(b) {
			return []time.Time{a}, false, false, nil
		}
		if b.Before(a) {
			a, b = b, a
		}
		return []time.Time{a, b}, false, false, nil
	case DateRange:
		if err := t.From.check("dateRange/fromPeriodEndingDate"); err != nil {
			return nil, false, false, err
		}
		if err := t.To.check("dateRange/toPeriodEndingDate"); err != nil {
			return nil, false, false, err
		}
		step := 0
		switch strings.ToUpper(t.Interval) {
		case "MONTHLY":
			step = 1
		case "QUARTERLY":
			step = 3
		case "YEARLY":
			step = 12
		case "":
			return nil, false, false, bad("dateRange needs an <interval>: MONTHLY, QUARTERLY or YEARLY")
		default:
			return nil, false, false, bad("dateRange interval '%s' is not MONTHLY, QUARTERLY or YEARLY", t.Interval)
		}
		from, to := t.From.Date(), t.To.Date()
		if to.Before(from) {
			return nil, false, false, bad("dateRange: fromPeriodEndingDate %s is after toPeriodEndingDate %s", t.From, t.To)
		}
		// period endings step back from the last one and stop at the first
		for k := 0; ; k++ {
			d := time.Date(t.To.Year, time.Month(t.To.Month)-time.Month(k*step)+1, 0, 0, 0, 0, 0, time.UTC)
			if d.Before(from) {
				break
			}
			if k == MaxDateRangePeriods {
				return nil, false, false, bad("dateRange gives more than %d periods; narrow it or use a longer interval", MaxDateRangePeriods)
			}
			dates = append(dates, d)
		}
		slices.Reverse(dates)
		return dates, false, false, nil
	case CurrentPeriod, BaselinePeriod, CurrentVsBaseline:
		if err := meter(); err != nil {
			return nil, false, false, err
		}
		return nil, t.Kind != BaselinePeriod, t.Kind != CurrentPeriod, nil
	case CompareCurrentPeriod, CompareBaselinePeriod:
		if err := meter(); err != nil {
			return nil, false, false, err
		}
		if err := t.Period.check(t.Kind + "/periodEndingDate"); err != nil {
			return nil, false, false, err
		}
		return []time.Time{t.Period.Date()}, t.Kind == CompareCurrentPeriod, t.Kind == CompareBaselinePeriod, nil
	case "":
		return nil, false, false, bad("the report has no timeframe; give one of %s", strings.Join(TimeframeKinds, ", "))
	}
	return nil, false, false, bad("unknown timeframe '%s'; use one of %s", t.Kind, strings.Join(TimeframeKinds, ", "))
}

// PeriodPick keeps, for each value of Group, the rows whose Time is one
// of Dates, and (Latest, Earliest) the rows at the group's latest and
// earliest Time at which Valid is not NULL.
type PeriodPick struct {
	Group, Time, Valid *datasets.Column
	Dates              []time.Time
	Latest, Earliest   bool
}

// EnergyForced are the metric ids every energy report starts with, in
// order, whether the template lists them or not: property id and name,
// parent property id and name.
var EnergyForced = []int{448, 443, 449, 1301}

// EnergyPeriodColumn is the result column holding each row's period
// ending date, after the forced columns.
const EnergyPeriodColumn = "periodEndingDate"

// DefaultMaxDataPoints bounds properties × metrics × periods of a report.
const DefaultMaxDataPoints = 2_000_000

// EnergyRequest is what an energy report runs: its template's metric ids
// (in display order), its property ids and its timeframe.
type EnergyRequest struct {
	Metrics    []int
	Properties []string
	Timeframe  Timeframe
	// MaxDataPoints caps properties × metrics × periods (0: 2 million).
	MaxDataPoints int
}

// EnergyMetrics returns the columns of metric ids, forced ones first, in
// the report's column order, or an error naming an unknown id.
func EnergyMetrics(d *datasets.Dataset, ids []int) ([]*datasets.Column, error) {
	byID := map[int]*datasets.Column{}
	for i := range d.Columns {
		if c := &d.Columns[i]; c.MetricID != 0 {
			byID[c.MetricID] = c
		}
	}
	var out []*datasets.Column
	seen := map[int]bool{}
	for _, id := range append(append([]int(nil), EnergyForced...), ids...) {
		if seen[id] {
			continue
		}
		c, ok := byID[id]
		if !ok {
			return nil, &Error{Message: "Invalid metric", Detail: fmt.Sprintf("unknown metric id %d; GET /reports/metrics lists the metric ids", id)}
		}
		seen[id] = true
		out = append(out, c)
	}
	return out, nil
}

// FromEnergy builds the plan of an energy report over the energy dataset:
// one row per property and period, the forced property columns, the period
// ending date, then the template's metrics. Properties outside the
// caller's account simply have no rows (the caller checks they exist).
func FromEnergy(req EnergyRequest, cat *datasets.Catalog, opt Options) (*Plan, error) {
	d, ok := cat.Lookup("energy")
	if !ok {
		return nil, &Error{Message: MsgInvalidTable, Detail: "the energy dataset is not in the catalog"}
	}
	p := &Plan{Dataset: d}
	var err error
	if p.Tenant, err = opt.Scope.tenant(d); err != nil {
		return nil, err
	}
	cols, err := EnergyMetrics(d, req.Metrics)
	if err != nil {
		return nil, err
	}
	if len(req.Properties) == 0 {
		return nil, &Error{Message: "Invalid report", Detail: "the report has no properties; PUT /reports/{reportId} with <properties><id>…</id></properties>"}
	}
	dates, latest, earliest, err := req.Timeframe.Periods()
	if err != nil {
		return nil, err
	}
	periods := len(dates)
	if latest {
		periods++
	}
	if earliest {
		periods++
	}
	maxPoints := req.MaxDataPoints
	if maxPoints <= 0 {
		maxPoints = DefaultMaxDataPoints
	}
	if n := len(req.Properties) * len(cols) * periods; n > maxPoints {
		return nil, &Error{Message: "Too many data points", Detail: fmt.Sprintf("%d properties × %d metrics × %d periods = %d data points, over the limit of %d; report on fewer properties, metrics or periods",
			len(req.Properties), len(cols), periods, n, maxPoints)}
	}
	for i, c := range cols {
		p.Outputs = append(p.Outputs, Output{Name: c.PublicName(), Kind: OutColumn, Column: c})
		if i == len(EnergyForced)-1 {
			p.Outputs = append(p.Outputs, Output{Name: EnergyPeriodColumn, Kind: OutColumn, Column: d.Time()})
		}
	}
	pid, _ := d.Column("property_id")
	in := &Cmp{Column: pid, Op: OpIn}
	for _, id := range req.Properties {
		in.Values = append(in.Values, Value{Type: datasets.Varchar, V: id})
	}
	p.Filter = in
	valid, _ := d.Column("siteTotal")
	p.Periods = &PeriodPick{Group: pid, Time: d.Time(), Valid: valid, Dates: dates, Latest: latest, Earliest: earliest}
	if !latest && !earliest {
		// only the listed month ends: read only their files
		s, e := dates[0], dates[len(dates)-1].AddDate(0, 0, 1)
		p.Window, p.WindowFrom = Window{Start: &s, End: &e}, "timeframe "+req.Timeframe.Kind
	} else {
		p.WindowFrom = "timeframe " + req.Timeframe.Kind
	}
	p.Order = []Order{{Output: 0}, {Output: len(EnergyForced)}}
	return p, nil
}

// periodPick compiles Plan.Periods: a WHERE term for listed dates alone,
// or a QUALIFY clause when latest or earliest periods are wanted.
func (c *compiler) periodPick(pp *PeriodPick) (where, qualify string) {
	t := c.col(pp.Time)
	var list string
	if len(pp.Dates) > 0 {
		vs := make([]string, len(pp.Dates))
		for i, d := range pp.Dates {
			vs[i] = c.typedParam(Value{Type: pp.Time.Type, V: d})
		}
		list = t + " IN (" + strings.Join(vs, ", ") + ")"
	}
	if !pp.Latest && !pp.Earliest {
		return list, ""
	}
	var ors []string
	if list != "" {
		ors = append(ors, list)
	}
	valid := "CASE WHEN " + c.col(pp.Valid) + " IS NOT NULL THEN " + t + " END"
	over := " OVER (PARTITION BY " + c.col(pp.Group) + ")"
	if pp.Latest {
		ors = append(ors, t+" = max("+valid+")"+over)
	}
	if pp.Earliest {
		ors = append(ors, t+" = min("+valid+")"+over)
	}
	return "", strings.Join(ors, " OR ")
}

func (pp *PeriodPick) String() string {
	var parts []string
	for _, d := range pp.Dates {
		parts = append(parts, d.Format("2006-01-02"))
	}
	if pp.Latest {
		parts = append(parts, "latest")
	}
	if pp.Earliest {
		parts = append(parts, "earliest")
	}
	s := fmt.Sprintf("PickPeriods %s per %s: %s", pp.Time.Name, pp.Group.Name, strings.Join(parts, ", "))
	if pp.Latest || pp.Earliest {
		s += " (of the periods where " + pp.Valid.Name + " is not null)"
	}
	return s
}

// EnergyProperties is the plan listing which of the ids are properties
// the caller may see (one row per property id found).
func EnergyProperties(ids []string, cat *datasets.Catalog, opt Options) (*Plan, error) {
	d, ok := cat.Lookup("energy")
	if !ok {
		return nil, &Error{Message: MsgInvalidTable, Detail: "the energy dataset is not in the catalog"}
	}
	p := &Plan{Dataset: d, Distinct: true}
	var err error
	if p.Tenant, err = opt.Scope.tenant(d); err != nil {
		return nil, err
	}
	pid, _ := d.Column("property_id")
	in := &Cmp{Column: pid, Op: OpIn}
	for _, id := range ids {
		in.Values = append(in.Values, Value{Type: datasets.Varchar, V: id})
	}
	p.Filter = in
	p.Outputs = []Output{{Name: pid.Name, Kind: OutColumn, Column: pid}}
	return p, nil
}
