package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/ingest"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server/api"
)

// Defaults of the ingest settings in Config.
const (
	DefaultIngestBodyLimit     = 1 << 30               // 1 GiB per request
	DefaultIngestConcurrent    = 4                     // requests parsing at once; more answer 503
	DefaultIngestRatePerSecond = 20                    // requests per second per key (burst twice that)
	DefaultIngestBatchWindow   = 50 * time.Millisecond // how long a small request waits for others to share its commit
	DefaultIngestBatchRows     = 100_000               // rows that close a batch early
	DefaultIngestBatchBytes    = 4 << 20               // bodies up to this size are batched
	ingestQueueDepth           = 256                   // parsed requests waiting for their commit, per dataset
)

// ingestRoutes is HTTP ingest: POST /api/ingest/{dataset}.
func (s *Server) ingestRoutes() []api.Route {
	return []api.Route{
		{Method: fiber.MethodPost, Path: "/api/ingest/:dataset", Tag: "ingest",
			Summary: "Append rows to a dataset: NDJSON, CSV or Parquet (gzip accepted), acknowledged once durable",
			Description: "The format comes from ?format= or Content-Type (application/x-ndjson, text/csv, " +
				"application/vnd.apache.parquet). Every row is validated; bad rows are left out and listed with their " +
				"line, column and reason, unless ?atomic=true, where one bad row rejects the whole body. A member key's " +
				"rows get its tenant; rows of another tenant are rejected. The answer comes after the rows are on disk " +
				"and visible (fsynced files, manifest committed).",
			Params: []api.Param{
				{Name: "dataset", In: "path", Required: true, Description: "dataset name or alias"},
				{Name: "format", In: "query", Description: "ndjson, csv or parquet (else from Content-Type)"},
				{Name: "atomic", In: "query", Type: "boolean", Description: "reject the whole body on one bad row (default false)"},
			},
			Responses: map[int]string{
				fiber.StatusBadRequest:            "unknown format, a bad CSV header or Parquet schema, or (atomic) a bad row",
				fiber.StatusForbidden:             "a member key writing a dataset outside its scope",
				fiber.StatusNotFound:              "unknown dataset",
				fiber.StatusRequestEntityTooLarge: "body over the ingest limit",
				fiber.StatusTooManyRequests:       "over the key's request rate (Retry-After)",
				fiber.StatusServiceUnavailable:    "too many ingests at once (Retry-After)",
			},
			Handler: s.ingest, StreamBody: true},
	}
}

// committer batches the small requests of one dataset: it waits up to
// Config.IngestBatchWindow after the first for others (or until
// IngestBatchRows rows), then writes them all as one part per day and
// one manifest commit, and answers each.
type committer struct {
	ch chan *pendingCommit
}

type pendingCommit struct {
	p    *ingest.Parsed
	done chan commitDone // buffered: the committer never waits on a request
}

type commitDone struct {
	res ingest.Result
	err error
}

// committerFor returns the dataset's committer, starting it on first use.
func (s *Server) committerFor(d *datasets.Dataset) *committer {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if c, ok := s.committers[d.Name]; ok {
		return c
	}
	c := &committer{ch: make(chan *pendingCommit, ingestQueueDepth)}
	s.committers[d.Name] = c
	go s.runCommitter(d, c)
	return c
}

