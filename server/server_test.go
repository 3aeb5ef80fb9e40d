package server

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server/api"
)

func TestHealthAndReadyAreOpen(t *testing.T) {
	ts := startServer(t, serverSetup{ready: func(context.Context) error { return nil }})
	r := ts.get(t, "/healthz", "")
	wantStatus(t, r, 200)
	if strings.TrimSpace(string(r.Body)) != `{"status":"ok"}` {
		t.Errorf("healthz body %s", r.Body)
	}
	r = ts.get(t, "/readyz", "")
	wantStatus(t, r, 200)
	var rd readiness
	r.json(t, &rd)
	if rd.Status != "ok" || rd.Checks["engine"] != "ok" || rd.Checks["store"] != "ok" {
		t.Errorf("readyz %s", r.Body)
	}
}

func TestReadyFailsWithReason(t *testing.T) {
	ts := startServer(t, serverSetup{ready: func(context.Context) error { return errNotReady }})
	r := ts.get(t, "/readyz", "")
	wantStatus(t, r, http.StatusServiceUnavailable)
	var rd readiness
	r.json(t, &rd)
	if rd.Status != "unavailable" || rd.Reason != "store: store is down" || rd.Checks["engine"] != "ok" {
		t.Errorf("readyz %s", r.Body)
	}
}

