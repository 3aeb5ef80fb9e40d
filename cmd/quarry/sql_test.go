package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// quarry sql runs one read-only statement in the console's sandbox: rows
// in each format, a row cap that says so, refused escapes, and errors
// marked under the text.
func TestSQLCommand(t *testing.T) {
	data := t.TempDir()
	if out, errs, code := quarry(t, "gen", "--data", data, "--datasets", "exchange_rates", "--days", "5", "--end", "2026-11-21"); code != 0 {
		t.Fatalf("gen: %d\n%s%s", code, out, errs)
	}
	var man struct{ Files []struct{ Rows int64 } }
	b, _ := os.ReadFile(filepath.Join(data, "datasets", "exchange_rates", "_manifest.json"))
	json.Unmarshal(b, &man)
	var rows int64
	for _, f := range man.Files {
		rows += f.Rows
	}
	out, errs, code := quarry(t, "sql", "--data", data, "--format", "csv", "SELECT count(*) AS n, count(DISTINCT currency) AS c FROM exchange_rates")
	if code != 0 || strings.TrimSpace(out) != "n,c\n"+itoa(rows)+",20" {
		t.Fatalf("count: %d %q %s (want %d rows of 20 currencies)", code, out, errs, rows)
	}
	out, errs, code = quarry(t, "sql", "--data", data, "--format", "ndjson", "--max-rows", "3", "FROM exchange_rates ORDER BY date, currency")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(errs, "truncated at 3 rows") {
		t.Errorf("max rows: %d %q %s", code, out, errs)
	}
	for _, c := range []struct{ sql, want string }{
		{"SELECT * FROM read_csv('/etc/passwd')", "read_csv"},
		{"COPY exchange_rates TO '/tmp/x.csv'", "COPY"},
		{"ATTACH '/tmp/x.db'", "ATTACH"},
		{"SELECT 1; SELECT 2", "one statement"},
		{"SET threads = 1", "SET"},
	} {
		_, errs, code := quarry(t, "sql", "--data", data, c.sql)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, %s", c.sql, code, errs)
		}
	}
	_, errs, code = quarry(t, "sql", "--data", data, "SELECT rate_to_usd FROM exchange_rates WHERE currenzy = 'EUR'")
	if code == 0 || !strings.Contains(errs, "currenzy") || !strings.Contains(errs, "^") {
		t.Errorf("binder error: %d %s", code, errs)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