func (s *Server) runCommitter(d *datasets.Dataset, c *committer) {
	for {
		var first *pendingCommit
		select {
		case first = <-c.ch:
		case <-s.base.Done():
			return
		}
		group := []*pendingCommit{first}
		rows := first.p.Rows
		timer := time.NewTimer(s.cfg.IngestBatchWindow)
	collect:
		for rows < int64(s.cfg.IngestBatchRows) {
			select {
			case p := <-c.ch:
				group = append(group, p)
				rows += p.p.Rows
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		parsed := make([]*ingest.Parsed, len(group))
		for i, p := range group {
			parsed[i] = p.p
		}
		// the commit finishes even if the server is shutting down: its
		// requests are waiting for it
		res, err := ingest.CommitParsed(context.WithoutCancel(s.base), s.deps.Engine.Store(), d, parsed, ingest.Options{})
		if err != nil {
			s.log.Error("ingest batch commit failed", "dataset", d.Name, "requests", len(group), "err", err)
		}
		for _, p := range group {
			p.done <- commitDone{res, err}
		}
	}
}

// ingestLimits are the shared state of ingest backpressure.
type ingestLimits struct {
	slots chan struct{} // one per ingest running
	mu    sync.Mutex
	rate  float64 // tokens per second per key; 0 = unlimited
	keys  map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newIngestLimits(concurrent int, rate float64) *ingestLimits {
	return &ingestLimits{slots: make(chan struct{}, concurrent), rate: rate, keys: map[string]*bucket{}}
}

// allow takes a token of key's bucket; it returns how long to wait when
// there is none.
func (l *ingestLimits) allow(key string, now time.Time) (bool, time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	burst := max(2*l.rate, 1) // a key may always send one request
	b, ok := l.keys[key]
	if !ok {
		b = &bucket{tokens: burst, last: now}
		l.keys[key] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// IngestResult is the answer of POST /api/ingest/{dataset}.
type IngestResult struct {
	Dataset   string           `json:"dataset"`
	Accepted  int64            `json:"accepted"`
	Rejected  int64            `json:"rejected"`
	Errors    []IngestRowError `json:"errors"` // the first 100 rejected rows
	Files     int              `json:"files"`
	ElapsedMS float64          `json:"elapsed_ms"`
}

// IngestRowError is one rejected row.
type IngestRowError struct {
	Line   int64  `json:"line"`
	Column string `json:"column,omitempty"`
	Reason string `json:"reason"`
}

func ingestFormat(c *fiber.Ctx) (ingest.Format, *api.Error) {
	f, _ := api.Query(c, "format")
	if f == "" {
		ct := strings.ToLower(c.Get(fiber.HeaderContentType))
		switch {
		case strings.Contains(ct, "ndjson"), strings.Contains(ct, "jsonl"), strings.Contains(ct, "json"):
			f = "ndjson"
		case strings.Contains(ct, "csv"):
			f = "csv"
		case strings.Contains(ct, "parquet"):
			f = "parquet"
		default:
			return "", api.Errorf(fiber.StatusBadRequest, "bad_request",
				"say the body's format: ?format=ndjson|csv|parquet, or Content-Type application/x-ndjson, text/csv or application/vnd.apache.parquet")
		}
	}
	switch strings.ToLower(f) {
	case "ndjson", "jsonl", "json":
		return ingest.NDJSON, nil
	case "csv":
		return ingest.CSV, nil
	case "parquet":
		return ingest.Parquet, nil
	}
	return "", api.Errorf(fiber.StatusBadRequest, "bad_request", "format %q is not ndjson, csv or parquet", f)
}

// tenantFor is the tenant value a key's rows of d must carry ("" for an
// admin); a member key may not write a dataset outside its scope.
func tenantFor(k meta.Key, d *datasets.Dataset) (string, *api.Error) {
	if k.Admin() {
		return "", nil
	}
	var v string
	switch d.TenantScope {
	case "account":
		v = k.Account
	case "org":
		v = k.Org
	case "project":
		v = k.Project
	}
	if d.TenantColumn == "" || v == "" {
		return "", api.Errorf(fiber.StatusForbidden, "forbidden",
			"this key may not write dataset %s: it is shared, or the key has no %s scope; use an admin key", d.Name, orNone(d.TenantScope))
	}
	return v, nil
}

func orNone(s string) string {
	if s == "" {
		return "tenant"
	}
	return s
}

// drainLimit is how much of a refused streamed body is read (and
// dropped) so that its client sees the answer.
const drainLimit = 16 << 20

// limitedReader fails once more than n bytes were read.
type limitedReader struct {
	r io.Reader
	n int64
}

var errIngestTooLarge = errors.New("request body over the ingest limit")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errIngestTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errIngestTooLarge
	}
	return n, err
}

// ingest is POST /api/ingest/{dataset}.
func (s *Server) ingest(c *fiber.Ctx) (err error) {
	if c.Request().IsBodyStream() {
		// An answer given before the stream was read to its end must not
		// leave the rest to be taken for the next request: the connection
		// closes. A client still sending would see a reset instead of the
		// answer, so up to drainLimit more bytes are read first.
		defer func() {
			if err != nil {
				if rs := c.Context().RequestBodyStream(); rs != nil {
					io.Copy(io.Discard, io.LimitReader(rs, drainLimit))
				}
				c.Context().SetConnectionClose()
			}
		}()
	}
	eng := s.deps.Engine
	if eng == nil {
		return api.Errorf(fiber.StatusServiceUnavailable, "unavailable", "ingest is not available on this server")
	}
	d, ok := eng.Catalog().Lookup(c.Params("dataset"))
	if !ok {
		return api.Errorf(fiber.StatusNotFound, "not_found", "unknown dataset %q; GET /api/datasets lists them", c.Params("dataset"))
	}
	key := api.KeyFrom(c)
	tenant, aerr := tenantFor(key, d)
	if aerr != nil {
		return aerr
	}
	format, aerr := ingestFormat(c)
	if aerr != nil {
		return aerr
	}
	atomic := false
	if v, ok := api.Query(c, "atomic"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return api.Errorf(fiber.StatusBadRequest, "bad_request", "atomic=%q is not true or false", v)
		}
		atomic = b
	}
	if ok, wait := s.ingestLim.allow(key.ID, time.Now()); !ok {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(wait/time.Second)+1))
		return api.Errorf(fiber.StatusTooManyRequests, "too_many_requests",
			"this key is over its ingest rate of %g requests per second; retry after %s", s.ingestLim.rate, wait.Round(time.Millisecond))
	}
	slot := false
	release := func() {
		if slot {
			<-s.ingestLim.slots
			slot = false
		}
	}
	defer release()
	select {
	case s.ingestLim.slots <- struct{}{}:
		slot = true
	default:
		c.Set(fiber.HeaderRetryAfter, "1")
		return api.Errorf(fiber.StatusServiceUnavailable, "unavailable",
			"%d ingests are running, the most at once; retry in a second", cap(s.ingestLim.slots))
	}
	if n := c.Request().Header.ContentLength(); n > s.cfg.IngestBodyLimit {
		return api.Errorf(fiber.StatusRequestEntityTooLarge, "payload_too_large", "ingest body of %d bytes is over the limit of %d bytes", n, s.cfg.IngestBodyLimit)
	}
	if n := c.Request().Header.ContentLength(); s.cfg.IngestBatchWindow > 0 && format != ingest.Parquet && n >= 0 && n <= s.cfg.IngestBatchBytes {
		// a small body of known size: read whole (c.Body reads the
		// stream), batched with others
		return s.ingestBatched(c, d, format, atomic, tenant, release)
	}
	var body io.Reader
	if c.Request().IsBodyStream() {
		body = c.Context().RequestBodyStream()
	} else {
		body = bytes.NewReader(c.Body())
	}
	body = &limitedReader{r: body, n: int64(s.cfg.IngestBodyLimit)}
	name := "body"
	if format == ingest.Parquet {
		// Parquet is read from its footer: spool the stream to disk first.
		tmp, err := spool(filepath.Dir(eng.Store().Root), body)
		if tmp != "" {
			defer os.Remove(tmp)
		}
		if err != nil {
			return ingestReadErr(err, s.cfg.IngestBodyLimit)
		}
		f, err := os.Open(tmp)
		if err != nil {
			return api.Internal(err)
		}
		defer f.Close()
		body = f
	}
	res, err := ingest.Reader(c.UserContext(), eng.Store(), d, body, name, format,
		ingest.Options{SkipBadRows: !atomic, Tenant: tenant})
	if err != nil {
		return s.ingestErr(c, err)
	}
	out := IngestResult{Dataset: d.Name, Accepted: res.Rows, Rejected: res.Rejected, Errors: []IngestRowError{},
		Files: len(res.Files), ElapsedMS: float64(res.Elapsed.Microseconds()) / 1000}
	for _, e := range res.Errors {
		out.Errors = append(out.Errors, IngestRowError{Line: e.Line, Column: e.Column, Reason: e.Reason})
	}
	return c.JSON(out)
}

