//go:build duckdb_arrow

package sandbox

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Kinds of statement the sandbox runs.
const (
	KindSelect    = "select"    // SELECT, WITH, VALUES, FROM-first, set operations
	KindDescribe  = "describe"  // DESCRIBE / SHOW <table or query>
	KindSummarize = "summarize" // SUMMARIZE
	KindShow      = "show"      // SHOW TABLES, SHOW ALL TABLES, …
	KindExplain   = "explain"   // EXPLAIN [ANALYZE] of one of the above
)

// Statement is a checked statement.
type Statement struct {
	Kind string
	// Text is what runs: the request's text.
	Text string
	// Inner is the explained statement of an EXPLAIN ("" otherwise);
	// Analyze is set for EXPLAIN ANALYZE.
	Inner   string
	Analyze bool
}

// Error codes of *Error.
const (
	CodeSyntax     = "syntax_error"
	CodeNotAllowed = "not_allowed"
	CodeTimeout    = "timeout"
	CodeCancelled  = "cancelled"
	CodeQuery      = "query_error"
)

// Error is a refused or failed statement, with DuckDB's message and the
// position it points at when there is one (1-based line and column,
// 0-based byte offset into the request's text; 0/0/-1 without one).
type Error struct {
	Code    string
	Message string
	Line    int
	Column  int
	Offset  int
	Err     error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d, column %d)", e.Message, e.Line, e.Column)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// ErrTimeout is wrapped by the *Error of a query that ran past its limit.
var ErrTimeout = errors.New("query ran past its time limit")

// tableFunctions are the table functions a statement may call: they
// compute in memory or describe the instance's own catalog. Everything
// else (read_parquet, read_csv, read_json, read_text, read_blob, glob,
// parquet_metadata, sniff_csv, query, query_table, iceberg_scan, …) is
// refused, because files in the allowed directories hold every tenant's
// rows.
var tableFunctions = map[string]bool{
	"range": true, "generate_series": true, "unnest": true, "repeat": true, "repeat_row": true,
	"json_each": true, "json_tree": true,
	"duckdb_settings": true, "duckdb_functions": true, "duckdb_types": true, "duckdb_keywords": true,
	"duckdb_columns": true, "duckdb_tables": true, "duckdb_views": true, "duckdb_schemas": true,
	"duckdb_databases": true, "duckdb_constraints": true,
	"pragma_table_info": true, "pragma_show": true,
}

