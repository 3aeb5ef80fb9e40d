package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/sandbox"
	"github.com/quarry/quarry/parser"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// Request is the body of POST /api/sql, /api/sql/explain and
// /api/sql/jobs.
type Request struct {
	SQL string `json:"sql"`
	// Limit caps the rows returned (default Config.DefaultRows, at most
	// Config.MaxRows; jobs: at most Config.JobMaxRows).
	Limit int64 `json:"limit"`
	// TimeoutMS lowers the time limit (the sandbox's 30 s by default);
	// a larger value is ignored.
	TimeoutMS int64 `json:"timeout_ms"`
	// Language is "sql" (raw DuckDB SQL in the sandbox), "report" (the
	// report language) or "auto" (default: report when the text is a
	// report query with TIMESPAN or a dataset alias such as ISVUsage).
	Language string `json:"language"`
	// QueryID, optional, names a synchronous query so that GET and DELETE
	// /api/sql/queries/{id} can follow and cancel it (letters, digits,
	// '-' and '_', at most 64).
	QueryID string `json:"query_id"`
	// Analyze runs EXPLAIN ANALYZE (explain only).
	Analyze bool `json:"analyze"`
}

// Column describes a result column.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

func (a *API) sqlRoutes() []api.Route {
	body := "Body {sql, limit, timeout_ms, language (auto|sql|report), query_id}. "
	return []api.Route{
		{Method: fiber.MethodPost, Path: "/api/sql", Tag: "console",
			Summary: "Run one read-only SQL statement (or a report query) in the caller's sandbox",
			Description: body + "Answers JSON {columns[{name,type}], rows[[…]], row_count, truncated, elapsed_ms, statement, language}, " +
				"or CSV, Parquet or an Arrow IPC stream by ?format=csv|parquet|arrow or Accept (text/csv, application/vnd.apache.parquet, " +
				"application/vnd.apache.arrow.stream). Only SELECT, WITH, VALUES, FROM, DESCRIBE, SUMMARIZE, SHOW and EXPLAIN run; " +
				"the tables are the datasets the key may read (a member key's hold only its tenant's rows). Time limit 30 s (a request may " +
				"lower it), row cap `limit` (default 10,000, at most 1,000,000) with `truncated`; CSV and Arrow streams send " +
				"X-Quarry-Row-Limit and the X-Quarry-Truncated trailer, Parquet the X-Quarry-Truncated header.",
			Params: []api.Param{{Name: "format", In: "query", Description: "json (default), csv, parquet or arrow"}},
			Responses: map[int]string{fiber.StatusBadRequest: "syntax or query error, or past the time limit (with line, column and position)",
				fiber.StatusForbidden: "a statement that is not read-only, a file, URL or database outside the datasets",
				fiber.StatusConflict:  "cancelled through DELETE /api/sql/queries/{id}"},
			Handler: a.query, Errors: WriteError},
		{Method: fiber.MethodPost, Path: "/api/sql/explain", Tag: "console",
			Summary:     "The plan of a statement: DuckDB's EXPLAIN (ANALYZE with analyze:true), or a report query's logical plan, files and compiled SQL",
			Description: body + "Answers {language, statement, plan}; a report query adds sql (the compiled DuckDB SQL).",
			Responses:   map[int]string{fiber.StatusBadRequest: "syntax or query error", fiber.StatusForbidden: "a statement that is not allowed"},
			Handler:     a.explain, Errors: WriteError},
		{Method: fiber.MethodGet, Path: "/api/sql/queries/:id", Tag: "console",
			Summary:   "Progress of a running synchronous query named by its query_id: {id, progress (0–100), elapsed_ms}",
			Params:    []api.Param{{Name: "id", In: "path", Required: true, Description: "the request's query_id"}},
			Responses: map[int]string{fiber.StatusNotFound: "no such query running for this key"},
			Handler:   a.queryProgress, Errors: WriteError},
		{Method: fiber.MethodDelete, Path: "/api/sql/queries/:id", Tag: "console",
			Summary:   "Cancel a running synchronous query named by its query_id (its request then answers 409 cancelled)",
			Params:    []api.Param{{Name: "id", In: "path", Required: true, Description: "the request's query_id"}},
			Responses: map[int]string{fiber.StatusNotFound: "no such query running for this key"},
			Handler:   a.cancelQuery, Errors: WriteError},
	}
}

