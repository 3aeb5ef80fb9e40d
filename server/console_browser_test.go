package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// TestConsoleInBrowser drives the console page in headless Chromium: sign
// in, run a query with Ctrl+Enter, see the rows, insert a column from the
// dataset browser, render 10,000 rows, download CSV, cancel a long query,
// open EXPLAIN and the chart. Screenshots go to $TEST_OUTPUT (or the
// test's temp dir), named in the log.
func TestConsoleInBrowser(t *testing.T) {
	exe := chromiumPath
	if _, err := os.Stat(exe); err != nil {
		p, lerr := exec.LookPath("chromium")
		if lerr != nil {
			t.Fatalf("chromium is not installed (%v): `make test` installs it (apt-get install -y chromium)", err)
		}
		exe = p
	}
	out := os.Getenv("TEST_OUTPUT")
	if out == "" {
		out = t.TempDir()
	}
	out = filepath.Join(out, "console-browser")
	downloads := filepath.Join(out, "downloads")
	if err := os.MkdirAll(downloads, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots and downloads in %s", out)

	ts := startServer(t, serverSetup{})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1400, 900),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(out, name+".png"), buf, 0o644)
		})
	}
	// setSQL replaces the editor's text (as a paste would); typeSQL types it.
	setSQL := func(q string) chromedp.Action {
		return chromedp.Evaluate(`(() => { const e = document.getElementById('editor'); e.value = `+jsString(q)+
			`; e.dispatchEvent(new Event('input')); e.focus(); return true })()`, nil)
	}
	typeSQL := func(q string) chromedp.Action {
		return chromedp.Tasks{setSQL(""), chromedp.SendKeys("#editor", q, chromedp.ByID)}
	}
	ctrlEnter := chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(input.ModifierCtrl))
	waitStatus := func(want string) chromedp.Action {
		return chromedp.Poll(`document.getElementById('status').textContent.includes(`+jsString(want)+`)`, nil,
			chromedp.WithPollingTimeout(30*time.Second))
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			var status string
			chromedp.Run(ctx, chromedp.Text("#status", &status, chromedp.ByID)) //nolint:errcheck
			chromedp.Run(ctx, shot("failed-"+step))                             //nolint:errcheck
			t.Fatalf("%s: %v (status %q)", step, err, status)
		}
	}

	// Sign in: the key goes to sessionStorage, never into the URL.
	var url, stored string
	run("sign in",
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(downloads),
		chromedp.Navigate(ts.URL+"/console"),
		chromedp.WaitVisible("#key", chromedp.ByID),
		shot("01-signin"),
		chromedp.SendKeys("#key", ts.Admin, chromedp.ByID),
		chromedp.Click("#signin-btn", chromedp.ByID),
		chromedp.WaitVisible(`#datasets li.ds`, chromedp.ByQuery),
		chromedp.Location(&url),
		chromedp.Evaluate(`sessionStorage.getItem('quarry.key')`, &stored),
	)
	if strings.Contains(url, ts.Admin) || stored != ts.Admin {
		t.Fatalf("after sign-in: url %s, stored key %q", url, stored)
	}

	// Run with the keyboard; the rows show in the grid.
	var rows int
	run("run with Ctrl+Enter",
		typeSQL(`SELECT "PublisherId", count(*) AS n, round(sum("NormalizedUsage"), 2) AS usage FROM usage GROUP BY 1 ORDER BY 2 DESC`),
		chromedp.Focus("#editor", chromedp.ByID),
		ctrlEnter,
		waitStatus("rows"),
		chromedp.Evaluate(`document.querySelectorAll('#grid-rows .row').length`, &rows),
		shot("02-rows"),
	)
	if rows < 3 {
		t.Fatalf("grid shows %d rows", rows)
	}
	var cell string
	run("first cell", chromedp.Text(`#grid-rows .row .cell:nth-child(2)`, &cell, chromedp.ByQuery))
	if !strings.HasPrefix(cell, "pub-") {
		t.Fatalf("first cell %q", cell)
	}

	// The dataset browser inserts a column at the cursor.
	var text string
	run("insert a column",
		setSQL("SELECT  FROM usage"),
		chromedp.Evaluate(`(() => { const e = document.getElementById('editor'); e.setSelectionRange(7, 7); return true })()`, nil),
		chromedp.Evaluate(`(() => { const li = [...document.querySelectorAll('#datasets li.ds')].find(li => li.children[1].textContent === 'usage');
			li.id = 'ds-usage'; li.querySelector('.toggle').click(); return true })()`, nil),
		chromedp.Click(`#ds-usage li.col[data-column="OfferName"]`, chromedp.ByQuery),
		chromedp.Value("#editor", &text, chromedp.ByID),
	)
	if text != `SELECT "OfferName" FROM usage` {
		t.Fatalf("editor after inserting a column: %q", text)
	}

	// 10,000 rows render quickly and only the visible ones are in the DOM.
	var dom int
	var elapsed float64
	run("10,000 rows",
		setSQL("SELECT range AS i, 'row ' || range AS label, range * 1.5 AS x FROM range(10000)"),
		chromedp.Evaluate(`window.__t0 = performance.now(); true`, nil),
		chromedp.Click("#run", chromedp.ByID),
		waitStatus("10,000 rows"),
		chromedp.Evaluate(`performance.now() - window.__t0`, &elapsed),
		chromedp.Evaluate(`document.querySelectorAll('#grid-rows .row').length`, &dom),
		chromedp.Evaluate(`(() => { const b = document.getElementById('grid-body'); b.scrollTop = 22 * 9990; b.dispatchEvent(new Event('scroll')); return true })()`, nil),
		chromedp.Poll(`[...document.querySelectorAll('#grid-rows .row .rownum')].some(e => e.textContent === '10000')`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		shot("03-10000-rows"),
	)
	if dom > 300 {
		t.Fatalf("%d rows in the DOM for 10,000: not virtualized", dom)
	}
	t.Logf("10,000 rows: fetched and rendered in %.0f ms, %d row elements in the DOM", elapsed, dom)

	// Download CSV.
	run("download CSV",
		setSQL(`SELECT "PublisherId", count(*) AS n FROM usage GROUP BY 1 ORDER BY 1`),
		ctrlEnter,
		waitStatus("rows"),
		chromedp.Click("#dl-csv", chromedp.ByID),
		waitStatus("downloaded"),
	)
	var csvBody []byte
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(downloads, "quarry-result.csv")); err == nil && len(b) > 0 {
			csvBody = b
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(string(csvBody), "PublisherId,n\n") || strings.Count(string(csvBody), "\n") < 3 {
		t.Fatalf("downloaded CSV: %q", csvBody)
	}

	// A chart of the result.
	run("chart",
		chromedp.Click(`#tabs button[data-tab="chart"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#chart-canvas", chromedp.ByID),
		shot("04-chart"),
	)

	// A long query shows progress and is cancelled.
	var pct string
	run("cancel a long query",
		chromedp.Click(`#tabs button[data-tab="results"]`, chromedp.ByQuery),
		setSQL("SELECT count(*) FROM transactions a, transactions b WHERE a.client_ip < b.client_ip"),
		ctrlEnter,
		chromedp.WaitVisible("#cancel", chromedp.ByID),
		chromedp.Poll(`document.getElementById('progress-text').textContent.includes('%')`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Text("#progress-text", &pct, chromedp.ByID),
		shot("05-progress"),
		chromedp.Click("#cancel", chromedp.ByID),
		waitStatus("Cancelled"),
		chromedp.WaitNotVisible("#cancel", chromedp.ByID),
		shot("06-cancelled"),
	)
	t.Logf("progress before cancel: %s", pct)

	// EXPLAIN shows DuckDB's plan; a report query shows its plan and SQL.
	var plan string
	run("explain",
		setSQL(`SELECT "OfferName", sum("NormalizedUsage") FROM usage GROUP BY 1`),
		chromedp.Click("#explain", chromedp.ByID),
		chromedp.WaitVisible("#explain-text", chromedp.ByID),
		waitStatus("plan of a select"),
		chromedp.Text("#explain-text", &plan, chromedp.ByID),
		shot("07-explain"),
	)
	if !strings.Contains(plan, "PARQUET") {
		t.Fatalf("explain: %q", plan)
	}
	run("explain a report query",
		setSQL("SELECT CustomerName, BilledRevenueUSD FROM CustomersAndTenants ORDER BY BilledRevenueUSD LIMIT 5 TIMESPAN LAST_MONTH"),
		chromedp.Click("#explain", chromedp.ByID),
		waitStatus("(report)"),
		chromedp.Text("#explain-text", &plan, chromedp.ByID),
		shot("08-explain-report"),
	)
	if !strings.Contains(plan, "-- sql") || !strings.Contains(plan, "Scan customers_and_tenants") {
		t.Fatalf("report explain: %q", plan)
	}

	// History is kept in the browser.
	var n int
	run("history",
		chromedp.Click(`#tabs button[data-tab="history"]`, chromedp.ByQuery),
		chromedp.Evaluate(`JSON.parse(localStorage.getItem('quarry.history')).length`, &n),
		shot("09-history"),
	)
	if n < 3 {
		t.Fatalf("history holds %d queries", n)
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
