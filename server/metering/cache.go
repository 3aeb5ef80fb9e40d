package metering

import (
	"container/list"
	"sync"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/planner"
)

// planCache keeps the plans of recent requests, least recently used out
// first. An entry also keeps the plan's compiled SQL together with the
// manifest it was compiled against: the SQL names the manifest's files, so
// it is reused only while the dataset's manifest is that same one.
type planCache struct {
	max int

	mu           sync.Mutex
	ll           *list.List // of *cacheEntry, most recent first
	items        map[string]*list.Element
	hits, misses int64
}

type cacheEntry struct {
	key string
	mp  *planner.MeteringPlan

	mu       sync.Mutex
	manifest *datasets.Manifest
	sql      planner.SQL
}

func newPlanCache(max int) *planCache {
	return &planCache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

// get returns the entry of key, or nil.
func (c *planCache) get(key string) *cacheEntry {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.hits++
		c.ll.MoveToFront(el)
		return el.Value.(*cacheEntry)
	}
	c.misses++
	return nil
}

// add stores a new entry for key (evicting the least recently used one
// when full) and returns the entry to use: an existing one when another
// request added it first.
func (c *planCache) add(key string, mp *planner.MeteringPlan) *cacheEntry {
	e := &cacheEntry{key: key, mp: mp}
	if c.max <= 0 {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		return el.Value.(*cacheEntry)
	}
	c.items[key] = c.ll.PushFront(e)
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
	return e
}

func (c *planCache) stats() (hits, misses int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

func (c *planCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// compiled returns the SQL compiled against manifest m, if there is one.
func (e *cacheEntry) compiled(m *datasets.Manifest) (planner.SQL, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sql, e.manifest != nil && e.manifest == m
}

func (e *cacheEntry) setCompiled(m *datasets.Manifest, sql planner.SQL) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.manifest, e.sql = m, sql
}