func badRequest(format string, args ...any) *api.Error {
	return &api.Error{Status: fiber.StatusBadRequest, Code: "bad_request", Message: fmt.Sprintf(format, args...)}
}

var queryIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// decode reads and checks a request body.
func (a *API) decode(c *fiber.Ctx, maxRows int64) (Request, *api.Error) {
	var r Request
	if err := json.Unmarshal(c.Body(), &r); err != nil {
		return r, badRequest("the body must be JSON {\"sql\": \"SELECT …\", \"limit\": 100, \"timeout_ms\": 5000}: %v", err)
	}
	if strings.TrimSpace(r.SQL) == "" {
		return r, badRequest("sql is empty: send {\"sql\": \"SELECT …\"}")
	}
	switch {
	case r.Limit < 0:
		return r, badRequest("limit must be positive")
	case r.Limit == 0:
		r.Limit = min(a.cfg.DefaultRows, maxRows)
	case r.Limit > maxRows:
		return r, badRequest("limit %d is over the maximum of %d rows; run it as a job (POST /api/sql/jobs) for more", r.Limit, maxRows)
	}
	if r.TimeoutMS < 0 {
		return r, badRequest("timeout_ms must be positive")
	}
	r.Language = strings.ToLower(r.Language)
	switch r.Language {
	case "", "auto", "sql", "report":
	default:
		return r, badRequest("language %q is not auto, sql or report", r.Language)
	}
	if r.QueryID != "" && !queryIDRE.MatchString(r.QueryID) {
		return r, badRequest("query_id holds letters, digits, '-' and '_', at most 64")
	}
	return r, nil
}

// report returns the parsed report query when the request is one.
func (a *API) report(r Request) (*parser.Query, error) {
	switch r.Language {
	case "sql":
		return nil, nil
	case "report":
		return parser.ParseQuery(r.SQL)
	}
	q, err := parser.ParseQuery(r.SQL)
	if err != nil {
		return nil, nil // not a report query: SQL
	}
	if q.Timespan != nil {
		return q, nil
	}
	if d, ok := a.eng.Catalog().Lookup(q.From.Name); ok && !strings.EqualFold(d.Name, q.From.Name) {
		return q, nil // a dataset alias (ISVUsage): only the report language knows it
	}
	return nil, nil
}

func (a *API) plan(c *fiber.Ctx, q *parser.Query, limit int64) (*planner.Plan, error) {
	return planner.FromQuery(q, a.eng.Catalog(), planner.Options{Now: a.eng.Now(), Scope: api.KeyFrom(c).Scope(), MaxLimit: limit})
}

func (a *API) timeout(r Request) time.Duration {
	return time.Duration(r.TimeoutMS) * time.Millisecond
}

// format picks the answer's format from ?format= or Accept.
func format(c *fiber.Ctx) (string, *api.Error) {
	if f, ok := api.Query(c, "format"); ok && f != "" {
		switch f = strings.ToLower(f); f {
		case "json", "csv", "parquet", "arrow":
			return f, nil
		}
		return "", badRequest("format %q is not json, csv, parquet or arrow", f)
	}
	acc := strings.ToLower(c.Get(fiber.HeaderAccept))
	switch {
	case strings.Contains(acc, "text/csv"):
		return "csv", nil
	case strings.Contains(acc, "parquet"):
		return "parquet", nil
	case strings.Contains(acc, "arrow"):
		return "arrow", nil
	}
	return "json", nil
}

