package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The job queue's promise after a crash (issue 3 §4), tested on the real
// binary: kill -9 a `quarry serve` while a report's job runs, start it
// again on the same data dir, and the execution ends Completed — never
// stays Running — with a complete file and no leftover temp file.
//
// The job is made long by real work, not a test hook: a report of every
// row of a 300,000-row ISVUsage over its 32 widest columns, grouped by 29
// dimensions and sorted, exported to a ~120 MB CSV — about 3.5 s on two
// cores, where the execution is seen Running within tens of milliseconds.

// crashQuery is the system query 2c6f384b… without its WHERE, over the
// whole dataset, sorted.
const crashQuery = "SELECT MarketplaceSubscriptionId,MonthStartDate,OfferType,AzureLicenseType,MarketplaceLicenseType,SKU," +
	"CustomerCountry,IsPreviewSKU,SKUBillingType,IsInternal,VMSize,CloudInstanceName,ServicePlanName,OfferName," +
	"DeploymentMethod,CustomerName,CustomerCompanyName,UsageDate,IsNewCustomer,CoreSize,TrialEndDate,CustomerCurrencyCC," +
	"PriceCC,PayoutCurrencyPC,EstimatedPricePC,UsageReference,UsageUnit,CustomerId,BillingAccountId," +
	"NormalizedUsage,EstimatedExtendedChargeCC,EstimatedExtendedChargePC FROM ISVUsage ORDER BY UsageReference TIMESPAN LIFETIME"

// crashDimensions is how many leading columns of crashQuery are
// dimensions; the fingerprint leaves out the summed measures after them,
// whose last bits may depend on DuckDB's order of addition.
const crashDimensions = 29