func TestAuth(t *testing.T) {
	ts := startServer(t, serverSetup{})
	member := ts.key(t, meta.Key{Name: "m", Account: "pub-contoso"})
	revoked := ts.key(t, meta.Key{Name: "r", Account: "pub-contoso"})
	keys, _ := ts.Keys.ListKeys(context.Background())
	for _, k := range keys {
		if k.Name == "r" {
			if err := ts.Keys.RevokeKey(context.Background(), k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, auth := range map[string]string{
		"none":         "",
		"wrong bearer": "Bearer not-a-key",
		"revoked":      "Bearer " + revoked,
		"wrong basic":  basic("someone", "not-a-key"),
		"empty basic":  basic("someone", ""),
		"other scheme": "Token " + member,
	} {
		t.Run(name, func(t *testing.T) {
			r := ts.do(t, http.MethodGet, "/api/datasets", auth, nil)
			wantStatus(t, r, http.StatusUnauthorized)
			if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="quarry", Basic realm="quarry"` {
				t.Errorf("WWW-Authenticate %q", got)
			}
			var env struct {
				Error struct{ Code, Message string }
			}
			r.json(t, &env)
			if env.Error.Code != "unauthorized" || env.Error.Message == "" {
				t.Errorf("body %s", r.Body)
			}
			// The insights family answers in its own envelope.
			r = ts.do(t, http.MethodGet, "/insights/v1.1/cmp/ScheduledDataset", auth, nil)
			wantStatus(t, r, http.StatusUnauthorized)
			var ins map[string]any
			r.json(t, &ins)
			if ins["message"] != "Unauthorized" || ins["statusCode"] != float64(401) {
				t.Errorf("insights 401 body %s", r.Body)
			}
		})
	}
	for name, auth := range map[string]string{
		"bearer":            "Bearer " + member,
		"bearer lower-case": "bearer " + member,
		"basic":             basic("anyone", member),
		"basic no user":     basic("", member),
	} {
		t.Run(name, func(t *testing.T) {
			wantStatus(t, ts.do(t, http.MethodGet, "/api/datasets", auth, nil), 200)
		})
	}
	// The access log names the key id, never a secret.
	logs := ts.Log.String()
	if !strings.Contains(logs, `"key_id":"key_2"`) {
		t.Errorf("access log without key_id:\n%s", logs)
	}
	for _, secret := range []string{ts.Admin, member, revoked} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret was logged")
		}
	}
}

func TestRequestID(t *testing.T) {
	ts := startServer(t, serverSetup{})
	r := ts.get(t, "/healthz", "")
	if id := r.Header.Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("generated request id %q", id)
	}
	r = ts.do(t, http.MethodGet, "/api/datasets", "", nil, "X-Request-Id", "client-id-42")
	if id := r.Header.Get("X-Request-Id"); id != "client-id-42" {
		t.Errorf("echoed request id %q", id)
	}
	if !strings.Contains(ts.Log.String(), `"request_id":"client-id-42"`) {
		t.Errorf("request id not in the access log")
	}
	r = ts.do(t, http.MethodGet, "/healthz", "", nil, "X-Request-Id", strings.Repeat("a", 500))
	if id := r.Header.Get("X-Request-Id"); len(id) != 32 {
		t.Errorf("an over-long request id was kept: %q", id)
	}
}

func TestMetricsByRoutePattern(t *testing.T) {
	ts := startServer(t, serverSetup{})
	wantStatus(t, ts.get(t, "/insights/v1.1/cmp/ScheduledDataset?datasetName=ISVUsage", ts.Admin), 200)
	wantStatus(t, ts.get(t, "/insights/v1.1/cmp/ScheduledDataset?datasetName=nope", ts.Admin), 400)
	wantStatus(t, ts.get(t, "/no/such/path/12345", ts.Admin), 404)
	r := ts.get(t, "/metrics", "")
	wantStatus(t, r, 200)
	body := string(r.Body)
	for _, want := range []string{
		`quarry_http_requests_total{code="200",method="GET",route="/insights/v1.1/cmp/ScheduledDataset"} 1`,
		`quarry_http_requests_total{code="400",method="GET",route="/insights/v1.1/cmp/ScheduledDataset"} 1`,
		`quarry_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`quarry_http_request_duration_seconds_count{method="GET",route="/insights/v1.1/cmp/ScheduledDataset"} 2`,
		`quarry_http_request_duration_seconds_bucket{method="GET",route="/insights/v1.1/cmp/ScheduledDataset",le="+Inf"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "12345") || strings.Contains(body, "datasetName") {
		t.Errorf("metrics carry a raw path or query")
	}
}

func TestPanicRecovery(t *testing.T) {
	ts := startServer(t, serverSetup{opts: []Option{WithRoutes(api.Route{
		Method: http.MethodGet, Path: "/test/panic", Summary: "panics",
		Handler: func(*fiber.Ctx) error { panic("boom") },
	})}})
	for range 2 {
		r := ts.get(t, "/test/panic", ts.Admin)
		wantStatus(t, r, 500)
		var env struct {
			Error struct{ Code, Message string }
		}
		r.json(t, &env)
		if env.Error.Code != "internal" || r.Header.Get("X-Request-Id") == "" {
			t.Errorf("panic response %s %v", r.Body, r.Header)
		}
		wantStatus(t, ts.get(t, "/healthz", ""), 200)
	}
	logs := ts.Log.String()
	if !strings.Contains(logs, `"msg":"panic serving request"`) || !strings.Contains(logs, "goroutine") || !strings.Contains(logs, `"panic":"boom"`) {
		t.Errorf("panic not logged with its stack:\n%s", logs)
	}
	r := ts.get(t, "/metrics", "")
	if !strings.Contains(string(r.Body), `quarry_http_requests_total{code="500",method="GET",route="/test/panic"} 2`) {
		t.Errorf("panics not counted as 500s")
	}
}

func TestBodyLimit(t *testing.T) {
	ts := startServer(t, serverSetup{cfg: Config{BodyLimit: 1024}, opts: []Option{WithRoutes(api.Route{
		Method: http.MethodPost, Path: "/test/echo", Summary: "echoes the body length",
		Handler: func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"len": len(c.Body())}) },
	})}})
	wantStatus(t, ts.do(t, http.MethodPost, "/test/echo", "Bearer "+ts.Admin, strings.NewReader(strings.Repeat("a", 1000))), 200)
	r := ts.do(t, http.MethodPost, "/test/echo", "Bearer "+ts.Admin, strings.NewReader(strings.Repeat("a", 4096)))
	wantStatus(t, r, http.StatusRequestEntityTooLarge)
	var env struct {
		Error struct{ Code, Message string }
	}
	r.json(t, &env)
	if env.Error.Code != "payload_too_large" || r.Header.Get("X-Request-Id") == "" {
		t.Errorf("413 response %s %v", r.Body, r.Header)
	}
	wantStatus(t, ts.get(t, "/healthz", ""), 200)
}

func TestOpenAPIListsEveryRoute(t *testing.T) {
	ts := startServer(t, serverSetup{opts: []Option{WithRoutes(api.Route{
		Method: http.MethodGet, Path: "/test/things/:id", Summary: "a route with a parameter",
		Handler: func(c *fiber.Ctx) error { return c.SendString(c.Params("id")) },
	})}})
	r := ts.get(t, "/openapi.json", "")
	wantStatus(t, r, 200)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string           `json:"operationId"`
			Security    []map[string]any `json:"security"`
			Parameters  []struct{ Name, In string }
		} `json:"paths"`
	}
	r.json(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	ops := map[string]bool{}
	for path, methods := range doc.Paths {
		for m, op := range methods {
			documented[strings.ToUpper(m)+" "+path] = true
			if ops[op.OperationID] {
				t.Errorf("operationId %s twice", op.OperationID)
			}
			ops[op.OperationID] = true
		}
	}
	// Every route of the table, and every route the app actually serves.
	var served []string
	for _, rt := range ts.Routes() {
		p, _ := openAPIPath(rt.Path)
		served = append(served, rt.Method+" "+p)
	}
	for _, rt := range ts.app.GetRoutes(true) {
		if rt.Method == http.MethodHead {
			continue // Fiber answers HEAD for every GET
		}
		p, _ := openAPIPath(rt.Path)
		served = append(served, rt.Method+" "+p)
	}
	sort.Strings(served)
	for _, s := range served {
		if !documented[s] {
			t.Errorf("%s is served but not in openapi.json", s)
		}
	}
	if len(documented) != len(ts.Routes()) {
		t.Errorf("openapi.json documents %d operations, the table has %d routes", len(documented), len(ts.Routes()))
	}
	for _, want := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json", "GET /api/datasets",
		"GET /insights/v1.1/cmp/ScheduledDataset", "GET /insights/v1/cmp/ScheduledDataset", "GET /insights/v1/mpn/ScheduledQueries/testQueryResult",
		"GET /test/things/{id}"} {
		if !documented[want] {
			t.Errorf("openapi.json lacks %s", want)
		}
	}
	if p := doc.Paths["/test/things/{id}"]["get"].Parameters; len(p) != 1 || p[0].Name != "id" || p[0].In != "path" {
		t.Errorf("path parameter not documented: %+v", p)
	}
	if s := doc.Paths["/healthz"]["get"].Security; s == nil || len(s) != 0 {
		t.Errorf("/healthz security %v, want []", s)
	}
	if s := doc.Paths["/api/datasets"]["get"].Security; len(s) != 2 {
		t.Errorf("/api/datasets security %v", s)
	}
}

func TestAPIDatasets(t *testing.T) {
	ts := startServer(t, serverSetup{})
	type info struct {
		Name         string
		Aliases      []string
		TimeColumn   string  `json:"time_column"`
		TenantColumn *string `json:"tenant_column"`
		Columns      []struct{ Name, Type, Role, Agg string }
		Rows         int64
		FirstDay     *string `json:"first_day"`
		LastDay      *string `json:"last_day"`
	}
	list := func(secret string) map[string]info {
		r := ts.get(t, "/api/datasets", secret)
		wantStatus(t, r, 200)
		var body struct{ Datasets []info }
		r.json(t, &body)
		out := map[string]info{}
		for _, d := range body.Datasets {
			out[d.Name] = d
		}
		return out
	}
	all := list(ts.Admin)
	if len(all) != len(testEngine.Catalog().Datasets()) {
		t.Errorf("admin sees %d datasets, the catalog has %d", len(all), len(testEngine.Catalog().Datasets()))
	}
	u := all["usage"]
	m, _ := testEngine.Store().Manifest("usage")
	first, last := m.Days()
	if u.Rows != m.Rows() || u.Rows == 0 || u.FirstDay == nil || *u.FirstDay != first || *u.LastDay != last ||
		u.TimeColumn != "UsageDate" || u.TenantColumn == nil || *u.TenantColumn != "PublisherId" || u.Aliases[0] != "ISVUsage" {
		t.Errorf("usage: %+v", u)
	}
	var sawMetric bool
	for _, c := range u.Columns {
		if c.Name == "NormalizedUsage" && c.Role == "metric" && c.Agg == "sum" && c.Type == "DOUBLE" {
			sawMetric = true
		}
	}
	if !sawMetric {
		t.Errorf("usage columns lack NormalizedUsage metric: %+v", u.Columns)
	}
	if all["meters"].Rows != 0 || all["meters"].FirstDay != nil {
		t.Errorf("empty dataset: %+v", all["meters"])
	}

	acct := list(ts.key(t, meta.Key{Name: "a", Account: "pub-fabrikam"}))
	for _, want := range []string{"usage", "customers_and_tenants", "energy", "exchange_rates"} {
		if _, ok := acct[want]; !ok {
			t.Errorf("account key does not see %s", want)
		}
	}
	for _, hidden := range []string{"transactions", "meters"} {
		if _, ok := acct[hidden]; ok {
			t.Errorf("account key sees %s", hidden)
		}
	}
	org := list(ts.key(t, meta.Key{Name: "o", Org: "acme"}))
	if _, ok := org["usage"]; ok {
		t.Errorf("org key sees usage")
	}
	if _, ok := org["transactions"]; !ok {
		t.Errorf("org key does not see transactions")
	}
}

func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	ts := startServer(t, serverSetup{cfg: Config{ShutdownTimeout: 10 * time.Second}, opts: []Option{WithRoutes(api.Route{
		Method: http.MethodGet, Path: "/test/slow", Summary: "answers after 700 ms",
		Handler: func(c *fiber.Ctx) error {
			close(started)
			select {
			case <-time.After(700 * time.Millisecond):
			case <-c.UserContext().Done():
				return c.Status(599).SendString("cancelled")
			}
			return c.JSON(fiber.Map{"slow": "done"})
		},
	})}})
	type result struct {
		r   response
		err error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/test/slow", nil)
		req.Header.Set("Authorization", "Bearer "+ts.Admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var v map[string]string
		err = json.NewDecoder(resp.Body).Decode(&v)
		done <- result{r: response{Status: resp.StatusCode}, err: err}
	}()
	<-started
	shutdownAt := time.Now()
	ts.stop()
	res := <-done
	if res.err != nil || res.r.Status != 200 {
		t.Fatalf("in-flight request: %+v", res)
	}
	select {
	case err := <-ts.served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
		ts.served <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if time.Since(shutdownAt) < 300*time.Millisecond {
		t.Errorf("Serve returned before the in-flight request finished")
	}
	if _, err := http.Get(ts.URL + "/healthz"); err == nil {
		t.Errorf("the server still accepts connections after shutdown")
	}
}
