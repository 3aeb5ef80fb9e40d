package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// quarry ingest takes directories, globs and names together, each file
// once, several at once; --skip-bad-rows keeps a file's good rows; a bad
// file is rejected whole while the others land.
func TestIngestDirsAndGlobs(t *testing.T) {
	data := t.TempDir()
	in := t.TempDir()
	row := func(p string, v int) string {
		return fmt.Sprintf(`{"source":"openstack","counter_name":"cpu","counter_type":"cumulative","counter_unit":"ns","counter_volume":%d,"user_id":"u1","project_id":%q,"resource_id":"r1","timestamp":"2026-11-20T10:00:00Z"}`+"\n", v, p)
	}
	write := func(name, content string) string {
		p := filepath.Join(in, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for i := 0; i < 6; i++ {
		write(fmt.Sprintf("dir/sub/part-%d.ndjson", i), row("bulk", 1)+row("bulk", 2))
	}
	write("dir/README.txt", "not data")
	g1 := write("glob-a.ndjson", row("bulk", 10))
	write("glob-b.ndjson", row("bulk", 20))
	mixed := write("mixed.ndjson", row("bulk", 100)+`{"counter_volume":"lots"}`+"\n")
	out, errs, code := quarry(t, "ingest", "--data", data, "--dataset", "meters", "--parallel", "3",
		filepath.Join(in, "dir"), filepath.Join(in, "glob-*.ndjson"), g1)
	if code != 0 || !strings.Contains(out, "8 files, 14 rows") || strings.Contains(out, "README") {
		t.Fatalf("ingest: %d\n%s%s", code, out, errs)
	}
	sum := func() string {
		out, errs, code := quarry(t, "query", "--data", data, "--format", "csv", "SELECT project_id, counter_volume FROM meters WHERE project_id = 'bulk' TIMESPAN LIFETIME")
		if code != 0 {
			t.Fatalf("query: %s", errs)
		}
		return strings.TrimSpace(out)
	}
	if got := sum(); got != "project_id,counter_volume\nbulk,48.0" {
		t.Fatalf("after the bulk ingest: %q (want 6×3 + 10 + 20)", got)
	}
	// a bad row rejects its file unless --skip-bad-rows
	if _, errs, code := quarry(t, "ingest", "--data", data, "--dataset", "meters", mixed); code != 1 || !strings.Contains(errs, "mixed.ndjson:2") {
		t.Errorf("bad file: %d %s", code, errs)
	}
	if got := sum(); got != "project_id,counter_volume\nbulk,48.0" {
		t.Errorf("a rejected file changed the data: %q", got)
	}
	out, errs, code = quarry(t, "ingest", "--data", data, "--dataset", "meters", "--skip-bad-rows", mixed)
	if code != 0 || !strings.Contains(out, "1 bad rows left out") || !strings.Contains(errs, "mixed.ndjson:2") {
		t.Errorf("--skip-bad-rows: %d %s %s", code, out, errs)
	}
	if got := sum(); got != "project_id,counter_volume\nbulk,148.0" {
		t.Errorf("after --skip-bad-rows: %q", got)
	}
	// no match, and a bad --format, are clear
	if _, errs, code := quarry(t, "ingest", "--data", data, "--dataset", "meters", filepath.Join(in, "nothing-*.csv")); code == 0 || !strings.Contains(errs, "no file matches") {
		t.Errorf("no match: %d %s", code, errs)
	}
	if _, errs, code := quarry(t, "ingest", "--data", data, "--dataset", "meters", "--format", "xml", g1); code != 2 || !strings.Contains(errs, `--format "xml"`) {
		t.Errorf("bad format: %d %s", code, errs)
	}
}

// The progress line shows files, rows, rows/s, the share of bytes read
// and an ETA from it, and clears itself.
func TestIngestProgressLine(t *testing.T) {
	p := &progress{files: 4, total: 4 << 20}
	p.start = p.start.Add(0)
	p.bytes.Store(1 << 20)
	p.rows.Store(5000)
	p.done.Store(1)
	var b strings.Builder
	p.draw(&b)
	line := b.String()
	for _, want := range []string{"1/4 files", "5000 rows", "rows/s", "25% of 4.0 MiB", "ETA "} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
	b.Reset()
	p.clear(&b)
	if b.String() != "\r\033[K" {
		t.Errorf("clear wrote %q", b.String())
	}
}
