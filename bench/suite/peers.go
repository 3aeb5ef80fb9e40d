//go:build duckdb_arrow

package suite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quarry/quarry/planner"
)

// peer is PostgreSQL or ClickHouse, started by the suite on loopback.
type peer interface {
	// query runs one statement and returns its rows as text.
	query(ctx context.Context, text string, sink func([]any)) (int64, error)
	pids() []int
	stop()
}

// peerTables are the columns copied into the peers (what their SQL reads).
var peerTables = []struct {
	name, order string
	cols        []string
}{
	{"transactions", "organization, timestamp", []string{"organization", "environment", "apiproxy", "developer_app", "request_verb",
		"request_path", "ax_geo_country", "response_status_code", "timestamp", "message_count", "total_response_time", "response_size"}},
	{"meters", "resource_id, timestamp", []string{"resource_id", "counter_name", "timestamp", "counter_volume"}},
}

// peerSQL adds the peers' own statements for a workload.
func (env *env) peerSQL(w *Workload, stmts map[string]string) {
	for _, sys := range []string{Postgres, ClickHouse} {
		p, ok := env.peers[sys]
		if !ok {
			w.absent[sys] = env.peerNote[sys]
			continue
		}
		text, ok := stmts[sys]
		if !ok {
			w.absent[sys] = "no equivalent SQL written"
			continue
		}
		w.systems[sys] = &runner{note: "SQL: " + text, pids: p.pids,
			run: func(ctx context.Context, sink func([]any)) (int64, error) { return p.query(ctx, text, sink) }}
	}
}

