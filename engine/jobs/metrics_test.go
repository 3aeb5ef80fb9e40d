package jobs

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarry/quarry/meta"
)

// gather scrapes c through a registry: metric name{state} → value.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestCollector(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	for _, st := range []meta.JobState{meta.JobEnqueued, meta.JobEnqueued, meta.JobRunning, meta.JobCompleted} {
		if _, err := store.CreateJob(ctx, meta.Job{Kind: "k", State: st}, meta.Admission{}); err != nil {
			t.Fatal(err)
		}
	}
	got := gather(t, Collector(store))
	want := map[string]float64{
		"quarry_jobs{state=enqueued}":  2,
		"quarry_jobs{state=running}":   1,
		"quarry_jobs{state=completed}": 1,
		"quarry_jobs{state=failed}":    0,
		"quarry_jobs{state=cancelled}": 0,
		"quarry_jobs{state=expired}":   0,
		"quarry_jobs_queue_depth":      2,
		"quarry_jobs_scrape_error":     0,
	}
	if len(got) != len(want) {
		t.Errorf("metrics: %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}

	// A store that cannot answer: the scrape still succeeds and says so.
	got = gather(t, Collector(failingCount{store}))
	if got["quarry_jobs_scrape_error"] != 1 || len(got) != 1 {
		t.Errorf("failing store: %v", got)
	}
}

type failingCount struct{ meta.Jobs }

func (failingCount) CountJobsByState(context.Context) (map[meta.JobState]int, error) {
	return nil, errors.New("store unavailable")
}
