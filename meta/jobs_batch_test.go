package meta

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCreateJobs(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	batch := []Job{{Kind: "k", Tenant: "a"}, {Kind: "k", Tenant: "a"}, {Kind: "k", Tenant: "b", Request: []byte(`{"x":1}`)}}
	got, err := s.CreateJobs(ctx, batch, Admission{MaxActive: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID == got[1].ID || got[2].State != JobEnqueued || !got[2].CreatedAt.Equal(now) {
		t.Fatalf("created %+v", got)
	}
	if j, err := s.GetJob(ctx, got[2].ID); err != nil || string(j.Request) != `{"x":1}` {
		t.Errorf("stored %+v %v", j, err)
	}
	// Tenant a is at its limit: the batch's third job for b fits, a's does
	// not, and then nothing of the batch is stored.
	_, err = s.CreateJobs(ctx, []Job{{Kind: "k", Tenant: "b"}, {Kind: "k", Tenant: "a"}}, Admission{MaxActive: 2})
	var be *BatchError
	if !errors.Is(err, ErrActiveLimit) || !errors.As(err, &be) || be.Index != 1 {
		t.Fatalf("over the limit: %v", err)
	}
	if all, _ := s.ListJobs(ctx, JobFilter{}); len(all) != 3 {
		t.Errorf("%d jobs after a refused batch, want 3", len(all))
	}
	// The jobs of the batch count against the limit of the jobs after them.
	_, err = s.CreateJobs(ctx, []Job{{Kind: "k", Tenant: "c"}, {Kind: "k", Tenant: "c"}, {Kind: "k", Tenant: "c"}}, Admission{MaxActive: 2})
	if !errors.As(err, &be) || be.Index != 2 {
		t.Errorf("three in one batch over a limit of two: %v", err)
	}
	if _, err := s.CreateJobs(ctx, []Job{{Kind: ""}}, Admission{}); err == nil {
		t.Error("a job without a kind was accepted")
	}
}
