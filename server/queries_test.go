package server

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server/insights"
)

const queriesPath = "/insights/v1.1/cmp/ScheduledQueries"

var (
	uuidRE     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	apiTimeRE  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
	usageQuery = "SELECT CustomerId, NormalizedUsage FROM ISVUsage ORDER BY NormalizedUsage DESC LIMIT 20 TIMESPAN LIFETIME"
)

// call sends a request with a body to an insights route, checks the
// status and the envelope, and returns the envelope.
func (ts *testServer) call(t *testing.T, method, path, secret, body string, want int) envelope {
	t.Helper()
	var r response
	if body == "" {
		r = ts.do(t, method, path, "Bearer "+secret, nil)
	} else {
		r = ts.do(t, method, path, "Bearer "+secret, strings.NewReader(body), "Content-Type", "application/json")
	}
	wantStatus(t, r, want)
	var env envelope
	r.json(t, &env)
	if env.StatusCode != want || env.DataRedacted == nil || *env.DataRedacted || env.NextLink != nil || env.Value == nil {
		t.Errorf("envelope %s", r.Body)
	}
	if want >= 400 && (len(env.Value) != 0 || env.TotalCount != 0) {
		t.Errorf("error envelope with values: %s", r.Body)
	}
	return env
}

// createQuery saves a query and returns its id.
func (ts *testServer) createQuery(t *testing.T, prefix, secret, name, query string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"Name": name, "Query": query})
	env := ts.call(t, http.MethodPost, prefix+"/ScheduledQueries", secret, string(b), 200)
	if len(env.Value) != 1 {
		t.Fatalf("created %v", env.Value)
	}
	return env.Value[0]["queryId"].(string)
}

func wantMessage(t *testing.T, env envelope, msg string) {
	t.Helper()
	if env.Message == nil || *env.Message != msg {
		t.Errorf("message %q, want %q (detail %q)", deref(env.Message), msg, env.Detail)
	}
}

func names(env envelope) []string {
	var out []string
	for _, v := range env.Value {
		out = append(out, v["name"].(string))
	}
	return out
}

