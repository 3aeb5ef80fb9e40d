package planner

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quarry/quarry/datasets"
)

// MintRequest is a monetization async report's criteria (Apigee Edge
// MintCriteria, the fields the async-reports endpoint takes).
type MintRequest struct {
	AppCriteria            []MintCriterion `json:"appCriteria,omitempty"`
	DevCriteria            []MintCriterion `json:"devCriteria,omitempty"`
	BillingMonth           string          `json:"billingMonth,omitempty"`
	BillingYear            FlexString      `json:"billingYear,omitempty"`
	CurrencyOption         string          `json:"currencyOption,omitempty"`
	FromDate               string          `json:"fromDate,omitempty"`
	ToDate                 string          `json:"toDate,omitempty"`
	MonetizationPackageIds []string        `json:"monetizationPackageIds,omitempty"`
	ProductIds             []string        `json:"productIds,omitempty"`
	RatePlanLevels         []string        `json:"ratePlanLevels,omitempty"`
}

// UnmarshalJSON also accepts "monetizationPakageIds", the spelling of the
// public documentation's field table.
func (m *MintRequest) UnmarshalJSON(b []byte) error {
	type plain MintRequest
	var aux struct {
		plain
		Typo []string `json:"monetizationPakageIds"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*m = MintRequest(aux.plain)
	if len(m.MonetizationPackageIds) == 0 {
		m.MonetizationPackageIds = aux.Typo
	}
	return nil
}

// MintCriterion names an app or a developer and its organization.
type MintCriterion struct {
	ID    string `json:"id"`
	OrgID string `json:"orgId,omitempty"`
}

// FlexString is a JSON string or number, kept as text (billingYear is
// sent both ways).
type FlexString string

// UnmarshalJSON accepts "2015" and 2015.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = FlexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("must be a string or a number: %w", err)
	}
	*f = FlexString(n.String())
	return nil
}

// MintCurrencies are the currencyOption values besides LOCAL.
var MintCurrencies = []string{"USD", "EUR", "GBP"}

// MintColumns are the result columns of a monetization report, in order:
// one row per monetized transaction (a call with a price), oldest first.
var MintColumns = []string{
	"transaction_time", "organization", "environment", "developer", "developer_email", "developer_app",
	"api_product", "monetization_package", "rate_plan", "rate_plan_level", "transaction_type",
	"transaction_status", "revenue_share_pct", "local_price", "local_currency", "exchange_rate",
	"amount", "currency",
}

// FromMint builds the plan of a monetization async report over
// transactions, converting prices with exchange_rates on each
// transaction's day unless currencyOption is LOCAL (or empty).
func FromMint(req MintRequest, cat *datasets.Catalog, opt AnalyticsOptions) (*Plan, error) {
	bad := func(format string, a ...any) error {
		return &Error{Message: "Bad request", Detail: fmt.Sprintf(format, a...)}
	}
	d, ok := cat.Lookup("transactions")
	if !ok {
		return nil, &Error{Message: MsgInvalidTable, Detail: "the transactions dataset is not in the catalog"}
	}
	p := &Plan{Dataset: d}
	var err error
	if p.Tenant, err = opt.Scope.tenant(d); err != nil {
		return nil, err
	}
	w, from, err := mintWindow(req)
	if err != nil {
		return nil, err
	}
	if err := opt.checkRange(w, from); err != nil {
		return nil, err
	}
	p.Window, p.WindowFrom = w, from

	col := func(name string) *datasets.Column {
		c, ok := d.Column(name)
		if !ok {
			panic("planner: transactions has no column " + name)
		}
		return c
	}
	cur := strings.ToUpper(strings.TrimSpace(req.CurrencyOption))
	if cur == "GPB" { // the public spec's spelling of GBP
		cur = "GBP"
	}
	switch {
	case cur == "" || cur == "LOCAL":
		cur = "LOCAL"
	case slices.Contains(MintCurrencies, cur):
	default:
		return nil, bad("currencyOption '%s' is not one of LOCAL, EUR, GBP, USD", req.CurrencyOption)
	}
	p.Outputs = append(p.Outputs, Output{Name: "transaction_time", Kind: OutColumn, Column: d.Time(), Text: true})
	for _, name := range MintColumns[1:13] {
		p.Outputs = append(p.Outputs, Output{Name: name, Kind: OutColumn, Column: col(name)})
	}
	p.Outputs = append(p.Outputs,
		Output{Name: "local_price", Kind: OutColumn, Column: col("price")},
		Output{Name: "local_currency", Kind: OutColumn, Column: col("currency")})
	if cur == "LOCAL" {
		p.Outputs = append(p.Outputs,
			Output{Name: "exchange_rate", Kind: OutConst, Value: Value{Type: datasets.Double, V: 1.0}},
			Output{Name: "amount", Kind: OutColumn, Column: col("price")},
			Output{Name: "currency", Kind: OutColumn, Column: col("currency")})
	} else {
		rd, ok := cat.Lookup("exchange_rates")
		if !ok {
			return nil, &Error{Message: MsgInvalidTable, Detail: "currency conversion needs the exchange_rates dataset, which is not in the catalog"}
		}
		rc := func(name string) *datasets.Column {
			c, ok := rd.Column(name)
			if !ok {
				panic("planner: exchange_rates has no column " + name)
			}
			return c
		}
		p.Rates = &RateJoin{Dataset: rd, Date: rd.Time(), Currency: rc("currency"),
			Rate: rc("rate_to_" + strings.ToLower(cur)), RowCurrency: col("currency")}
		p.Outputs = append(p.Outputs,
			Output{Name: "exchange_rate", Kind: OutConvert},
			Output{Name: "amount", Kind: OutConvert, Column: col("price")},
			Output{Name: "currency", Kind: OutConst, Value: Value{Type: datasets.Varchar, V: cur}})
	}

	// filters: the path's org/env, monetized rows, then the criteria
	var terms []Expr
	eq := func(c *datasets.Column, v string) *Cmp {
		return &Cmp{Column: c, Op: OpEq, Values: []Value{{datasets.Varchar, v}}}
	}
	in := func(c *datasets.Column, vs []string) *Cmp {
		cmp := &Cmp{Column: c, Op: OpIn}
		for _, v := range vs {
			cmp.Values = append(cmp.Values, Value{datasets.Varchar, v})
		}
		return cmp
	}
	if opt.Org != "" {
		terms = append(terms, eq(col("organization"), opt.Org))
	}
	if opt.Env != "" {
		terms = append(terms, eq(col("environment"), opt.Env))
	}
	terms = append(terms, &Cmp{Column: col("price"), Op: OpIsNotNull})
	checkOrg := func(field string, c MintCriterion) error {
		if strings.TrimSpace(c.ID) == "" {
			return bad("%s: every entry needs an id", field)
		}
		if c.OrgID != "" && opt.Org != "" && c.OrgID != opt.Org {
			return bad("%s: orgId '%s' of '%s' is not the organization of the path, '%s'", field, c.OrgID, c.ID, opt.Org)
		}
		return nil
	}
	if len(req.AppCriteria) > 0 {
		var apps []string
		for _, a := range req.AppCriteria {
			if err := checkOrg("appCriteria", a); err != nil {
				return nil, err
			}
			apps = append(apps, a.ID)
		}
		terms = append(terms, in(col("developer_app"), apps))
	}
	if len(req.DevCriteria) > 0 {
		// a developer is named by id (developer = org@@@id) or by email
		var ors []Expr
		for _, dc := range req.DevCriteria {
			if err := checkOrg("devCriteria", dc); err != nil {
				return nil, err
			}
			org := dc.OrgID
			if org == "" {
				org = opt.Org
			}
			ors = append(ors, eq(col("developer_email"), dc.ID))
			if org != "" {
				ors = append(ors, eq(col("developer"), org+"@@@"+dc.ID))
			}
		}
		terms = append(terms, &Or{Terms: ors})
	}
	if len(req.ProductIds) > 0 {
		var ps []string
		for _, id := range req.ProductIds {
			// "org@@@product" or "product"
			if i := strings.LastIndex(id, "@@@"); i >= 0 {
				id = id[i+3:]
			}
			ps = append(ps, id)
		}
		terms = append(terms, in(col("api_product"), ps))
	}
	if len(req.MonetizationPackageIds) > 0 {
		terms = append(terms, in(col("monetization_package"), req.MonetizationPackageIds))
	}
	if len(req.RatePlanLevels) > 0 {
		var ls []string
		for _, l := range req.RatePlanLevels {
			u := strings.ToUpper(strings.TrimSpace(l))
			if u != "DEVELOPER" && u != "STANDARD" {
				return nil, bad("ratePlanLevels: '%s' is not DEVELOPER or STANDARD", l)
			}
			ls = append(ls, u)
		}
		terms = append(terms, in(col("rate_plan_level"), ls))
	}
	p.Filter = conj(terms)
	// oldest first; ties in a stable order
	p.Order = []Order{{Output: 0}, {Output: 3}, {Output: 5}}
	return p, nil
}

var months = []string{"JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST",
	"SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER"}

// mintWindow is [fromDate, toDate) — toDate's day itself excluded, as
// monetization revenue reports do — or, without dates, the billing month.
func mintWindow(req MintRequest) (Window, string, error) {
	bad := func(format string, a ...any) error {
		return &Error{Message: "Bad request", Detail: fmt.Sprintf(format, a...)}
	}
	if req.FromDate != "" || req.ToDate != "" {
		if req.FromDate == "" || req.ToDate == "" {
			return Window{}, "", bad("give both fromDate and toDate (\"2017-06-01 00:00:00\", UTC; the time is optional)")
		}
		s, err := parseMintDate(req.FromDate)
		if err != nil {
			return Window{}, "", bad("fromDate: %v", err)
		}
		e, err := parseMintDate(req.ToDate)
		if err != nil {
			return Window{}, "", bad("toDate: %v", err)
		}
		if !s.Before(e) {
			return Window{}, "", bad("fromDate %s must be before toDate %s", req.FromDate, req.ToDate)
		}
		return Window{Start: &s, End: &e}, "fromDate " + req.FromDate + " toDate " + req.ToDate, nil
	}
	if req.BillingMonth == "" || req.BillingYear == "" {
		return Window{}, "", bad("give fromDate and toDate, or billingMonth and billingYear (e.g. \"JUNE\" and 2017)")
	}
	m := -1
	for i, name := range months {
		if strings.EqualFold(strings.TrimSpace(req.BillingMonth), name) {
			m = i
		}
	}
	if m < 0 {
		return Window{}, "", bad("billingMonth '%s' is not a month name such as JULY", req.BillingMonth)
	}
	y, err := strconv.Atoi(strings.TrimSpace(string(req.BillingYear)))
	if err != nil || y < 1970 || y > 9999 {
		return Window{}, "", bad("billingYear '%s' is not a year such as 2017", req.BillingYear)
	}
	s := time.Date(y, time.Month(m+1), 1, 0, 0, 0, 0, time.UTC)
	e := s.AddDate(0, 1, 0)
	return Window{Start: &s, End: &e}, "billing month " + months[m] + " " + strconv.Itoa(y), nil
}

func parseMintDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02", "2006-01-02T15:04:05Z", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("'%s' is not a date such as 2017-06-01 or 2017-06-01 00:00:00", s)
}
