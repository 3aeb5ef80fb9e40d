// Package datasets holds the catalog: every dataset's schema (columns,
// types, roles, aliases, time and tenant columns), where its Parquet files
// live (the manifest), and the deterministic generators of the built-in
// datasets. It imports neither the server nor the engine.
package datasets

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/quarry/quarry/internal/suggest"
)

// Type is a column's logical type, spelled as DuckDB spells it.
type Type string

// The column types a schema file may use.
const (
	Varchar   Type = "VARCHAR"
	BigInt    Type = "BIGINT"
	Integer   Type = "INTEGER"
	Double    Type = "DOUBLE"
	Boolean   Type = "BOOLEAN"
	Date      Type = "DATE"
	Timestamp Type = "TIMESTAMP"
	JSON      Type = "JSON" // stored as a UTF-8 string holding a JSON object
)

// Role says how a column takes part in a report.
type Role string

// Column roles.
const (
	Dimension Role = "dimension"
	Metric    Role = "metric"
	Time      Role = "time"
)

// Column is one column of a dataset.
type Column struct {
	Name      string   `json:"name"`
	Type      Type     `json:"type"`
	Role      Role     `json:"role"`
	Agg       string   `json:"agg,omitempty"`       // default aggregation of a metric: sum, avg, min, max, count
	Functions []string `json:"functions,omitempty"` // aggregations a metric supports (analytics API); empty: Agg only
	Aliases   []string `json:"aliases,omitempty"`   // other accepted spellings, case-insensitive
	Nullable  bool     `json:"nullable,omitempty"`
	Expr      string   `json:"expr,omitempty"` // derived column: a DuckDB expression over stored columns (catalog text, never user text)
	Unit      string   `json:"unit,omitempty"`
	MetricID  int      `json:"metric_id,omitempty"` // energy metric catalogue id
	// Group is the metric catalogue group the column is listed under
	// (energy custom reports: GET /reports/metrics).
	Group string `json:"group,omitempty"`
	// APIName is the name a public API uses for the column when it
	// differs from Name (energy: portfolioManagerPropertyId for property_id).
	APIName     string `json:"api_name,omitempty"`
	Description string `json:"description,omitempty"`
}

// PublicName is APIName, or Name when the API uses the column's own name.
func (c *Column) PublicName() string {
	if c.APIName != "" {
		return c.APIName
	}
	return c.Name
}

// Derived reports whether the column is computed from other columns rather
// than stored in the Parquet files.
func (c *Column) Derived() bool { return c.Expr != "" }

// Supports reports whether the metric supports the aggregation fn.
func (c *Column) Supports(fn string) bool {
	fn = strings.ToLower(fn)
	if len(c.Functions) == 0 {
		return fn == c.Agg
	}
	for _, f := range c.Functions {
		if f == fn {
			return true
		}
	}
	return false
}

// Dataset is one dataset's schema.
type Dataset struct {
	Name         string   `json:"name"`
	Aliases      []string `json:"aliases,omitempty"`
	Description  string   `json:"description,omitempty"`
	TimeColumn   string   `json:"time_column"`
	TenantColumn string   `json:"tenant_column,omitempty"`
	// TenantScope names the key scope that restricts TenantColumn:
	// "account", "org" or "project". Empty when the dataset has no tenant.
	TenantScope string   `json:"tenant_scope,omitempty"`
	SortBy      []string `json:"sort_by,omitempty"`     // order of rows inside each day file
	DateRanges  []string `json:"date_ranges,omitempty"` // TIMESPAN values offered (descriptor)
	// MinimumRecurrenceInterval in hours, for the insights descriptor.
	MinimumRecurrenceInterval int      `json:"minimum_recurrence_interval,omitempty"`
	Columns                   []Column `json:"columns"`

	byName map[string]*Column // lower-cased names and aliases
}

// Column finds a column by name or alias, case-insensitively.
func (d *Dataset) Column(name string) (*Column, bool) {
	c, ok := d.byName[strings.ToLower(name)]
	return c, ok
}

// Time returns the time column.
func (d *Dataset) Time() *Column {
	c, _ := d.Column(d.TimeColumn)
	return c
}

// Stored returns the columns kept in the Parquet files, in catalog order.
func (d *Dataset) Stored() []*Column {
	out := make([]*Column, 0, len(d.Columns))
	for i := range d.Columns {
		if !d.Columns[i].Derived() {
			out = append(out, &d.Columns[i])
		}
	}
	return out
}

// ColumnNames returns the canonical names of every column, in catalog order.
func (d *Dataset) ColumnNames() []string {
	out := make([]string, len(d.Columns))
	for i, c := range d.Columns {
		out[i] = c.Name
	}
	return out
}

