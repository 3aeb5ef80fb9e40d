package ingest

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
)

// testDataset is a 12-column dataset (plus one derived column) like the
// transactions dataset: tenant org, time ts, sorted by (org, ts).
func testDataset(t testing.TB) *datasets.Dataset {
	t.Helper()
	d := &datasets.Dataset{
		Name:         "events",
		Aliases:      []string{"Evts"},
		TimeColumn:   "ts",
		TenantColumn: "org",
		TenantScope:  "org",
		SortBy:       []string{"org", "ts"},
		Columns: []datasets.Column{
			{Name: "org", Type: datasets.Varchar, Role: datasets.Dimension},
			{Name: "ts", Type: datasets.Timestamp, Role: datasets.Time},
			{Name: "proxy", Type: datasets.Varchar, Role: datasets.Dimension, Aliases: []string{"apiproxy"}},
			{Name: "app", Type: datasets.Varchar, Role: datasets.Dimension, Nullable: true},
			{Name: "status", Type: datasets.Integer, Role: datasets.Dimension},
			{Name: "latency", Type: datasets.Double, Role: datasets.Metric, Agg: "sum"},
			{Name: "bytes", Type: datasets.BigInt, Role: datasets.Metric, Agg: "sum"},
			{Name: "is_error", Type: datasets.Boolean, Role: datasets.Dimension},
			{Name: "day", Type: datasets.Date, Role: datasets.Dimension, Nullable: true},
			{Name: "meta", Type: datasets.JSON, Role: datasets.Dimension, Nullable: true},
			{Name: "country", Type: datasets.Varchar, Role: datasets.Dimension, Nullable: true},
			{Name: "note", Type: datasets.Varchar, Role: datasets.Dimension, Nullable: true},
			{Name: "hour", Type: datasets.Integer, Role: datasets.Dimension, Expr: "hour(ts)"},
		},
	}
	if err := addToCatalog(d); err != nil {
		t.Fatal(err)
	}
	return d
}

func addToCatalog(d *datasets.Dataset) error {
	c, err := datasets.Builtin()
	if err != nil {
		return err
	}
	return c.Add(d)
}

var orgs = []string{"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"}
var proxies = []string{"orders", "payments", "catalog", "search", "login", "checkout"}
var countries = []string{"US", "DE", "FR", "JP", "BR", "IN"}

// writeNDJSON writes n generated rows spread over days days.
func writeNDJSON(t testing.TB, path string, n, days int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewSource(1))
	base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	span := int64(days) * 86400 * 1000
	for i := 0; i < n; i++ {
		ts := base.Add(time.Duration(int64(i)*span/int64(n)) * time.Millisecond)
		status := 200
		if rng.Intn(20) == 0 {
			status = 500
		}
		fmt.Fprintf(w, `{"org":%q,"ts":%q,"proxy":%q,"app":"app-%d","status":%d,"latency":%.3f,"bytes":%d,"is_error":%t,"day":%q,"meta":{"k":%d,"tags":["a","b"]},"country":%q,"note":"row %d"}`+"\n",
			orgs[rng.Intn(len(orgs))], ts.Format("2006-01-02T15:04:05.000Z"), proxies[rng.Intn(len(proxies))], rng.Intn(50), status,
			rng.Float64()*300, rng.Int63n(1<<20), status >= 500, ts.Format("2006-01-02"), rng.Intn(10), countries[rng.Intn(len(countries))], i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}
