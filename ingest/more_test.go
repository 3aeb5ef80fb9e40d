package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"testing"

	"github.com/quarry/quarry/datasets"
)

func TestSortRowsMatchesReference(t *testing.T) {
	d := &datasets.Dataset{
		Name: "s", TimeColumn: "ts", SortBy: []string{"app", "ts"},
		Columns: []datasets.Column{
			{Name: "app", Type: datasets.Varchar, Role: datasets.Dimension, Nullable: true},
			{Name: "ts", Type: datasets.Timestamp, Role: datasets.Time},
		},
	}
	if err := addToCatalog(d); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	for _, spread := range []int64{3, 1 << 20, 1 << 62} { // radix, radix, two words / fallback
		j := newJob(context.Background(), nil, d, "x", Options{})
		b := j.b
		n := 5000
		for i := 0; i < n; i++ {
			b.startRow()
			var v value
			if rng.Intn(10) > 0 {
				v = value{k: vString, b: []byte(orgs[rng.Intn(len(orgs))])}
				b.set(0, &v)
			}
			v = value{k: vTime, i: rng.Int63n(spread) - spread/2}
			b.set(1, &v)
			if _, reason := b.endRow(); reason != "" {
				t.Fatal(reason)
			}
		}
		got := j.sortRows(b)
		want := make([]int32, n)
		for i := range want {
			want[i] = int32(i)
		}
		org := func(i int32) (bool, string) { return !b.cols[0].valid[i], string(b.cols[0].str(int(i))) }
		sort.SliceStable(want, func(x, y int) bool {
			a, c := want[x], want[y]
			if b.day[a] != b.day[c] {
				return b.day[a] < b.day[c]
			}
			na, oa := org(a)
			nc, oc := org(c)
			if na != nc {
				return !na // NULLs last
			}
			if oa != oc {
				return oa < oc
			}
			return b.cols[1].i64[a] < b.cols[1].i64[c]
		})
		if !slices.Equal(got, want) {
			t.Fatalf("spread %d: order differs", spread)
		}
	}
}

// metersSchema mirrors datasets/schemas/meters.json, for when the built-in
// catalog does not have it.
const metersSchema = `{"name":"meters","time_column":"timestamp","tenant_column":"project_id","tenant_scope":"project",
 "sort_by":["resource_id","timestamp"],"columns":[
 {"name":"message_id","type":"VARCHAR","role":"dimension"},
 {"name":"source","type":"VARCHAR","role":"dimension"},
 {"name":"counter_name","type":"VARCHAR","role":"dimension"},
 {"name":"counter_type","type":"VARCHAR","role":"dimension"},
 {"name":"counter_unit","type":"VARCHAR","role":"dimension"},
 {"name":"counter_volume","type":"DOUBLE","role":"metric","agg":"sum"},
 {"name":"user_id","type":"VARCHAR","role":"dimension","nullable":true},
 {"name":"project_id","type":"VARCHAR","role":"dimension"},
 {"name":"resource_id","type":"VARCHAR","role":"dimension"},
 {"name":"timestamp","type":"TIMESTAMP","role":"time"},
 {"name":"resource_metadata","type":"JSON","role":"dimension"},
 {"name":"message_signature","type":"VARCHAR","role":"dimension"}]}`

func metersDataset(t *testing.T) *datasets.Dataset {
	t.Helper()
	dir := t.TempDir()
	c, err := datasets.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup("meters"); !ok {
		os.MkdirAll(filepath.Join(dir, "datasets", "meters"), 0o755)
		writeFile(t, filepath.Join(dir, "datasets", "meters"), "schema.json", metersSchema)
	}
	if c, err = datasets.Load(dir); err != nil {
		t.Fatal(err)
	}
	d, _ := c.Lookup("meters")
	return d
}

func TestMetersDefaults(t *testing.T) {
	d := metersDataset(t)
	store := datasets.NewStore(t.TempDir())
	p := writeFile(t, t.TempDir(), "m.ndjson",
		`{"source":"openstack","counter_name":"cpu","counter_type":"delta","counter_unit":"ns","counter_volume":1.5,"project_id":"p1","resource_id":"r1","timestamp":"2024-01-02T03:04:05.5Z","resource_metadata":{"b": "é\"", "a": [1]}}`+"\n"+
			`{"message_id":"given","source":"s","counter_name":"cpu","counter_type":"gauge","counter_unit":"%","counter_volume":2,"project_id":"p1","resource_id":"r2","timestamp":"2024-01-02T00:00:00Z","resource_metadata":{},"message_signature":"sig"}`+"\n")
	if _, err := File(context.Background(), store, d, p, Options{}); err != nil {
		t.Fatal(err)
	}
	got := readBack(t, store, d, "message_id, message_signature", "resource_id")
	id, _ := got[0]["message_id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("message_id %q", id)
	}
	canonical := `{"counter_name":"cpu","counter_type":"delta","counter_unit":"ns","counter_volume":1.5,"message_id":"` + id +
		`","project_id":"p1","resource_id":"r1","resource_metadata":{"b":"é\"","a":[1]},"source":"openstack","timestamp":"2024-01-02T03:04:05.5Z"}`
	m := hmac.New(sha256.New, MeterSignatureKey)
	m.Write([]byte(canonical))
	if want := hex.EncodeToString(m.Sum(nil)); got[0]["message_signature"] != want || Sign([]byte(canonical)) != want {
		t.Fatalf("signature %v, want %s", got[0]["message_signature"], want)
	}
	if got[1]["message_id"] != "given" || got[1]["message_signature"] != "sig" {
		t.Fatalf("given values replaced: %v", got[1])
	}
}

func TestBuiltinUsageCSV(t *testing.T) {
	c, err := datasets.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	d, ok := c.Lookup("ISVUsage")
	if !ok {
		t.Skip("no usage dataset")
	}
	store := datasets.NewStore(t.TempDir())
	p := writeFile(t, t.TempDir(), "usage.csv",
		"publisherid,UsageDate,OfferType,NormalizedUsage,IsNewCustomer\n"+
			"pub-2,2024-02-01,SaaS,1.5,true\n"+
			"pub-1,2024-02-01T00:00:00Z,Azure Applications,2,0\n"+
			"pub-1,2024-02-02,SaaS,3,1\n")
	res, err := File(context.Background(), store, d, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3 || len(res.Files) != 2 {
		t.Fatalf("%+v", res)
	}
	got := readBack(t, store, d, "PublisherId, UsageDate, NormalizedUsage", "UsageDate, PublisherId")
	if got[0]["PublisherId"] != "pub-1" || got[2]["NormalizedUsage"] != 3.0 {
		t.Fatalf("%v", got)
	}
}
