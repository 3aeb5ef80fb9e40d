//go:build duckdb_arrow

package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server"
)

// httpTarget is Quarry's server, in-process on loopback over the same
// engine, with an admin key and a member key of org acme.
type httpTarget struct {
	base          string
	admin, member string
	routes        map[string]bool // "GET /path" of every route the server has
	client        *http.Client
	stop          func()
}

func startHTTP(ctx context.Context, e *engine.Engine, tmp string) (*httpTarget, error) {
	st, err := meta.Open(ctx, tmp)
	if err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	admin, _, err := st.CreateKey(ctx, meta.Key{Name: "bench-admin", Role: meta.RoleAdmin, User: "bench"})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("admin key: %w", err)
	}
	member, _, err := st.CreateKey(ctx, meta.Key{Name: "bench-acme", Role: meta.RoleMember, User: "bench-acme", Org: "acme"})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("member key: %w", err)
	}
	srv := server.New(server.Config{Version: "bench"}, server.Deps{Engine: e, Keys: st, Queries: st,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t := &httpTarget{base: "http://" + ln.Addr().String(), admin: admin, member: member, routes: map[string]bool{},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Minute}}
	for _, r := range srv.Routes() {
		t.routes[r.Method+" "+r.Path] = true
	}
	t.stop = func() {
		cancel()
		<-done
		st.Close()
	}
	return t, nil
}

func (t *httpTarget) has(method, path string) bool { return t.routes[method+" "+path] }

// do sends one request and returns the body of a 200 answer.
func (t *httpTarget) do(ctx context.Context, method, path, key string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %.300s", method, path, resp.Status, b)
	}
	return b, nil
}

// httpRunner asks one request per run; decode turns the body into rows
// for the check.
func (t *httpTarget) runner(method, path, key string, body any, decode func([]byte) ([][]any, error)) *runner {
	return &runner{run: func(ctx context.Context, sink func([]any)) (int64, error) {
		b, err := t.do(ctx, method, path, key, body)
		if err != nil {
			return 0, err
		}
		if sink == nil {
			return int64(len(b)), nil
		}
		rows, err := decode(b)
		if err != nil {
			return 0, fmt.Errorf("decode %s: %w", path, err)
		}
		for _, r := range rows {
			sink(r)
		}
		return int64(len(rows)), nil
	}}
}

// orderedObject decodes a JSON object's values in key order.
func orderedObject(raw json.RawMessage) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out []any
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// decodeInsights reads the insights envelope {"value": [{…}, …]}.
func decodeInsights(b []byte) ([][]any, error) {
	var env struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, err
	}
	rows := make([][]any, 0, len(env.Value))
	for _, r := range env.Value {
		row, err := orderedObject(r)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// decodeConsole reads /api/sql's {"rows": [[…], …]}.
func decodeConsole(b []byte) ([][]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var env struct {
		Rows      [][]any `json:"rows"`
		Truncated bool    `json:"truncated"`
	}
	if err := dec.Decode(&env); err != nil {
		return nil, err
	}
	if env.Truncated {
		return nil, fmt.Errorf("console answer truncated")
	}
	return env.Rows, nil
}

// decodeVolume reads a metering volume {"volume": x}.
func decodeVolume(b []byte) ([][]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v struct {
		Volume any `json:"volume"`
	}
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return [][]any{{v.Volume}}, nil
}

func pathEscape(s string) string { return strings.ReplaceAll(s, "/", "%2F") }