// query is POST /api/sql.
func (a *API) query(c *fiber.Ctx) error {
	if a.sb == nil {
		return unavailable("the SQL console")
	}
	f, aerr := format(c)
	if aerr != nil {
		return aerr
	}
	r, aerr := a.decode(c, a.cfg.MaxRows)
	if aerr != nil {
		return aerr
	}
	key := api.KeyFrom(c)
	ctx, cancel := context.WithCancel(c.UserContext())
	var prog sandbox.Progress
	id := ""
	if r.QueryID != "" {
		id = owner(key) + "\x00" + r.QueryID
		a.mu.Lock()
		if _, dup := a.running[id]; dup {
			a.mu.Unlock()
			cancel()
			return &api.Error{Status: fiber.StatusConflict, Code: "conflict", Message: fmt.Sprintf("query %s is already running", r.QueryID)}
		}
		a.running[id] = &running{cancel: cancel, progress: &prog, started: time.Now()}
		a.mu.Unlock()
	}
	done := func() {
		cancel()
		if id != "" {
			a.mu.Lock()
			delete(a.running, id)
			a.mu.Unlock()
		}
	}
	started := time.Now()
	out, err := a.open(ctx, c, r, &prog)
	if err != nil {
		done()
		return queryError(err)
	}
	c.Set("X-Quarry-Language", out.language)
	c.Set("X-Quarry-Row-Limit", strconv.FormatInt(r.Limit, 10))
	if f == "parquet" {
		defer done()
		defer out.close()
		return a.sendParquet(c, out, r.Limit)
	}
	// The rows stream after the handler returns; the result, its
	// connection and the running-query entry live until then.
	ctype := map[string]string{"json": fiber.MIMEApplicationJSONCharsetUTF8, "csv": "text/csv; charset=utf-8", "arrow": "application/vnd.apache.arrow.stream"}[f]
	c.Set(fiber.HeaderContentType, ctype)
	if f != "json" {
		c.Set("Trailer", "X-Quarry-Truncated")
	}
	if f == "csv" {
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="result.csv"`)
	}
	resp := c.Response()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer done()
		defer out.close()
		cr := Cap(out.reader, r.Limit)
		var err error
		switch f {
		case "json":
			err = writeJSON(w, cr, func() map[string]any {
				return map[string]any{"elapsed_ms": ms(time.Since(started)), "statement": out.kind, "language": out.language, "limit": r.Limit}
			})
		case "csv":
			_, err = WriteCSV(w, cr)
		case "arrow":
			_, err = writeArrow(w, cr)
		}
		if err == nil {
			err = out.err()
		}
		if f != "json" {
			resp.Header.Set("X-Quarry-Truncated", strconv.FormatBool(cr.Truncated()))
		}
		if err != nil {
			slog.Warn("console result stream ended early", "request_id", api.RequestID(c), "err", err)
		}
		w.Flush()
	})
	return nil
}

// opened is a running result: from the sandbox (SQL) or the engine
// (a report query's plan).
type opened struct {
	reader   array.RecordReader
	kind     string
	language string
	close    func()
	err      func() error
}

// open starts a request's query.
func (a *API) open(ctx context.Context, c *fiber.Ctx, r Request, prog *sandbox.Progress) (*opened, error) {
	q, err := a.report(r)
	if err != nil {
		return nil, err
	}
	if q != nil {
		p, err := a.plan(c, q, r.Limit+1)
		if err != nil {
			return nil, err
		}
		limit := a.sb.Config().Timeout
		if t := a.timeout(r); t > 0 && t < limit {
			limit = t
		}
		res, err := a.eng.Run(engine.WithQueryTimeout(ctx, limit), p)
		if err != nil {
			return nil, err
		}
		return &opened{reader: res.Reader, kind: "report", language: "report",
			close: func() { res.Close() }, err: res.Reader.Err}, nil
	}
	res, err := a.sb.Query(ctx, api.KeyFrom(c).Scope(), r.SQL, sandbox.Options{Timeout: a.timeout(r), MaxRows: r.Limit, Progress: prog})
	if err != nil {
		return nil, err
	}
	return &opened{reader: res.Reader, kind: res.Statement.Kind, language: "sql",
		close: func() { res.Close() }, err: res.Err}, nil
}

// sendParquet writes the capped rows to a temporary Parquet file with the
// engine's DuckDB (the sandbox may write no file) and sends it.
func (a *API) sendParquet(c *fiber.Ctx, out *opened, limit int64) error {
	dir, err := os.MkdirTemp("", "quarry-console-")
	if err != nil {
		return api.Internal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "result.parquet")
	cr := Cap(out.reader, limit)
	st, err := a.eng.WriteArrow(c.UserContext(), cr, engine.Parquet, path)
	if err != nil {
		if qerr := out.err(); qerr != nil {
			return queryError(qerr)
		}
		return api.Internal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return api.Internal(err)
	}
	c.Set(fiber.HeaderContentType, "application/vnd.apache.parquet")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="result.parquet"`)
	c.Set("X-Quarry-Rows", strconv.FormatInt(st.Rows, 10))
	c.Set("X-Quarry-Truncated", strconv.FormatBool(cr.Truncated()))
	return c.Send(b)
}