// Suggest returns the column name closest to name, or "" when nothing is close.
func (d *Dataset) Suggest(name string) string {
	cands := make([]string, 0, len(d.Columns))
	for _, c := range d.Columns {
		cands = append(cands, c.Name)
	}
	return Closest(name, cands)
}

func (d *Dataset) init() error {
	if d.Name == "" {
		return errors.New("dataset without a name")
	}
	if len(d.Columns) == 0 {
		return fmt.Errorf("dataset %s: no columns", d.Name)
	}
	d.byName = make(map[string]*Column, 2*len(d.Columns))
	for i := range d.Columns {
		c := &d.Columns[i]
		if err := c.validate(); err != nil {
			return fmt.Errorf("dataset %s: %w", d.Name, err)
		}
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			k := strings.ToLower(n)
			if _, dup := d.byName[k]; dup {
				return fmt.Errorf("dataset %s: column name %q used twice", d.Name, n)
			}
			d.byName[k] = c
		}
	}
	tc, ok := d.Column(d.TimeColumn)
	if !ok {
		return fmt.Errorf("dataset %s: time column %q is not a column", d.Name, d.TimeColumn)
	}
	if tc.Type != Date && tc.Type != Timestamp {
		return fmt.Errorf("dataset %s: time column %q must be DATE or TIMESTAMP, not %s", d.Name, tc.Name, tc.Type)
	}
	if tc.Derived() {
		return fmt.Errorf("dataset %s: time column %q must be stored, not derived", d.Name, tc.Name)
	}
	if d.TenantColumn != "" {
		c, ok := d.Column(d.TenantColumn)
		if !ok {
			return fmt.Errorf("dataset %s: tenant column %q is not a column", d.Name, d.TenantColumn)
		}
		if c.Type != Varchar {
			return fmt.Errorf("dataset %s: tenant column %q must be VARCHAR", d.Name, c.Name)
		}
		switch d.TenantScope {
		case "account", "org", "project":
		default:
			return fmt.Errorf("dataset %s: tenant_scope must be account, org or project, not %q", d.Name, d.TenantScope)
		}
	}
	for _, s := range d.SortBy {
		if c, ok := d.Column(s); !ok || c.Derived() {
			return fmt.Errorf("dataset %s: sort_by column %q is not a stored column", d.Name, s)
		}
	}
	return nil
}

