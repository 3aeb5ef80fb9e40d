package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/gen"
	"github.com/quarry/quarry/engine"
)

// BenchmarkEnergyReport5000 generates and downloads a report of 5,000
// properties × 10 metrics × 12 monthly periods over HTTP on loopback:
// PUT the report, POST generate, poll the status until GENERATED, GET the
// Excel download. Target: under 3 s end to end. The data (5,000
// properties, 14 month ends) is generated once into
// $TMPDIR/quarry-bench-energy-5000.
func BenchmarkEnergyReport5000(b *testing.B) {
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), "quarry-bench-energy-5000")
	end := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cat, err := datasets.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	store := datasets.NewStore(dir)
	if m, err := store.Manifest("energy"); err != nil || m.Rows() < 5000*12 {
		if _, err := gen.Generate(ctx, store, cat, gen.Options{Datasets: []string{"energy"}, Rows: 5000 * 14, Days: 420, Seed: 1, End: end}); err != nil {
			b.Fatal(err)
		}
	}
	eng, err := engine.Open(ctx, engine.Config{DataDir: dir, Clock: func() time.Time { return end }})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	ts := startServer(b, serverSetup{engine: eng})
	res, err := eng.DB().Query(`SELECT DISTINCT property_id FROM read_parquet('` + filepath.Join(dir, "datasets", "energy", "*", "*.parquet") + `') ORDER BY 1 LIMIT 5000`)
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for res.Next() {
		var s string
		res.Scan(&s)
		ids = append(ids, s)
	}
	res.Close()
	if len(ids) != 5000 {
		b.Fatalf("%d properties, want 5000", len(ids))
	}
	do := func(method, path, body string) response {
		return ts.do(b, method, path, "Bearer "+ts.Admin, strings.NewReader(body), "Content-Type", "application/xml")
	}
	r := do(http.MethodPost, "/reports/templates", `<reportTemplate><name>bench</name><metrics>`+
		`<id>273</id><id>285</id><id>275</id><id>287</id><id>438</id><id>272</id><id>284</id><id>430</id><id>478</id><id>375</id></metrics></reportTemplate>`)
	if r.Status != http.StatusCreated {
		b.Fatalf("%d %s", r.Status, r.Body)
	}
	var reportID int64
	for _, part := range strings.Split(string(r.Body), `link="/reports/`) {
		if n, err := strconv.ParseInt(strings.SplitN(part, `"`, 2)[0], 10, 64); err == nil {
			reportID = n
		}
	}
	body := `<report><timeframe><dateRange><fromPeriodEndingDate><month>4</month><year>2025</year></fromPeriodEndingDate>
		<toPeriodEndingDate><month>3</month><year>2026</year></toPeriodEndingDate><interval>MONTHLY</interval></dateRange></timeframe>
		<properties>` + idsXML(ids) + `</properties></report>`
	var size int
	var put, gen, dl time.Duration
	for b.Loop() {
		t0 := time.Now()
		if r := do(http.MethodPut, fmt.Sprintf("/reports/%d", reportID), body); r.Status != http.StatusOK {
			b.Fatalf("PUT: %d %s", r.Status, r.Body)
		}
		t1 := time.Now()
		put += t1.Sub(t0)
		if r := do(http.MethodPost, fmt.Sprintf("/reports/%d/generate", reportID), ""); r.Status != http.StatusOK {
			b.Fatalf("generate: %d %s", r.Status, r.Body)
		}
		for {
			r := do(http.MethodGet, fmt.Sprintf("/reports/%d/status", reportID), "")
			if strings.Contains(string(r.Body), "<status>GENERATED</status>") {
				break
			}
			if strings.Contains(string(r.Body), "<status>FAILED</status>") {
				b.Fatalf("%s", r.Body)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t2 := time.Now()
		gen += t2.Sub(t1)
		r := do(http.MethodGet, fmt.Sprintf("/reports/%d/download?type=EXCEL", reportID), "")
		dl += time.Since(t2)
		if r.Status != http.StatusOK {
			b.Fatalf("download: %d", r.Status)
		}
		size = len(r.Body)
	}
	b.ReportMetric(float64(size)/1e6, "xlsx-MB")
	n := float64(b.N)
	b.ReportMetric(put.Seconds()*1000/n, "put-ms")
	b.ReportMetric(gen.Seconds()*1000/n, "generate-ms")
	b.ReportMetric(dl.Seconds()*1000/n, "download-ms")
}
