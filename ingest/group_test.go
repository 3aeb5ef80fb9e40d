package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/quarry/quarry/datasets"
)

// Parsed inputs commit together: one part per day for all of them, every
// accepted row once, rejected rows counted; Parse writes nothing and
// refuses inputs over its row cap.
func TestGroupCommit(t *testing.T) {
	d := testDataset(t)
	store := datasets.NewStore(t.TempDir())
	var inputs []*Parsed
	for r := 0; r < 20; r++ {
		var b strings.Builder
		for i := 0; i < 50; i++ {
			fmt.Fprintf(&b, `{"org":"o%d","ts":"2024-04-0%dT%02d:00:00Z","proxy":"p","note":"req %d row %d"}`+"\n", i%3, 1+i%2, i%24, r, i)
		}
		b.WriteString(`{"org":"x","ts":"bad"}` + "\n")
		p, err := Parse(context.Background(), d, strings.NewReader(b.String()), "req.ndjson", "", Options{SkipBadRows: true}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if p.Rows != 50 || p.Rejected != 1 {
			t.Fatalf("parsed %d rows, %d rejected", p.Rows, p.Rejected)
		}
		inputs = append(inputs, p)
	}
	if m, _ := store.Manifest(d.Name); len(m.Files) != 0 {
		t.Fatal("Parse wrote files")
	}
	res, err := CommitParsed(context.Background(), store, d, inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 1000 || res.Rejected != 20 || len(res.Files) != 2 {
		t.Fatalf("committed %d rows in %d files (%d rejected), want 1000 in 2", res.Rows, len(res.Files), res.Rejected)
	}
	rows := readBack(t, store, d, "org, ts, note", "note")
	if len(rows) != 1000 {
		t.Fatalf("read back %d rows", len(rows))
	}
	seen := map[string]bool{}
	for _, r := range rows {
		n := fmt.Sprint(r["note"])
		if seen[n] {
			t.Fatalf("row %q twice", n)
		}
		seen[n] = true
	}
	// each part is sorted by (org, ts)
	m, _ := store.Manifest(d.Name)
	db := openDB(t)
	for _, f := range m.Files {
		var unsorted int
		db.QueryRow(`SELECT count(*) FROM (SELECT org, ts, lag(org) OVER w po, lag(ts) OVER w pt FROM read_parquet('` + store.Abs(d.Name, f) + `', file_row_number = true) WINDOW w AS (ORDER BY file_row_number)) WHERE po IS NOT NULL AND (org < po OR (org = po AND ts < pt))`).Scan(&unsorted)
		if unsorted != 0 {
			t.Errorf("%s: %d rows out of (org, ts) order", f.Path, unsorted)
		}
	}
	// the row cap
	var b strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, `{"org":"o","ts":"2024-04-01T00:00:00Z"}`+"\n")
	}
	if _, err := Parse(context.Background(), d, strings.NewReader(b.String()), "big.ndjson", "", Options{SkipBadRows: true}, 10); !errors.Is(err, ErrTooManyRows) {
		t.Errorf("over the cap: %v", err)
	}
	// atomic parse: the first bad row is the error
	if _, err := Parse(context.Background(), d, strings.NewReader(`{"org":"o","ts":"bad"}`), "a.ndjson", "", Options{}, 10); rowErr(t, err).Line != 1 {
		t.Errorf("atomic parse: %v", err)
	}
}
