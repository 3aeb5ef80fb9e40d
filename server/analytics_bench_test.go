package server

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/server/analytics"
)

// BenchmarkAnalyticsSubmitToCompleted is the latency of a small async
// query over HTTP on loopback: POST …/queries, then GET …/queries/{id}
// every millisecond until it is completed. Target: p50 under 50 ms.
func BenchmarkAnalyticsSubmitToCompleted(b *testing.B) {
	ts := startServer(b, serverSetup{cfg: Config{Analytics: analytics.Config{SubmitsPerHour: -1, MaxActive: -1}},
		jobs: &jobs.Config{Workers: 2, PollInterval: time.Second}})
	body := `{"metrics":[{"name":"message_count","function":"sum"}],"dimensions":["apiproxy"],"groupByTimeUnit":"day",
		"timeRange":{"start":"` + axStart + `","end":"` + axEnd + `"}}`
	client := &http.Client{}
	do := func(method, path string, body io.Reader) []byte {
		req, _ := http.NewRequest(method, ts.URL+path, body)
		req.Header.Set("Authorization", "Bearer "+ts.Admin)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		return out
	}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		var v struct{ Self, State string }
		json.Unmarshal(do(http.MethodPost, axPath(axOrg, axEnv), strings.NewReader(body)), &v)
		for v.State != "completed" {
			if v.State == "failed" {
				b.Fatalf("query failed")
			}
			time.Sleep(time.Millisecond)
			json.Unmarshal(do(http.MethodGet, "/v1"+v.Self, nil), &v)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90-ms")
}
