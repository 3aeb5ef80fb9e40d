package server

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/ingest"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server/metering"
)

// meteringSamples is the hand-written sample set of the metering tests, in
// the v1 event shape; message_id and message_signature are left for
// ingest to fill except where given. Times are in the v1 format (no zone)
// or with a space. resource-3 has a sample on the next day (another
// partition file).
const meteringSamples = `{"source":"test_source","counter_name":"instance","counter_type":"gauge","counter_unit":"instance","counter_volume":1,"user_id":"user-good","project_id":"project-good","resource_id":"resource-1","timestamp":"2012-07-02T10:40:00.000000","resource_metadata":{"display_name":"test-server","tag":"self.counter1"}}
{"source":"test_source","counter_name":"instance","counter_type":"gauge","counter_unit":"instance","counter_volume":2,"user_id":"user-good","project_id":"project-good","resource_id":"resource-1","timestamp":"2012-07-02 10:41:00","resource_metadata":{"display_name":"test-server","tag":"self.counter2"}}
{"source":"test_source","counter_name":"instance","counter_type":"gauge","counter_unit":"instance","counter_volume":3,"user_id":"user-good","project_id":"project-good","resource_id":"resource-1","timestamp":"2012-07-02T10:42:00","resource_metadata":{"display_name":"test-server","tag":"self.counter3"}}
{"source":"test_source","counter_name":"instance","counter_type":"gauge","counter_unit":"instance","counter_volume":4,"user_id":"user-good","project_id":"project-good","resource_id":"resource-1","timestamp":"2012-07-02T10:43:00","resource_metadata":{"display_name":"test-server","tag":"self.counter4"},"message_id":"given-id","message_signature":"given-sig"}
{"source":"test_source","counter_name":"cpu","counter_type":"cumulative","counter_unit":"ns","counter_volume":1500000000,"user_id":"user-good","project_id":"project-good","resource_id":"resource-1","timestamp":"2012-07-02T10:42:30","resource_metadata":{"display_name":"test-server","tag":"self.counter3"}}
{"source":"test_source","counter_name":"instance:m1.tiny","counter_type":"gauge","counter_unit":"instance","counter_volume":5,"user_id":"user-2","project_id":"project-good","resource_id":"resource-2","timestamp":"2012-07-02T10:40:00","resource_metadata":{"display_name":"web","instance_type":"m1.tiny","vcpus":1}}
{"source":"test_source","counter_name":"instance:m1.tiny","counter_type":"gauge","counter_unit":"instance","counter_volume":7,"user_id":"user-2","project_id":"project-good","resource_id":"resource-2","timestamp":"2012-07-02T11:40:00","resource_metadata":{"display_name":"web","instance_type":"m1.tiny","vcpus":1}}
{"source":"other_source","counter_name":"volume.size","counter_type":"gauge","counter_unit":"GiB","counter_volume":10,"user_id":"user-bad","project_id":"project-bad","resource_id":"resource-3","timestamp":"2012-07-02T10:40:00","resource_metadata":{"display_name":"vol","size":10}}
{"source":"other_source","counter_name":"volume.size","counter_type":"gauge","counter_unit":"GiB","counter_volume":20,"user_id":"user-bad","project_id":"project-bad","resource_id":"resource-3","timestamp":"2012-07-03T00:30:00","resource_metadata":{"display_name":"vol","size":20}}
{"source":"image-service","counter_name":"image.size","counter_type":"gauge","counter_unit":"B","counter_volume":1073741824,"user_id":null,"project_id":"project-good","resource_id":"image-1","timestamp":"2012-07-02T09:00:00","resource_metadata":{"name":"cirros","disk_format":"qcow2"}}
{"source":"test_source","counter_name":"instance","counter_type":"gauge","counter_unit":"instance","counter_volume":10,"user_id":"user-good","project_id":"project-good","resource_id":"resource-5","timestamp":"2012-07-02T10:40:00","resource_metadata":{"display_name":"edge"}}
{"source":"test_source","counter_name":"instance","counter_type":"gauge","counter_unit":"instance","counter_volume":10,"user_id":"user-good","project_id":"project-good","resource_id":"resource-5","timestamp":"2012-07-02T10:43:00","resource_metadata":{"display_name":"edge"}}
`

// meteringEnv is a server over a fresh data dir holding only the samples
// above, loaded through ingest, plus the oracle's glob over its files.
type meteringEnv struct {
	*testServer
	eng  *engine.Engine
	glob string
}

