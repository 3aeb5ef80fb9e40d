package metering

import (
	"fmt"
	"testing"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/planner"
)

func TestPlanCacheBounded(t *testing.T) {
	c := newPlanCache(3)
	for i := 0; i < 5; i++ {
		k := fmt.Sprint(i)
		if c.get(k) != nil {
			t.Fatalf("%s cached before it was added", k)
		}
		c.add(k, &planner.MeteringPlan{})
	}
	if c.len() != 3 {
		t.Fatalf("cache holds %d entries, want 3", c.len())
	}
	if c.get("0") != nil || c.get("1") != nil || c.get("4") == nil {
		t.Fatal("not least-recently-used eviction")
	}
	c.get("2") // 2 is now the most recent; adding one evicts 3
	c.add("5", &planner.MeteringPlan{})
	if c.get("3") != nil || c.get("2") == nil {
		t.Fatal("a recently used entry was evicted")
	}
	// adding a key twice keeps the first entry
	e := c.get("5")
	if c.add("5", &planner.MeteringPlan{}) != e {
		t.Fatal("a second add replaced the entry")
	}
	off := newPlanCache(-1)
	off.add("x", &planner.MeteringPlan{})
	if off.get("x") != nil || off.len() != 0 {
		t.Fatal("a disabled cache kept an entry")
	}
}

func TestCacheEntryManifest(t *testing.T) {
	e := &cacheEntry{}
	m1, m2 := &datasets.Manifest{}, &datasets.Manifest{}
	if _, ok := e.compiled(m1); ok {
		t.Fatal("compiled before set")
	}
	e.setCompiled(m1, planner.SQL{Text: "x"})
	if q, ok := e.compiled(m1); !ok || q.Text != "x" {
		t.Fatal("not reused for its manifest")
	}
	if _, ok := e.compiled(m2); ok {
		t.Fatal("reused for another manifest")
	}
}

func TestCacheKeyDistinct(t *testing.T) {
	base := planner.MeteringRequest{Kind: planner.MeterVolumeSum, Resource: "r", Meter: "m"}
	admin := planner.MeteringOptions{Scope: planner.Scope{Admin: true}}
	keys := map[string]string{}
	add := func(name string, r planner.MeteringRequest, o planner.MeteringOptions) {
		k := cacheKey(r, o)
		if prev, ok := keys[k]; ok {
			t.Fatalf("%s and %s share a cache key", name, prev)
		}
		keys[k] = name
	}
	add("base", base, admin)
	add("project scope", base, planner.MeteringOptions{Scope: planner.Scope{Project: "p"}})
	r := base
	r.Kind = planner.MeterVolumeMax
	add("max", r, admin)
	r = base
	r.Resource, r.Meter = "r|m", ""
	add("shifted fields", r, admin)
	r = base
	r.Offset = "5"
	add("offset", r, admin)
	r = base
	r.Metadata = map[string]string{"a": "b"}
	add("metadata", r, admin)
	// the same request with metadata in another order is one key
	r1, r2 := base, base
	r1.Metadata = map[string]string{"a": "1", "b": "2"}
	r2.Metadata = map[string]string{"b": "2", "a": "1"}
	if cacheKey(r1, admin) != cacheKey(r2, admin) {
		t.Fatal("metadata order changes the key")
	}
}
