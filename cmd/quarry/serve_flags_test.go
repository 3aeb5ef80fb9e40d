package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// quarry serve --metering-sources answers GET /v1/sources/{source} from
// the file; a malformed file stops the start with its name.
func TestServeMeteringSources(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	data := t.TempDir()
	if out, errs, code := quarry(t, "gen", "--data", data, "--datasets", "exchange_rates", "--days", "2", "--end", "2026-11-21"); code != 0 {
		t.Fatalf("gen: %d\n%s%s", code, out, errs)
	}
	src := filepath.Join(t.TempDir(), "sources.json")
	os.WriteFile(src, []byte(`{"openstack":{"region":"eu-1"},"ceilometer":{}}`), 0o644)
	s := startServe(ctx, t, data, "--metering-sources", src)
	defer s.kill(t)
	for path, want := range map[string]string{"/v1/sources/openstack": `{"region":"eu-1"}`, "/v1/sources/ceilometer": `{}`} {
		req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+s.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.ReplaceAll(string(b), " ", "") != want {
			t.Errorf("%s: %d %s, want %s", path, resp.StatusCode, b, want)
		}
	}
	os.WriteFile(src, []byte(`[1,2]`), 0o644)
	_, errs, code := quarry(t, "serve", "--data", data, "--addr", "127.0.0.1:0", "--metering-sources", src)
	if code == 0 || !strings.Contains(errs, "sources.json") {
		t.Errorf("malformed sources file: exit %d %s", code, errs)
	}
}
