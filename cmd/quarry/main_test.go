package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI is tested as users run it: a built binary, its output and exit
// status. Results are checked for what the commands promise (formats,
// errors, atomic ingest); the engine's answers are checked against oracles
// in engine/.

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "quarry-cli-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "quarry")
	build := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func quarry(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestGenQueryIngest(t *testing.T) {
	data := t.TempDir()
	if out, errs, code := quarry(t, "gen", "--data", data, "--datasets", "usage,meters", "--rows", "3000", "--days", "30", "--end", "2026-11-21"); code != 0 {
		t.Fatalf("gen: %d\n%s%s", code, out, errs)
	}
	q := "SELECT SKUBillingType, NormalizedUsage FROM ISVUsage ORDER BY SKUBillingType ASC TIMESPAN LAST_30_DAYS"

	// csv: a header and one row per billing type
	out, errs, code := quarry(t, "query", "--data", data, "--now", "2026-11-22", "--format", "csv", q)
	if code != 0 {
		t.Fatalf("query: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "SKUBillingType,NormalizedUsage" || len(lines) != 3 ||
		!strings.HasPrefix(lines[1], "Free,") || !strings.HasPrefix(lines[2], "Paid,") {
		t.Errorf("csv output:\n%s", out)
	}
	// the same answer as ndjson and table
	nd, _, _ := quarry(t, "query", "--data", data, "--now", "2026-11-22", "--format", "ndjson", q)
	if !strings.HasPrefix(nd, `{"SKUBillingType":"Free","NormalizedUsage":`) || strings.Count(nd, "\n") != 2 {
		t.Errorf("ndjson output:\n%s", nd)
	}
	tab, _, _ := quarry(t, "query", "--data", data, "--now", "2026-11-22", q)
	if !strings.Contains(tab, "(2 rows)") {
		t.Errorf("table output:\n%s", tab)
	}
	// parquet to a file appears complete under its name
	pq := filepath.Join(t.TempDir(), "r.parquet")
	if _, errs, code := quarry(t, "query", "--data", data, "--now", "2026-11-22", "--format", "parquet", "--out", pq, q); code != 0 {
		t.Fatalf("parquet: %s", errs)
	}
	if b, err := os.ReadFile(pq); err != nil || !bytes.HasPrefix(b, []byte("PAR1")) || !bytes.HasSuffix(b, []byte("PAR1")) {
		t.Errorf("parquet file: %v", err)
	}

	// a positioned error: stderr, exit 1, caret under the column
	_, errs, code = quarry(t, "query", "--data", data, "SELECT UsageDat FROM ISVUsage")
	if code != 1 || !strings.Contains(errs, "line 1, column 8: unknown column 'UsageDat'") ||
		!strings.Contains(errs, "did you mean 'UsageDate'?") || !strings.Contains(errs, "\n         ^") {
		t.Errorf("error output (exit %d):\n%s", code, errs)
	}
	// --explain shows the plan and SQL without running
	out, _, code = quarry(t, "query", "--data", data, "--explain", q)
	if code != 0 || !strings.Contains(out, "-- plan") || !strings.Contains(out, "Aggregate by [SKUBillingType]") || !strings.Contains(out, `FROM usage_files`) {
		t.Errorf("explain:\n%s", out)
	}
	// a system query by id
	if _, errs, code := quarry(t, "query", "--data", data, "--now", "2026-11-22", "--format", "csv", "--id", "2c6f384b-ad52-4aed-965f-32bfa09b3778"); code != 0 {
		t.Errorf("system query: %s", errs)
	}
	if _, errs, code := quarry(t, "query", "--data", data, "--id", "nope"); code != 2 || !strings.Contains(errs, "Invalid QueryId") {
		t.Errorf("unknown system query: exit %d %s", code, errs)
	}

	// ingest: a good file lands, a bad one is rejected whole
	count := func() string {
		out, errs, code := quarry(t, "query", "--data", data, "--format", "csv", "SELECT project_id, counter_volume FROM meters WHERE project_id = 'cli-test' TIMESPAN LIFETIME")
		if code != 0 {
			t.Fatalf("count: %s", errs)
		}
		return strings.TrimSpace(out)
	}
	good := filepath.Join(t.TempDir(), "good.ndjson")
	os.WriteFile(good, []byte(
		`{"source":"openstack","counter_name":"cpu","counter_type":"cumulative","counter_unit":"ns","counter_volume":2.5,"user_id":"u1","project_id":"cli-test","resource_id":"r1","timestamp":"2026-11-20T10:00:00Z","resource_metadata":{"a":1}}
{"source":"openstack","counter_name":"cpu","counter_type":"cumulative","counter_unit":"ns","counter_volume":4,"user_id":"u1","project_id":"cli-test","resource_id":"r1","timestamp":"2026-11-21T10:00:00Z","resource_metadata":{}}
`), 0o644)
	if out, errs, code := quarry(t, "ingest", "--data", data, "--dataset", "meters", good); code != 0 || !strings.Contains(out, "2 rows") {
		t.Fatalf("ingest good: %d %s %s", code, out, errs)
	}
	if got := count(); got != "project_id,counter_volume\ncli-test,6.5" {
		t.Errorf("after good ingest: %q", got)
	}
	bad := filepath.Join(t.TempDir(), "bad.ndjson")
	os.WriteFile(bad, []byte(
		`{"source":"openstack","counter_name":"cpu","counter_type":"cumulative","counter_unit":"ns","counter_volume":1,"user_id":"u1","project_id":"cli-test","resource_id":"r1","timestamp":"2026-11-20T11:00:00Z"}
{"source":"openstack","counter_name":"cpu","counter_type":"cumulative","counter_unit":"ns","counter_volume":"lots","user_id":"u1","project_id":"cli-test","resource_id":"r1","timestamp":"2026-11-20T12:00:00Z"}
`), 0o644)
	_, errs, code = quarry(t, "ingest", "--data", data, "--dataset", "meters", bad)
	if code != 1 || !strings.Contains(errs, "bad.ndjson:2") || !strings.Contains(errs, "counter_volume") {
		t.Errorf("ingest bad: exit %d\n%s", code, errs)
	}
	if got := count(); got != "project_id,counter_volume\ncli-test,6.5" {
		t.Errorf("a rejected file changed the data: %q", got)
	}
}

func TestUsageErrors(t *testing.T) {
	if _, errs, code := quarry(t, "nope"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: %d %s", code, errs)
	}
	if _, errs, code := quarry(t, "query", "--data", t.TempDir()); code != 2 || !strings.Contains(errs, "no query given") {
		t.Errorf("no query: %d %s", code, errs)
	}
	if _, errs, code := quarry(t, "gen", "--data", t.TempDir(), "--datasets", "usgae"); code != 2 || !strings.Contains(errs, `did you mean "usage"?`) {
		t.Errorf("unknown dataset: %d %s", code, errs)
	}
	out, _, code := quarry(t, "version")
	if code != 0 || !strings.Contains(out, "DuckDB v1.5.4") {
		t.Errorf("version: %d %s", code, out)
	}
}
