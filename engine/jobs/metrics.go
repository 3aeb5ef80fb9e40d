package jobs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarry/quarry/meta"
)

// MetricsTimeout bounds the store query a scrape of the Collector makes.
const MetricsTimeout = 2 * time.Second

var (
	jobsDesc = prometheus.NewDesc("quarry_jobs",
		"Jobs in the metadata store, by state.", []string{"state"}, nil)
	queueDepthDesc = prometheus.NewDesc("quarry_jobs_queue_depth",
		"Jobs waiting for a worker (enqueued).", nil, nil)
	scrapeErrorDesc = prometheus.NewDesc("quarry_jobs_scrape_error",
		"1 if counting the jobs failed at this scrape (the other job metrics are then absent), else 0.", nil, nil)
)

// Collector returns a Prometheus collector of the jobs in store, counted
// at scrape time with one query (meta.Jobs.CountJobsByState, bounded by
// MetricsTimeout): quarry_jobs{state} for every state, and
// quarry_jobs_queue_depth, the enqueued jobs. Counting the store rather
// than the queue's own events keeps the numbers right across restarts,
// crash recovery and other processes writing to the store.
func Collector(store meta.Jobs) prometheus.Collector { return &collector{store: store} }

type collector struct{ store meta.Jobs }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- queueDepthDesc
	ch <- scrapeErrorDesc
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), MetricsTimeout)
	defer cancel()
	counts, err := c.store.CountJobsByState(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 0)
	for _, st := range meta.JobStates {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(counts[meta.JobEnqueued]))
}
