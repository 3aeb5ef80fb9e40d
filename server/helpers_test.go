package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/datasets/gen"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/meta"
)

// The package's tests share one small generated data dir and engine.
var (
	testDataDir string
	testEngine  *engine.Engine
	testNow     = time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "quarry-server-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cat, err := datasets.Load(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := gen.Generate(ctx, datasets.NewStore(dir), cat, gen.Options{
		Datasets: []string{"usage", "customers_and_tenants"}, Rows: 3000, Days: 60, Seed: 1,
		End: testNow.Truncate(24 * time.Hour),
	}); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		return 1
	}
	// Two years of month ends of building energy for the energy family.
	if _, err := gen.Generate(ctx, datasets.NewStore(dir), cat, gen.Options{
		Datasets: []string{"energy"}, Rows: 1000, Days: 760, Seed: 1, End: testNow.Truncate(24 * time.Hour),
	}); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		return 1
	}
	// API traffic and exchange rates for the analytics family's tests.
	if _, err := gen.Generate(ctx, datasets.NewStore(dir), cat, gen.Options{
		Datasets: []string{"transactions", "exchange_rates"}, Rows: 30000, Days: 60, Seed: 1,
		End: testNow.Truncate(24 * time.Hour),
	}); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		return 1
	}
	eng, err := engine.Open(ctx, engine.Config{DataDir: dir, Clock: func() time.Time { return testNow }})
	if err != nil {
		fmt.Fprintln(os.Stderr, "engine:", err)
		return 1
	}
	defer eng.Close()
	testDataDir, testEngine = dir, eng
	return m.Run()
}

// fakeKeys is an in-memory meta.Keys.
type fakeKeys struct {
	mu   sync.Mutex
	keys map[string]meta.Key // by secret hash
	n    int
}

func newFakeKeys() *fakeKeys { return &fakeKeys{keys: map[string]meta.Key{}} }

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (f *fakeKeys) CreateKey(_ context.Context, k meta.Key) (string, meta.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	secret := fmt.Sprintf("qk_test_secret_%d_%s", f.n, strings.Repeat("x", 8))
	k.ID = fmt.Sprintf("key_%d", f.n)
	k.CreatedAt = time.Now().UTC()
	f.keys[hashSecret(secret)] = k
	return secret, k, nil
}

func (f *fakeKeys) KeyBySecret(_ context.Context, secret string) (meta.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[hashSecret(secret)]
	if !ok || k.RevokedAt != nil {
		return meta.Key{}, fmt.Errorf("key: %w", meta.ErrNotFound)
	}
	return k, nil
}

func (f *fakeKeys) ListKeys(context.Context) ([]meta.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []meta.Key
	for _, k := range f.keys {
		out = append(out, k)
	}
	return out, nil
}

func (f *fakeKeys) RevokeKey(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for h, k := range f.keys {
		if k.ID == id {
			now := time.Now().UTC()
			k.RevokedAt = &now
			f.keys[h] = k
			return nil
		}
	}
	return fmt.Errorf("key %s: %w", id, meta.ErrNotFound)
}

func (f *fakeKeys) CountAdmins(context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, k := range f.keys {
		if k.Admin() && k.RevokedAt == nil {
			n++
		}
	}
	return n, nil
}

var _ meta.Keys = (*fakeKeys)(nil)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a running server on loopback with its keys.
type testServer struct {
	*Server
	URL   string
	Keys  *fakeKeys
	Log   *syncBuffer
	Admin string // secret of an admin key
	// Jobs is the job queue of report executions (over Store), started
	// unless serverSetup.holdJobs; SigningKey signs download links.
	Jobs       *jobs.Queue
	Store      *meta.SQLite
	SigningKey []byte
	stop       context.CancelFunc
	served     chan error
}

type serverSetup struct {
	cfg   Config
	ready func(context.Context) error
	opts  []Option
	// queries is the saved-query store; nil means a new SQLite store in
	// the test's temp dir, which also stores reports and runs the jobs.
	queries meta.Queries
	// holdJobs leaves the job queue stopped (the test starts it).
	holdJobs bool
	// jobs, when set, is the job queue's config instead of the tests'
	// {Workers: 2, PollInterval: 50ms} (the benchmarks tune it).
	jobs *jobs.Config
	// engine, when set, replaces the tests' shared engine (benchmarks
	// over data of their own).
	engine *engine.Engine
}

// openQueries opens a metadata store in the test's temp dir, for its
// saved queries.
func openQueries(t testing.TB) *meta.SQLite {
	t.Helper()
	st, err := meta.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func startServer(t testing.TB, setup serverSetup) *testServer {
	t.Helper()
	ctx := context.Background()
	keys := newFakeKeys()
	queries := setup.queries
	store, _ := setup.queries.(*meta.SQLite)
	if queries == nil {
		store = openQueries(t)
		queries = store
	}
	var queue *jobs.Queue
	var reports meta.Reports
	var executions meta.Executions
	var energyStore meta.Energy
	if store != nil {
		reports, executions, energyStore = store, store, store
		jcfg := jobs.Config{Workers: 2, PollInterval: 50 * time.Millisecond}
		if setup.jobs != nil {
			jcfg = *setup.jobs
		}
		queue = jobs.New(store, t.TempDir(), jcfg)
	}
	signingKey := make([]byte, 32)
	if _, err := rand.Read(signingKey); err != nil {
		t.Fatal(err)
	}
	admin, _, err := keys.CreateKey(ctx, meta.Key{Name: "admin", Role: meta.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	eng := testEngine
	if setup.engine != nil {
		eng = setup.engine
	}
	srv := New(setup.cfg, Deps{
		Engine: eng, Keys: keys, Queries: queries, Reports: reports, Executions: executions, Energy: energyStore,
		Ready: setup.ready, Jobs: queue, SigningKey: signingKey,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, setup.opts...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	ts := &testServer{Server: srv, URL: "http://" + ln.Addr().String(), Keys: keys, Log: logs, Admin: admin,
		Jobs: queue, Store: store, SigningKey: signingKey, stop: stop, served: make(chan error, 1)}
	if queue != nil {
		// Registered before the server's cleanup, so it runs after it.
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := queue.Stop(sctx); err != nil {
				t.Errorf("jobs Stop: %v", err)
			}
		})
		if !setup.holdJobs {
			if err := queue.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	go func() { ts.served <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-ts.served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Serve did not return after its context was cancelled")
		}
	})
	return ts
}

// key mints a key and returns its secret.
func (ts *testServer) key(t testing.TB, k meta.Key) string {
	t.Helper()
	if k.Role == "" {
		k.Role = meta.RoleMember
	}
	s, _, err := ts.Keys.CreateKey(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// do sends a request; auth is "" (none), "Bearer <secret>" or a full
// Authorization header value.
func (ts *testServer) do(t testing.TB, method, path, auth string, body io.Reader, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (ts *testServer) get(t testing.TB, path, secret string) response {
	t.Helper()
	auth := ""
	if secret != "" {
		auth = "Bearer " + secret
	}
	return ts.do(t, http.MethodGet, path, auth, nil)
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func wantStatus(t testing.TB, r response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body %s", r.Status, want, r.Body)
	}
}

var errNotReady = errors.New("store is down")
