package jobs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/quarry/quarry/meta"
)

// SubmitMany stores a batch in one transaction, all or none, applies the
// per-tenant limits to it, announces each job and runs them.
func TestSubmitMany(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	var mu sync.Mutex
	seen := map[string]int{}
	q := start(t, store, dir, Config{Workers: 2, PollInterval: time.Hour, PerTenantActive: 3, OnChange: func(j meta.Job) {
		if j.State == meta.JobEnqueued {
			mu.Lock()
			seen[j.ID]++
			mu.Unlock()
		}
	}}, map[string]Handler{"k": writeResult, "slow": newBlocker().handle})
	ctx := context.Background()

	js, err := q.SubmitMany(ctx, []meta.Job{{Kind: "k", Tenant: "a"}, {Kind: "k", Tenant: "b"}, {Kind: "k", Tenant: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 3 {
		t.Fatalf("%d jobs", len(js))
	}
	// The workers are woken (PollInterval is an hour): every job runs.
	for _, j := range js {
		waitState(t, store, j.ID, meta.JobCompleted)
	}
	mu.Lock()
	for _, j := range js {
		if seen[j.ID] != 1 {
			t.Errorf("job %s announced enqueued %d times", j.ID, seen[j.ID])
		}
	}
	mu.Unlock()

	// Four slow jobs of one tenant over a limit of 3: none is stored.
	four := []meta.Job{{Kind: "slow", Tenant: "c"}, {Kind: "slow", Tenant: "c"}, {Kind: "slow", Tenant: "c"}, {Kind: "slow", Tenant: "c"}}
	_, err = q.SubmitMany(ctx, four)
	var le *LimitError
	if !errors.As(err, &le) || le.Tenant != "c" || le.Limit != 3 {
		t.Fatalf("over the limit: %v", err)
	}
	tenant := "c"
	if list, _ := store.ListJobs(ctx, meta.JobFilter{Tenant: &tenant}); len(list) != 0 {
		t.Errorf("a refused batch stored %d jobs", len(list))
	}
	if _, err := q.SubmitMany(ctx, []meta.Job{{Kind: "k"}, {Kind: "slow"}}); err == nil {
		t.Error("a batch of two kinds was accepted")
	}
	if _, err := q.SubmitMany(ctx, []meta.Job{{Kind: "nope"}}); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("unknown kind: %v", err)
	}
}

// Prepare and Enqueued: the caller stores the jobs in its own
// transaction; the queue then runs them. Kinds with limits are refused.
func TestPrepareEnqueued(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	q := start(t, store, dir, Config{Workers: 2, PollInterval: time.Hour}, map[string]Handler{"k": writeResult})
	ctx := context.Background()
	if _, err := q.Prepare([]meta.Job{{Kind: "k", Tenant: "a"}}); !errors.Is(err, ErrLimitedKind) {
		t.Fatalf("a kind under the per-tenant limit: %v", err)
	}
	q.Unlimited("k")
	js, err := q.Prepare([]meta.Job{{Kind: "k", Tenant: "a", Request: []byte(`{"n":1}`)}, {Kind: "k", Tenant: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 2 || js[0].ID == js[1].ID || js[0].State != meta.JobEnqueued || string(js[0].Request) != `{"n":1}` {
		t.Fatalf("prepared %+v", js)
	}
	if _, err := store.GetJob(ctx, js[0].ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Prepare stored a job: %v", err)
	}
	stored, err := store.CreateJobs(ctx, js, meta.Admission{})
	if err != nil {
		t.Fatal(err)
	}
	q.Enqueued(stored)
	for _, j := range stored {
		waitState(t, store, j.ID, meta.JobCompleted)
	}
	if _, err := q.Prepare([]meta.Job{{Kind: "nope"}}); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("unknown kind: %v", err)
	}
}
