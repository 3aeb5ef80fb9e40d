package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cliTinySchema = `{
 "name": "tiny", "time_column": "ts",
 "tenant_column": "org", "tenant_scope": "org", "sort_by": ["org", "ts"],
 "columns": [
  {"name": "org", "type": "VARCHAR", "role": "dimension"},
  {"name": "ts", "type": "TIMESTAMP", "role": "time"},
  {"name": "v", "type": "DOUBLE", "role": "metric", "agg": "sum"}
 ]}`

func TestCompactCommand(t *testing.T) {
	data := t.TempDir()
	if out, errs, code := quarry(t, "gen", "--data", data, "--datasets", "usage", "--rows", "2000", "--days", "5", "--end", "2026-11-21"); code != 0 {
		t.Fatalf("gen: %d\n%s%s", code, out, errs)
	}
	ds := filepath.Join(data, "datasets", "tiny")
	if err := os.MkdirAll(ds, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ds, "schema.json"), []byte(cliTinySchema), 0o644); err != nil {
		t.Fatal(err)
	}
	in := t.TempDir()
	args := []string{"ingest", "--data", data, "--dataset", "tiny"}
	for k := 0; k < 6; k++ {
		var b strings.Builder
		for i := 0; i < 40; i++ {
			fmt.Fprintf(&b, `{"org":%q,"ts":"2026-11-%02dT%02d:%02d:00Z","v":%d}`+"\n", []string{"acme", "globex"}[(i+k)%2], 20+i%2, i%24, k, i+k)
		}
		p := filepath.Join(in, fmt.Sprintf("f%d.ndjson", k))
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	if out, errs, code := quarry(t, args...); code != 0 {
		t.Fatalf("ingest: %d\n%s%s", code, out, errs)
	}
	q := "SELECT org, v FROM tiny ORDER BY org ASC TIMESPAN LIFETIME"
	before, errs, code := quarry(t, "query", "--data", data, "--format", "csv", q)
	if code != 0 {
		t.Fatalf("query: %s", errs)
	}
	if n := filesPerDay(t, ds); n["2026-11-20"] != 6 || n["2026-11-21"] != 6 {
		t.Fatalf("files per day before: %v", n)
	}

	out, errs, code := quarry(t, "compact", "--data", data, "--dataset", "tiny")
	if code != 0 || !strings.Contains(out, "tiny") || !strings.Contains(out, "12 files ->      2") {
		t.Fatalf("compact: %d\n%s%s", code, out, errs)
	}
	if n := filesPerDay(t, ds); n["2026-11-20"] != 1 || n["2026-11-21"] != 1 {
		t.Fatalf("files per day after: %v", n)
	}
	after, _, _ := quarry(t, "query", "--data", data, "--format", "csv", q)
	if after != before || !strings.HasPrefix(before, "org,v\nacme,") {
		t.Errorf("answers changed:\n%s\n%s", before, after)
	}
	// every dataset: usage has one file per day, nothing to do
	out, errs, code = quarry(t, "compact", "--data", data)
	if code != 0 || !strings.Contains(out, "usage") || !strings.Contains(out, "0 partitions merged") {
		t.Fatalf("compact all: %d\n%s%s", code, out, errs)
	}
	if _, errs, code := quarry(t, "compact", "--data", data, "--dataset", "tinny"); code != 2 || !strings.Contains(errs, `did you mean "tiny"`) {
		t.Errorf("unknown dataset: %d %s", code, errs)
	}
}

func filesPerDay(t *testing.T, dir string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "_manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Files []struct{ Day string }
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, f := range m.Files {
		n[f.Day]++
	}
	return n
}