// explain is POST /api/sql/explain.
func (a *API) explain(c *fiber.Ctx) error {
	if a.sb == nil {
		return unavailable("the SQL console")
	}
	r, aerr := a.decode(c, a.cfg.MaxRows)
	if aerr != nil {
		return aerr
	}
	q, err := a.report(r)
	if err != nil {
		return queryError(err)
	}
	if q != nil {
		p, err := a.plan(c, q, 0)
		if err != nil {
			return queryError(err)
		}
		text, err := a.eng.Explain(p)
		if err != nil {
			return api.Internal(err)
		}
		sqlText := text
		if i := strings.Index(text, "-- sql\n"); i >= 0 {
			sqlText = text[i+len("-- sql\n"):]
		}
		return c.JSON(fiber.Map{"language": "report", "statement": "report", "plan": text, "sql": strings.TrimSpace(sqlText)})
	}
	st, err := a.sb.Check(c.UserContext(), api.KeyFrom(c).Scope(), r.SQL)
	if err != nil {
		return queryError(err)
	}
	plan, err := a.sb.Explain(c.UserContext(), api.KeyFrom(c).Scope(), r.SQL, r.Analyze, sandbox.Options{Timeout: a.timeout(r)})
	if err != nil {
		return queryError(err)
	}
	return c.JSON(fiber.Map{"language": "sql", "statement": st.Kind, "plan": plan})
}

func (a *API) find(c *fiber.Ctx) (*running, string) {
	id := owner(api.KeyFrom(c)) + "\x00" + c.Params("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running[id], id
}

// queryProgress is GET /api/sql/queries/{id}.
func (a *API) queryProgress(c *fiber.Ctx) error {
	r, _ := a.find(c)
	if r == nil {
		return &api.Error{Status: fiber.StatusNotFound, Code: "not_found", Message: "no query " + c.Params("id") + " is running for this key"}
	}
	pct, known := r.progress.Get()
	return c.JSON(fiber.Map{"id": c.Params("id"), "running": true, "progress": pct, "progress_known": known, "elapsed_ms": ms(time.Since(r.started))})
}

// cancelQuery is DELETE /api/sql/queries/{id}.
func (a *API) cancelQuery(c *fiber.Ctx) error {
	r, _ := a.find(c)
	if r == nil {
		return &api.Error{Status: fiber.StatusNotFound, Code: "not_found", Message: "no query " + c.Params("id") + " is running for this key"}
	}
	r.cancel()
	return c.JSON(fiber.Map{"id": c.Params("id"), "cancelled": true})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