// allowedTableFunctions lists them for messages.
func allowedTableFunctions() string {
	var n []string
	for k := range tableFunctions {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// check parses text with DuckDB and refuses anything but one SELECT-like
// statement over the instance's views.
func check(ctx context.Context, c *sconn, text string, views map[string]bool) (Statement, error) {
	if strings.TrimSpace(text) == "" {
		return Statement{}, &Error{Code: CodeSyntax, Message: "empty statement: write one query, e.g. SHOW TABLES", Offset: -1}
	}
	n, err := c.raw.countStatements(text)
	if err != nil {
		return Statement{}, duckError(CodeSyntax, text, err)
	}
	switch {
	case n == 0:
		return Statement{}, &Error{Code: CodeSyntax, Message: "no statement found: the text holds only comments", Offset: -1}
	case n > 1:
		return Statement{}, &Error{Code: CodeNotAllowed, Offset: -1,
			Message: fmt.Sprintf("one statement per request: this text holds %d statements; run them one at a time", n)}
	}
	st, err := checkOne(ctx, c, text, views)
	if err != nil {
		return Statement{}, err
	}
	return st, nil
}

func checkOne(ctx context.Context, c *sconn, text string, views map[string]bool) (Statement, error) {
	tree, err := serialize(ctx, c, text)
	if err != nil {
		return Statement{}, err
	}
	if tree.Error {
		if !strings.Contains(tree.Message, "Only SELECT statements") {
			return Statement{}, duckError(CodeSyntax, text, errors.New(tree.Message))
		}
		kw, rest := firstWord(text)
		if kw != "EXPLAIN" {
			return Statement{}, notAllowed(kw, text)
		}
		st := Statement{Kind: KindExplain, Text: text}
		if kw2, rest2 := firstWord(rest); kw2 == "ANALYZE" || kw2 == "ANALYSE" {
			st.Analyze, rest = true, rest2
		}
		inner, err := checkOne(ctx, c, rest, views)
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.Offset >= 0 {
				// positions of the inner text → positions in the request
				shift := len(text) - len(rest)
				e.Offset += shift
				e.Line, e.Column = lineCol(text, e.Offset)
			}
			return Statement{}, err
		}
		if inner.Kind == KindExplain {
			return Statement{}, &Error{Code: CodeNotAllowed, Message: "EXPLAIN of an EXPLAIN is not allowed", Offset: -1}
		}
		st.Inner = rest
		return st, nil
	}
	if len(tree.Statements) != 1 {
		// One statement that DuckDB expands into several: a PIVOT without
		// an IN list first creates an enum type.
		return Statement{}, &Error{Code: CodeNotAllowed, Offset: -1,
			Message: fmt.Sprintf("this statement expands to %d statements (a PIVOT without an IN list creates a type first); list the values: PIVOT … ON col IN ('a', 'b')", len(tree.Statements))}
	}
	kind := KindSelect
	var verr error
	walk(tree.Statements[0], func(m map[string]any) bool {
		switch m["type"] {
		case "SHOW_REF":
			switch m["show_type"] {
			case "SUMMARY":
				kind = KindSummarize
			case "DESCRIBE":
				kind = KindDescribe
			default:
				kind = KindShow
			}
		case "TABLE_FUNCTION":
			fn, _ := m["function"].(map[string]any)
			name, _ := fn["function_name"].(string)
			if !tableFunctions[strings.ToLower(name)] {
				verr = at(text, m, CodeNotAllowed, fmt.Sprintf(
					"table function %s is not allowed: the console reads only the datasets' tables (SHOW TABLES lists them), "+
						"not files, URLs or other databases; allowed table functions: %s", name, allowedTableFunctions()))
				return false
			}
		case "BASE_TABLE":
			name, _ := m["table_name"].(string)
			if views[strings.ToLower(name)] {
				return true
			}
			if strings.ContainsAny(name, "./\\:~*?") {
				verr = at(text, m, CodeNotAllowed, fmt.Sprintf(
					"table '%s' is not allowed: the console reads only the datasets' tables (SHOW TABLES lists them), not files", name))
				return false
			}
		}
		return true
	})
	if verr != nil {
		return Statement{}, verr
	}
	return Statement{Kind: kind, Text: text}, nil
}

// serialized is json_serialize_sql's answer.
type serialized struct {
	Error      bool   `json:"error"`
	Message    string `json:"error_message"`
	Statements []any  `json:"statements"`
}

// serialize asks DuckDB for the parse tree of text (json_serialize_sql:
// parse only, nothing runs; only SELECT-like statements serialize).
func serialize(ctx context.Context, c *sconn, text string) (serialized, error) {
	rows, err := c.dc.(driver.QueryerContext).QueryContext(ctx, "SELECT CAST(json_serialize_sql(CAST($1 AS VARCHAR)) AS VARCHAR)",
		[]driver.NamedValue{{Ordinal: 1, Value: text}})
	if err != nil {
		return serialized{}, fmt.Errorf("sandbox: parse: %w", err)
	}
	defer rows.Close()
	vals := make([]driver.Value, 1)
	if err := rows.Next(vals); err != nil && !errors.Is(err, io.EOF) {
		return serialized{}, fmt.Errorf("sandbox: parse: %w", err)
	}
	s, _ := vals[0].(string)
	var out serialized
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return serialized{}, fmt.Errorf("sandbox: parse tree: %w", err)
	}
	return out, nil
}

