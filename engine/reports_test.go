//go:build duckdb_arrow

package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/gen"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/parser"
	"github.com/quarry/quarry/planner"
)

// The end-to-end suite: sample queries of the public docs run through
// parser → planner → engine on generated data, and each answer is checked
// against an oracle — hand-written DuckDB SQL over the same Parquet files,
// read by glob, not through the manifest or the planner.

var (
	sampleDir string
	sampleEng *engine.Engine
	// now is fixed; the data ends the day before.
	now = time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
)

func TestMain(m *testing.M) {
	code, err := runMain(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runMain(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "quarry-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	cat, err := datasets.Load(dir)
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	if _, err := gen.Generate(ctx, datasets.NewStore(dir), cat, gen.Options{
		Seed: 42, End: now.AddDate(0, 0, -1).Truncate(24 * time.Hour), Days: 400,
	}); err != nil {
		return 0, fmt.Errorf("generate sample data: %w", err)
	}
	sampleDir = dir
	sampleEng, err = engine.Open(ctx, engine.Config{DataDir: dir, Clock: func() time.Time { return now }})
	if err != nil {
		return 0, err
	}
	defer sampleEng.Close()
	return m.Run(), nil
}

// table returns the glob scan of a dataset for oracle SQL.
func table(name string) string {
	return fmt.Sprintf("read_parquet('%s/datasets/%s/*/*.parquet')", sampleDir, name)
}

// oracleRows runs hand-written SQL; {usage} style placeholders become
// glob scans of that dataset's files.
func oracleRows(t *testing.T, query string, args ...any) [][]string {
	t.Helper()
	for _, d := range sampleEng.Catalog().Datasets() {
		query = strings.ReplaceAll(query, "{"+d.Name+"}", table(d.Name))
	}
	return sqlRows(t, sampleEng.DB(), query, args...)
}

func runPlan(t *testing.T, p *planner.Plan) [][]string {
	t.Helper()
	res, err := sampleEng.Run(context.Background(), p)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return resultRows(t, res)
}

func runQuery(t *testing.T, text string) [][]string {
	t.Helper()
	q, err := parser.ParseQuery(text)
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	p, err := planner.FromQuery(q, sampleEng.Catalog(), planner.Options{Now: now, Scope: planner.Scope{Admin: true}})
	if err != nil {
		t.Fatalf("plan %q: %v", text, err)
	}
	return runPlan(t, p)
}

// sameRows compares results cell by cell; numbers compare with a relative
// tolerance (parallel floating-point sums differ in the last bits).
// Unordered results are sorted first.
func sameRows(got, want [][]string, ordered bool) string {
	if !ordered {
		got, want = sorted(got), sorted(want)
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return fmt.Sprintf("row %d has %d columns, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			if !sameCell(got[i][j], want[i][j]) {
				return fmt.Sprintf("row %d column %d = %q, want %q\n got row %v\nwant row %v", i, j, got[i][j], want[i][j], got[i], want[i])
			}
		}
	}
	return ""
}

func sameCell(a, b string) bool {
	if a == b {
		return true
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	return math.Abs(x-y) <= 1e-9*math.Max(1, math.Max(math.Abs(x), math.Abs(y)))
}

func sorted(rows [][]string) [][]string {
	out := append([][]string(nil), rows...)
	sort.Slice(out, func(i, j int) bool { return strings.Join(out[i], "\x00") < strings.Join(out[j], "\x00") })
	return out
}

// Windows relative to now = 2026-11-22.
const (
	last6Months = `"UsageDate" >= DATE '2026-05-01' AND "UsageDate" < DATE '2026-11-01'`
	lastMonth   = `"UsageDate" >= DATE '2026-10-01' AND "UsageDate" < DATE '2026-11-01'`
)

func TestSampleQueriesMatchOracle(t *testing.T) {
	// Two real customer ids stand in for the docs' elided GUIDs.
	ids := oracleRows(t, `SELECT CustomerId FROM {usage} WHERE `+last6Months+` GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2`)
	if len(ids) != 2 {
		t.Fatalf("sample data has %d customers", len(ids))
	}
	cases := []struct {
		name, query, oracle string
		ordered             bool
		mayBeEmpty          bool
	}{
		{"every subscription and its customer last month",
			"SELECT MarketplaceSubscriptionId,CustomerId FROM ISVUsage TIMESPAN LAST_MONTH",
			`SELECT MarketplaceSubscriptionId, CustomerId FROM {usage} WHERE ` + lastMonth, false, false},
		{"top 10 subscriptions by charge (default DESC, default LAST_6_MONTHS)",
			"SELECT MarketplaceSubscriptionId, EstimatedExtendedChargeCC FROM ISVUsage ORDER BY EstimatedExtendedChargeCC LIMIT 10",
			`SELECT MarketplaceSubscriptionId, sum(EstimatedExtendedChargeCC) c FROM {usage} WHERE ` + last6Months + ` GROUP BY 1 ORDER BY c DESC, 1 LIMIT 10`, true, false},
		{"metric condition filters aggregated rows",
			"SELECT CustomerId, NormalizedUsage, RawUsage FROM ISVUsage WHERE NormalizedUsage > 100000 ORDER BY NormalizedUsage TIMESPAN LAST_6_MONTHS",
			`SELECT CustomerId, sum(NormalizedUsage) n, sum(RawUsage) FROM {usage} WHERE ` + last6Months + ` GROUP BY 1 HAVING sum(NormalizedUsage) > 100000 ORDER BY n DESC, 1, 3`, true, false},
		{"IN list",
			fmt.Sprintf("SELECT MarketplaceSubscriptionId, MonthStartDate, NormalizedUsage FROM ISVUsage WHERE CustomerId IN ('%s', '%s')", ids[0][0], ids[1][0]),
			fmt.Sprintf(`SELECT MarketplaceSubscriptionId, MonthStartDate, sum(NormalizedUsage) FROM {usage} WHERE %s AND CustomerId IN ('%s', '%s') GROUP BY 1, 2`, last6Months, ids[0][0], ids[1][0]), false, false},
		{"license type and NOT IN",
			"SELECT MonthStartDate, NormalizedUsage FROM ISVUsage WHERE MarketplaceLicenseType = 'Billed Through Azure' AND OfferType NOT IN ('Azure Applications', 'SaaS') TIMESPAN LAST_6_MONTHS",
			`SELECT MonthStartDate, sum(NormalizedUsage) FROM {usage} WHERE ` + last6Months + ` AND MarketplaceLicenseType = 'Billed Through Azure' AND OfferType NOT IN ('Azure Applications', 'SaaS') GROUP BY 1`, false, false},
		{"LAST_1_YEAR",
			"SELECT MonthStartDate, NormalizedUsage FROM ISVUsage WHERE MarketplaceLicenseType = 'Billed Through Azure' AND OfferType NOT IN ('Azure Applications', 'SaaS') TIMESPAN LAST_1_YEAR",
			`SELECT MonthStartDate, sum(NormalizedUsage) FROM {usage} WHERE "UsageDate" >= DATE '2025-11-01' AND "UsageDate" < DATE '2026-11-01' AND MarketplaceLicenseType = 'Billed Through Azure' AND OfferType NOT IN ('Azure Applications', 'SaaS') GROUP BY 1`, false, false},
		{"paid SKUs by day, values case-insensitive",
			"SELECT UsageDate, NormalizedUsage, EstimatedExtendedChargePC FROM ISVUsage WHERE SKUBillingType = 'paid' ORDER BY UsageDate DESC TIMESPAN LAST_MONTH",
			`SELECT UsageDate, sum(NormalizedUsage), sum(EstimatedExtendedChargePC) FROM {usage} WHERE ` + lastMonth + ` AND SKUBillingType = 'Paid' GROUP BY 1 ORDER BY 1 DESC`, true, false},
		{"metered usage of named offers",
			"SELECT OfferName, MeteredUsage FROM ISVUsage WHERE OfferName = 'Example Offer Name' AND OfferType IN ('SaaS', 'Azure Applications') TIMESPAN LAST_6_MONTHS",
			`SELECT OfferName, sum(MeteredUsage) FROM {usage} WHERE ` + last6Months + ` AND OfferName = 'Example Offer Name' AND OfferType IN ('SaaS', 'Azure Applications') GROUP BY 1`, false, false},
		{"curly quotes and LIKE",
			"SELECT DISTINCT MarketplaceSubscriptionId, OfferType FROM ISVUsage WHERE CustomerName LIKE ‘%contosso%’ TIMESPAN LIFETIME",
			`SELECT DISTINCT MarketplaceSubscriptionId, OfferType FROM {usage} WHERE CustomerName ILIKE '%contosso%'`, false, false},
		{"numbers as strings for a VARCHAR column",
			"SELECT CustomerId, RawUsage FROM ISVUsage WHERE CustomerId NOT IN (1000, 1001, 1002) TIMESPAN LAST_MONTH",
			`SELECT CustomerId, sum(RawUsage) FROM {usage} WHERE ` + lastMonth + ` AND CustomerId NOT IN ('1000', '1001', '1002') GROUP BY 1`, false, false},
		{"active customers",
			"SELECT DateAcquired,CustomerCompanyName,CustomerId FROM ISVCustomer WHERE IsActive = 1",
			`SELECT DateAcquired, CustomerCompanyName, CustomerId FROM {customers} WHERE DateAcquired >= DATE '2026-05-01' AND DateAcquired < DATE '2026-11-01' AND IsActive = 1`, false, false},
		{"customers acquired by a date in a country",
			"SELECT DateAcquired,CustomerCompanyName,CustomerId FROM ISVCustomer WHERE DateAcquired <= '2026-06-30' AND CustomerCountryRegion = 'United States'",
			`SELECT DateAcquired, CustomerCompanyName, CustomerId FROM {customers} WHERE DateAcquired >= DATE '2026-05-01' AND DateAcquired < DATE '2026-11-01' AND DateAcquired <= DATE '2026-06-30' AND CustomerCountryRegion = 'United States'`, false, false},
		{"private active orders (lower-case and, number as string)",
			"SELECT OrderId, OfferName FROM ISVOrder WHERE IsPrivateOffer = '1' and OrderStatus = 'Active' TIMESPAN LAST_6_MONTHS",
			`SELECT OrderId, OfferName FROM {orders} WHERE OrderPurchaseDate >= DATE '2026-05-01' AND OrderPurchaseDate < DATE '2026-11-01' AND IsPrivateOffer = 1 AND OrderStatus = 'Active'`, false, false},
		{"sent payouts",
			"SELECT OfferName, TransactionAmountUSD FROM ISVRevenue where PayoutStatus='Sent' TIMESPAN LAST_3_MONTHS",
			`SELECT OfferName, sum(TransactionAmountUSD) FROM {revenue} WHERE MonthStartDate >= DATE '2026-08-01' AND MonthStartDate < DATE '2026-11-01' AND PayoutStatus = 'Sent' GROUP BY 1`, false, false},
		{"partner insights: top seats",
			"SELECT CustomerName, CustomerTpid, Product, AvailableSeats FROM CustomersAndTenants ORDER BY AvailableSeats DESC LIMIT 10 TIMESPAN LAST_MONTH",
			`SELECT CustomerName, CustomerTpid, Product, sum(AvailableSeats) s FROM {customers_and_tenants} WHERE MonthStartDate >= DATE '2026-10-01' AND MonthStartDate < DATE '2026-11-01' GROUP BY 1, 2, 3 ORDER BY s DESC, 1, 2, 3 LIMIT 10`, true, false},
		{"partner insights: SKU and revenue over 20000",
			"SELECT CustomerName, SKU, BilledRevenueUSD FROM CustomersAndTenants WHERE SKU='MICROSOFT 365 BUSINESS STANDARD' AND BilledRevenueUSD>20000 TIMESPAN LAST_6_MONTHS",
			`SELECT CustomerName, SKU, sum(BilledRevenueUSD) FROM {customers_and_tenants} WHERE MonthStartDate >= DATE '2026-05-01' AND MonthStartDate < DATE '2026-11-01' AND SKU = 'MICROSOFT 365 BUSINESS STANDARD' GROUP BY 1, 2 HAVING sum(BilledRevenueUSD) > 20000`, false, false},
		{"seed 003 query",
			"SELECT CustomerName, Product, BilledRevenueUSD FROM CustomersAndTenants ORDER BY BilledRevenueUSD LIMIT 10 TIMESPAN LAST_MONTH",
			`SELECT CustomerName, Product, sum(BilledRevenueUSD) r FROM {customers_and_tenants} WHERE MonthStartDate >= DATE '2026-10-01' AND MonthStartDate < DATE '2026-11-01' GROUP BY 1, 2 ORDER BY r DESC, 1, 2 LIMIT 10`, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := oracleRows(t, c.oracle)
			if len(want) == 0 && !c.mayBeEmpty {
				t.Fatalf("the oracle returns no rows: the sample data does not exercise this query")
			}
			if diff := sameRows(runQuery(t, c.query), want, c.ordered); diff != "" {
				t.Errorf("%s\n%s", c.query, diff)
			}
		})
	}
}

// The invalid examples of the docs fail with a positioned error.
func TestInvalidSampleQueries(t *testing.T) {
	cases := []struct{ query, want string }{
		{"SELECT CustomerId, NormalizedUsage, RawUsage FROM ISVUsage ORDER BY NormalizedUsage WHERE NormalizedUsage > 100000 ORDER BY NormalizedUsage TIMESPAN LAST_6_MONTHS", "line 1, column 85: syntax error near 'WHERE'"},
		{"SELECT OfferName FROM ISVUsage WHERE OfferName = Contoso test Services'", "line 1, column 50"},
		{"SELECT TrialDeployment EstimatedRevenueUSD FROM ISVRevenue", "line 1, column 24"},
		{"SELECT MarketplaceSubscriptionId, TermStartId, TermEndId FROM ISVOrderV2", "line 1, column 35: unknown column 'TermStartId'"},
		{"SELECT UsageDat FROM ISVUsage", "did you mean 'UsageDate'?"},
	}
	for _, c := range cases {
		q, err := parser.ParseQuery(c.query)
		if err == nil {
			_, err = planner.FromQuery(q, sampleEng.Catalog(), planner.Options{Now: now, Scope: planner.Scope{Admin: true}})
		}
		if err == nil {
			t.Errorf("%s: accepted", c.query)
			continue
		}
		if pe, ok := err.(interface{ Position() parser.Pos }); !ok || pe.Position().Line < 1 {
			t.Errorf("%s: error %q has no position", c.query, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant it to contain %q", c.query, err, c.want)
		}
	}
}

// The ten system queries run and return rows.
func TestSystemQueriesRun(t *testing.T) {
	qs := datasets.SystemQueries()
	if len(qs) != 10 {
		t.Fatalf("%d system queries, want 10", len(qs))
	}
	for _, sq := range qs {
		t.Run(sq.Name, func(t *testing.T) {
			got := runQuery(t, sq.Query)
			if len(got) == 0 {
				t.Fatalf("%s (%s) returned no rows", sq.QueryID, sq.Dataset)
			}
			d, _ := sampleEng.Catalog().Lookup(sq.Dataset)
			q, _ := parser.ParseQuery(sq.Query)
			if len(got[0]) != len(q.Select) {
				t.Errorf("%d columns, want %d", len(got[0]), len(q.Select))
			}
			// Row count against the oracle: rows of the window, grouped
			// when the query selects a metric.
			p, _ := planner.FromQuery(q, sampleEng.Catalog(), planner.Options{Now: now, Scope: planner.Scope{Admin: true}})
			tc := d.Time()
			cond := fmt.Sprintf(`"%s" >= '%s' AND "%s" < '%s'`, tc.Name, p.Window.Start.Format("2006-01-02"), tc.Name, p.Window.End.Format("2006-01-02"))
			if f, ok := systemFilters[sq.QueryID]; ok {
				cond += " AND " + f
			} else if p.Filter != nil {
				t.Fatalf("system query %s has a WHERE clause; add its oracle condition to systemFilters", sq.QueryID)
			}
			var want [][]string
			if p.Aggregate {
				var keys []string
				for _, o := range p.Outputs {
					if o.Kind == planner.OutColumn {
						keys = append(keys, `"`+o.Column.Name+`"`)
					}
				}
				want = oracleRows(t, fmt.Sprintf(`SELECT count(*) FROM (SELECT %s FROM {%s} WHERE %s GROUP BY ALL)`, strings.Join(keys, ","), d.Name, cond))
			} else {
				want = oracleRows(t, fmt.Sprintf(`SELECT count(*) FROM {%s} WHERE %s`, d.Name, cond))
			}
			if want[0][0] != strconv.Itoa(len(got)) {
				t.Errorf("%d rows, oracle counts %s", len(got), want[0][0])
			}
		})
	}
}

// systemFilters are the WHERE clauses of the system queries, written by hand.
var systemFilters = map[string]string{
	"2c6f384b-ad52-4aed-965f-32bfa09b3778": "OfferType IN ('vm core image', 'Virtual Machine Licenses', 'multisolution')",
	"3f19fb95-5bc4-4ee0-872e-cedd22578512": "OfferType IN ('vm core image', 'Virtual Machine Licenses', 'multisolution')",
	"f0c4927f-1f23-4c99-be4a-1371a5a9a086": "OfferType IN ('SaaS', 'Azure Applications')",
}

// Filter-token expressions (the analytics API's language) select the same
// rows as their report-language twins, and both agree with the oracle.
func TestFilterTokensMatchReportTwins(t *testing.T) {
	// the same window as the twins' TIMESPAN LAST_7_DAYS at now = 2026-11-22
	start, end := "2026-11-15T00:00:00Z", "2026-11-22T00:00:00Z"
	cases := []struct{ tokens, report, oracle string }{
		{"(apiproxy in 'books','music')", "apiproxy IN ('books','music')", "apiproxy IN ('books','music')"},
		{"(apiproxy notin 'api1','api2')", "apiproxy NOT IN ('api1','api2')", "apiproxy NOT IN ('api1','api2')"},
		{"(response_status_code ge 400 and response_status_code le 599)", "response_status_code >= 400 AND response_status_code <= 599", "response_status_code BETWEEN 400 AND 599"},
		{"(response_status_code eq 500)", "response_status_code = 500", "response_status_code = 500"},
		{"(response_status_code ne 200)", "response_status_code != 200", "response_status_code <> 200"},
		{"(response_status_code gt 200) and (response_status_code lt 500)", "response_status_code > 200 AND response_status_code < 500", "response_status_code > 200 AND response_status_code < 500"},
		{"(apiproxy like 'm%')", "apiproxy LIKE 'm%'", "apiproxy LIKE 'm%'"},
		{"(apiproxy not like 'm%')", "apiproxy NOT LIKE 'm%'", "apiproxy NOT LIKE 'm%'"},
		// no report-language twin — or, is null, a row-level condition on a
		// metric — checked against the oracle only
		{"(total_response_time gt 500) and (total_response_time lt 2000)", "", "total_response_time > 500 AND total_response_time < 2000"},
		{"(is_error eq 1) or (apiproxy in 'api1','api2')", "", "is_error = 1 OR apiproxy IN ('api1','api2')"},
		{"(response_status_code le 201 or response_status_code eq 301) and (is_error eq 1) or (apiproxy in 'api1','api2')", "", "((response_status_code <= 201 OR response_status_code = 301) AND is_error = 1) OR apiproxy IN ('api1','api2')"},
		{"(target_response_code is null)", "", "target_response_code IS NULL"},
		{"(target_response_code isnot null) and (request_verb eq 'POST')", "", "target_response_code IS NOT NULL AND request_verb = 'POST'"},
	}
	for _, c := range cases {
		t.Run(c.tokens, func(t *testing.T) {
			req := planner.AnalyticsRequest{
				Metrics:    []planner.AnalyticsMetric{{Name: "message_count", Function: "sum"}},
				Dimensions: []string{"apiproxy"},
				TimeRange:  planner.TimeRange{Start: start, End: end},
				Filter:     c.tokens,
			}
			p, err := planner.FromAnalytics(req, sampleEng.Catalog(), planner.AnalyticsOptions{Options: planner.Options{Now: now, Scope: planner.Scope{Admin: true}}})
			if err != nil {
				t.Fatal(err)
			}
			fromTokens := runPlan(t, p)
			// the analytics shape: metrics first, then dimensions
			want := oracleRows(t, `SELECT sum(message_count), apiproxy FROM {transactions} WHERE "timestamp" >= TIMESTAMP '2026-11-15' AND "timestamp" < TIMESTAMP '2026-11-22' AND (`+c.oracle+`) GROUP BY 2 ORDER BY 2`)
			if len(want) == 0 {
				t.Fatal("the oracle returns no rows: the sample data does not exercise this filter")
			}
			if diff := sameRows(fromTokens, want, true); diff != "" {
				t.Errorf("filter tokens vs oracle: %s", diff)
			}
			if c.report == "" {
				return
			}
			fromReport := runQuery(t, "SELECT message_count, apiproxy FROM transactions WHERE "+c.report+" ORDER BY apiproxy ASC TIMESPAN LAST_7_DAYS")
			if diff := sameRows(fromReport, want, true); diff != "" {
				t.Errorf("report twin vs oracle: %s", diff)
			}
		})
	}
}

// An analytics request with a time bucket, a derived dimension, a rate
// and a post-operator agrees with the oracle.
func TestAnalyticsBucketsMatchOracle(t *testing.T) {
	var req planner.AnalyticsRequest
	body := `{"metrics":[{"name":"message_count","function":"sum"},
	  {"name":"total_response_time","function":"avg","alias":"avg_s","operator":"/","value":"1000"},
	  {"name":"tpm"}],
	  "dimensions":["ax_day_of_week"],"groupByTimeUnit":"hour","limit":100,
	  "timeRange":{"start":"2026-11-20T00:00:00Z","end":"2026-11-21T00:00:00Z"}}`
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	p, err := planner.FromAnalytics(req, sampleEng.Catalog(), planner.AnalyticsOptions{Org: "acme", Env: "prod", Options: planner.Options{Now: now, Scope: planner.Scope{Admin: true}}})
	if err != nil {
		t.Fatal(err)
	}
	got := runPlan(t, p)
	// metrics, then dimensions, then the time bucket; sorted by time, then dimensions
	want := oracleRows(t, `SELECT sum(message_count), avg(total_response_time) / 1000, count(*) * 60.0 / 3600,
	  strftime("timestamp", '%a') d, strftime(date_trunc('hour', "timestamp"), '%Y-%m-%d %H:%M:%S UTC') h
	  FROM {transactions} WHERE "timestamp" >= TIMESTAMP '2026-11-20' AND "timestamp" < TIMESTAMP '2026-11-21'
	  AND organization = 'acme' AND environment = 'prod' GROUP BY 4, 5 ORDER BY 5, 4 LIMIT 100`)
	if len(want) < 20 {
		t.Fatalf("oracle has %d hourly rows; the sample data is too thin", len(want))
	}
	if diff := sameRows(got, want, true); diff != "" {
		t.Error(diff)
	}
	if got[0][4] != "2026-11-20 00:00:00 UTC" {
		t.Errorf("first bucket = %q, want the seed's format 2026-11-20 00:00:00 UTC", got[0][4])
	}
}

// A member key never sees another tenant's rows, whatever it asks.
func TestMemberSeesOnlyItsRows(t *testing.T) {
	q, _ := parser.ParseQuery("SELECT PublisherId, NormalizedUsage FROM ISVUsage TIMESPAN LIFETIME")
	p, err := planner.FromQuery(q, sampleEng.Catalog(), planner.Options{Now: now, Scope: planner.Scope{Account: "pub-fabrikam"}})
	if err != nil {
		t.Fatal(err)
	}
	got := runPlan(t, p)
	want := oracleRows(t, `SELECT PublisherId, sum(NormalizedUsage) FROM {usage} WHERE PublisherId = 'pub-fabrikam' GROUP BY 1`)
	if diff := sameRows(got, want, false); diff != "" || len(got) != 1 {
		t.Errorf("member of pub-fabrikam: %v (%s)", got, diff)
	}
	// Exports use the same plan, so the same scope.
	path := filepath.Join(t.TempDir(), "r.csv")
	st, err := sampleEng.Export(context.Background(), p, engine.CSV, path)
	if err != nil || st.Rows != 1 {
		t.Errorf("export: %+v, %v", st, err)
	}
}

// A rate without a time bucket is calls per second over the whole range,
// also when the range is whole days (whose files hold exactly its rows,
// so the engine leaves out the time predicate but not the range's length).
func TestAnalyticsRateOverWholeDays(t *testing.T) {
	req := planner.AnalyticsRequest{
		Metrics:    []planner.AnalyticsMetric{{Name: "tps"}, {Name: "message_count", Function: "sum"}},
		Dimensions: []string{"apiproxy"},
		TimeRange:  planner.TimeRange{Start: "2026-11-15T00:00:00Z", End: "2026-11-22T00:00:00Z"},
	}
	p, err := planner.FromAnalytics(req, sampleEng.Catalog(), planner.AnalyticsOptions{Options: planner.Options{Now: now, Scope: planner.Scope{Admin: true}}})
	if err != nil {
		t.Fatal(err)
	}
	got := runPlan(t, p)
	want := oracleRows(t, `SELECT count(*) / (7 * 86400.0), sum(message_count), apiproxy FROM {transactions}
	  WHERE "timestamp" >= TIMESTAMP '2026-11-15' AND "timestamp" < TIMESTAMP '2026-11-22' GROUP BY apiproxy ORDER BY apiproxy`)
	if len(want) < 3 {
		t.Fatalf("oracle has %d rows", len(want))
	}
	if diff := sameRows(got, want, true); diff != "" {
		t.Error(diff)
	}
}
