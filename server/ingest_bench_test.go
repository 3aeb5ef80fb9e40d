package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkIngestHTTP is HTTP ingest with 8 concurrent clients on
// loopback, each posting NDJSON bodies of 10,000 rows of one day, as a
// live feed sends them (each request is validated, written and committed
// before it is answered). Target: over 150k rows/s.
func BenchmarkIngestHTTP(b *testing.B) {
	ts, _ := ingestServerFor(b, Config{IngestRatePerSecond: -1, IngestConcurrent: 8})
	const clients, rowsPerBody = 8, 10000
	var sb strings.Builder
	for i := 0; i < rowsPerBody; i++ {
		fmt.Fprintf(&sb, `{"org":"acme","ts":"2026-03-05T%02d:%02d:%02dZ","id":%d,"proxy":"p%d","latency":%d.5}`+"\n", i/3600%24, i/60%60, i%60, i, i%5, i)
	}
	body := sb.String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	b.SetBytes(int64(len(body)))
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan struct{})
	go func() {
		for b.Loop() {
			next <- struct{}{}
		}
		close(next)
	}()
	var failed sync.Once
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/ingest/events", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+ts.Admin)
				req.Header.Set("Content-Type", "application/x-ndjson")
				resp, err := client.Do(req)
				if err != nil {
					failed.Do(func() { b.Error(err) })
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Do(func() { b.Error(fmt.Sprintf("status %d", resp.StatusCode)) })
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*rowsPerBody)/time.Since(start).Seconds(), "rows/s")
}