// walk visits every object of a JSON tree, depth first, until f returns
// false.
func walk(v any, f func(map[string]any) bool) bool {
	switch x := v.(type) {
	case map[string]any:
		if !f(x) {
			return false
		}
		for _, k := range sortedKeys(x) {
			if !walk(x[k], f) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !walk(e, f) {
				return false
			}
		}
	}
	return true
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// at makes an *Error at a parse tree node's query_location.
func at(text string, node map[string]any, code, msg string) *Error {
	e := &Error{Code: code, Message: msg, Offset: -1}
	if loc, ok := node["query_location"].(float64); ok && loc >= 0 && loc < float64(len(text)) {
		e.Offset = int(loc)
		e.Line, e.Column = lineCol(text, e.Offset)
	}
	return e
}

// firstWord returns the first keyword of text (upper-cased), skipping
// blanks, comments and opening parentheses, and the text after it.
func firstWord(text string) (string, string) {
	i := 0
	for i < len(text) {
		switch {
		case text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r' || text[i] == '(':
			i++
		case strings.HasPrefix(text[i:], "--"):
			if j := strings.IndexByte(text[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(text)
			}
		case strings.HasPrefix(text[i:], "/*"):
			if j := strings.Index(text[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(text)
			}
		default:
			j := i
			for j < len(text) && (unicode.IsLetter(rune(text[j])) || text[j] == '_') {
				j++
			}
			return strings.ToUpper(text[i:j]), text[j:]
		}
	}
	return "", ""
}

// notAllowed is the refusal of a statement that is not SELECT-like.
func notAllowed(kw, text string) *Error {
	what := kw + " statements are"
	switch kw {
	case "":
		what = "this statement is"
	case "SET", "RESET", "PRAGMA":
		what = kw + " is"
	}
	msg := what + " not allowed: the console runs one read-only query — SELECT, WITH, VALUES, FROM, DESCRIBE, SUMMARIZE, SHOW or EXPLAIN"
	switch kw {
	case "COPY", "EXPORT":
		msg += "; to download a result use the CSV or Parquet buttons (or ?format=csv|parquet on POST /api/sql)"
	case "SET", "RESET", "PRAGMA", "CALL":
		msg += "; the sandbox's settings are locked (lock_configuration)"
	case "ATTACH", "DETACH", "USE":
		msg += "; the console reads only the datasets' tables (SHOW TABLES lists them)"
	case "INSTALL", "LOAD", "FORCE":
		msg += "; extensions cannot be installed or loaded"
	case "CREATE", "INSERT", "UPDATE", "DELETE", "DROP", "ALTER", "TRUNCATE", "MERGE":
		msg += "; the datasets are read-only here (write with quarry ingest)"
	case "PIVOT", "UNPIVOT":
		msg = kw + " as a statement is not supported here; write SELECT * FROM (" + kw + " …) instead"
	}
	e := &Error{Code: CodeNotAllowed, Message: msg, Offset: -1}
	if kw != "" {
		if i := strings.Index(strings.ToUpper(text), kw); i >= 0 {
			e.Offset = i
			e.Line, e.Column = lineCol(text, i)
		}
	}
	return e
}

// lineCol turns a byte offset into a 1-based line and column (in runes).
func lineCol(text string, off int) (int, int) {
	if off > len(text) {
		off = len(text)
	}
	line, col := 1, 1
	for _, r := range text[:off] {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

var lineRE = regexp.MustCompile(`(?m)^LINE (\d+): (.*)\n( *)\^`)

// duckError turns a DuckDB error into an *Error: the message without the
// "LINE n:" excerpt, and the position the excerpt's caret points at.
func duckError(code, text string, err error) *Error {
	msg := err.Error()
	e := &Error{Code: code, Message: msg, Offset: -1, Err: err}
	m := lineRE.FindStringSubmatchIndex(msg)
	if m == nil {
		e.Message = strings.TrimSpace(msg)
		return e
	}
	e.Message = strings.TrimSpace(msg[:m[0]])
	line, _ := strconv.Atoi(msg[m[2]:m[3]])
	excerpt := msg[m[4]:m[5]]
	caret := (m[7] - m[6]) - len("LINE : ") - len(msg[m[2]:m[3]])
	lines := strings.Split(text, "\n")
	if line < 1 || line > len(lines) || caret < 0 {
		return e
	}
	src := lines[line-1]
	start := 0
	if strings.HasPrefix(excerpt, "...") {
		frag := strings.TrimSuffix(excerpt[3:], "...")
		if i := strings.Index(src, frag); i >= 0 {
			start, caret = i, caret-3
		}
	}
	off := start + caret
	if off > len(src) {
		return e
	}
	for _, l := range lines[:line-1] {
		off += len(l) + 1
	}
	e.Offset = off
	e.Line, e.Column = lineCol(text, off)
	return e
}

// runError classifies an error of a running query: past the time limit,
// interrupted by the caller, or DuckDB's own error.
func runError(ctx context.Context, limit time.Duration, text string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Code: CodeTimeout, Offset: -1, Err: fmt.Errorf("%w: %w", ErrTimeout, err),
			Message: fmt.Sprintf("the query ran past its time limit of %s and was cancelled; narrow it (WHERE, LIMIT) or run it as a job", limit)}
	case errors.Is(ctx.Err(), context.Canceled):
		return &Error{Code: CodeCancelled, Offset: -1, Err: err, Message: "the query was cancelled"}
	}
	return duckError(CodeQuery, text, err)
}

// The settings an instance must show once locked (SPEC.md §6).
var required = map[string]string{
	"enable_external_access":       "false",
	"lock_configuration":           "true",
	"autoinstall_known_extensions": "false",
	"autoload_known_extensions":    "false",
	"allow_community_extensions":   "false",
	"allow_unsigned_extensions":    "false",
}

// verify reads an instance's settings back and fails unless each
// required one has its value, a memory limit is set, and DuckDB may read
// no directory but the allowed ones (and its own temp directory).
func verify(ctx context.Context, dc driver.Conn, allowed []string) error {
	rows, err := dc.(driver.QueryerContext).QueryContext(ctx,
		"SELECT name, CAST(value AS VARCHAR) FROM duckdb_settings() WHERE name IN "+
			"('enable_external_access', 'lock_configuration', 'autoinstall_known_extensions', 'autoload_known_extensions', "+
			"'allow_community_extensions', 'allow_unsigned_extensions', 'memory_limit', 'allowed_directories', 'temp_directory')", nil)
	if err != nil {
		return fmt.Errorf("sandbox: read settings: %w", err)
	}
	defer rows.Close()
	got := map[string]string{}
	vals := make([]driver.Value, 2)
	for {
		if err := rows.Next(vals); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("sandbox: read settings: %w", err)
		}
		n, _ := vals[0].(string)
		v, _ := vals[1].(string)
		got[n] = v
	}
	var bad []string
	for n, want := range required {
		if !strings.EqualFold(got[n], want) {
			bad = append(bad, fmt.Sprintf("%s is %q, want %s", n, got[n], want))
		}
	}
	if got["memory_limit"] == "" {
		bad = append(bad, "memory_limit is not set")
	}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	if t := got["temp_directory"]; t != "" {
		ok[strings.TrimSuffix(t, "/")+"/"] = true
	}
	dirs := strings.Trim(got["allowed_directories"], "[]")
	if dirs != "" {
		for _, d := range strings.Split(dirs, ", ") {
			if !ok[d] && !ok[strings.TrimSuffix(d, "/")+"/"] {
				bad = append(bad, fmt.Sprintf("allowed_directories holds %q, which is not a dataset directory", d))
			}
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("sandbox: refusing an instance whose settings are off: %s", strings.Join(bad, "; "))
	}
	return nil
}
