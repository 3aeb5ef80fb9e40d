package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kill -9 during compaction (issue 10 §3): after each kill the manifest
// lists only files that exist and every ingested row exactly once; a
// compaction run afterwards finishes the job with the same rows.
func TestCompactCrash(t *testing.T) {
	data := t.TempDir()
	if out, errs, code := quarry(t, "gen", "--data", data, "--datasets", "exchange_rates", "--days", "2", "--end", "2026-11-21"); code != 0 {
		t.Fatalf("gen: %d\n%s%s", code, out, errs)
	}
	ds := filepath.Join(data, "datasets", "tiny")
	os.MkdirAll(ds, 0o755)
	if err := os.WriteFile(filepath.Join(ds, "schema.json"), []byte(cliTinySchema), 0o644); err != nil {
		t.Fatal(err)
	}
	// 40 files of 20,000 rows over 4 days: merges long enough to be cut
	in := t.TempDir()
	args := []string{"ingest", "--data", data, "--dataset", "tiny", "--quiet"}
	for k := 0; k < 40; k++ {
		var b strings.Builder
		for i := 0; i < 20000; i++ {
			fmt.Fprintf(&b, `{"org":%q,"ts":"2026-11-%02dT%02d:%02d:%02dZ","v":%d}`+"\n",
				[]string{"acme", "globex", "initech"}[(i+k)%3], 17+(i+k)%4, i%24, k%60, i%60, k*100000+i)
		}
		p := filepath.Join(in, fmt.Sprintf("f%02d.ndjson", k))
		os.WriteFile(p, []byte(b.String()), 0o644)
		args = append(args, p)
	}
	if out, errs, code := quarry(t, args...); code != 0 {
		t.Fatalf("ingest: %d\n%s%s", code, out, errs)
	}
	const total = 800000
	check := func(when string) int {
		t.Helper()
		var man struct{ Files []struct{ Path string } }
		b, err := os.ReadFile(filepath.Join(ds, "_manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(b, &man)
		var files []string
		for _, f := range man.Files {
			p := filepath.Join(ds, f.Path)
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("%s: the manifest lists a missing file: %v", when, err)
			}
			files = append(files, "'"+p+"'")
		}
		db, err := sql.Open("duckdb", "")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n, distinct int64
		if err := db.QueryRow(`SELECT count(*), count(DISTINCT v) FROM read_parquet([`+strings.Join(files, ",")+`])`).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		if n != total || distinct != total {
			t.Fatalf("%s: %d rows (%d distinct), want %d each", when, n, distinct, total)
		}
		return len(files)
	}
	before := check("before")
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	killed, cut := 0, 0
	for i := 0; i < 3; i++ {
		cmd := exec.Command(bin, "compact", "--data", data, "--dataset", "tiny")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rng.Intn(400)) * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			killed++
		}
		cmd.Wait()
		if tmps, _ := filepath.Glob(filepath.Join(ds, "*", ".compact-*")); len(tmps) > 0 {
			cut++
		}
		check(fmt.Sprintf("after kill %d", i+1))
	}
	out, errs, code := quarry(t, "compact", "--data", data, "--dataset", "tiny")
	if code != 0 {
		t.Fatalf("compact after the kills: %d\n%s%s", code, out, errs)
	}
	after := check("after a clean compaction")
	if after != 4 {
		t.Errorf("%d files after compaction (from %d), want one per day", after, before)
	}
	t.Logf("%d files → %d after %d kills, %d of which cut a merge (left a temporary file)", before, after, killed, cut)
}
