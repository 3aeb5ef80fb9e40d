//go:build duckdb_arrow

package suite

import (
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/parser"
	"github.com/quarry/quarry/planner"
)

// Now is the benchmark's fixed "now": the generated data ends the day
// before, so relative TIMESPANs always cover the same files.
var Now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// PlanFunc builds a plan over a catalog.
type PlanFunc func(cat *datasets.Catalog) (*planner.Plan, error)

// Question is a named question asked as a Quarry plan. Text is the
// report query or a description of the analytics request; Scope is the
// row scope the caller has (a member key of an org, or admin).
type Question struct {
	Name  string
	Text  string
	Scope planner.Scope
	// Report is true when Text is a report query (the insights
	// testQueryResult route can ask it over HTTP).
	Report bool
	Plan   PlanFunc
}

// ReportQuestion is a question in the report query language.
func ReportQuestion(name, text string, scope planner.Scope) Question {
	return Question{Name: name, Text: text, Scope: scope, Report: true, Plan: func(cat *datasets.Catalog) (*planner.Plan, error) {
		q, err := parser.ParseQuery(text)
		if err != nil {
			return nil, err
		}
		return planner.FromQuery(q, cat, planner.Options{Now: Now, Scope: scope})
	}}
}

// AnalyticsQuestion is an analytics JSON query for one org (empty: every org).
func AnalyticsQuestion(name, text string, body planner.AnalyticsRequest, org string) Question {
	return Question{Name: name, Text: text, Scope: planner.Scope{Admin: true}, Plan: func(cat *datasets.Catalog) (*planner.Plan, error) {
		return planner.FromAnalytics(body, cat, planner.AnalyticsOptions{Org: org,
			Options: planner.Options{Now: Now, Scope: planner.Scope{Admin: true}}})
	}}
}

// Window is the time range of the last days whole days before Now.
func Window(days int) planner.TimeRange {
	end := Now.Truncate(24 * time.Hour)
	return planner.TimeRange{Start: end.AddDate(0, 0, -days).Format(time.RFC3339), End: end.Format(time.RFC3339)}
}

// LayoutQuestions are the five questions of ARCHITECTURE.md's layout table.
func LayoutQuestions() []Question {
	return []Question{
		// one org (a member key of acme), last 7 days, top 10 proxies by calls
		ReportQuestion("org_7d_top10_proxies",
			"SELECT apiproxy, message_count FROM transactions ORDER BY message_count LIMIT 10 TIMESPAN LAST_7_DAYS",
			planner.Scope{Org: "acme"}),
		AnalyticsQuestion("org_30d_hourly", "analytics: org acme, sum(message_count) by hour, last 30 days",
			planner.AnalyticsRequest{
				Metrics:         []planner.AnalyticsMetric{{Name: "message_count", Function: "sum"}},
				GroupByTimeUnit: "hour", TimeRange: Window(30)}, "acme"),
		ReportQuestion("filtered_count_all",
			"SELECT message_count FROM transactions WHERE response_status_code >= 500 TIMESPAN LIFETIME",
			planner.Scope{Admin: true}),
		AnalyticsQuestion("one_app_one_day", "analytics: app acme-app-0-1, sum(message_count), avg(total_response_time) by apiproxy, one day",
			planner.AnalyticsRequest{
				Metrics:    []planner.AnalyticsMetric{{Name: "message_count", Function: "sum"}, {Name: "total_response_time", Function: "avg"}},
				Dimensions: []string{"apiproxy"}, Filter: "(developer_app eq 'acme-app-0-1')", TimeRange: Window(1)}, ""),
		ReportQuestion("full_scan_groupby",
			"SELECT apiproxy, response_status_code, message_count, total_response_time FROM transactions TIMESPAN LIFETIME",
			planner.Scope{Admin: true}),
	}
}

// UsageReportQuestion is an aggregation report over the usage dataset.
func UsageReportQuestion() Question {
	return ReportQuestion("usage_by_offer_sku",
		"SELECT OfferType, SKUBillingType, CustomerCountry, NormalizedUsage, EstimatedExtendedChargeCC FROM ISVUsage ORDER BY NormalizedUsage TIMESPAN LIFETIME",
		planner.Scope{Admin: true})
}
