package server

import (
	"math"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/meta"
)

type envelope struct {
	Value        []map[string]any `json:"value"`
	NextLink     *string          `json:"nextLink"`
	TotalCount   int              `json:"totalCount"`
	Message      *string          `json:"message"`
	StatusCode   int              `json:"statusCode"`
	DataRedacted *bool            `json:"dataRedacted"`
	Detail       string           `json:"detail"`
}

func (ts *testServer) insights(t *testing.T, path, secret string, want int) envelope {
	t.Helper()
	r := ts.get(t, path, secret)
	wantStatus(t, r, want)
	var env envelope
	r.json(t, &env)
	if env.StatusCode != want || env.DataRedacted == nil || *env.DataRedacted || env.NextLink != nil || env.Value == nil {
		t.Errorf("envelope %s", r.Body)
	}
	return env
}

func TestScheduledDataset(t *testing.T) {
	ts := startServer(t, serverSetup{})
	for _, prefix := range []string{"/insights/v1.1/cmp", "/insights/v1/cmp", "/insights/v1/mpn"} {
		env := ts.insights(t, prefix+"/ScheduledDataset", ts.Admin, 200)
		var names []string
		for _, d := range env.Value {
			names = append(names, d["datasetName"].(string))
		}
		sort.Strings(names)
		want := "CustomersAndTenants ISVCustomer ISVMarketplaceInsights ISVOfferRetention ISVOrder ISVQualityOfService ISVRevenue ISVUsage"
		if strings.Join(names, " ") != want || env.TotalCount != 8 || env.Message == nil || *env.Message != "Dataset fetched successfully" {
			t.Errorf("%s: names %v, totalCount %d, message %v", prefix, names, env.TotalCount, env.Message)
		}
	}
	for query, want := range map[string]string{
		"?datasetName=ISVUsage":   "ISVUsage",
		"?datasetname=isvusage":   "ISVUsage",
		"?DatasetName=usage":      "ISVUsage",
		"?datasetName=ISVOrderV2": "ISVOrderV2",
	} {
		env := ts.insights(t, "/insights/v1.1/cmp/ScheduledDataset"+query, ts.Admin, 200)
		if len(env.Value) != 1 || env.TotalCount != 1 || env.Value[0]["datasetName"] != want {
			t.Errorf("%s: %+v", query, env)
			continue
		}
		d := env.Value[0]
		if want == "ISVUsage" {
			metrics := d["availableMetrics"].([]any)
			cols := d["selectableColumns"].([]any)
			if !contains(metrics, "NormalizedUsage") || contains(metrics, "CustomerId") || !contains(cols, "CustomerId") ||
				!contains(d["availableDateRanges"].([]any), "LIFETIME") {
				t.Errorf("ISVUsage descriptor %v", d)
			}
		}
	}
	for _, bad := range []string{"ISVUsag", "transactions", "energy"} {
		env := ts.insights(t, "/insights/v1.1/cmp/ScheduledDataset?datasetName="+bad, ts.Admin, 400)
		if env.Message == nil || *env.Message != "Invalid table name" || len(env.Value) != 0 || env.TotalCount != 0 {
			t.Errorf("%s: %+v", bad, env)
		}
		if bad == "ISVUsag" && !strings.Contains(env.Detail, "did you mean 'ISVUsage'?") {
			t.Errorf("detail %q", env.Detail)
		}
	}
	// A key without an account scope lists nothing and may not ask for one.
	org := ts.key(t, meta.Key{Name: "o", Org: "acme"})
	if env := ts.insights(t, "/insights/v1.1/cmp/ScheduledDataset", org, 200); len(env.Value) != 0 {
		t.Errorf("org key lists %d insights datasets", len(env.Value))
	}
	ts.insights(t, "/insights/v1.1/cmp/ScheduledDataset?datasetName=ISVUsage", org, 403)
}