func (env *env) noPeers(w *Workload) {
	for _, sys := range []string{Postgres, ClickHouse} {
		if _, ok := env.peers[sys]; ok {
			w.absent[sys] = "no equivalent SQL written"
		} else {
			w.absent[sys] = env.peerNote[sys]
		}
	}
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// win is the [start, end) of the last days days before Now.
func win(days int) (string, string) {
	end := Now.Truncate(24 * time.Hour)
	return ts(end.AddDate(0, 0, -days)), ts(end)
}

// peerLayout is the peers' SQL for the five layout questions.
func (env *env) peerLayout(w *Workload) {
	s7, e7 := win(7)
	s30, e30 := win(30)
	s1, e1 := win(1)
	pg := map[string]string{
		"org_7d_top10_proxies": fmt.Sprintf("SELECT apiproxy, sum(message_count) AS message_count FROM transactions WHERE organization = 'acme' "+
			"AND timestamp >= TIMESTAMP '%s' AND timestamp < TIMESTAMP '%s' GROUP BY apiproxy ORDER BY message_count DESC, apiproxy LIMIT 10", s7, e7),
		"org_30d_hourly": fmt.Sprintf("SELECT sum(message_count), date_trunc('hour', timestamp) AS t FROM transactions WHERE organization = 'acme' "+
			"AND timestamp >= TIMESTAMP '%s' AND timestamp < TIMESTAMP '%s' GROUP BY t", s30, e30),
		"filtered_count_all": "SELECT sum(message_count) FROM transactions WHERE response_status_code >= 500",
		"one_app_one_day": fmt.Sprintf("SELECT sum(message_count), avg(total_response_time), apiproxy FROM transactions WHERE developer_app = 'acme-app-0-1' "+
			"AND timestamp >= TIMESTAMP '%s' AND timestamp < TIMESTAMP '%s' GROUP BY apiproxy", s1, e1),
		"full_scan_groupby": "SELECT apiproxy, response_status_code, sum(message_count), sum(total_response_time) FROM transactions GROUP BY apiproxy, response_status_code",
	}
	ch := map[string]string{}
	for k, v := range pg {
		v = strings.ReplaceAll(v, "TIMESTAMP '", "toDateTime('")
		v = strings.ReplaceAll(v, ":00' ", ":00') ")
		v = strings.ReplaceAll(v, ":00' GROUP", ":00') GROUP")
		v = strings.ReplaceAll(v, "date_trunc('hour', timestamp)", "toStartOfHour(timestamp)")
		v = strings.ReplaceAll(v, "GROUP BY 1", "GROUP BY t")
		ch[k] = v
	}
	if _, ok := pg[w.Name]; !ok {
		env.noPeers(w)
		return
	}
	env.peerSQL(w, map[string]string{Postgres: pg[w.Name], ClickHouse: ch[w.Name]})
}

// peerAnalytics is the peers' SQL for the analytics workloads.
func (env *env) peerAnalytics(w *Workload) {
	s90, e90 := win(90)
	s180, e180 := win(180)
	var pg, ch string
	switch w.Name {
	case "analytics_daily_proxy_errors":
		where := "organization = 'acme' AND response_status_code >= 400 AND timestamp >= %s AND timestamp < %s"
		pg = "SELECT sum(message_count), avg(total_response_time), apiproxy, date_trunc('day', timestamp) AS d FROM transactions WHERE " +
			fmt.Sprintf(where, "TIMESTAMP '"+s90+"'", "TIMESTAMP '"+e90+"'") + " GROUP BY apiproxy, d"
		ch = "SELECT sum(message_count), avg(total_response_time), apiproxy, toStartOfDay(timestamp) AS d FROM transactions WHERE " +
			fmt.Sprintf(where, "toDateTime('"+s90+"')", "toDateTime('"+e90+"')") + " GROUP BY apiproxy, d"
	case "analytics_weekly_app_prod":
		where := "environment = 'prod' AND response_status_code < 400 AND timestamp >= %s AND timestamp < %s"
		pg = "SELECT sum(message_count), avg(total_response_time), developer_app, date_trunc('week', timestamp) AS d FROM transactions WHERE " +
			fmt.Sprintf(where, "TIMESTAMP '"+s180+"'", "TIMESTAMP '"+e180+"'") + " GROUP BY developer_app, d"
		ch = "SELECT sum(message_count), avg(total_response_time), developer_app, toDateTime(toMonday(timestamp)) AS d FROM transactions WHERE " +
			fmt.Sprintf(where, "toDateTime('"+s180+"')", "toDateTime('"+e180+"')") + " GROUP BY developer_app, d"
	default:
		env.noPeers(w)
		return
	}
	env.peerSQL(w, map[string]string{Postgres: pg, ClickHouse: ch})
}

// startPeers starts the peers the config asks for, loading their tables
// when their data directory is new or stale, and returns their stop.
func (env *env) startPeers(ctx context.Context) func() {
	env.peerVersion = map[string]string{}
	want := map[string]bool{}
	switch env.cfg.Peers {
	case "none":
		env.peerNote[Postgres], env.peerNote[ClickHouse] = "not run (--peers none)", "not run (--peers none)"
		return func() {}
	case "auto":
		want[Postgres], want[ClickHouse] = true, true
	default:
		for _, p := range strings.Split(env.cfg.Peers, ",") {
			want[strings.TrimSpace(p)] = true
		}
	}
	var stops []func()
	for _, sys := range []string{Postgres, ClickHouse} {
		if !want[sys] {
			env.peerNote[sys] = "not run (--peers)"
			continue
		}
		var p peer
		var ver string
		var err error
		if sys == Postgres {
			p, ver, err = env.startPostgres(ctx)
		} else {
			p, ver, err = env.startClickHouse(ctx)
		}
		if err != nil {
			if err == errNotInstalled {
				env.peerNote[sys] = "not installed"
			} else {
				env.peerNote[sys] = "failed to start: " + err.Error()
			}
			env.log.Warn("peer unavailable", "peer", sys, "err", err)
			continue
		}
		env.peers[sys], env.peerVersion[sys] = p, ver
		stops = append(stops, p.stop)
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

var errNotInstalled = fmt.Errorf("not installed")

func findBin(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + n); len(m) > 0 {
			return m[len(m)-1]
		}
	}
	return ""
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// peerCSV writes one table's peer columns as CSV (timestamps to the
// second, which both peers read) in the table's sort order.
func (env *env) peerCSV(ctx context.Context, table string, cols []string, order, path, null string) error {
	var sel []string
	for _, c := range cols {
		if c == "timestamp" {
			sel = append(sel, `strftime("timestamp", '%Y-%m-%d %H:%M:%S') AS "timestamp"`)
		} else {
			sel = append(sel, planner.DuckDB.Ident(c))
		}
	}
	stmt := "COPY (SELECT " + strings.Join(sel, ", ") + " FROM " + table + " ORDER BY " + order + ") TO " + quote(path) + " (FORMAT csv, HEADER true, NULLSTR " + quote(null) + ")"
	if _, err := env.native.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("peer csv %s: %w", table, err)
	}
	return nil
}

// peerSignature names the data a peer's directory was loaded from.
func (env *env) peerSignature() (string, error) {
	sig, err := signature(env.e, []string{"transactions", "meters"})
	if err != nil {
		return "", err
	}
	var cols []string
	for _, t := range peerTables {
		cols = append(cols, t.name+"("+strings.Join(t.cols, ",")+")")
	}
	return "load v2\n" + sig + strings.Join(cols, ";") + "\n", nil
}

// ---- PostgreSQL ----

type postgres struct {
	cmd     *exec.Cmd
	dir     string
	pgctl   string
	cred    *syscall.Credential
	mu      sync.Mutex
	psql    *exec.Cmd
	stdin   io.WriteCloser
	out     *bufio.Reader
	counter int
}

var pgTypes = map[string]string{"VARCHAR": "text", "INTEGER": "integer", "BIGINT": "bigint", "DOUBLE": "double precision", "TIMESTAMP": "timestamp"}
var chTypes = map[string]string{"VARCHAR": "String", "INTEGER": "Int32", "BIGINT": "Int64", "DOUBLE": "Float64", "TIMESTAMP": "DateTime"}

func (env *env) columnType(table, col string, types map[string]string) string {
	d, _ := env.e.Catalog().Lookup(table)
	c, _ := d.Column(col)
	if t, ok := types[string(c.Type)]; ok {
		return t
	}
	return types["VARCHAR"]
}

func (env *env) startPostgres(ctx context.Context) (peer, string, error) {
	pgBin, initdb, pgctl, psql := findBin("postgres"), findBin("initdb"), findBin("pg_ctl"), findBin("psql")
	if pgBin == "" || initdb == "" || pgctl == "" || psql == "" {
		return nil, "", errNotInstalled
	}
	dir := filepath.Join(env.cfg.Data, "bench-postgres")
	var cred *syscall.Credential
	if os.Geteuid() == 0 { // initdb refuses root: run as the postgres user
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, "", fmt.Errorf("postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	as := func(c *exec.Cmd) *exec.Cmd {
		if cred != nil {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return c
	}
	sig, err := env.peerSignature()
	if err != nil {
		return nil, "", err
	}
	old, _ := os.ReadFile(filepath.Join(dir, "bench.sig"))
	fresh := string(old) != sig
	if fresh {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", fmt.Errorf("postgres dir: %w", err)
		}
		if cred != nil {
			os.Chown(dir, int(cred.Uid), int(cred.Gid))
		}
		if out, err := as(exec.CommandContext(ctx, initdb, "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")).CombinedOutput(); err != nil {
			return nil, "", fmt.Errorf("initdb: %w: %s", err, out)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cmd := as(exec.Command(pgBin, "-D", filepath.Join(dir, "data"), "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "shared_buffers=4GB", "-c", "work_mem=256MB", "-c", "max_parallel_workers_per_gather=2", "-c", "fsync=off",
		"-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_wal_size=8GB", "-c", "jit=off"))
	logf, err := os.Create(filepath.Join(env.tmp, "postgres.log"))
	if err != nil {
		return nil, "", fmt.Errorf("postgres log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, "", fmt.Errorf("start postgres: %w", err)
	}
	p := &postgres{cmd: cmd, dir: dir, pgctl: pgctl, cred: cred}
	// the psql session every query goes through
	p.psql = exec.Command(psql, "-X", "-q", "-A", "-t", "-F", "\t", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "-d", "postgres")
	var ready bool
	for i := 0; i < 100; i++ {
		if exec.Command(psql, "-X", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "-c", "SELECT 1").Run() == nil {
			ready = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ready {
		p.stop()
		b, _ := os.ReadFile(logf.Name())
		return nil, "", fmt.Errorf("postgres did not start: %.500s", b)
	}
	if p.stdin, err = p.psql.StdinPipe(); err != nil {
		p.stop()
		return nil, "", fmt.Errorf("psql: %w", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		p.stop()
		return nil, "", fmt.Errorf("psql pipe: %w", err)
	}
	p.psql.Stdout, p.psql.Stderr = pw, pw
	if err := p.psql.Start(); err != nil {
		p.stop()
		return nil, "", fmt.Errorf("psql: %w", err)
	}
	pw.Close()
	p.out = bufio.NewReaderSize(pr, 1<<20)
	if _, err := p.query(ctx, `\pset null '\\N'`, nil); err != nil {
		p.stop()
		return nil, "", err
	}
	var ver string
	if _, err := p.query(ctx, "SHOW server_version", func(r []any) { ver, _ = r[0].(string) }); err != nil {
		p.stop()
		return nil, "", err
	}
	if fresh {
		start := time.Now()
		for _, t := range peerTables {
			var defs []string
			for _, c := range t.cols {
				defs = append(defs, `"`+c+`" `+env.columnType(t.name, c, pgTypes))
			}
			csv := filepath.Join(env.tmp, t.name+".csv")
			if err := env.peerCSV(ctx, t.name, t.cols, t.order, csv, ""); err != nil {
				p.stop()
				return nil, "", err
			}
			for _, s := range []string{
				"CREATE UNLOGGED TABLE " + t.name + " (" + strings.Join(defs, ", ") + ")",
				`\copy ` + t.name + " FROM '" + csv + "' CSV HEADER",
				"CREATE INDEX ON " + t.name + " (" + t.order + ")",
				"VACUUM ANALYZE " + t.name,
			} {
				if _, err := p.query(ctx, s, nil); err != nil {
					p.stop()
					return nil, "", fmt.Errorf("load postgres %s: %w", t.name, err)
				}
			}
			os.Remove(csv)
		}
		if err := os.WriteFile(filepath.Join(dir, "bench.sig"), []byte(sig), 0o644); err != nil {
			p.stop()
			return nil, "", fmt.Errorf("postgres marker: %w", err)
		}
		env.log.Info("loaded postgres", "elapsed", time.Since(start).Round(time.Millisecond))
	}
	return p, ver, nil
}

// query sends one statement through the psql session: rows come back
// tab-separated, then the end marker.
func (p *postgres) query(ctx context.Context, text string, sink func([]any)) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counter++
	marker := fmt.Sprintf("__quarry_bench_end_%d__", p.counter)
	stmt := text
	if !strings.HasPrefix(stmt, `\`) {
		stmt += ";"
	}
	if _, err := io.WriteString(p.stdin, stmt+"\n\\echo "+marker+"\n"); err != nil {
		return 0, fmt.Errorf("psql: %w", err)
	}
	var n int64
	var errText []string
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			if p.cmd.Process != nil {
				// cancel the running statement the way psql's ^C does
				_ = p.psql.Process.Signal(syscall.SIGINT)
			}
		case <-done:
		}
	}()
	for {
		line, err := p.out.ReadString('\n')
		if err != nil {
			return n, fmt.Errorf("psql: %w", err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == marker {
			break
		}
		if strings.HasPrefix(line, "ERROR:") || strings.HasPrefix(line, "psql:") {
			errText = append(errText, line)
			continue
		}
		if line == "" && sink == nil {
			continue
		}
		n++
		if sink != nil {
			fields := strings.Split(line, "\t")
			row := make([]any, len(fields))
			for i, f := range fields {
				if f == `\N` {
					row[i] = nil
				} else {
					row[i] = f
				}
			}
			sink(row)
		}
	}
	if len(errText) > 0 {
		return n, fmt.Errorf("postgres: %s", strings.Join(errText, "; "))
	}
	return n, nil
}

func (p *postgres) pids() []int {
	if p.cmd.Process == nil {
		return nil
	}
	return descendants(p.cmd.Process.Pid)
}

func (p *postgres) stop() {
	if p.stdin != nil {
		p.stdin.Close()
	}
	if p.psql != nil && p.psql.Process != nil {
		_ = p.psql.Wait()
	}
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
		}
	}
}

// ---- ClickHouse ----

type clickhouse struct {
	cmd    *exec.Cmd
	base   string
	client *http.Client
}

func (env *env) startClickHouse(ctx context.Context) (peer, string, error) {
	bin := findBin("clickhouse-server")
	if bin == "" {
		return nil, "", errNotInstalled
	}
	conf := "/etc/clickhouse-server/config.xml"
	if _, err := os.Stat(conf); err != nil {
		return nil, "", fmt.Errorf("no %s: %w", conf, err)
	}
	dir := filepath.Join(env.cfg.Data, "bench-clickhouse")
	sig, err := env.peerSignature()
	if err != nil {
		return nil, "", err
	}
	old, _ := os.ReadFile(filepath.Join(dir, "bench.sig"))
	fresh := string(old) != sig
	if fresh {
		os.RemoveAll(dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, "", fmt.Errorf("clickhouse dir: %w", err)
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	tcpPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	interPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(bin, "--config-file="+conf, "--",
		"--path="+dir+"/", "--tmp_path="+dir+"/tmp/", "--user_files_path="+dir+"/user_files/", "--format_schema_path="+dir+"/format_schemas/",
		"--http_port="+strconv.Itoa(httpPort), "--tcp_port="+strconv.Itoa(tcpPort), "--interserver_http_port="+strconv.Itoa(interPort),
		"--listen_host=127.0.0.1", "--timezone=UTC",
		"--logger.log="+filepath.Join(env.tmp, "clickhouse.log"), "--logger.errorlog="+filepath.Join(env.tmp, "clickhouse.err.log"),
		"--logger.level=warning")
	logf, err := os.Create(filepath.Join(env.tmp, "clickhouse.out"))
	if err != nil {
		return nil, "", fmt.Errorf("clickhouse log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start clickhouse: %w", err)
	}
	c := &clickhouse{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d/", httpPort), client: &http.Client{Timeout: 30 * time.Minute}}
	var ver string
	for i := 0; i < 150; i++ {
		if _, err = c.query(ctx, "SELECT version()", func(r []any) { ver, _ = r[0].(string) }); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.stop()
		b, _ := os.ReadFile(logf.Name())
		return nil, "", fmt.Errorf("clickhouse did not start: %w: %.500s", err, b)
	}
	if fresh {
		start := time.Now()
		for _, t := range peerTables {
			var defs []string
			for _, col := range t.cols {
				typ := env.columnType(t.name, col, chTypes)
				if !strings.Contains(t.order, col) {
					typ = "Nullable(" + typ + ")" // NULLs stay NULL, as in DuckDB
				}
				defs = append(defs, "`"+col+"` "+typ)
			}
			csv := filepath.Join(env.tmp, t.name+".ch.csv")
			if err := env.peerCSV(ctx, t.name, t.cols, t.order, csv, `\N`); err != nil {
				c.stop()
				return nil, "", err
			}
			if _, err := c.query(ctx, "CREATE TABLE "+t.name+" ("+strings.Join(defs, ", ")+") ENGINE = MergeTree ORDER BY ("+t.order+")", nil); err != nil {
				c.stop()
				return nil, "", fmt.Errorf("clickhouse table: %w", err)
			}
			f, err := os.Open(csv)
			if err != nil {
				c.stop()
				return nil, "", fmt.Errorf("clickhouse csv: %w", err)
			}
			err = c.post(ctx, "INSERT INTO "+t.name+" FORMAT CSVWithNames", f)
			f.Close()
			os.Remove(csv)
			if err != nil {
				c.stop()
				return nil, "", fmt.Errorf("load clickhouse %s: %w", t.name, err)
			}
			if _, err := c.query(ctx, "OPTIMIZE TABLE "+t.name+" FINAL", nil); err != nil {
				c.stop()
				return nil, "", fmt.Errorf("clickhouse optimize: %w", err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "bench.sig"), []byte(sig), 0o644); err != nil {
			c.stop()
			return nil, "", fmt.Errorf("clickhouse marker: %w", err)
		}
		env.log.Info("loaded clickhouse", "elapsed", time.Since(start).Round(time.Millisecond))
	}
	return c, ver, nil
}

func (c *clickhouse) post(ctx context.Context, query string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"?query="+url.QueryEscape(query), body)
	if err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("clickhouse: %s: %.500s", resp.Status, b)
	}
	return nil
}

// query posts one statement over ClickHouse's HTTP interface; rows come
// back as TabSeparated.
func (c *clickhouse) query(ctx context.Context, text string, sink func([]any)) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.base, strings.NewReader(text))
	if err != nil {
		return 0, fmt.Errorf("clickhouse: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("clickhouse: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("clickhouse: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("clickhouse: %s: %.500s", resp.Status, b)
	}
	var n int64
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		n++
		if sink != nil {
			fields := strings.Split(string(line), "\t")
			row := make([]any, len(fields))
			for i, f := range fields {
				if f == `\N` {
					row[i] = nil
				} else {
					row[i] = f
				}
			}
			sink(row)
		}
	}
	return n, nil
}

func (c *clickhouse) pids() []int {
	if c.cmd.Process == nil {
		return nil
	}
	return descendants(c.cmd.Process.Pid)
}

func (c *clickhouse) stop() {
	if c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}