// ingestBatched parses a small body on its own, then has the dataset's
// committer write it with the other requests of its batch; the answer
// waits for that commit.
func (s *Server) ingestBatched(c *fiber.Ctx, d *datasets.Dataset, format ingest.Format, atomic bool, tenant string, release func()) error {
	start := time.Now()
	p, err := ingest.Parse(c.UserContext(), d, bytes.NewReader(c.Body()), "body", format,
		ingest.Options{SkipBadRows: !atomic, Tenant: tenant}, s.cfg.IngestBatchRows)
	if err != nil {
		return s.ingestErr(c, err)
	}
	release() // parsing is done: the slot goes to the next request while this one waits for its commit
	out := IngestResult{Dataset: d.Name, Accepted: p.Rows, Rejected: p.Rejected, Errors: []IngestRowError{}}
	for _, e := range p.Errors {
		out.Errors = append(out.Errors, IngestRowError{Line: e.Line, Column: e.Column, Reason: e.Reason})
	}
	if p.Rows > 0 {
		pc := &pendingCommit{p: p, done: make(chan commitDone, 1)}
		select {
		case s.committerFor(d).ch <- pc:
		default:
			c.Set(fiber.HeaderRetryAfter, "1")
			return api.Errorf(fiber.StatusServiceUnavailable, "unavailable",
				"%d requests of dataset %s are waiting for their commit, the most; retry in a second", ingestQueueDepth, d.Name)
		}
		select {
		case r := <-pc.done:
			if r.err != nil {
				return api.Internal(r.err)
			}
			out.Files = len(r.res.Files)
		case <-c.UserContext().Done():
			return api.Errorf(fiber.StatusServiceUnavailable, "unavailable", "the server is shutting down; whether these rows were committed is unknown, and sending them again may add them twice")
		}
	}
	out.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
	return c.JSON(out)
}