func contains(xs []any, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func testQuery(q string) string {
	return "/insights/v1.1/cmp/ScheduledQueries/testQueryResult?exportQuery=" + url.QueryEscape(q)
}

func TestTestQueryResultRows(t *testing.T) {
	ts := startServer(t, serverSetup{})
	env := ts.insights(t, testQuery("SELECT CustomerId, UsageDate, NormalizedUsage, IsNewCustomer FROM ISVUsage TIMESPAN LIFETIME"), ts.Admin, 200)
	if len(env.Value) != 100 || env.TotalCount != 100 || env.Message != nil {
		t.Fatalf("rows %d, totalCount %d, message %v", len(env.Value), env.TotalCount, env.Message)
	}
	day := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	for _, row := range env.Value {
		if s, ok := row["UsageDate"].(string); !ok || !day.MatchString(s) {
			t.Fatalf("UsageDate %v in %v", row["UsageDate"], row)
		}
		if _, ok := row["NormalizedUsage"].(float64); !ok {
			t.Fatalf("NormalizedUsage %v is not a number", row["NormalizedUsage"])
		}
		if _, ok := row["IsNewCustomer"].(bool); !ok {
			t.Fatalf("IsNewCustomer %v is not a boolean", row["IsNewCustomer"])
		}
		if len(row) != 4 {
			t.Fatalf("row %v", row)
		}
	}
	// A LIMIT under 100 is kept; parameter names in any case.
	for _, p := range []string{"exportQuery", "ExportQuery", "exportquery"} {
		env := ts.insights(t, "/insights/v1/mpn/ScheduledQueries/testQueryResult?"+p+"="+
			url.QueryEscape("SELECT CustomerName, AvailableSeats FROM CustomersAndTenants ORDER BY AvailableSeats DESC LIMIT 10 TIMESPAN LIFETIME"), ts.Admin, 200)
		if len(env.Value) != 10 || env.TotalCount != 10 {
			t.Errorf("%s: %d rows", p, len(env.Value))
		}
	}
	// A system query by id.
	sq := datasets.SystemQueries()[0]
	env = ts.insights(t, "/insights/v1.1/cmp/ScheduledQueries/testQueryResult?queryId="+sq.QueryID, ts.Admin, 200)
	if env.TotalCount != len(env.Value) || env.TotalCount > 100 {
		t.Errorf("system query %s: %d rows", sq.QueryID, env.TotalCount)
	}
	// Timestamps: a timestamp column in YYYY-MM-DD hh:mm:ss.
	env = ts.insights(t, testQuery("SELECT ActionTakenAt FROM ISVUsage WHERE ActionTakenAt > '2000-01-01' LIMIT 3 TIMESPAN LIFETIME"), ts.Admin, 200)
	stamp := regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`)
	if len(env.Value) == 0 {
		t.Errorf("no ActionTakenAt rows")
	}
	for _, row := range env.Value {
		if s, ok := row["ActionTakenAt"].(string); !ok || !stamp.MatchString(s) {
			t.Errorf("ActionTakenAt %v", row["ActionTakenAt"])
		}
	}
}

func TestTestQueryResultTenantScope(t *testing.T) {
	ts := startServer(t, serverSetup{})
	member := ts.key(t, meta.Key{Name: "fabrikam", Account: "pub-fabrikam"})
	env := ts.insights(t, testQuery("SELECT PublisherId, NormalizedUsage FROM ISVUsage TIMESPAN LIFETIME"), member, 200)
	if len(env.Value) != 1 {
		t.Fatalf("rows %v", env.Value)
	}
	var got float64
	for _, row := range env.Value {
		if row["PublisherId"] != "pub-fabrikam" {
			t.Fatalf("member key read PublisherId %v", row["PublisherId"])
		}
		got += row["NormalizedUsage"].(float64)
	}
	// Oracle: hand-written SQL over the usage files.
	m, err := testEngine.Store().Manifest("usage")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range m.Files {
		files = append(files, "'"+testEngine.Store().Abs("usage", f)+"'")
	}
	var want float64
	err = testEngine.DB().QueryRow(`SELECT SUM(NormalizedUsage) FROM read_parquet([` + strings.Join(files, ",") +
		`]) WHERE PublisherId = 'pub-fabrikam'`).Scan(&want)
	if err != nil {
		t.Fatal(err)
	}
	if want == 0 || math.Abs(got-want) > 1e-6*math.Abs(want) {
		t.Errorf("NormalizedUsage %v, oracle %v", got, want)
	}
	// Row-level queries see only the key's rows too.
	env = ts.insights(t, testQuery("SELECT PublisherId, CustomerId FROM ISVUsage TIMESPAN LIFETIME"), member, 200)
	for _, row := range env.Value {
		if row["PublisherId"] != "pub-fabrikam" {
			t.Fatalf("member key read PublisherId %v", row["PublisherId"])
		}
	}
	// An org-only key may not read ISVUsage.
	org := ts.key(t, meta.Key{Name: "acme", Org: "acme"})
	env = ts.insights(t, testQuery("SELECT PublisherId, NormalizedUsage FROM ISVUsage TIMESPAN LIFETIME"), org, 403)
	if env.Message == nil || *env.Message != "Forbidden" || !strings.Contains(env.Detail, "account") {
		t.Errorf("403 envelope %+v", env)
	}
}

func TestTestQueryResultErrors(t *testing.T) {
	ts := startServer(t, serverSetup{})
	for _, tc := range []struct {
		path, message, detail string
		status                int
	}{
		{testQuery("SELECT UsageDat FROM ISVUsage"), "Incorrect column name",
			"line 1, column 8: unknown column 'UsageDat' in dataset ISVUsage; did you mean 'UsageDate'?", 400},
		{testQuery("SELECT UsageDate FROM ISVUsag"), "Invalid table name", "line 1, column 23: unknown dataset 'ISVUsag'; did you mean 'ISVUsage'?", 400},
		{testQuery("SELECT UsageDate FORM ISVUsage"), "Invalid query syntax", "line 1, column ", 400},
		{testQuery("SELECT apiproxy FROM transactions"), "Invalid table name", "line 1, column 22: dataset 'transactions' is not served by the insights API", 400},
		{"/insights/v1.1/cmp/ScheduledQueries/testQueryResult", "Null or missing value", "", 400},
		{testQuery("SELECT UsageDate FROM ISVUsage") + "&queryId=" + datasets.SystemQueries()[0].QueryID,
			"Invalid query parameters - exportQuery and queryId are mutually exclusive", "", 400},
		{"/insights/v1.1/cmp/ScheduledQueries/testQueryResult?queryId=00000000-0000-0000-0000-000000000000", "Invalid QueryId", "", 400},
	} {
		env := ts.insights(t, tc.path, ts.Admin, tc.status)
		if env.Message == nil || *env.Message != tc.message || !strings.HasPrefix(env.Detail, tc.detail) || len(env.Value) != 0 {
			t.Errorf("%s: message %v, detail %q", tc.path, deref(env.Message), env.Detail)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