func TestScheduledQueriesLifecycle(t *testing.T) {
	ts := startServer(t, serverSetup{})
	alice := ts.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})

	// PascalCase, as the docs send it.
	env := ts.call(t, http.MethodPost, queriesPath, alice, `{
		"Name": "ISVUsageQuery",
		"Description": "Normalized Usage for PAID SKUs",
		"Query": "SELECT UsageDate, NormalizedUsage FROM ISVUsage WHERE SKUBillingType = 'Paid' ORDER BY UsageDate DESC TIMESPAN LAST_MONTH"
	}`, 200)
	wantMessage(t, env, "Query created successfully")
	if env.TotalCount != 1 || len(env.Value) != 1 {
		t.Fatalf("created %+v", env)
	}
	q := env.Value[0]
	id, _ := q["queryId"].(string)
	if !uuidRE.MatchString(id) || q["name"] != "ISVUsageQuery" || q["description"] != "Normalized Usage for PAID SKUs" ||
		!strings.HasPrefix(q["query"].(string), "SELECT UsageDate") || q["type"] != "userDefined" || q["user"] != "alice" ||
		!apiTimeRE.MatchString(q["createdTime"].(string)) {
		t.Errorf("created query %v", q)
	}
	if v, present := q["modifiedTime"]; !present || v != nil {
		t.Errorf("modifiedTime %v (present %v), want null", v, present)
	}

	// camelCase, as most clients send it, under an alias prefix.
	env = ts.call(t, http.MethodPost, "/insights/v1/mpn/ScheduledQueries", alice,
		`{"name": "byCustomer", "query": "`+usageQuery+`"}`, 200)
	byCustomer := env.Value[0]["queryId"].(string)
	if env.Value[0]["name"] != "byCustomer" || env.Value[0]["description"] != "" || env.Value[0]["query"] != usageQuery {
		t.Errorf("camelCase body: %v", env.Value[0])
	}

	// Default listing: the ten system queries, then the user's, oldest first.
	env = ts.call(t, http.MethodGet, queriesPath, alice, "", 200)
	wantMessage(t, env, "Queries fetched successfully")
	if env.TotalCount != 12 || len(env.Value) != 12 {
		t.Fatalf("listed %d (%v)", env.TotalCount, names(env))
	}
	for i, v := range env.Value {
		wantType := "system"
		if i >= 10 {
			wantType = "userDefined"
		}
		if v["type"] != wantType {
			t.Errorf("value[%d] type %v, want %s", i, v["type"], wantType)
		}
	}
	if got := strings.Join(names(env)[10:], ","); got != "ISVUsageQuery,byCustomer" {
		t.Errorf("user queries %s", got)
	}

	// Only system queries: exactly the ten published ones.
	for _, p := range []string{"?includeOnlySystemQueries=true", "?IncludeOnlySystemQueries=True", "?includeonlysystemqueries=1&includeSystemQueries=true"} {
		env = ts.call(t, http.MethodGet, queriesPath+p, alice, "", 200)
		if env.TotalCount != 10 || len(env.Value) != 10 {
			t.Errorf("%s: %d queries", p, len(env.Value))
			continue
		}
		for i, v := range env.Value {
			sq := datasets.SystemQueries()[i]
			if v["queryId"] != sq.QueryID || v["type"] != "system" || v["query"] != sq.Query || v["user"] != nil {
				t.Errorf("%s: value[%d] = %v", p, i, v)
			}
		}
	}
	// No system queries.
	for _, p := range []string{"?includeSystemQueries=false", "?IncludeSystemQueries=FALSE&includeOnlySystemQueries=false"} {
		env = ts.call(t, http.MethodGet, queriesPath+p, alice, "", 200)
		if got := strings.Join(names(env), ","); got != "ISVUsageQuery,byCustomer" || env.TotalCount != 2 {
			t.Errorf("%s: %s", p, got)
		}
	}
	// By id (parameter names in any case; ids in any case) and by name.
	for _, p := range []string{"?queryId=" + id, "?QueryId=" + strings.ToUpper(id), "?queryName=isvusagequery",
		"?queryId=" + id + "&includeSystemQueries=false", "?queryName=ISVUsageQuery&queryId=" + id} {
		env = ts.call(t, http.MethodGet, queriesPath+p, alice, "", 200)
		if env.TotalCount != 1 || env.Value[0]["queryId"] != id {
			t.Errorf("%s: %v", p, env.Value)
		}
	}
	sq := datasets.SystemQueries()[8] // its published id is not a UUID
	env = ts.call(t, http.MethodGet, queriesPath+"?queryId="+sq.QueryID, alice, "", 200)
	if env.TotalCount != 1 || env.Value[0]["name"] != sq.Name {
		t.Errorf("system query by id: %v", env.Value)
	}
	env = ts.call(t, http.MethodGet, queriesPath+"?queryName="+url.QueryEscape(sq.Name), alice, "", 200)
	if env.TotalCount != 1 || env.Value[0]["queryId"] != sq.QueryID {
		t.Errorf("system query by name: %v", env.Value)
	}
	// Filters that match nothing; malformed parameters.
	for p, msg := range map[string]string{
		"?queryId=00000000-0000-4000-8000-000000000000": "No item found with given filters",
		"?queryName=nope": "No item found with given filters",
		"?queryId=" + sq.QueryID + "&includeSystemQueries=false": "No item found with given filters",
		"?queryId=" + id + "&includeOnlySystemQueries=true":      "No item found with given filters",
	} {
		wantMessage(t, ts.call(t, http.MethodGet, queriesPath+p, alice, "", 404), msg)
	}
	for p, msg := range map[string]string{
		"?queryId=not-a-uuid":                                       "Invalid QueryId",
		"?includeSystemQueries=maybe":                               "Invalid query parameters - includeSystemQueries should be true or false",
		"?includeOnlySystemQueries=yes":                             "Invalid query parameters - includeOnlySystemQueries should be true or false",
		"?includeOnlySystemQueries=true&includeSystemQueries=false": "Invalid query parameters - includeOnlySystemQueries=true contradicts includeSystemQueries=false",
	} {
		wantMessage(t, ts.call(t, http.MethodGet, queriesPath+p, alice, "", 400), msg)
	}

	// testQueryResult runs a saved query by id, with the caller's scope.
	checkByCustomer(t, ts, alice, byCustomer, "pub-fabrikam")

	// Delete: the deleted query comes back; then it is gone.
	env = ts.call(t, http.MethodDelete, "/insights/v1/cmp/ScheduledQueries/"+id, alice, "", 200)
	wantMessage(t, env, "Query deleted successfully")
	if env.TotalCount != 1 || env.Value[0]["queryId"] != id || env.Value[0]["name"] != "ISVUsageQuery" || env.Value[0]["modifiedTime"] != nil {
		t.Errorf("deleted %v", env.Value)
	}
	wantMessage(t, ts.call(t, http.MethodGet, queriesPath+"?queryId="+id, alice, "", 404), "No item found with given filters")
	wantMessage(t, ts.call(t, http.MethodDelete, queriesPath+"/"+id, alice, "", 404), "No item found with given filters")
	wantMessage(t, ts.call(t, http.MethodGet, queriesPath+"/testQueryResult?queryId="+id, alice, "", 400), "Invalid QueryId")
	env = ts.call(t, http.MethodGet, queriesPath+"?includeSystemQueries=false", alice, "", 200)
	if got := strings.Join(names(env), ","); got != "byCustomer" {
		t.Errorf("after delete: %s", got)
	}
	// System queries cannot be deleted; a malformed id is invalid.
	for _, sq := range []datasets.SystemQuery{datasets.SystemQueries()[0], datasets.SystemQueries()[8]} {
		env = ts.call(t, http.MethodDelete, queriesPath+"/"+sq.QueryID, alice, "", 400)
		wantMessage(t, env, "Invalid QueryId - system queries cannot be deleted")
		if !strings.Contains(env.Detail, sq.Name) {
			t.Errorf("detail %q", env.Detail)
		}
	}
	wantMessage(t, ts.call(t, http.MethodDelete, queriesPath+"/xyz", alice, "", 400), "Invalid QueryId")
	if n := len(ts.call(t, http.MethodGet, queriesPath+"?includeOnlySystemQueries=true", alice, "", 200).Value); n != 10 {
		t.Errorf("%d system queries after deletes", n)
	}
}