func TestServeCrashMidJob(t *testing.T) {
	testStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	data := t.TempDir()
	if out, errs, code := quarry(t, "gen", "--data", data, "--datasets", "usage", "--rows", "300000", "--days", "30", "--end", "2026-11-21"); code != 0 {
		t.Fatalf("gen: %d\n%s%s", code, out, errs)
	}
	t.Logf("gen: %.1fs", time.Since(testStart).Seconds())

	// First life: create the query and the ExecuteNow report, wait until
	// its job runs, kill -9.
	s1 := startServe(ctx, t, data)
	if s1.key == "" {
		t.Fatalf("no admin key in the first start's output:\n%s", s1.output())
	}
	key := s1.key
	var created []map[string]any
	s1.call(t, key, http.MethodPost, "/insights/v1.1/cmp/ScheduledQueries", map[string]any{"Name": "everything", "Query": crashQuery}, &created)
	queryID, _ := created[0]["queryId"].(string)
	s1.call(t, key, http.MethodPost, "/insights/v1.1/cmp/ScheduledReport",
		map[string]any{"ReportName": "crash", "QueryId": queryID, "ExecuteNow": true, "Format": "CSV"}, &created)
	reportID, _ := created[0]["reportId"].(string)
	if queryID == "" || reportID == "" {
		t.Fatalf("query %q, report %q", queryID, reportID)
	}
	execPath := "/insights/v1.1/cmp/ScheduledReport/execution/" + reportID + "?executionStatus=Pending;Running;Completed;Failed"
	posted := time.Now()
	var ex map[string]any
	for {
		ex = s1.execution(t, key, execPath)
		if ex["executionStatus"] == "Running" {
			break
		}
		if ex["executionStatus"] != "Pending" {
			t.Fatalf("before the kill the execution is %v (the job must still be running to test a crash): %v", ex["executionStatus"], ex)
		}
		if time.Since(posted) > 20*time.Second {
			t.Fatalf("the execution never ran: %v", ex)
		}
		time.Sleep(10 * time.Millisecond)
	}
	execID := ex["executionId"]
	time.Sleep(300 * time.Millisecond) // well into the export
	if ex := s1.execution(t, key, execPath); ex["executionStatus"] != "Running" {
		t.Fatalf("the job finished before the kill; it must take longer for this test: %v", ex)
	}
	s1.kill(t)
	left := resultFiles(t, data)
	t.Logf("killed %.2fs after the report was posted; left under results/: %v", time.Since(posted).Seconds(), left)
	if !strings.Contains(strings.Join(left, " "), ".tmp") {
		t.Errorf("the kill left no partial file under results/ (%v): it did not land mid-export", left)
	}

	// Second life on the same data dir: the job is recovered and run again.
	s2 := startServe(ctx, t, data)
	defer s2.kill(t)
	if s2.key != "" {
		t.Errorf("the restart made a new admin key")
	}
	restarted := time.Now()
	for {
		ex = s2.execution(t, key, execPath)
		if ex["executionId"] != execID {
			t.Fatalf("the latest execution is another one: %v", ex)
		}
		st := ex["executionStatus"]
		if link, _ := ex["reportAccessSecureLink"].(string); link != "" && st != "Completed" {
			t.Errorf("a %v execution offers a file: %v", st, ex)
		}
		if st == "Completed" {
			break
		}
		if st == "Failed" {
			// Allowed by the promise (run again or failed with a reason),
			// though the queue runs a once-interrupted job again.
			if reason, _ := ex["failureReason"].(string); reason == "" {
				t.Errorf("failed without a reason: %v", ex)
			}
			if link, _ := ex["reportAccessSecureLink"].(string); link != "" {
				t.Errorf("a failed execution offers a file: %v", ex)
			}
			if files := resultFiles(t, data); len(files) != 0 {
				t.Errorf("a failed execution left files: %v", files)
			}
			t.Logf("the interrupted execution failed: %v", ex["failureReason"])
			return
		}
		if time.Since(restarted) > 45*time.Second {
			t.Fatalf("the execution is still %v 45s after the restart: %v\n%s", st, ex, s2.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("completed %.2fs after the restart", time.Since(restarted).Seconds())

	// The job metrics, counted in the store at scrape time.
	if resp, err := http.Get(s2.base + "/metrics"); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`quarry_jobs{state="completed"} 1`, `quarry_jobs{state="running"} 0`, "quarry_jobs_queue_depth 0"} {
			if !strings.Contains(string(b), want+"\n") {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	}

	// The file behind the signed link is complete: the oracle's rows.
	link, _ := ex["reportAccessSecureLink"].(string)
	if link == "" {
		t.Fatalf("no link: %v", ex)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("download: %d %s", resp.StatusCode, b)
	}
	gotHeader, gotRows, gotSum := fingerprintCSV(t, resp.Body)

	oracle := filepath.Join(t.TempDir(), "oracle.csv")
	if _, errs, code := quarry(t, "query", "--data", data, "--format", "csv", "--out", oracle, crashQuery); code != 0 {
		t.Fatalf("oracle: %s", errs)
	}
	f, err := os.Open(oracle)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wantHeader, wantRows, wantSum := fingerprintCSV(t, f)
	if gotHeader != wantHeader {
		t.Errorf("header %q, want %q", gotHeader, wantHeader)
	}
	if gotRows != wantRows || gotRows < 100000 {
		t.Errorf("the report has %d rows, the oracle %d", gotRows, wantRows)
	}
	if gotSum != wantSum {
		t.Errorf("the report's rows differ from the oracle's (same count %v)", gotRows == wantRows)
	}
	if files := resultFiles(t, data); len(files) != 1 || strings.Contains(files[0], ".tmp") || !strings.HasSuffix(files[0], ".csv") {
		t.Errorf("files under results/: %v, want the one report file", files)
	}
	t.Logf("whole test: %.1fs", time.Since(testStart).Seconds())
}

// resultFiles lists the files under <data>/results, relative to data.
func resultFiles(t *testing.T, data string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(data, "results"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(data, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return files
}

// fingerprintCSV reads a CSV and returns its header, its row count, and an
// order-independent sum of the hashes of each row's dimension fields.
func fingerprintCSV(t *testing.T, r io.Reader) (header string, rows int, sum uint64) {
	t.Helper()
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<20))
	cr.ReuseRecord = true
	h, err := cr.Read()
	if err != nil {
		t.Fatalf("csv header: %v", err)
	}
	header = strings.Join(h, ",")
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return header, rows, sum
		}
		if err != nil {
			t.Fatalf("csv row %d: %v", rows+1, err)
		}
		rows++
		fh := fnv.New64a()
		for _, v := range rec[:min(crashDimensions, len(rec))] {
			fh.Write([]byte(v))
			fh.Write([]byte{0})
		}
		sum += fh.Sum64()
	}
}

// serveProc is a running `quarry serve`.
type serveProc struct {
	cmd  *exec.Cmd
	base string
	key  string // the admin key printed on first start, if any
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (s *serveProc) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

type lockedWriter struct{ s *serveProc }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.out.Write(p)
}

// startServe starts `quarry serve` on a free loopback port and returns once
// /healthz answers.
func startServe(ctx context.Context, t *testing.T, data string, flags ...string) *serveProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &serveProc{base: "http://" + addr, done: make(chan struct{})}
	s.cmd = exec.CommandContext(ctx, bin, append([]string{"serve", "--data", data, "--addr", addr}, flags...)...)
	s.cmd.Stdout, s.cmd.Stderr = lockedWriter{s}, lockedWriter{s}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-s.done:
			t.Fatalf("quarry serve exited: %v\n%s", s.cmd.ProcessState, s.output())
		default:
		}
		if time.Now().After(deadline) {
			s.kill(t)
			t.Fatalf("quarry serve did not answer /healthz within 20s:\n%s", s.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	lines := strings.Split(s.output(), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "admin API key") && i+1 < len(lines) {
			s.key = strings.TrimSpace(lines[i+1])
		}
	}
	return s
}

// kill is kill -9, then waits for the process to be gone.
func (s *serveProc) kill(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		return
	default:
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Errorf("kill: %v", err)
	}
	<-s.done
}

// call sends a JSON request and decodes the envelope's value into v.
func (s *serveProc) call(t *testing.T, key, method, path string, body any, v any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, rb)
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(rb, &env); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, rb)
	}
	if err := json.Unmarshal(env.Value, v); err != nil {
		t.Fatalf("%s %s value: %v: %s", method, path, err, rb)
	}
}

// execution returns the report's latest execution in any status.
func (s *serveProc) execution(t *testing.T, key, path string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("executions: %d %s", resp.StatusCode, rb)
	}
	var env struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal(rb, &env); err != nil || len(env.Value) != 1 {
		t.Fatalf("executions: %v %s", err, rb)
	}
	return env.Value[0]
}
