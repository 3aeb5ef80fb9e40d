package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/compact"
	"github.com/quarry/quarry/datasets/gen"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/engine/sandbox"
	"github.com/quarry/quarry/engine/schedule"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server"
	"github.com/quarry/quarry/server/analytics"
	"github.com/quarry/quarry/server/console"
	"github.com/quarry/quarry/server/insights"
)

// runServe is `quarry serve`: every API family on one port until SIGINT or
// SIGTERM (ctx), then a graceful shutdown. On first start with an empty
// data dir it generates the sample datasets, and while the metadata store
// has no live admin key it creates one and prints its secret once.
func runServe(ctx context.Context, args []string) error {
	var data, addr, publicURL string
	var shutdown time.Duration
	var bodyLimit int
	fs := flagSet("serve", &data)
	fs.StringVar(&addr, "addr", ":8080", "address to listen on, host:port")
	fs.StringVar(&publicURL, "public-url", "", "base URL clients reach the server at, for links it hands out (default: from each request's Host)")
	fs.DurationVar(&shutdown, "shutdown-timeout", server.DefaultShutdownTimeout, "on SIGINT/SIGTERM, how long in-flight requests may run before they are cancelled")
	fs.IntVar(&bodyLimit, "body-limit", server.DefaultBodyLimit, "largest request body accepted, in bytes (larger: 413)")
	var linkTTL time.Duration
	fs.DurationVar(&linkTTL, "report-link-ttl", insights.DefaultLinkTTL, "how long a report's signed download link (reportAccessSecureLink) lives")
	var quotas server.Config
	fs.IntVar(&quotas.MaxQueriesPerUser, "max-queries-per-user", insights.DefaultMaxQueriesPerUser, "saved insights queries per user")
	fs.IntVar(&quotas.MaxActiveReports, "max-active-reports", insights.DefaultMaxActiveReports, "active insights reports per user")
	fs.IntVar(&quotas.MaxExecuteNow, "max-execute-now", insights.DefaultMaxExecuteNow, "ExecuteNow reports per user per --execute-now-window")
	fs.DurationVar(&quotas.ExecuteNowWindow, "execute-now-window", insights.DefaultExecuteNowWindow, "the window of --max-execute-now")
	fs.IntVar(&quotas.Analytics.SubmitsPerHour, "analytics-submits-per-hour", analytics.DefaultSubmitsPerHour, "async analytics queries submitted per org/env per hour (429 beyond; negative: unlimited)")
	fs.IntVar(&quotas.Analytics.MaxActive, "analytics-max-active", analytics.DefaultMaxActive, "enqueued+running async analytics queries per org/env (429 beyond; negative: unlimited)")
	fs.IntVar(&quotas.Analytics.MaxRangeDays, "analytics-max-range-days", analytics.DefaultMaxRangeDays, "longest time range of an analytics query, in days")
	fs.IntVar(&quotas.Analytics.MaxFields, "analytics-max-fields", analytics.DefaultMaxFields, "most dimensions+metrics in an analytics query")
	var sourcesFile string
	fs.StringVar(&sourcesFile, "metering-sources", "", "a JSON file {\"source\": {…}} of what GET /v1/sources/{source} answers (default: {\"openstack\": {}})")
	fs.BoolVar(&quotas.Metering.TrustProxyHeaders, "metering-trust-proxy-headers", false,
		"metering API behind a trusted auth proxy: requests made with an admin key take the caller's scope from X-Roles / X-Project-Id / X-User-Id (member keys are always scoped by the key)")
	fs.IntVar(&quotas.IngestBodyLimit, "ingest-body-limit", server.DefaultIngestBodyLimit, "largest POST /api/ingest body, in bytes (streamed, never held whole)")
	fs.IntVar(&quotas.IngestConcurrent, "ingest-concurrent", server.DefaultIngestConcurrent, "ingests running at once (more answer 503 with Retry-After)")
	fs.Float64Var(&quotas.IngestRatePerSecond, "ingest-rate", server.DefaultIngestRatePerSecond, "ingest requests per second per key, bursts of twice that (over it: 429; negative: unlimited)")
	var consoleCfg console.Config
	var sandboxCfg sandbox.Config
	fs.DurationVar(&sandboxCfg.Timeout, "console-timeout", sandbox.DefaultTimeout, "SQL console: longest a query may run (a request may ask for less)")
	fs.StringVar(&sandboxCfg.MemoryLimit, "console-memory", sandbox.DefaultMemoryLimit, "SQL console: DuckDB memory_limit of each sandbox instance (one per key scope)")
	fs.IntVar(&sandboxCfg.MaxInstances, "console-instances", sandbox.DefaultMaxInstances, "SQL console: sandbox instances kept (one per key scope, least recently used closed)")
	fs.Int64Var(&consoleCfg.MaxRows, "console-max-rows", console.DefaultMaxRows, "SQL console: most rows a synchronous query returns (jobs: --console-job-max-rows)")
	fs.Int64Var(&consoleCfg.JobMaxRows, "console-job-max-rows", console.DefaultJobMaxRows, "SQL console: most rows an async console job keeps")
	var compactEvery, compactGrace time.Duration
	var compactOpt compact.Options
	fs.DurationVar(&compactEvery, "compact-interval", time.Minute, "how often background compaction looks for days with small files (0: off)")
	fs.IntVar(&compactOpt.MaxFiles, "compact-max-files", 4, "a day with more files than this is merged into one sorted file")
	fs.Int64Var(&compactOpt.SmallBytes, "compact-small-bytes", 16<<20, "files under this size are small; two or more small files of a day are merged")
	fs.DurationVar(&compactGrace, "compact-grace", 0, "how long replaced files stay for queries already reading them (default: the longer of 10m and the job run timeout + 1m)")
	var jobCfg jobs.Config
	fs.IntVar(&jobCfg.Workers, "job-workers", jobs.DefaultWorkers, "async jobs (reports, analytics queries) run at once")
	fs.DurationVar(&jobCfg.RunTimeout, "job-run-timeout", jobs.DefaultRunTimeout, "how long one async job may run before it fails")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: quarry serve [--addr :8080] [--data DIR] [flags]")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q; quarry serve takes flags only", pos[0])}
	}

	if sourcesFile != "" {
		b, err := os.ReadFile(sourcesFile)
		if err != nil {
			return fmt.Errorf("--metering-sources: %w", err)
		}
		if err := json.Unmarshal(b, &quotas.Metering.Sources); err != nil {
			return fmt.Errorf("--metering-sources %s: not a JSON object of sources: %w", sourcesFile, err)
		}
	}
	if err := sampleDataOnFirstStart(ctx, data); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	queryTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "quarry_duckdb_query_seconds",
		Help:    "Time DuckDB spent on a query: run (until the result is closed) or export.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}, []string{"op", "outcome"})
	reg.MustRegister(queryTime)
	eng, err := engine.Open(ctx, engine.Config{DataDir: data, OnQuery: func(op string, d time.Duration, err error) {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		queryTime.WithLabelValues(op, outcome).Observe(d.Seconds())
	}})
	if err != nil {
		return err
	}
	defer eng.Close()
	store, err := meta.Open(ctx, data)
	if err != nil {
		return err
	}
	defer store.Close()
	adminSecret, err := adminKeyOnFirstStart(ctx, store)
	if err != nil {
		return err
	}

	// The console's sandbox: refuse to start unless its DuckDB settings
	// read back as SPEC.md §6 requires.
	sb := sandbox.New(eng, sandboxCfg)
	defer sb.Close()
	if err := sb.Verify(ctx); err != nil {
		return fmt.Errorf("console sandbox: %w", err)
	}
	consoleCfg.Sandbox = sb

	signingKey, err := insights.LoadOrCreateSigningKey(data)
	if err != nil {
		return err
	}
	// Results live as long as their links (at least the default week).
	jobCfg.ResultTTL = max(linkTTL, jobs.DefaultResultTTL)
	queue := jobs.New(store, data, jobCfg)
	// quarry_jobs{state} and quarry_jobs_queue_depth, counted in the store
	// at each scrape.
	reg.MustRegister(jobs.Collector(store))
	srv := server.New(server.Config{
		BodyLimit: bodyLimit, ShutdownTimeout: shutdown, PublicURL: publicURL, Version: version, ReportLinkTTL: linkTTL,
		MaxQueriesPerUser: quotas.MaxQueriesPerUser, MaxActiveReports: quotas.MaxActiveReports,
		MaxExecuteNow: quotas.MaxExecuteNow, ExecuteNowWindow: quotas.ExecuteNowWindow, Analytics: quotas.Analytics, Metering: quotas.Metering,
		IngestBodyLimit: quotas.IngestBodyLimit, IngestConcurrent: quotas.IngestConcurrent, IngestRatePerSecond: quotas.IngestRatePerSecond,
	}, server.Deps{Engine: eng, Keys: store, Queries: store, Reports: store, Executions: store, Energy: store, Ready: store.Ping, Registry: reg, Logger: slog.Default(),
		Jobs: queue, SigningKey: signingKey})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	base := strings.TrimRight(publicURL, "/")
	if base == "" {
		base = "http://" + displayAddr(ln.Addr())
	}
	fmt.Printf("quarry %s serving %s on %s\n", version, data, base)
	fmt.Printf("  health:   %s/healthz\n", base)
	fmt.Printf("  insights: %s/insights/v1.1/cmp/ScheduledDataset\n", base)
	fmt.Printf("  analytics: %s/v1/organizations/{org}/environments/{env}/queries\n", base)
	fmt.Printf("  openapi:  %s/openapi.json\n", base)
	fmt.Printf("  console:  %s/console\n", base)
	if adminSecret != "" {
		fmt.Printf("\nadmin API key (shown once; it is stored hashed and cannot be shown again):\n  %s\n", adminSecret)
		fmt.Printf("try:\n  curl -H 'Authorization: Bearer %s' %s/insights/v1.1/cmp/ScheduledDataset\n\n", adminSecret, base)
	}
	// The queue runs until Serve has returned: requests in flight during
	// the shutdown may still queue executions. Stop hands running jobs
	// back to the queue for the next start.
	if err := queue.Start(context.WithoutCancel(ctx)); err != nil {
		ln.Close()
		return err
	}
	// The scheduler of recurring reports starts after the queue and stops
	// before it. When it starts it resumes what a crash interrupted
	// (insights.API.Resume: executions of the recovered jobs show Pending,
	// owed callbacks are sent); its first tick runs the runs missed while
	// down.
	sched := srv.Scheduler(nil)
	sched.Run(schedule.DefaultInterval)
	// Background compaction merges each day's small files (ingest's
	// parts); replaced files stay for the grace period, longer than any
	// query or job that may still read them.
	compactCtx, stopCompact := context.WithCancel(context.WithoutCancel(ctx))
	compactDone := make(chan struct{})
	if compactEvery > 0 {
		compactOpt.Grace = compactGrace
		if compactOpt.Grace <= 0 {
			compactOpt.Grace = max(10*time.Minute, queue.Config().RunTimeout+time.Minute)
		}
		compactOpt.Threads, compactOpt.MemoryLimit = 1, "1GB"
		go func() {
			defer close(compactDone)
			compact.Run(compactCtx, eng.Store(), eng.Catalog(), compactEvery, compactOpt)
		}()
	} else {
		close(compactDone)
	}
	defer func() {
		stopCompact()
		<-compactDone
	}()
	serveErr := srv.Serve(ctx, ln)
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdown)
	defer cancel()
	if err := sched.Stop(stopCtx); err != nil {
		slog.Default().Error("stopping the report scheduler", "err", err)
	}
	if err := queue.Stop(stopCtx); err != nil {
		slog.Default().Error("stopping the job queue", "err", err)
	}
	return serveErr
}

