//go:build duckdb_arrow

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/gen"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server"
	"github.com/quarry/quarry/server/metering"
)

// The metering benchmarks run on QUARRY_BENCH_ROWS (default 10M) meters
// samples over benchDays() day files; at 10M rows the generator makes
// 1,000 resources. The data is generated once into
// $TMPDIR/quarry-bench-meters-<rows>-<days>d (or QUARRY_BENCH_METERS_DIR)
// and reused.
var (
	meterOnce  sync.Once
	meterEng   *engine.Engine
	meterDir   string
	meterErr   error
	meterCases []meterCase
)

// meterCase is one (resource, meter, day) with samples.
type meterCase struct {
	resource, meter string
	day             time.Time
}

func setupMeters(b *testing.B) *engine.Engine {
	meterOnce.Do(func() {
		rows, days := benchRows(), benchDays()
		meterDir = os.Getenv("QUARRY_BENCH_METERS_DIR")
		if meterDir == "" {
			meterDir = filepath.Join(os.TempDir(), fmt.Sprintf("quarry-bench-meters-%d-%dd", rows, days))
		}
		cat, err := datasets.Load(meterDir)
		if err != nil {
			meterErr = err
			return
		}
		store := datasets.NewStore(meterDir)
		m, err := store.Manifest("meters")
		if err != nil {
			meterErr = err
			return
		}
		first, _ := m.Days()
		if m.Rows() < rows*9/10 || first != benchNow.Truncate(24*time.Hour).AddDate(0, 0, -days).Format("2006-01-02") {
			start := time.Now()
			st, err := gen.Generate(context.Background(), store, cat, gen.Options{
				Datasets: []string{"meters"}, Rows: rows, Seed: 1, End: benchNow.AddDate(0, 0, -1).Truncate(24 * time.Hour), Days: days,
			})
			if err != nil {
				meterErr = err
				return
			}
			fmt.Fprintf(os.Stderr, "generated %d meters rows in %s\n", st["meters"].Rows, time.Since(start).Round(time.Millisecond))
			if m, err = store.Manifest("meters"); err != nil {
				meterErr = err
				return
			}
		}
		meterEng, meterErr = engine.Open(context.Background(), engine.Config{DataDir: meterDir, Clock: func() time.Time { return benchNow }})
		if meterErr != nil {
			return
		}
		// 64 (resource, meter, day) cases spread over the resources'
		// popularity: every 15th resource by sample count, on days spread
		// over the last 100.
		glob := filepath.Join(meterDir, "datasets", "meters", "*", "*.parquet")
		var n int
		if err := meterEng.DB().QueryRow(`SELECT count(DISTINCT resource_id) FROM read_parquet('` + glob + `')`).Scan(&n); err != nil {
			meterErr = err
			return
		}
		fmt.Fprintf(os.Stderr, "meters: %d rows, %d resources, %d day files\n", m.Rows(), n, len(m.Files))
		last := benchNow.Truncate(24*time.Hour).AddDate(0, 0, -1)
		for i := 0; len(meterCases) < 64 && i < 200; i++ {
			day := last.AddDate(0, 0, -(i*37)%100)
			f := filepath.Join(meterDir, "datasets", "meters", "date="+day.Format("2006-01-02"), "*.parquet")
			var c meterCase
			err := meterEng.DB().QueryRow(`SELECT resource_id, counter_name FROM (
				SELECT resource_id, counter_name, count(*) AS n FROM read_parquet('`+f+`') GROUP BY ALL)
				ORDER BY n DESC, resource_id, counter_name LIMIT 1 OFFSET ?`, (i*15)%400).Scan(&c.resource, &c.meter)
			if err != nil {
				continue
			}
			c.day = day
			meterCases = append(meterCases, c)
		}
		if len(meterCases) == 0 {
			meterErr = fmt.Errorf("no benchmark cases found in %s", meterDir)
		}
	})
	if meterErr != nil {
		b.Fatal(meterErr)
	}
	return meterEng
}

func volumeRequest(c meterCase) planner.MeteringRequest {
	return planner.MeteringRequest{Kind: planner.MeterVolumeSum, Resource: c.resource, Meter: c.meter,
		Start: c.day.Format("2006-01-02T15:04:05"), End: c.day.AddDate(0, 0, 1).Format("2006-01-02T15:04:05")}
}

// percentiles reports p50 and p99 of the latencies as benchmark metrics.
func percentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkMeteringVolumeSum is volume/sum for one resource and meter
// over one day, in-process (plan, compile, run, JSON), with the plan cache
// (64 distinct requests, so every one is cached after the first round)
// and without it. The first answer of each case is checked against the
// same sum straight in DuckDB.
func BenchmarkMeteringVolumeSum(b *testing.B) {
	eng := setupMeters(b)
	admin := planner.MeteringOptions{Scope: planner.Scope{Admin: true}}
	c0 := meterCases[0]
	var want float64
	day := filepath.Join(meterDir, "datasets", "meters", "date="+c0.day.Format("2006-01-02"), "*.parquet")
	if err := eng.DB().QueryRow(`SELECT sum(counter_volume) FROM read_parquet('`+day+`') WHERE resource_id = ? AND counter_name = ?`,
		c0.resource, c0.meter).Scan(&want); err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name  string
		cache int
	}{{"cached", 0}, {"nocache", -1}} {
		b.Run(v.name, func(b *testing.B) {
			a := metering.New(metering.Config{PlanCacheSize: v.cache}, eng)
			body, err := a.Answer(context.Background(), volumeRequest(c0), admin)
			if err != nil {
				b.Fatal(err)
			}
			var got struct{ Volume float64 }
			if err := json.Unmarshal(body, &got); err != nil || got.Volume != want {
				b.Fatalf("volume %s, want %v (%v)", body, want, err)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := a.Answer(context.Background(), volumeRequest(meterCases[i%len(meterCases)]), admin); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			percentiles(b, lat)
		})
	}
}

