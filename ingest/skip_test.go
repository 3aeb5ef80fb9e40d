package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/quarry/quarry/datasets"
)

// With SkipBadRows, bad rows of every format are left out and reported
// (line, column, reason), the good ones are committed, and a bad row's
// partial values do not leak into the next row.
func TestSkipBadRows(t *testing.T) {
	d := testDataset(t)
	dir := t.TempDir()
	cases := []struct {
		name, content string
		lines         []int64
	}{
		{"e.ndjson", `{"org":"a","ts":"2024-04-01T01:00:00Z","proxy":"p1","status":200,"note":"keep 1"}
{"org":"a","ts":"2024-04-01T02:00:00Z","proxy":"LEAK","status":"x","note":"LEAK"}
not json
{"org":"a","ts":"2024-04-01T03:00:00Z","proxy":"p3","status":201,"note":"keep 2"}
{"org":"a","proxy":"p4","note":"no time"}
{"org":"a","ts":"2024-04-02T03:00:00Z","status":202}
`, []int64{2, 3, 5}},
		{"e.csv", "org,ts,proxy,status,note\na,2024-04-01T01:00:00Z,p1,200,keep 1\na,2024-04-01T02:00:00Z,LEAK,x,LEAK\na,2024-04-01T03:00:00Z,p3,201,keep 2\n,2024-04-01T04:00:00Z,p4,1,no tenant\na,2024-04-02T03:00:00Z,p5,202,\n",
			[]int64{3, 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := datasets.NewStore(t.TempDir())
			res, err := File(context.Background(), store, d, writeFile(t, dir, c.name, c.content), Options{SkipBadRows: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != 3 || res.Rejected != int64(len(c.lines)) || len(res.Errors) != len(c.lines) {
				t.Fatalf("rows %d rejected %d errors %v", res.Rows, res.Rejected, res.Errors)
			}
			for i, e := range res.Errors {
				if e.Line != c.lines[i] || e.Reason == "" {
					t.Errorf("error %d: %v, want line %d", i, e, c.lines[i])
				}
			}
			rows := readBack(t, store, d, "proxy, status, note", "ts")
			got := fmt.Sprint(rows)
			if strings.Contains(got, "LEAK") || !strings.Contains(got, "keep 1") || !strings.Contains(got, "keep 2") {
				t.Errorf("committed rows %s", got)
			}
		})
	}
	// without the option the first bad row rejects everything
	store := datasets.NewStore(t.TempDir())
	if _, err := File(context.Background(), store, d, writeFile(t, dir, "e2.ndjson", cases[0].content), Options{}); err == nil {
		t.Error("a bad row was accepted without SkipBadRows")
	}
	// MaxErrors caps the report, not the count
	var b strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, `{"org":"a","ts":"2024-04-01T01:00:00Z","status":"bad%d"}`+"\n", i)
	}
	res, err := File(context.Background(), datasets.NewStore(t.TempDir()), d, writeFile(t, dir, "all-bad.ndjson", b.String()), Options{SkipBadRows: true, MaxErrors: 5})
	if err != nil || res.Rows != 0 || res.Rejected != 50 || len(res.Errors) != 5 || len(res.Files) != 0 {
		t.Errorf("all bad: %+v %v", res, err)
	}
}

// Options.Tenant fills the tenant column of rows without one and rejects
// rows of another tenant.
func TestTenantForced(t *testing.T) {
	d := testDataset(t)
	dir := t.TempDir()
	store := datasets.NewStore(t.TempDir())
	content := `{"ts":"2024-04-01T01:00:00Z","note":"no org"}
{"org":"acme","ts":"2024-04-01T02:00:00Z","note":"own org"}
{"org":"globex","ts":"2024-04-01T03:00:00Z","note":"other org"}
`
	_, err := File(context.Background(), store, d, writeFile(t, dir, "t.ndjson", content), Options{Tenant: "acme"})
	if re := rowErr(t, err); re.Line != 3 || re.Column != "org" || !strings.Contains(re.Reason, `may only write rows of "acme"`) {
		t.Fatalf("other tenant's row: %v", err)
	}
	res, err := File(context.Background(), store, d, writeFile(t, dir, "t.ndjson", content), Options{Tenant: "acme", SkipBadRows: true})
	if err != nil || res.Rows != 2 || res.Rejected != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	rows := readBack(t, store, d, "org, note", "ts")
	if fmt.Sprint(rows) != "[map[note:no org org:acme] map[note:own org org:acme]]" {
		t.Errorf("rows %v", rows)
	}
}
