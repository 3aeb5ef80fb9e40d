package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"
)

// oneMillion is a 1M-row result of four columns: BIGINT, VARCHAR, DOUBLE
// and DATE.
const oneMillion = `SELECT range AS id, 'customer-' || (range % 5000) AS customer, range * 0.25 AS amount,
	DATE '2026-01-01' + CAST(range % 365 AS INTEGER) AS day FROM range(1000000)`

// benchSQL posts a query and drains the answer; it returns the bytes read
// and the time to the first byte of the response.
func benchSQL(b *testing.B, ts *testServer, body map[string]any, query string) (int64, time.Duration) {
	b.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/sql"+query, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+ts.Admin)
	var start, first time.Time
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotFirstResponseByte: func() { first = time.Now() },
	}))
	start = time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	return n, first.Sub(start)
}

// go test -run '^$' -bench 'Console' -benchtime 5x ./server
func BenchmarkConsole1MRowsJSON(b *testing.B)  { bench1M(b, "") }
func BenchmarkConsole1MRowsArrow(b *testing.B) { bench1M(b, "?format=arrow") }
func BenchmarkConsole1MRowsCSV(b *testing.B)   { bench1M(b, "?format=csv") }

func bench1M(b *testing.B, format string) {
	ts := startServer(b, serverSetup{})
	body := map[string]any{"sql": oneMillion, "limit": 1_000_000}
	benchSQL(b, ts, body, format) // warm the sandbox instance
	b.ResetTimer()
	var bytes int64
	for i := 0; i < b.N; i++ {
		n, _ := benchSQL(b, ts, body, format)
		bytes += n
	}
	b.ReportMetric(float64(b.N)*1e6/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(bytes)/float64(b.N)/1e6, "MB/op")
}

// Time to first byte of a 10-row query over a dataset, JSON.
func BenchmarkConsoleTTFB10Rows(b *testing.B) {
	ts := startServer(b, serverSetup{})
	body := map[string]any{"sql": `SELECT "PublisherId", "CustomerId", "NormalizedUsage" FROM usage LIMIT 10`}
	benchSQL(b, ts, body, "")
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		_, ttfb := benchSQL(b, ts, body, "")
		total += ttfb
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-ttfb")
}