func startMetering(t *testing.T, mcfg metering.Config) *meteringEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cat, err := datasets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := cat.Lookup("meters")
	if !ok {
		t.Fatal("no meters dataset")
	}
	f := filepath.Join(t.TempDir(), "samples.ndjson")
	if err := os.WriteFile(f, []byte(meteringSamples), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ingest.File(ctx, datasets.NewStore(dir), d, f, ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 12 || len(res.Files) != 2 {
		t.Fatalf("ingest: %d rows in %d files, want 12 in 2 day files", res.Rows, len(res.Files))
	}
	eng, err := engine.Open(ctx, engine.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	keys := newFakeKeys()
	admin, _, err := keys.CreateKey(ctx, meta.Key{Name: "admin", Role: meta.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := New(Config{Metering: mcfg}, Deps{Engine: eng, Keys: keys,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	ts := &testServer{Server: srv, URL: "http://" + ln.Addr().String(), Keys: keys, Log: logs, Admin: admin, stop: stop, served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-ts.served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &meteringEnv{testServer: ts, eng: eng, glob: filepath.Join(dir, "datasets", "meters", "*", "*.parquet")}
}

// getJSON GETs path with a key (and optional header pairs), wants status
// 200 and decodes the body into a generic value.
func (m *meteringEnv) getJSON(t *testing.T, path, secret string, hdr ...string) map[string]any {
	t.Helper()
	r := m.do(t, "GET", path, "Bearer "+secret, nil, hdr...)
	wantStatus(t, r, 200)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: content type %q", path, ct)
	}
	var v map[string]any
	r.json(t, &v)
	return v
}

// oracle runs hand-written SQL over the same files ({m} is the relation).
func (m *meteringEnv) oracle(t *testing.T, query string, args ...any) *sql.Rows {
	t.Helper()
	rows, err := m.eng.DB().Query(strings.ReplaceAll(query, "{m}", "read_parquet('"+m.glob+"')"), args...)
	if err != nil {
		t.Fatalf("oracle %s: %v", query, err)
	}
	t.Cleanup(func() { rows.Close() })
	return rows
}

func (m *meteringEnv) oracleStrings(t *testing.T, query string, args ...any) []string {
	t.Helper()
	rows := m.oracle(t, query, args...)
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (m *meteringEnv) oracleFloat(t *testing.T, query string, args ...any) any {
	t.Helper()
	rows := m.oracle(t, query, args...)
	var f sql.NullFloat64
	if !rows.Next() {
		t.Fatalf("oracle %s: no row", query)
	}
	if err := rows.Scan(&f); err != nil {
		t.Fatal(err)
	}
	if !f.Valid {
		return nil
	}
	return f.Float64
}

// ids collects one string field of every record of list.
func ids(t *testing.T, v map[string]any, list, field string) []string {
	t.Helper()
	recs, ok := v[list].([]any)
	if !ok {
		t.Fatalf("no list %q in %v", list, v)
	}
	out := []string{}
	for _, r := range recs {
		s, _ := r.(map[string]any)[field].(string)
		out = append(out, s)
	}
	return out
}

func strs(t *testing.T, v map[string]any, list string) []any {
	t.Helper()
	l, ok := v[list].([]any)
	if !ok {
		t.Fatalf("no list %q in %v", list, v)
	}
	return l
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func eqStrings(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) && len(a) == len(b) }

func TestMeteringListings(t *testing.T) {
	m := startMetering(t, metering.Config{})
	admin := m.Admin

	// users and projects: sorted, equal to the oracle; users without NULL
	users := m.getJSON(t, "/v1/users", admin)
	want := m.oracleStrings(t, "SELECT DISTINCT user_id FROM {m} WHERE user_id IS NOT NULL ORDER BY 1")
	if fmt.Sprint(strs(t, users, "users")) != fmt.Sprint(want) || len(want) != 3 {
		t.Fatalf("users %v, want %v", users, want)
	}
	projects := m.getJSON(t, "/v1/projects", admin)
	if fmt.Sprint(strs(t, projects, "projects")) != "[project-bad project-good]" {
		t.Fatalf("projects %v", projects)
	}
	if v := m.getJSON(t, "/v1/sources/other_source/users", admin); fmt.Sprint(strs(t, v, "users")) != "[user-bad]" {
		t.Fatalf("source users %v", v)
	}
	if v := m.getJSON(t, "/v1/sources/test_source/projects", admin); fmt.Sprint(strs(t, v, "projects")) != "[project-good]" {
		t.Fatalf("source projects %v", v)
	}
	if v := m.getJSON(t, "/v1/sources/nowhere/projects", admin); len(strs(t, v, "projects")) != 0 {
		t.Fatalf("unknown source projects %v", v)
	}

	// resources: every listing equals the oracle's set
	for _, c := range []struct {
		path, where string
		args        []any
	}{
		{"/v1/resources", "true", nil},
		{"/v1/projects/project-good/resources", "project_id = ?", []any{"project-good"}},
		{"/v1/users/user-2/resources", "user_id = ?", []any{"user-2"}},
		{"/v1/sources/other_source/resources", "source = ?", []any{"other_source"}},
		// [10:41, 10:43): resource-5 (10:40, 10:43) is not in it (reference §2.2)
		{"/v1/resources?start_timestamp=2012-07-02T10:41:00&end_timestamp=2012-07-02T10:43:00",
			"timestamp >= '2012-07-02 10:41:00' AND timestamp < '2012-07-02 10:43:00'", nil},
		{"/v1/resources?start_timestamp=2012-07-02+10:43:00", "timestamp >= '2012-07-02 10:43:00'", nil},
		{"/v1/resources?start_timestamp=2012-07-02T10:41:00&end_timestamp=2012-07-02T10:41:00", "false", nil},
		{"/v1/resources?metadata.display_name=web", "json_extract_string(resource_metadata, '$.display_name') = 'web'", nil},
		{"/v1/resources?metadata.vcpus=1", "json_extract_string(resource_metadata, '$.vcpus') = '1'", nil},
		{"/v1/resources?metadata.display_name=test-server&metadata.tag=self.counter2", "resource_id = 'resource-1'", nil},
		{"/v1/resources?metadata.display_name=nothing", "false", nil},
	} {
		got := ids(t, m.getJSON(t, c.path, admin), "resources", "resource_id")
		want := m.oracleStrings(t, "SELECT DISTINCT resource_id FROM {m} WHERE "+c.where+" ORDER BY 1", c.args...)
		if want == nil {
			want = []string{}
		}
		if !eqStrings(got, want) {
			t.Errorf("%s: resources %v, want %v", c.path, got, want)
		}
	}
	// a resource record: owner and metadata of its latest sample, first/last times
	v := m.getJSON(t, "/v1/users/user-good/resources", admin)
	var r1 map[string]any
	for _, r := range strs(t, v, "resources") {
		if r.(map[string]any)["resource_id"] == "resource-1" {
			r1 = r.(map[string]any)
		}
	}
	if r1 == nil || r1["first_sample_timestamp"] != "2012-07-02T10:40:00.000000" || r1["last_sample_timestamp"] != "2012-07-02T10:43:00.000000" ||
		r1["project_id"] != "project-good" || r1["source"] != "test_source" ||
		fmt.Sprint(r1["metadata"]) != "map[display_name:test-server tag:self.counter4]" {
		t.Fatalf("resource-1 record %v", r1)
	}

	// meters: one record per (resource, meter)
	v = m.getJSON(t, "/v1/meters", admin)
	got := ids(t, v, "meters", "name")
	want = m.oracleStrings(t, "SELECT counter_name FROM (SELECT DISTINCT resource_id, counter_name FROM {m}) ORDER BY resource_id, counter_name")
	if !eqStrings(got, want) {
		t.Fatalf("meters %v, want %v", got, want)
	}
	rec := strs(t, v, "meters")[0].(map[string]any)
	if len(rec) != 7 || rec["type"] == nil || rec["unit"] == nil || rec["resource_id"] == nil {
		t.Fatalf("meter record %v", rec)
	}
	for _, c := range []struct{ path, want string }{
		{"/v1/resources/resource-1/meters", "[cpu instance]"},
		{"/v1/projects/project-bad/meters", "[volume.size]"},
		{"/v1/users/user-2/meters", "[instance:m1.tiny]"},
		{"/v1/sources/image-service/meters", "[image.size]"},
		{"/v1/meters?metadata.instance_type=m1.tiny", "[instance:m1.tiny]"},
		{"/v1/resources/nothing/meters", "[]"},
	} {
		if got := ids(t, m.getJSON(t, c.path, admin), "meters", "name"); fmt.Sprint(got) != c.want {
			t.Errorf("%s: %v, want %s", c.path, got, c.want)
		}
	}

	// sources: the configured object or {}
	if r := m.get(t, "/v1/sources/openstack", admin); r.Status != 200 || string(r.Body) != "{}" {
		t.Fatalf("source: %d %s", r.Status, r.Body)
	}
	if r := m.get(t, "/v1/sources/unknown", admin); r.Status != 200 || string(r.Body) != "{}" {
		t.Fatalf("unknown source: %d %s", r.Status, r.Body)
	}
	// every route needs a key
	if r := m.get(t, "/v1/resources", ""); r.Status != 401 {
		t.Fatalf("no key: %d", r.Status)
	}
}

func TestMeteringSamples(t *testing.T) {
	m := startMetering(t, metering.Config{})
	admin := m.Admin
	v := m.getJSON(t, "/v1/resources/resource-1/meters/instance", admin)
	evs := strs(t, v, "events")
	if len(evs) != 4 {
		t.Fatalf("events %v", v)
	}
	// newest first; every field of the v1 event, in its format
	first := evs[0].(map[string]any)
	if first["timestamp"] != "2012-07-02T10:43:00.000000" || first["message_id"] != "given-id" || first["message_signature"] != "given-sig" ||
		first["counter_volume"] != 4.0 || first["counter_type"] != "gauge" || first["counter_unit"] != "instance" ||
		first["source"] != "test_source" || first["user_id"] != "user-good" || first["project_id"] != "project-good" ||
		fmt.Sprint(first["resource_metadata"]) != "map[display_name:test-server tag:self.counter4]" || len(first) != 12 {
		t.Fatalf("event %v", first)
	}
	// ingest filled message_id (UUID) and message_signature (hex HMAC)
	last := evs[3].(map[string]any)
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(fmt.Sprint(last["message_id"])) ||
		!regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(fmt.Sprint(last["message_signature"])) || last["timestamp"] != "2012-07-02T10:40:00.000000" {
		t.Fatalf("filled defaults %v", last)
	}

	count := func(where string, args ...any) int {
		return len(m.oracleStrings(t, "SELECT message_id FROM {m} WHERE "+where, args...))
	}
	for _, c := range []struct {
		path  string
		where string
	}{
		{"/v1/resources/resource-1/meters/instance?start_timestamp=2012-07-02T10:41:00&end_timestamp=2012-07-02T10:43:00",
			"resource_id = 'resource-1' AND counter_name = 'instance' AND timestamp >= '2012-07-02 10:41' AND timestamp < '2012-07-02 10:43'"},
		// search_offset does not widen sample lists
		{"/v1/resources/resource-1/meters/instance?start_timestamp=2012-07-02T10:41:00&end_timestamp=2012-07-02T10:43:00&search_offset=10",
			"resource_id = 'resource-1' AND counter_name = 'instance' AND timestamp >= '2012-07-02 10:41' AND timestamp < '2012-07-02 10:43'"},
		// a zone is accepted and ignored; fractions too
		{"/v1/resources/resource-1/meters/instance?start_timestamp=" + url.QueryEscape("2012-07-02T10:41:00.5+05:00"),
			"resource_id = 'resource-1' AND counter_name = 'instance' AND timestamp >= '2012-07-02 10:41:00.5'"},
		{"/v1/resources/resource-1/meters/instance?metadata.tag=self.counter2",
			"resource_id = 'resource-1' AND counter_name = 'instance' AND json_extract_string(resource_metadata, '$.tag') = 'self.counter2'"},
		{"/v1/projects/project-good/meters/instance", "project_id = 'project-good' AND counter_name = 'instance'"},
		{"/v1/users/user-bad/meters/volume.size", "user_id = 'user-bad' AND counter_name = 'volume.size'"},
		{"/v1/sources/test_source/meters/instance", "source = 'test_source' AND counter_name = 'instance'"},
		// meter names with ':' and '.', raw and percent-encoded
		{"/v1/resources/resource-2/meters/instance:m1.tiny", "resource_id = 'resource-2' AND counter_name = 'instance:m1.tiny'"},
		{"/v1/resources/resource-2/meters/instance%3Am1.tiny", "resource_id = 'resource-2' AND counter_name = 'instance:m1.tiny'"},
		{"/v1/resources/resource-2/meters/instance:m1.tin", "false"},
		{"/v1/resources/nothing/meters/instance", "false"},
	} {
		evs := strs(t, m.getJSON(t, c.path, admin), "events")
		if want := count(c.where); len(evs) != want {
			t.Errorf("%s: %d events, want %d", c.path, len(evs), want)
		}
	}
	if n := count("resource_id = 'resource-2' AND counter_name = 'instance:m1.tiny'"); n != 2 {
		t.Fatalf("oracle sanity: %d", n)
	}
	// an empty list is wrapped too
	if r := m.get(t, "/v1/resources/nothing/meters/instance", admin); string(r.Body) != `{"events":[]}` {
		t.Fatalf("empty events body %s", r.Body)
	}
}

func TestMeteringVolumeAndDuration(t *testing.T) {
	m := startMetering(t, metering.Config{})
	admin := m.Admin
	type bounds struct{ start, end, offset string }
	q := func(b bounds) string {
		v := url.Values{}
		if b.start != "" {
			v.Set("start_timestamp", b.start)
		}
		if b.end != "" {
			v.Set("end_timestamp", b.end)
		}
		if b.offset != "" {
			v.Set("search_offset", b.offset)
		}
		if len(v) == 0 {
			return ""
		}
		return "?" + v.Encode()
	}
	// the oracle's window: [start - offset, end + offset)
	window := func(b bounds) (string, []any) {
		var where []string
		var args []any
		off := 0
		fmt.Sscan(b.offset, &off)
		for _, x := range []struct{ v, op string }{{b.start, ">="}, {b.end, "<"}} {
			if x.v == "" {
				continue
			}
			tm, err := time.Parse("2006-01-02T15:04:05", x.v)
			if err != nil {
				t.Fatal(err)
			}
			if x.op == ">=" {
				tm = tm.Add(-time.Duration(off) * time.Minute)
			} else {
				tm = tm.Add(time.Duration(off) * time.Minute)
			}
			where = append(where, "timestamp "+x.op+" CAST(? AS TIMESTAMP)")
			args = append(args, tm.Format("2006-01-02 15:04:05"))
		}
		if len(where) == 0 {
			return "true", nil
		}
		return strings.Join(where, " AND "), args
	}
	for _, b := range []bounds{
		{},
		{"2012-07-02T10:41:00", "2012-07-02T10:42:00", ""},
		{"2012-07-02T10:41:00", "2012-07-02T10:42:00", "1"}, // widened to [10:40, 10:43)
		{"2012-07-02T10:41:00", "", "2"},
		{"", "2012-07-02T10:41:00", "0"},
		{"2013-01-01T00:00:00", "2013-01-02T00:00:00", "5"}, // nothing: null
	} {
		for _, agg := range []string{"max", "sum"} {
			for _, scope := range []struct{ path, where string }{
				{"/v1/resources/resource-1/meters/instance/volume/" + agg, "resource_id = 'resource-1' AND counter_name = 'instance'"},
				{"/v1/projects/project-good/meters/instance/volume/" + agg, "project_id = 'project-good' AND counter_name = 'instance'"},
				{"/v1/resources/resource-2/meters/instance:m1.tiny/volume/" + agg, "resource_id = 'resource-2' AND counter_name = 'instance:m1.tiny'"},
			} {
				path := scope.path + q(b)
				got := m.getJSON(t, path, admin)
				w, args := window(b)
				want := m.oracleFloat(t, "SELECT "+agg+"(counter_volume) FROM {m} WHERE "+scope.where+" AND "+w, args...)
				if len(got) != 1 || fmt.Sprint(got["volume"]) != fmt.Sprint(want) {
					t.Errorf("%s: %v, want volume %v", path, got, want)
				}
			}
		}
	}
	// spot checks of the oracle itself, so the comparisons above mean something
	if v := m.getJSON(t, "/v1/resources/resource-1/meters/instance/volume/sum?start_timestamp=2012-07-02T10:41:00&end_timestamp=2012-07-02T10:42:00&search_offset=1", admin); v["volume"] != 6.0 {
		t.Fatalf("sum with offset %v, want 6 (1+2+3)", v)
	}
	if r := m.get(t, "/v1/resources/resource-1/meters/instance/volume/sum?start_timestamp=2013-01-01T00:00:00", admin); string(r.Body) != `{"volume":null}` {
		t.Fatalf("empty volume %s", r.Body)
	}

	// duration: samples of resource-1/instance at 10:40, 10:41, 10:42, 10:43
	for _, c := range []struct {
		b    bounds
		want string
	}{
		{bounds{}, `{"start_timestamp":"2012-07-02T10:40:00.000000","end_timestamp":"2012-07-02T10:43:00.000000","duration":180}`},
		{bounds{"2012-07-02T10:41:00", "", ""}, `{"start_timestamp":"2012-07-02T10:41:00.000000","end_timestamp":"2012-07-02T10:43:00.000000","duration":120}`},
		{bounds{"", "2012-07-02T10:43:00", ""}, `{"start_timestamp":"2012-07-02T10:40:00.000000","end_timestamp":"2012-07-02T10:42:00.000000","duration":120}`},
		// the offset finds samples outside the window; they are clamped to it
		{bounds{"2012-07-02T10:41:30", "2012-07-02T10:42:30", "5"}, `{"start_timestamp":"2012-07-02T10:41:30.000000","end_timestamp":"2012-07-02T10:42:30.000000","duration":60}`},
		{bounds{"2012-07-02T10:41:30", "", "5"}, `{"start_timestamp":"2012-07-02T10:41:30.000000","end_timestamp":"2012-07-02T10:43:00.000000","duration":90}`},
		// samples only in the margins: all null
		{bounds{"2012-07-02T10:50:00", "2012-07-02T11:00:00", "10"}, `{"start_timestamp":null,"end_timestamp":null,"duration":null}`},
		{bounds{"2013-01-01T00:00:00", "2013-01-02T00:00:00", ""}, `{"start_timestamp":null,"end_timestamp":null,"duration":null}`},
	} {
		path := "/v1/resources/resource-1/meters/instance/duration" + q(c.b)
		r := m.get(t, path, admin)
		if r.Status != 200 || string(r.Body) != c.want {
			t.Errorf("%s: %d %s, want %s", path, r.Status, r.Body, c.want)
		}
	}

	// malformed parameters: 400 with the reason in the metering envelope
	for _, path := range []string{
		"/v1/resources/resource-1/meters/instance/volume/sum?start_timestamp=yesterday",
		"/v1/resources/resource-1/meters/instance/duration?end_timestamp=2012-02-30T00:00:00",
		"/v1/resources/resource-1/meters/instance/duration?search_offset=1.5",
		"/v1/projects/project-good/meters/instance/volume/max?search_offset=abc",
		"/v1/resources/resource-1/meters/instance?start_timestamp=2012-07-02T25:00:00",
		"/v1/resources?end_timestamp=nope",
	} {
		r := m.get(t, path, admin)
		var body struct {
			Error struct {
				Code    int
				Message string
			}
		}
		r.json(t, &body)
		if r.Status != 400 || body.Error.Code != 400 || !strings.Contains(body.Error.Message, "_") {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
	}
}

func TestMeteringProjectScope(t *testing.T) {
	m := startMetering(t, metering.Config{})
	bad := m.key(t, meta.Key{Name: "bad", Project: "project-bad"})
	noProject := m.key(t, meta.Key{Name: "org", Org: "acme"})

	// project-scoped URLs of another project: 404
	for _, path := range []string{
		"/v1/projects/project-good/resources",
		"/v1/projects/project-good/meters",
		"/v1/projects/project-good/meters/instance",
		"/v1/projects/project-good/meters/instance/volume/sum",
		"/v1/projects/project-good/meters/instance/volume/max",
	} {
		r := m.get(t, path, bad)
		if r.Status != 404 || !strings.Contains(string(r.Body), `"error"`) {
			t.Errorf("%s: %d %s, want 404", path, r.Status, r.Body)
		}
		wantStatus(t, m.get(t, path, m.Admin), 200)
	}
	// its own project: 200
	if got := ids(t, m.getJSON(t, "/v1/projects/project-bad/resources", bad), "resources", "resource_id"); fmt.Sprint(got) != "[resource-3]" {
		t.Fatalf("own project resources %v", got)
	}
	// everything else is filtered silently
	for _, c := range []struct{ path, want string }{
		{"/v1/resources", "resources:[resource-3]"},
		{"/v1/meters", "meters:[volume.size]"},
		{"/v1/sources/test_source/resources", "resources:[]"},
		{"/v1/resources/resource-1/meters", "meters:[]"},
		{"/v1/users/user-good/resources", "resources:[]"},
	} {
		list, _, _ := strings.Cut(c.want, ":")
		field := "resource_id"
		if list == "meters" {
			field = "name"
		}
		if got := list + ":" + fmt.Sprint(ids(t, m.getJSON(t, c.path, bad), list, field)); got != c.want {
			t.Errorf("%s: %s, want %s", c.path, got, c.want)
		}
	}
	if evs := strs(t, m.getJSON(t, "/v1/resources/resource-1/meters/instance", bad), "events"); len(evs) != 0 {
		t.Fatalf("other project's events %v", evs)
	}
	if r := m.get(t, "/v1/resources/resource-1/meters/instance/volume/sum", bad); string(r.Body) != `{"volume":null}` {
		t.Fatalf("other project's volume %s", r.Body)
	}
	if r := m.get(t, "/v1/resources/resource-1/meters/instance/duration", bad); string(r.Body) != `{"start_timestamp":null,"end_timestamp":null,"duration":null}` {
		t.Fatalf("other project's duration %s", r.Body)
	}
	if v := m.getJSON(t, "/v1/projects", bad); fmt.Sprint(strs(t, v, "projects")) != "[project-bad]" {
		t.Fatalf("projects %v", v)
	}
	if v := m.getJSON(t, "/v1/sources/test_source/projects", bad); len(strs(t, v, "projects")) != 0 {
		t.Fatalf("source projects %v", v)
	}
	if v := m.getJSON(t, "/v1/users", bad); fmt.Sprint(strs(t, v, "users")) != "[user-bad]" {
		t.Fatalf("users %v", v)
	}
	// a member key without a project scope reads no meters
	if r := m.get(t, "/v1/resources", noProject); r.Status != 403 {
		t.Fatalf("key without project: %d %s", r.Status, r.Body)
	}
}

func TestMeteringTrustedHeaders(t *testing.T) {
	hdr := func(kv ...string) []string { return kv }
	// off (the default): the headers are ignored, the key decides
	off := startMetering(t, metering.Config{})
	if got := ids(t, off.getJSON(t, "/v1/resources", off.Admin, hdr("X-Roles", "member", "X-Project-Id", "project-bad")...), "resources", "resource_id"); len(got) != 5 {
		t.Fatalf("headers honoured while off: %v", got)
	}
	bad := off.key(t, meta.Key{Name: "bad", Project: "project-bad"})
	if r := off.do(t, "GET", "/v1/projects/project-good/resources", "Bearer "+bad, nil, "X-Roles", "admin"); r.Status != 404 {
		t.Fatalf("member escalated by X-Roles while off: %d", r.Status)
	}

	on := startMetering(t, metering.Config{TrustProxyHeaders: true})
	proxy := on.Admin
	member := hdr("X-Roles", "Member,_member_", "X-Project-Id", "project-bad", "X-User-Id", "user-bad")
	if got := ids(t, on.getJSON(t, "/v1/resources", proxy, member...), "resources", "resource_id"); fmt.Sprint(got) != "[resource-3]" {
		t.Fatalf("proxied member resources %v", got)
	}
	if r := on.do(t, "GET", "/v1/projects/project-good/meters/instance/volume/sum", "Bearer "+proxy, nil, member...); r.Status != 404 {
		t.Fatalf("proxied member, other project: %d %s", r.Status, r.Body)
	}
	if v := on.getJSON(t, "/v1/users", proxy, member...); fmt.Sprint(strs(t, v, "users")) != "[user-bad]" {
		t.Fatalf("proxied users %v", v)
	}
	if r := on.do(t, "GET", "/v1/users", "Bearer "+proxy, nil, "X-Roles", "member", "X-Project-Id", "project-good"); string(r.Body) != `{"users":[null]}` {
		t.Fatalf("proxied users without X-User-Id: %s", r.Body)
	}
	// deprecated X-Tenant-Id
	if got := ids(t, on.getJSON(t, "/v1/resources", proxy, "X-Roles", "member", "X-Tenant-Id", "project-bad"), "resources", "resource_id"); fmt.Sprint(got) != "[resource-3]" {
		t.Fatalf("X-Tenant-Id resources %v", got)
	}
	// admin role (any case): everything
	if got := ids(t, on.getJSON(t, "/v1/resources", proxy, "X-Roles", "member, Admin", "X-Project-Id", "project-bad"), "resources", "resource_id"); len(got) != 5 {
		t.Fatalf("proxied admin %v", got)
	}
	// no identity headers: the proxy key's own (admin) scope
	if got := ids(t, on.getJSON(t, "/v1/resources", proxy), "resources", "resource_id"); len(got) != 5 {
		t.Fatalf("proxy key alone %v", got)
	}
	// a non-admin identity without a project is refused, never widened
	if r := on.do(t, "GET", "/v1/resources", "Bearer "+proxy, nil, "X-Roles", "member", "X-User-Id", "u"); r.Status != 403 {
		t.Fatalf("identity without project: %d %s", r.Status, r.Body)
	}
	// the headers never replace the key: no key is 401, a member key stays scoped
	if r := on.do(t, "GET", "/v1/resources", "", nil, "X-Roles", "admin"); r.Status != 401 {
		t.Fatalf("headers without a key: %d", r.Status)
	}
	memberKey := on.key(t, meta.Key{Name: "bad", Project: "project-bad"})
	if got := ids(t, on.getJSON(t, "/v1/resources", memberKey, "X-Roles", "admin"), "resources", "resource_id"); fmt.Sprint(got) != "[resource-3]" {
		t.Fatalf("member key escalated by X-Roles: %v", got)
	}
	if r := on.do(t, "GET", "/v1/projects/project-good/resources", "Bearer "+memberKey, nil, "X-Roles", "member", "X-Project-Id", "project-good"); r.Status != 404 {
		t.Fatalf("member key re-scoped by X-Project-Id: %d", r.Status)
	}
}

// TestMeteringPlanCache checks repeated requests reuse their plan, that a
// cached plan still sees rows ingested later (the SQL is recompiled when
// the manifest changes), and that scopes do not share entries.
func TestMeteringPlanCache(t *testing.T) {
	m := startMetering(t, metering.Config{})
	path := "/v1/resources/resource-1/meters/instance/volume/sum"
	if v := m.getJSON(t, path, m.Admin); v["volume"] != 10.0 {
		t.Fatalf("volume %v", v)
	}
	if v := m.getJSON(t, path, m.Admin); v["volume"] != 10.0 {
		t.Fatalf("cached volume %v", v)
	}
	bad := m.key(t, meta.Key{Name: "bad", Project: "project-bad"})
	if r := m.get(t, path, bad); string(r.Body) != `{"volume":null}` {
		t.Fatalf("scoped request served from the admin's entry: %s", r.Body)
	}
	// ingest one more sample: the cached plan sees it
	cat := m.eng.Catalog()
	d, _ := cat.Lookup("meters")
	f := filepath.Join(t.TempDir(), "more.ndjson")
	if err := os.WriteFile(f, []byte(`{"source":"test_source","counter_name":"instance","counter_type":"gauge","counter_unit":"instance","counter_volume":100,"user_id":"user-good","project_id":"project-good","resource_id":"resource-1","timestamp":"2012-07-04T00:00:00","resource_metadata":{}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.File(context.Background(), m.eng.Store(), d, f, ingest.Options{}); err != nil {
		t.Fatal(err)
	}
	if v := m.getJSON(t, path, m.Admin); v["volume"] != 110.0 {
		t.Fatalf("volume after ingest %v, want 110", v)
	}
	// the listing of a new day's data too
	if got := ids(t, m.getJSON(t, "/v1/resources?start_timestamp=2012-07-04T00:00:00", m.Admin), "resources", "resource_id"); fmt.Sprint(got) != "[resource-1]" {
		t.Fatalf("resources after ingest %v", got)
	}
}

// A trailing slash is no route (404); a sample list answers an HTML page
// (a line of the volumes, the table, the JSON) when the client prefers
// text/html strictly over JSON, and JSON otherwise.
func TestMeteringTrailingSlashAndHTML(t *testing.T) {
	m := startMetering(t, metering.Config{})
	for _, p := range []string{"/v1/resources/", "/v1/resources/resource-1/meters/instance/"} {
		if r := m.get(t, p, m.Admin); r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), "trailing slash") {
			t.Errorf("%s: %d %s", p, r.Status, r.Body)
		}
	}
	for _, c := range []struct {
		accept string
		html   bool
	}{
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},
		{"application/json", false},
		{"application/json, text/html", false},
		{"text/html;q=0.5, application/json;q=0.9", false},
		{"*/*", false},
		{"", false},
	} {
		r := m.do(t, http.MethodGet, "/v1/resources/resource-1/meters/instance", "Bearer "+m.Admin, nil, "Accept", c.accept)
		isHTML := strings.HasPrefix(r.Header.Get("Content-Type"), "text/html")
		if r.Status != 200 || isHTML != c.html {
			t.Errorf("Accept %q: %d %s, html %v", c.accept, r.Status, r.Header.Get("Content-Type"), isHTML)
		}
		if isHTML && (!strings.Contains(string(r.Body), "<polyline") || !strings.Contains(string(r.Body), "4 samples") ||
			!strings.Contains(string(r.Body), "2012-07-02T10:43:00.000000")) {
			t.Errorf("HTML page: %.300s", r.Body)
		}
	}
}