// BenchmarkMeteringHTTP is the same volume/sum over HTTP on loopback: a
// real server with key auth, driven by a bounded load generator of
// `conc` workers with keep-alive clients issuing b.N requests in all.
func BenchmarkMeteringHTTP(b *testing.B) {
	eng := setupMeters(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := meta.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	secret, _, err := st.CreateKey(ctx, meta.Key{Name: "bench", Role: meta.RoleAdmin})
	if err != nil {
		b.Fatal(err)
	}
	srv := server.New(server.Config{}, server.Deps{Engine: eng, Keys: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	paths := make([]string, len(meterCases))
	for i, c := range meterCases {
		paths[i] = "/v1/resources/" + url.PathEscape(c.resource) + "/meters/" + url.PathEscape(c.meter) + "/volume/sum?" + url.Values{
			"start_timestamp": {c.day.Format("2006-01-02T15:04:05")}, "end_timestamp": {c.day.AddDate(0, 0, 1).Format("2006-01-02T15:04:05")}}.Encode()
	}
	for _, conc := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
			get := func(p string) error {
				req, _ := http.NewRequest("GET", base+p, nil)
				req.Header.Set("Authorization", "Bearer "+secret)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					return err
				}
				if resp.StatusCode != 200 {
					return fmt.Errorf("%s: %s", p, resp.Status)
				}
				return nil
			}
			for _, p := range paths { // warm: plans cached, files' metadata cached
				if err := get(p); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			lats := make([][]time.Duration, conc)
			var wg sync.WaitGroup
			var failed atomic.Value
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < conc; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						t0 := time.Now()
						if err := get(paths[i%int64(len(paths))]); err != nil {
							failed.Store(err)
							return
						}
						lats[w] = append(lats[w], time.Since(t0))
					}
				}(w)
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			var all []time.Duration
			for _, l := range lats {
				all = append(all, l...)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			percentiles(b, all)
		})
	}
}

// BenchmarkMeteringResources is GET /v1/resources in-process: every
// resource over all the data, and over one day.
func BenchmarkMeteringResources(b *testing.B) {
	eng := setupMeters(b)
	a := metering.New(metering.Config{}, eng)
	admin := planner.MeteringOptions{Scope: planner.Scope{Admin: true}}
	day := meterCases[0].day
	for _, c := range []struct {
		name string
		req  planner.MeteringRequest
	}{
		{"all", planner.MeteringRequest{Kind: planner.MeterResources}},
		{"one_day", planner.MeteringRequest{Kind: planner.MeterResources, Start: day.Format("2006-01-02T15:04:05"),
			End: day.AddDate(0, 0, 1).Format("2006-01-02T15:04:05")}},
	} {
		b.Run(c.name, func(b *testing.B) {
			body, err := a.Answer(context.Background(), c.req, admin)
			if err != nil {
				b.Fatal(err)
			}
			var got struct{ Resources []json.RawMessage }
			if err := json.Unmarshal(body, &got); err != nil || len(got.Resources) == 0 {
				b.Fatalf("resources: %v, %d", err, len(got.Resources))
			}
			b.ReportMetric(float64(len(got.Resources)), "resources")
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := a.Answer(context.Background(), c.req, admin); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			percentiles(b, lat)
		})
	}
}

// BenchmarkMeteringSamples is the raw samples of one resource's meter
// over one hour, in-process.
func BenchmarkMeteringSamples(b *testing.B) {
	eng := setupMeters(b)
	a := metering.New(metering.Config{}, eng)
	admin := planner.MeteringOptions{Scope: planner.Scope{Admin: true}}
	reqs := make([]planner.MeteringRequest, len(meterCases))
	for i, c := range meterCases {
		h := c.day.Add(14 * time.Hour)
		reqs[i] = planner.MeteringRequest{Kind: planner.MeterSamples, Resource: c.resource, Meter: c.meter,
			Start: h.Format("2006-01-02T15:04:05"), End: h.Add(time.Hour).Format("2006-01-02T15:04:05")}
	}
	events := 0
	for _, r := range reqs {
		body, err := a.Answer(context.Background(), r, admin)
		if err != nil {
			b.Fatal(err)
		}
		var got struct{ Events []json.RawMessage }
		if err := json.Unmarshal(body, &got); err != nil {
			b.Fatal(err)
		}
		events += len(got.Events)
	}
	b.ReportMetric(float64(events)/float64(len(reqs)), "events/req")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := a.Answer(context.Background(), reqs[i%len(reqs)], admin); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	percentiles(b, lat)
}
