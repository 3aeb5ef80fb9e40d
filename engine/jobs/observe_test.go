package jobs

import (
	"context"
	"sync"
	"testing"

	"github.com/quarry/quarry/meta"
)

// Observers see every stored change after Config.OnChange, including a
// running job handed back to the queue by Stop.
func TestObserve(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	var mu sync.Mutex
	var order []string
	seen := map[string][]meta.JobState{}
	q := New(store, dir, Config{Logger: quiet, OnChange: func(j meta.Job) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, "config")
	}})
	b := newBlocker()
	q.Register("write", writeResult)
	q.Register("block", b.handle)
	q.Observe(func(j meta.Job) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, "observer")
		seen[j.ID] = append(seen[j.ID], j.State)
	})
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w, err := q.Submit(ctx, meta.Job{Kind: "write"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, store, w.ID, meta.JobCompleted)
	bl, err := q.Submit(ctx, meta.Job{Kind: "block"})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, b.started)
	if err := q.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := seen[w.ID]; len(got) != 2 || got[0] != meta.JobEnqueued || got[1] != meta.JobCompleted {
		t.Errorf("write job seen %v", got)
	}
	if got := seen[bl.ID]; len(got) != 2 || got[0] != meta.JobEnqueued || got[1] != meta.JobEnqueued {
		t.Errorf("blocked job seen %v (handed back on Stop)", got)
	}
	for i := 0; i+1 < len(order); i += 2 {
		if order[i] != "config" || order[i+1] != "observer" {
			t.Fatalf("call order %v", order)
		}
	}
}