// checkByCustomer runs the saved query usageQuery (id) through
// testQueryResult with a member key of account and compares the rows, in
// order, with hand-written SQL over the usage files.
func checkByCustomer(t *testing.T, ts *testServer, secret, id, account string) {
	t.Helper()
	env := ts.call(t, http.MethodGet, queriesPath+"/testQueryResult?queryId="+id, secret, "", 200)
	m, err := testEngine.Store().Manifest("usage")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range m.Files {
		files = append(files, "'"+testEngine.Store().Abs("usage", f)+"'")
	}
	rows, err := testEngine.DB().Query(`SELECT CAST(CustomerId AS VARCHAR), SUM(NormalizedUsage) FROM read_parquet([`+
		strings.Join(files, ",")+`]) WHERE PublisherId = ? GROUP BY CustomerId ORDER BY 2 DESC LIMIT 20`, account)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		customer string
		usage    float64
	}
	var want []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.customer, &r.usage); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(want) != 20 {
		t.Fatalf("oracle: %d customers of %s, want 20", len(want), account)
	}
	if len(env.Value) != len(want) || env.TotalCount != len(want) {
		t.Fatalf("%d rows, oracle %d", len(env.Value), len(want))
	}
	for i, got := range env.Value {
		w := want[i]
		u, _ := got["NormalizedUsage"].(float64)
		if len(got) != 2 || got["CustomerId"] != w.customer || math.Abs(u-w.usage) > 1e-6*math.Max(1, math.Abs(w.usage)) {
			t.Errorf("%s row %d: %v, oracle %+v", account, i, got, w)
		}
	}
}