// sampleDataOnFirstStart generates the built-in datasets (small defaults,
// seed 1, ending today UTC) when no dataset has any committed file.
func sampleDataOnFirstStart(ctx context.Context, data string) error {
	cat, err := datasets.Load(data)
	if err != nil {
		return err
	}
	st := datasets.NewStore(data)
	for _, d := range cat.Datasets() {
		m, err := st.Manifest(d.Name)
		if err != nil {
			return err
		}
		if len(m.Files) > 0 {
			return nil
		}
	}
	fmt.Printf("first start: generating the sample datasets in %s …\n", data)
	started := time.Now()
	stats, err := gen.Generate(ctx, st, cat, gen.Options{Seed: 1, End: time.Now().UTC().Truncate(24 * time.Hour)})
	if err != nil {
		return fmt.Errorf("generate sample data: %w", err)
	}
	var rows int64
	for _, s := range stats {
		rows += s.Rows
	}
	fmt.Printf("first start: %d rows in %d datasets (%.1fs)\n", rows, len(stats), time.Since(started).Seconds())
	return nil
}

// adminKeyOnFirstStart creates an admin key named "admin" when the store
// has no live admin key, and returns its secret ("" when none was made).
func adminKeyOnFirstStart(ctx context.Context, keys meta.Keys) (string, error) {
	n, err := keys.CountAdmins(ctx)
	if err != nil {
		return "", fmt.Errorf("count admin keys: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	secret, _, err := keys.CreateKey(ctx, meta.Key{Name: "admin", Role: meta.RoleAdmin})
	if err != nil {
		return "", fmt.Errorf("create the admin key: %w", err)
	}
	return secret, nil
}

// displayAddr is a listen address as a client would dial it: an
// unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") becomes localhost.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
