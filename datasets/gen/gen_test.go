package gen

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/quarry/quarry/datasets"
)

var testEnd = time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)

func builtin(t testing.TB) *datasets.Catalog {
	t.Helper()
	cat, err := datasets.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func openDuck(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// fileList returns the manifest's files as a DuckDB list literal.
func fileList(t testing.TB, st *datasets.Store, name string) (string, *datasets.Manifest) {
	t.Helper()
	m, err := st.Manifest(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) == 0 {
		t.Fatalf("%s: no files in the manifest", name)
	}
	var b strings.Builder
	b.WriteString("[")
	for i, f := range m.Files {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("'" + strings.ReplaceAll(st.Abs(name, f), "'", "''") + "'")
	}
	b.WriteString("]")
	return b.String(), m
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// shared is one generation of every dataset, reused by the read-back tests.
var shared struct {
	once  sync.Once
	dir   string
	st    *datasets.Store
	stats map[string]Stats
	calls map[string]int
	last  map[string]int64
	err   error
}

func generated(t *testing.T) (*datasets.Store, map[string]Stats) {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "quarry-gen-test-")
		if shared.err != nil {
			return
		}
		shared.st = datasets.NewStore(shared.dir)
		shared.calls, shared.last = map[string]int{}, map[string]int64{}
		var mu sync.Mutex
		shared.stats, shared.err = Generate(context.Background(), shared.st, builtin(t), Options{
			Rows: 6000, Seed: 7, End: testEnd, Days: 120, Workers: 2,
			Progress: func(ds string, rows int64) {
				mu.Lock()
				shared.calls[ds]++
				if rows < shared.last[ds] {
					shared.err = fmt.Errorf("progress of %s went backwards", ds)
				}
				shared.last[ds] = rows
				mu.Unlock()
			},
		})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.st, shared.stats
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func TestGenerateAllStatsAndProgress(t *testing.T) {
	st, stats := generated(t)
	if len(stats) != len(Generated()) {
		t.Fatalf("generated %d datasets, want %d", len(stats), len(Generated()))
	}
	for name, s := range stats {
		m, err := st.Manifest(name)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rows() != s.Rows || int64(len(m.Files)) != s.Files {
			t.Errorf("%s: stats %+v, manifest %d rows in %d files", name, s, m.Rows(), len(m.Files))
		}
		if shared.calls[name] != int(s.Files) || shared.last[name] != s.Rows {
			t.Errorf("%s: progress called %d times ending at %d; want %d calls ending at %d",
				name, shared.calls[name], shared.last[name], s.Files, s.Rows)
		}
		switch name {
		case "energy":
			// properties × month ends: ceil(6000/4) properties × 4 months
			if s.Rows < 6000 || s.Rows > 6000+8 {
				t.Errorf("energy: %d rows, want about 6000", s.Rows)
			}
		case "exchange_rates":
			if s.Rows != 50*120 {
				t.Errorf("exchange_rates: %d rows, want 6000", s.Rows)
			}
		default:
			if s.Rows != 6000 {
				t.Errorf("%s: %d rows, want exactly 6000", name, s.Rows)
			}
		}
		// Every file on disk is in the manifest (no leftovers, no temp files).
		var onDisk int
		filepath.Walk(st.Dir(name), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && strings.HasSuffix(p, ".parquet") || strings.HasSuffix(p, ".tmp") {
				onDisk++
			}
			return nil
		})
		if onDisk != len(m.Files) {
			t.Errorf("%s: %d parquet files on disk, %d in the manifest", name, onDisk, len(m.Files))
		}
	}
}

// duckType is how DuckDB reports a catalog type read back from Parquet.
func duckType(t datasets.Type) string {
	if t == datasets.JSON {
		return "VARCHAR"
	}
	return string(t)
}

func TestReadBackWithDuckDB(t *testing.T) {
	st, _ := generated(t)
	db := openDuck(t)
	cat := builtin(t)
	for _, name := range Generated() {
		d, _ := cat.Lookup(name)
		t.Run(name, func(t *testing.T) {
			files, m := fileList(t, st, name)
			src := "read_parquet(" + files + ", hive_partitioning=false)"

			// Types: every stored column with its exact DuckDB type.
			rows, err := db.Query("DESCRIBE SELECT * FROM " + src)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for rows.Next() {
				var col, typ string
				var a, b, c, e sql.NullString
				if err := rows.Scan(&col, &typ, &a, &b, &c, &e); err != nil {
					t.Fatal(err)
				}
				got[col] = typ
			}
			rows.Close()
			stored := d.Stored()
			if len(got) != len(stored) {
				t.Errorf("file has %d columns, catalog stores %d", len(got), len(stored))
			}
			for _, c := range stored {
				if got[c.Name] != duckType(c.Type) {
					t.Errorf("column %s: DuckDB type %q, want %q", c.Name, got[c.Name], duckType(c.Type))
				}
			}

			// Derived columns evaluate.
			for _, c := range d.Columns {
				if !c.Derived() {
					continue
				}
				var n int64
				var bad int64
				q := fmt.Sprintf("SELECT count(*), count(*) FILTER (WHERE v IS NULL) FROM (SELECT %s AS v FROM %s)", c.Expr, src)
				if err := db.QueryRow(q).Scan(&n, &bad); err != nil {
					t.Fatalf("derived %s: %v", c.Name, err)
				}
				if n == 0 || bad != 0 {
					t.Errorf("derived %s: %d rows, %d NULL", c.Name, n, bad)
				}
			}

			// Non-nullable columns hold no NULLs.
			var sel []string
			for _, c := range stored {
				if !c.Nullable {
					sel = append(sel, fmt.Sprintf("count(*) FILTER (WHERE %s IS NULL) AS %s", quote(c.Name), quote(c.Name)))
				}
			}
			r, err := db.Query("SELECT " + strings.Join(sel, ", ") + " FROM " + src)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := r.Columns()
			vals := make([]int64, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			r.Next()
			if err := r.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			r.Close()
			for i, v := range vals {
				if v != 0 {
					t.Errorf("column %s is not nullable but has %d NULLs", cols[i], v)
				}
			}

			// Row count matches the manifest.
			var n int64
			if err := db.QueryRow("SELECT count(*) FROM " + src).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != m.Rows() {
				t.Errorf("DuckDB counts %d rows, manifest %d", n, m.Rows())
			}

			// Rows are sorted by sort_by inside each file.
			var key []string
			for _, s := range d.SortBy {
				key = append(key, quote(s))
			}
			k := "ROW(" + strings.Join(key, ", ") + ")"
			q := fmt.Sprintf(`SELECT count(*) FROM (
				SELECT %s AS k, lag(%s) OVER (PARTITION BY filename ORDER BY file_row_number) AS p
				FROM read_parquet(%s, filename=true, file_row_number=true, hive_partitioning=false)) WHERE k < p`, k, k, files)
			var unsorted int64
			if err := db.QueryRow(q).Scan(&unsorted); err != nil {
				t.Fatal(err)
			}
			if unsorted != 0 {
				t.Errorf("%d rows out of %v order", unsorted, d.SortBy)
			}

			// Every row's time column is on its file's partition day.
			q = fmt.Sprintf(`SELECT count(*) FROM read_parquet(%s, filename=true, hive_partitioning=false)
				WHERE strftime(CAST(%s AS DATE), '%%Y-%%m-%%d') <> regexp_extract(filename, 'date=([0-9-]+)/', 1)`,
				files, quote(d.TimeColumn))
			var off int64
			if err := db.QueryRow(q).Scan(&off); err != nil {
				t.Fatal(err)
			}
			if off != 0 {
				t.Errorf("%d rows outside their partition day", off)
			}
			for _, f := range m.Files {
				if !strings.HasPrefix(f.Path, "date="+f.Day+"/") {
					t.Errorf("file %s listed for day %s", f.Path, f.Day)
				}
			}

			// Row groups are at most datasets.RowGroupSize rows.
			var maxRG int64
			if err := db.QueryRow("SELECT max(row_group_num_rows) FROM parquet_metadata(" + files + ")").Scan(&maxRG); err != nil {
				t.Fatal(err)
			}
			if maxRG > datasets.RowGroupSize {
				t.Errorf("row group of %d rows", maxRG)
			}
		})
	}
}

// TestDocumentedValues checks that the dimension values the public docs'
// sample queries filter on occur.
func TestDocumentedValues(t *testing.T) {
	st, _ := generated(t)
	db := openDuck(t)
	checks := []struct{ dataset, where string }{
		{"usage", `SKUBillingType = 'Paid'`},
		{"usage", `SKUBillingType = 'Free'`},
		{"usage", `OfferType = 'SaaS'`},
		{"usage", `OfferType = 'Azure Applications'`},
		{"usage", `OfferType = 'vm core image'`},
		{"usage", `OfferType = 'Virtual Machine Licenses'`},
		{"usage", `OfferType = 'multisolution'`},
		{"usage", `MarketplaceLicenseType = 'Billed Through Azure' AND OfferType NOT IN ('Azure Applications', 'SaaS')`},
		{"usage", `MarketplaceLicenseType = 'Bring Your Own License'`},
		{"usage", `MarketplaceLicenseType = 'Free'`},
		{"usage", `MarketplaceLicenseType = 'Microsoft as Reseller'`},
		{"usage", `CustomerCountry = 'United States'`},
		{"usage", `OfferName = 'Example Offer Name' AND OfferType IN ('SaaS', 'Azure Applications')`},
		{"usage", `OfferName = 'Contoso test Services'`},
		{"usage", `CustomerName LIKE '%Contosso%'`},
		{"usage", `IsPrivateOffer = 0`},
		{"usage", `IsPrivateOffer = 1`},
		{"usage", `NormalizedUsage > 1000`},
		{"usage", `MeterDimension IS NULL`},
		{"usage", `VMSize IS NOT NULL`},
		{"orders", `IsPrivateOffer = 1 AND OrderStatus = 'Active'`},
		{"orders", `OrderStatus = 'Cancelled'`},
		{"orders", `OrderQuantity = 100`},
		{"orders", `OfferName = 'Contoso test Services'`},
		{"customers", `IsActive = 1`},
		{"customers", `IsActive = 0`},
		{"customers", `CustomerCountryRegion = 'United States'`},
		{"revenue", `PayoutStatus = 'Sent'`},
		{"revenue", `PayoutStatus = 'Unprocessed'`},
		{"revenue", `PayoutStatus = 'Upcoming'`},
		{"customers_and_tenants", `SKU = 'MICROSOFT 365 BUSINESS STANDARD' AND BilledRevenueUSD > 20000`},
		{"transactions", `apiproxy IN ('books', 'music')`},
		{"transactions", `apiproxy IN ('api1', 'api2')`},
		{"transactions", `apiproxy LIKE 'm%'`},
		{"transactions", `apiproxy NOT LIKE 'm%'`},
		{"transactions", `request_verb = 'GET'`},
		{"transactions", `request_verb = 'POST'`},
		{"transactions", `request_verb = 'PUT'`},
		{"transactions", `request_verb = 'DELETE'`},
		{"transactions", `response_status_code >= 500`},
		{"transactions", `response_status_code BETWEEN 400 AND 499`},
		{"transactions", `target_response_code IS NULL`},
		{"transactions", `developer LIKE organization || '@@@%'`},
		{"transactions", `environment = 'prod'`},
		{"transactions", `environment = 'test'`},
		{"transactions", `organization = 'acme'`},
		{"transactions", `rate_plan_level = 'DEVELOPER'`},
		{"transactions", `rate_plan_level = 'STANDARD'`},
		{"meters", `counter_name = 'instance' AND counter_type = 'gauge' AND counter_unit = 'instance'`},
		{"meters", `counter_name = 'cpu' AND counter_type = 'cumulative' AND counter_unit = 'ns'`},
		{"meters", `counter_name = 'cpu_util' AND counter_type = 'gauge' AND counter_unit = '%'`},
		{"meters", `counter_name = 'disk.read.bytes' AND counter_type = 'cumulative' AND counter_unit = 'B'`},
		{"meters", `counter_name = 'network.incoming.bytes' AND counter_type = 'cumulative'`},
		{"meters", `counter_name = 'instance:m1.tiny'`},
		{"meters", `counter_type = 'delta'`},
		{"meters", `json_extract_string(resource_metadata, '$.instance_type') = 'm1.tiny'`},
		{"meters", `project_id = 'proj-a'`},
		{"energy", `account_id = 'acct-1' AND score IS NOT NULL`},
		{"energy", `score IS NULL AND reasonsForNoScore IS NOT NULL`},
		{"exchange_rates", `currency = 'EUR' AND abs(rate_to_eur - 1) < 1e-9`},
		{"marketplace_insights", `PageVisits > 0 AND Site = 'APPSOURCE'`},
		{"quality_of_service", `DeploymentStatus = 'Failed' AND ErrorCode IS NOT NULL`},
		{"offer_retention", `"Offset" > 0`},
	}
	for _, c := range checks {
		files, _ := fileList(t, st, c.dataset)
		var n int64
		if err := db.QueryRow("SELECT count(*) FROM read_parquet(" + files + ", hive_partitioning=false) WHERE " + c.where).Scan(&n); err != nil {
			t.Errorf("%s WHERE %s: %v", c.dataset, c.where, err)
			continue
		}
		if n == 0 {
			t.Errorf("%s: no row has %s", c.dataset, c.where)
		}
	}

	// Realism: errors ~3–5%, skewed tenants, meters metadata is JSON.
	files, _ := fileList(t, st, "transactions")
	var errPct, topShare float64
	if err := db.QueryRow("SELECT avg(is_error) * 100 FROM read_parquet(" + files + ")").Scan(&errPct); err != nil {
		t.Fatal(err)
	}
	if errPct < 2.5 || errPct > 6 {
		t.Errorf("transactions error rate %.2f%%, want about 3–5%%", errPct)
	}
	if err := db.QueryRow("SELECT max(c) / sum(c) FROM (SELECT count(*) c FROM read_parquet(" + files + ") GROUP BY organization)").Scan(&topShare); err != nil {
		t.Fatal(err)
	}
	if topShare < 0.25 {
		t.Errorf("biggest organization has %.0f%% of the calls; want a skewed distribution", topShare*100)
	}
	files, _ = fileList(t, st, "meters")
	var invalid int64
	if err := db.QueryRow("SELECT count(*) FROM read_parquet(" + files + ") WHERE NOT json_valid(resource_metadata) OR json_type(resource_metadata::JSON) <> 'OBJECT'").Scan(&invalid); err != nil {
		t.Fatal(err)
	}
	if invalid != 0 {
		t.Errorf("%d meters rows with resource_metadata not a JSON object", invalid)
	}
}

// datasetHash is an order-independent digest of all rows of a dataset.
func datasetHash(t *testing.T, db *sql.DB, st *datasets.Store, name string) string {
	files, _ := fileList(t, st, name)
	var n int64
	var h string
	if err := db.QueryRow("SELECT count(*), CAST(sum(hash(x)::HUGEINT) AS VARCHAR) FROM read_parquet("+files+", hive_partitioning=false) x").Scan(&n, &h); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d/%s", n, h)
}

func TestDeterministic(t *testing.T) {
	cat := builtin(t)
	db := openDuck(t)
	run := func(workers int, seed int64) *datasets.Store {
		st := datasets.NewStore(t.TempDir())
		if _, err := Generate(context.Background(), st, cat, Options{Rows: 3000, Seed: seed, End: testEnd, Days: 40, Workers: workers}); err != nil {
			t.Fatal(err)
		}
		return st
	}
	a, b, c := run(1, 42), run(2, 42), run(2, 43)
	for _, name := range Generated() {
		ha, hb, hc := datasetHash(t, db, a, name), datasetHash(t, db, b, name), datasetHash(t, db, c, name)
		if ha != hb {
			t.Errorf("%s: Workers 1 and 2 differ: %s vs %s", name, ha, hb)
		}
		if ha == hc && name != "exchange_rates" {
			t.Errorf("%s: seeds 42 and 43 give the same rows", name)
		}
	}
}

func TestRegenerateReplaces(t *testing.T) {
	cat := builtin(t)
	st := datasets.NewStore(t.TempDir())
	opt := Options{Datasets: []string{"ISVUsage"}, Rows: 500, Seed: 1, End: testEnd, Days: 10}
	if _, err := Generate(context.Background(), st, cat, opt); err != nil {
		t.Fatal(err)
	}
	first, _ := st.Manifest("usage")
	firstFiles := append([]datasets.FileEntry(nil), first.Files...)
	opt.Rows, opt.Days = 300, 5
	stats, err := Generate(context.Background(), st, cat, opt)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := st.Manifest("usage")
	if m.Rows() != 300 || stats["usage"].Rows != 300 || len(m.Files) != 5 {
		t.Fatalf("after regenerating: manifest %d rows in %d files, stats %+v", m.Rows(), len(m.Files), stats["usage"])
	}
	for _, f := range firstFiles {
		if _, err := os.Stat(st.Abs("usage", f)); !os.IsNotExist(err) {
			t.Errorf("old file %s still exists (err %v)", f.Path, err)
		}
	}
}

func TestUnknownDataset(t *testing.T) {
	_, err := Generate(context.Background(), datasets.NewStore(t.TempDir()), builtin(t), Options{Datasets: []string{"usgae"}})
	if err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("want an unknown-dataset error suggesting usage, got %v", err)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st := datasets.NewStore(t.TempDir())
	_, err := Generate(ctx, st, builtin(t), Options{Datasets: []string{"transactions"}, Rows: 1000, Days: 5, End: testEnd})
	if err == nil {
		t.Fatal("want an error from a cancelled context")
	}
	m, _ := st.Manifest("transactions")
	if len(m.Files) != 0 {
		t.Fatalf("cancelled run committed %d files", len(m.Files))
	}
}

// BenchmarkTransactions measures generation throughput (rows/s) of the
// transactions dataset, the widest and largest one.
func BenchmarkTransactions(b *testing.B) {
	cat := builtin(b)
	const rows = 500_000
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		st := datasets.NewStore(b.TempDir())
		if _, err := Generate(context.Background(), st, cat, Options{Datasets: []string{"transactions"}, Rows: rows, Days: 20, End: testEnd, Seed: int64(i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkAllDefaults measures generating every dataset at its default size.
func BenchmarkAllDefaults(b *testing.B) {
	cat := builtin(b)
	for i := 0; i < b.N; i++ {
		st := datasets.NewStore(b.TempDir())
		if _, err := Generate(context.Background(), st, cat, Options{End: testEnd, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestScale generates QUARRY_GEN_ROWS transactions rows (skipped when
// unset), for measuring throughput and peak memory:
//
//	go test -c -o /tmp/gen.test ./datasets/gen
//	QUARRY_GEN_ROWS=10000000 /usr/bin/time -v /tmp/gen.test -test.run TestScale -test.v
func TestScale(t *testing.T) {
	env := os.Getenv("QUARRY_GEN_ROWS")
	if env == "" {
		t.Skip("set QUARRY_GEN_ROWS to run")
	}
	var rows int64
	fmt.Sscan(env, &rows)
	ds := []string{"transactions"}
	if v := os.Getenv("QUARRY_GEN_DATASETS"); v != "" {
		ds = strings.Split(v, ",")
	}
	dir := os.Getenv("QUARRY_GEN_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	st := datasets.NewStore(dir)
	start := time.Now()
	stats, err := Generate(context.Background(), st, builtin(t), Options{Datasets: ds, Rows: rows, Seed: 1, End: testEnd})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	for n, s := range stats {
		t.Logf("%s: %d rows in %d files, %v, %.0f rows/s", n, s.Rows, s.Files, s.Elapsed, float64(s.Rows)/s.Elapsed.Seconds())
	}
	t.Logf("total %v", el)
}