func (c *Column) validate() error {
	switch c.Type {
	case Varchar, BigInt, Integer, Double, Boolean, Date, Timestamp, JSON:
	default:
		return fmt.Errorf("column %s: unknown type %q (use VARCHAR, BIGINT, INTEGER, DOUBLE, BOOLEAN, DATE, TIMESTAMP or JSON)", c.Name, c.Type)
	}
	switch c.Role {
	case Dimension, Time:
		if c.Agg != "" {
			return fmt.Errorf("column %s: only a metric has an aggregation", c.Name)
		}
	case Metric:
		switch c.Agg {
		case "sum", "avg", "min", "max", "count":
		default:
			return fmt.Errorf("column %s: metric needs agg sum, avg, min, max or count, not %q", c.Name, c.Agg)
		}
	default:
		return fmt.Errorf("column %s: role must be dimension, metric or time, not %q", c.Name, c.Role)
	}
	if !validIdent(c.Name) {
		return fmt.Errorf("column %q: a name holds letters, digits and underscores and starts with a letter or underscore", c.Name)
	}
	return nil
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Catalog is the set of known datasets.
type Catalog struct {
	list   []*Dataset
	byName map[string]*Dataset // lower-cased names and aliases
}

//go:embed schemas/*.json
var builtin embed.FS

// Builtin returns the catalog of the built-in datasets.
func Builtin() (*Catalog, error) {
	c := &Catalog{byName: map[string]*Dataset{}}
	err := fs.WalkDir(builtin, "schemas", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := builtin.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = c.addJSON(p, b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Load returns the built-in catalog plus every user dataset under
// dataDir/datasets/<name>/schema.json.
func Load(dataDir string) (*Catalog, error) {
	c, err := Builtin()
	if err != nil {
		return nil, err
	}
	matches, _ := filepath.Glob(filepath.Join(dataDir, "datasets", "*", "schema.json"))
	sort.Strings(matches)
	for _, p := range matches {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read schema: %w", err)
		}
		d, err := c.addJSON(p, b)
		if err != nil {
			return nil, err
		}
		if err := checkEvolution(NewStore(dataDir), d); err != nil {
			return nil, fmt.Errorf("schema %s: %w", p, err)
		}
	}
	return c, nil
}

// checkEvolution compares a user dataset's schema with the columns of the
// files its manifest lists. A schema may only gain nullable columns (old
// files read them as NULL); a column that is new and not nullable, that
// changes type, or that files hold but the schema dropped is refused.
// A manifest written before Quarry recorded file columns is brought up to
// date first (one commit reading each file's footer).
func checkEvolution(store *Store, d *Dataset) error {
	m, err := store.Manifest(d.Name)
	if err != nil || len(m.Files) == 0 {
		return err
	}
	legacy := false
	for _, f := range m.Files {
		if f.Schema == 0 {
			// only a file still on disk can be brought up to date; a missing
			// one would make every load commit again
			_, err := os.Stat(store.Abs(d.Name, f))
			legacy = legacy || err == nil
		}
	}
	if legacy {
		if err := store.Commit(d.Name, nil, nil); err != nil {
			slog.Warn("catalog: could not record the columns of old files; schema changes are checked against recorded files only",
				"dataset", d.Name, "err", err)
		} else if m, err = store.Manifest(d.Name); err != nil {
			return err
		}
	}
	return CheckEvolution(d, m)
}

// CheckEvolution reports whether every file of the manifest can be read
// with the dataset's schema: each stored column a file lacks must be
// nullable, and each column a file holds must still be a stored column of
// the same type. The error names the first offending column.
func CheckEvolution(d *Dataset, m *Manifest) error {
	used := make([]int, len(m.Schemas))
	for _, f := range m.Files {
		if f.Schema > 0 && f.Schema <= len(used) {
			used[f.Schema-1]++
		}
	}
	for i, fs := range m.Schemas {
		if used[i] == 0 {
			continue
		}
		has := make(map[string]SchemaColumn, len(fs.Columns))
		for _, fc := range fs.Columns {
			has[strings.ToLower(fc.Name)] = fc
			c, ok := d.Column(fc.Name)
			if !ok || c.Derived() || c.Name != fc.Name {
				return fmt.Errorf("dataset %s: column %q is held by %d existing file(s) but no longer in the schema; "+
					"a schema may only gain nullable columns", d.Name, fc.Name, used[i])
			}
			if !SameType(c.Type, fc.Type) {
				return fmt.Errorf("dataset %s: column %q changes type from %s to %s; %d existing file(s) hold %s "+
					"(a schema may only gain nullable columns)", d.Name, c.Name, fc.Type, c.Type, used[i], fc.Type)
			}
		}
		for _, c := range d.Stored() {
			if _, ok := has[strings.ToLower(c.Name)]; !ok && !c.Nullable {
				return fmt.Errorf("dataset %s: new column %q must be nullable (\"nullable\": true): "+
					"%d existing file(s) do not have it (they would read it as NULL)", d.Name, c.Name, used[i])
			}
		}
	}
	return nil
}

func (c *Catalog) addJSON(path string, b []byte) (*Dataset, error) {
	var d Dataset
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("schema %s: %w", path, err)
	}
	if err := d.init(); err != nil {
		return nil, fmt.Errorf("schema %s: %w", path, err)
	}
	return &d, c.Add(&d)
}

// Add registers a dataset; its name and aliases must be new.
func (c *Catalog) Add(d *Dataset) error {
	if c.byName == nil {
		c.byName = map[string]*Dataset{}
	}
	if d.byName == nil {
		if err := d.init(); err != nil {
			return err
		}
	}
	for _, n := range append([]string{d.Name}, d.Aliases...) {
		k := strings.ToLower(n)
		if _, dup := c.byName[k]; dup {
			return fmt.Errorf("dataset name %q is defined twice", n)
		}
		c.byName[k] = d
	}
	c.list = append(c.list, d)
	sort.Slice(c.list, func(i, j int) bool { return c.list[i].Name < c.list[j].Name })
	return nil
}

// Lookup finds a dataset by name or alias, case-insensitively.
func (c *Catalog) Lookup(name string) (*Dataset, bool) {
	d, ok := c.byName[strings.ToLower(name)]
	return d, ok
}

// Datasets lists every dataset, sorted by name.
func (c *Catalog) Datasets() []*Dataset { return c.list }

// Suggest returns the dataset name or alias closest to name, or "".
func (c *Catalog) Suggest(name string) string {
	var cands []string
	for _, d := range c.list {
		cands = append(cands, d.Name)
		cands = append(cands, d.Aliases...)
	}
	return Closest(name, cands)
}

// Closest returns the candidate with the smallest edit distance to s
// (case-insensitive), if that distance is small relative to s; else "".
func Closest(s string, cands []string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, c := range cands {
		d := suggest.Distance(ls, strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := len(s)/3 + 1
	if limit > 4 {
		limit = 4
	}
	if bestD > limit {
		return ""
	}
	return best
}
