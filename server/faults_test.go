package server

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/engine/sandbox"
	"github.com/quarry/quarry/server/console"
)

// A runaway query that needs more memory than the console's limit fails
// with DuckDB's out-of-memory error; the server and the same sandbox keep
// answering.
func TestConsoleOutOfMemory(t *testing.T) {
	ts := startServer(t, serverSetup{cfg: Config{Console: consoleConfigWithMemory("64MB")}})
	// list() holds every value in one group: nothing to spill
	r := ts.sql(t, ts.Admin, map[string]any{"sql": "SELECT length(list(range::VARCHAR || 'padding-padding')) FROM range(50000000)"}, "")
	if r.Status < 400 || r.Status >= 500 || !strings.Contains(strings.ToLower(string(r.Body)), "memory") {
		t.Fatalf("runaway query: %d %.300s", r.Status, r.Body)
	}
	wantStatus(t, ts.get(t, "/healthz", ""), http.StatusOK)
	got := ts.sqlRows(t, ts.Admin, "SELECT 41 + 1")
	if len(got.Rows) != 1 || fmt.Sprint(got.Rows[0][0]) != "42" {
		t.Errorf("after the failure: %v", got.Rows)
	}
}

func consoleConfigWithMemory(limit string) console.Config {
	return console.Config{SandboxConfig: sandbox.Config{MemoryLimit: limit}}
}

// A slow client (headers sent, body trickling) holds nothing: others are
// served meanwhile, and the server drops the connection after its read
// timeout.
func TestSlowClientTimesOut(t *testing.T) {
	ts := startServer(t, serverSetup{cfg: Config{ReadTimeout: time.Second}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /insights/v1.1/cmp/ScheduledQueries HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Name\":", ts.Admin)
	start := time.Now()
	for i := 0; i < 5; i++ {
		wantStatus(t, ts.get(t, "/healthz", ""), http.StatusOK)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("other requests took %s while a client was slow", d)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	waited := time.Since(start)
	if err == nil && n > 0 && !strings.Contains(string(buf[:n]), "408") && !strings.Contains(string(buf[:n]), "400") {
		t.Errorf("the slow request got an answer: %q", buf[:n])
	}
	if waited < 800*time.Millisecond || waited > 8*time.Second {
		t.Errorf("the slow connection ended after %s, want about the 1 s read timeout", waited)
	}
}