// ingestErr answers a failed ingest: a body over the limit is a 413, a
// rejected row (the input's fault) a 400 naming it, anything else a 500.
func (s *Server) ingestErr(c *fiber.Ctx, err error) error {
	if errors.Is(err, errIngestTooLarge) {
		return ingestReadErr(err, s.cfg.IngestBodyLimit)
	}
	var re *ingest.RowError
	if errors.As(err, &re) && !errors.Is(err, c.UserContext().Err()) && !errors.Is(err, ingest.ErrTooManyRows) {
		return api.Errorf(fiber.StatusBadRequest, "bad_request", "nothing was ingested: %s", rowErrText(re))
	}
	return api.Internal(err)
}

func rowErrText(re *ingest.RowError) string {
	s := ""
	if re.Line > 0 {
		s = fmt.Sprintf("line %d: ", re.Line)
	}
	if re.Column != "" {
		s += fmt.Sprintf("column %q: ", re.Column)
	}
	return s + re.Reason
}

func ingestReadErr(err error, limit int) *api.Error {
	if errors.Is(err, errIngestTooLarge) {
		return api.Errorf(fiber.StatusRequestEntityTooLarge, "payload_too_large", "ingest body over the limit of %d bytes; split it", limit)
	}
	return api.Internal(err)
}

// spool copies a body into a temporary file under the data directory.
func spool(dir string, r io.Reader) (string, error) {
	tmpDir := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(tmpDir, "ingest-*.parquet")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return f.Name(), err
	}
	return f.Name(), nil
}