func TestScheduledQueriesValidation(t *testing.T) {
	ts := startServer(t, serverSetup{})
	alice := ts.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	for _, tc := range []struct {
		body, message, detail string
		status                int
	}{
		{``, "Null or missing value", "send a JSON body", 400},
		{`{}`, "Null or missing value", "Name and Query must be given", 400},
		{`{"Name": "x"}`, "Null or missing value", "Query must be given", 400},
		{`{"query": "SELECT UsageDate FROM ISVUsage"}`, "Null or missing value", "Name must be given", 400},
		{`{"Name": null, "Query": "SELECT UsageDate FROM ISVUsage"}`, "Null or missing value", "Name must be given", 400},
		{`{"Name": "  ", "Query": "SELECT UsageDate FROM ISVUsage"}`, "Null or missing value", "Name must be given", 400},
		{`{"Name": "x", "Query": ""}`, "Null or missing value", "Query must be given", 400},
		{`{"Name": "x",`, "Invalid request payload", "the body is not a JSON object", 400},
		{`{"Name": 5, "Query": "SELECT UsageDate FROM ISVUsage"}`, "Invalid request payload", "the body is not a JSON object", 400},
		{`{"Name": "x", "Query": "SELECT UsageDat FROM ISVUsage"}`, "Incorrect column name",
			"line 1, column 8: unknown column 'UsageDat' in dataset ISVUsage; did you mean 'UsageDate'?", 400},
		{`{"Name": "x", "Query": "SELECT UsageDate FROM ISVUsag"}`, "Invalid table name",
			"line 1, column 23: unknown dataset 'ISVUsag'; did you mean 'ISVUsage'?", 400},
		{`{"Name": "x", "Query": "SELECT UsageDate FORM ISVUsage"}`, "Invalid query syntax", "line 1, column ", 400},
		{`{"Name": "x", "Query": "SELECT apiproxy FROM transactions"}`, "Invalid table name",
			"line 1, column 22: dataset 'transactions' is not served by the insights API", 400},
		{`{"Name": "` + strings.Repeat("n", 257) + `", "Query": "SELECT UsageDate FROM ISVUsage"}`,
			"Invalid query parameters for creation - Limit Name and Description length to 256 characters or less", "Name has 257 characters", 400},
	} {
		env := ts.call(t, http.MethodPost, queriesPath, alice, tc.body, tc.status)
		if env.Message == nil || *env.Message != tc.message || !strings.HasPrefix(env.Detail, tc.detail) {
			t.Errorf("%.60s: message %q, detail %q", tc.body, deref(env.Message), env.Detail)
		}
	}
	// A key whose scope does not cover the dataset cannot save a query on it.
	org := ts.key(t, meta.Key{Name: "acme", User: "bob", Org: "acme"})
	env := ts.call(t, http.MethodPost, queriesPath, org, `{"Name": "x", "Query": "SELECT UsageDate FROM ISVUsage"}`, 403)
	wantMessage(t, env, "Forbidden")
	// Nothing was saved.
	for _, k := range []string{alice, org} {
		if env := ts.call(t, http.MethodGet, queriesPath+"?includeSystemQueries=false", k, "", 200); len(env.Value) != 0 {
			t.Errorf("saved after errors: %v", names(env))
		}
	}
}

func TestScheduledQueriesQuota(t *testing.T) {
	if insights.DefaultMaxQueriesPerUser != 100 {
		t.Errorf("default quota %d, the public API's is 100", insights.DefaultMaxQueriesPerUser)
	}
	// The same store behind the server's routes (quota 100) and behind a
	// family mounted under /small with a quota of 3.
	store := openQueries(t)
	small := insights.New(insights.Config{Queries: store, MaxQueriesPerUser: 3}, testEngine)
	ts := startServer(t, serverSetup{queries: store, opts: []Option{WithRoutes(small.Routes("/small")...)}})
	alice := ts.key(t, meta.Key{Name: "alice", User: "alice", Account: "pub-fabrikam"})
	alice2 := ts.key(t, meta.Key{Name: "alice's second key", User: "alice", Account: "pub-fabrikam"})
	bob := ts.key(t, meta.Key{Name: "bob", User: "bob", Account: "pub-fabrikam"})

	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, ts.createQuery(t, "/small", alice, "q", usageQuery))
	}
	// The quota is the user's, whichever of its keys asks.
	for _, k := range []string{alice, alice2} {
		env := ts.call(t, http.MethodPost, "/small/ScheduledQueries", k, `{"Name": "q4", "Query": "`+usageQuery+`"}`, 400)
		wantMessage(t, env, "Number of queries exceeded. Delete few queries before creating new queries")
		if !strings.Contains(env.Detail, "3 saved queries") {
			t.Errorf("detail %q", env.Detail)
		}
	}
	// Another user of the tenant has a quota of its own.
	ts.createQuery(t, "/small", bob, "b", usageQuery)
	// Deleting one frees a place.
	ts.call(t, http.MethodDelete, "/small/ScheduledQueries/"+ids[0], alice2, "", 200)
	ts.createQuery(t, "/small", alice, "q", usageQuery)
	// The server's own routes have the public quota of 100.
	ts.createQuery(t, "/insights/v1.1/cmp", alice, "q", usageQuery)
	env := ts.call(t, http.MethodGet, queriesPath+"?includeSystemQueries=false", alice, "", 200)
	if env.TotalCount != 4 {
		t.Errorf("alice has %d queries, want 4", env.TotalCount)
	}
}

func TestScheduledQueriesTenantIsolation(t *testing.T) {
	ts := startServer(t, serverSetup{})
	a := ts.key(t, meta.Key{Name: "a", User: "alice", Account: "pub-fabrikam"})
	aRotated := ts.key(t, meta.Key{Name: "a2", User: "alice", Account: "pub-fabrikam"})
	sameTenant := ts.key(t, meta.Key{Name: "c", User: "carol", Account: "pub-fabrikam"})
	b := ts.key(t, meta.Key{Name: "b", User: "alice", Account: "pub-contoso"})
	id := ts.createQuery(t, "/insights/v1.1/cmp", a, "mine", usageQuery)

	for name, k := range map[string]string{"other tenant": b, "same tenant, other user": sameTenant, "admin": ts.Admin} {
		env := ts.call(t, http.MethodGet, queriesPath, k, "", 200)
		if env.TotalCount != 10 {
			t.Errorf("%s lists %v", name, names(env))
		}
		for _, p := range []string{"?queryId=" + id, "?queryName=mine", "?queryId=" + id + "&includeSystemQueries=false"} {
			wantMessage(t, ts.call(t, http.MethodGet, queriesPath+p, k, "", 404), "No item found with given filters")
		}
		wantMessage(t, ts.call(t, http.MethodDelete, queriesPath+"/"+id, k, "", 404), "No item found with given filters")
		wantMessage(t, ts.call(t, http.MethodGet, queriesPath+"/testQueryResult?queryId="+id, k, "", 400), "Invalid QueryId")
	}
	// Still there for its owner, and for another key of the same user and
	// tenant; runs see the caller's rows only.
	for _, k := range []string{a, aRotated} {
		env := ts.call(t, http.MethodGet, queriesPath+"?queryId="+id, k, "", 200)
		if env.TotalCount != 1 || env.Value[0]["user"] != "alice" {
			t.Errorf("owner sees %v", env.Value)
		}
		checkByCustomer(t, ts, k, id, "pub-fabrikam")
	}
	// The other tenant's copy of the same text runs over its own rows.
	bID := ts.createQuery(t, "/insights/v1.1/cmp", b, "mine", usageQuery)
	checkByCustomer(t, ts, b, bID, "pub-contoso")
	ts.call(t, http.MethodDelete, queriesPath+"/"+id, aRotated, "", 200)
}

// The saved-query routes are in the route table, hence in /openapi.json.
func TestScheduledQueriesOpenAPI(t *testing.T) {
	ts := startServer(t, serverSetup{})
	r := ts.get(t, "/openapi.json", "")
	wantStatus(t, r, 200)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	r.json(t, &doc)
	for _, prefix := range insights.Prefixes {
		if _, ok := doc.Paths[prefix+"/ScheduledQueries"]["post"]; !ok {
			t.Errorf("%s: no POST /ScheduledQueries", prefix)
		}
		if _, ok := doc.Paths[prefix+"/ScheduledQueries"]["get"]; !ok {
			t.Errorf("%s: no GET /ScheduledQueries", prefix)
		}
		if _, ok := doc.Paths[prefix+"/ScheduledQueries/{queryId}"]["delete"]; !ok {
			t.Errorf("%s: no DELETE /ScheduledQueries/{queryId}", prefix)
		}
	}
}
