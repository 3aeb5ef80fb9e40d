package planner

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quarry/quarry/datasets"
)

// The metering front end: OpenStack Ceilometer v1 (shared/reference/
// ceilometer-v1.md) over the meters dataset. FromMetering turns one v1
// request — what the URL path names and the query parameters as sent —
// into a MeteringPlan; the server only translates HTTP and shapes JSON.

// MeteringKind is what a metering request lists or computes.
type MeteringKind int

// Metering request kinds.
const (
	MeterResources MeteringKind = iota // resource records, one per resource_id
	MeterProjects                      // distinct project ids, sorted
	MeterUsers                         // distinct user ids, sorted
	MeterMeters                        // one record per distinct (resource, meter, type, unit, owner, source)
	MeterSamples                       // raw samples ("events"), newest first
	MeterVolumeMax                     // max(counter_volume)
	MeterVolumeSum                     // sum(counter_volume)
	MeterDuration                      // first and last sample time, clamped to the requested window
)

var meteringKindNames = []string{"resources", "projects", "users", "meters", "samples", "volume_max", "volume_sum", "duration"}

func (k MeteringKind) String() string {
	if int(k) >= 0 && int(k) < len(meteringKindNames) {
		return meteringKindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseMeteringKind is the kind named by String.
func ParseMeteringKind(s string) (MeteringKind, bool) {
	for i, n := range meteringKindNames {
		if n == s {
			return MeteringKind(i), true
		}
	}
	return 0, false
}

// Public messages of metering errors (Error.Message).
const (
	MsgMeteringBadRequest = "Bad Request"
	MsgMeteringNotFound   = "Not Found"
)

// MeteringDataset is the dataset the metering API reads.
const MeteringDataset = "meters"

// MeteringRequest is one v1 request. Path values are "" when the path
// does not name them; query parameters are the text as sent ("" when
// absent).
type MeteringRequest struct {
	Kind                                   MeteringKind
	Resource, Project, User, Source, Meter string
	Start, End, Offset                     string // start_timestamp, end_timestamp, search_offset
	// Metadata are the metadata.<key>=<value> parameters (key without
	// the prefix); every one must match (AND).
	Metadata map[string]string
}

// MeteringOptions are the caller's scope and identity.
type MeteringOptions struct {
	Scope Scope
	// UserFromCaller makes a project-limited caller's user listings
	// answer [CallerUser] (null when empty) without reading, as the
	// reference does with X-User-Id; otherwise they list the users seen
	// in the caller's project.
	UserFromCaller bool
	CallerUser     string
	// MaxSamples, when positive, caps a sample list: its plan's limit is
	// MaxSamples+1, so that the caller can tell a list was cut.
	MaxSamples int64
}

// MeteringPlan is how a metering request is answered: by running Plan,
// or, when Plan is nil, with Static (a limited caller's /projects).
type MeteringPlan struct {
	Kind   MeteringKind
	Plan   *Plan
	Static []any
	// Start and End are the requested bounds before search_offset (nil:
	// absent); Duration clamps to them. Offset is search_offset in minutes.
	Start, End *time.Time
	Offset     int64
}

// Output names of the plans. Listings of records use the JSON keys of
// the v1 API as output names, so a record is its row.
const (
	MeterOutVolume = "volume"
	MeterOutFirst  = "start_timestamp"
	MeterOutLast   = "end_timestamp"
)

// maxOffsetMinutes bounds search_offset (about ten years), so that the
// widened window is still a valid time.
const maxOffsetMinutes = 10 * 366 * 24 * 60

// meteringTimeRE is the lenient ISO 8601 of the reference (§1.3): a date,
// optionally a time with 'T' or a space, seconds, a fraction and a zone.
// A '+' of a zone arrives as a space when the query was not encoded.
var meteringTimeRE = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+\- ]\d{2}(?::?\d{2})?)?$`)

// ParseMeteringTime parses a start_timestamp or end_timestamp. As in the
// reference, a zone is accepted and dropped without conversion: the wall
// clock time is taken as UTC.
func ParseMeteringTime(s string) (time.Time, error) {
	m := meteringTimeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return time.Time{}, fmt.Errorf("%q is not an ISO 8601 date or time; write e.g. 2012-07-02T10:40:00 or 2012-07-02 10:40:00.123456", s)
	}
	n := func(i int) int {
		if m[i] == "" {
			return 0
		}
		v, _ := strconv.Atoi(m[i])
		return v
	}
	frac := m[7]
	ns := 0
	if frac != "" {
		ns, _ = strconv.Atoi((frac + "000000000")[:9])
	}
	y, mo, d, h, mi, sec := n(1), n(2), n(3), n(4), n(5), n(6)
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if mo < 1 || mo > 12 || d < 1 || t.Day() != d || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, fmt.Errorf("%q is not a valid date or time", s)
	}
	return t, nil
}

// FromMetering builds the plan of a metering request.
func FromMetering(req MeteringRequest, cat *datasets.Catalog, opt MeteringOptions) (*MeteringPlan, error) {
	d, ok := cat.Lookup(MeteringDataset)
	if !ok {
		return nil, &Error{Message: MsgInvalidTable, Detail: "the catalog has no meters dataset"}
	}
	bad := func(format string, a ...any) error {
		return &Error{Message: MsgMeteringBadRequest, Detail: fmt.Sprintf(format, a...)}
	}
	col := func(name string) *datasets.Column {
		c, ok := d.Column(name)
		if !ok {
			panic("planner: meters has no column " + name) // the built-in schema has them all
		}
		return c
	}
	tenant, err := opt.Scope.tenant(d)
	if err != nil {
		return nil, err
	}
	// A project-limited caller: a path naming another project is not
	// found (reference §1.4); every other request is filtered silently.
	if tenant != nil && req.Project != "" && req.Project != tenant.Value {
		return nil, &Error{Message: MsgMeteringNotFound, Detail: fmt.Sprintf("project %s is not visible to this caller", req.Project)}
	}
	mp := &MeteringPlan{Kind: req.Kind}

	// The limited caller's own listings need no read.
	if tenant != nil && req.Source == "" {
		switch req.Kind {
		case MeterProjects:
			mp.Static = []any{tenant.Value}
			return mp, nil
		}
	}
	if tenant != nil && req.Kind == MeterUsers && opt.UserFromCaller {
		if opt.CallerUser == "" {
			mp.Static = []any{nil}
		} else {
			mp.Static = []any{opt.CallerUser}
		}
		return mp, nil
	}

	// time window (sample lists, resource lists, volume, duration)
	switch req.Kind {
	case MeterResources, MeterSamples, MeterVolumeMax, MeterVolumeSum, MeterDuration:
		for _, p := range []struct {
			name, val string
			dst       **time.Time
		}{{"start_timestamp", req.Start, &mp.Start}, {"end_timestamp", req.End, &mp.End}} {
			if strings.TrimSpace(p.val) == "" {
				continue
			}
			t, err := ParseMeteringTime(p.val)
			if err != nil {
				return nil, bad("%s: %v", p.name, err)
			}
			*p.dst = &t
		}
		if s := strings.TrimSpace(req.Offset); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n > maxOffsetMinutes || n < -maxOffsetMinutes {
				return nil, bad("search_offset %q is not a whole number of minutes between %d and %d", req.Offset, -maxOffsetMinutes, maxOffsetMinutes)
			}
			mp.Offset = n
		}
	}
	p := &Plan{Dataset: d, Tenant: tenant}
	mp.Plan = p
	p.Window = Window{Start: mp.Start, End: mp.End}
	p.WindowFrom = "start_timestamp/end_timestamp"
	if mp.Offset != 0 && (req.Kind == MeterVolumeMax || req.Kind == MeterVolumeSum || req.Kind == MeterDuration) {
		off := time.Duration(mp.Offset) * time.Minute
		if mp.Start != nil {
			s := mp.Start.Add(-off)
			p.Window.Start = &s
		}
		if mp.End != nil {
			e := mp.End.Add(off)
			p.Window.End = &e
		}
		p.WindowFrom = fmt.Sprintf("start_timestamp/end_timestamp ± search_offset %d min", mp.Offset)
	}
	if p.Window.Start == nil && p.Window.End == nil {
		p.WindowFrom = ""
	}

	// filters of the path
	var terms []Expr
	eq := func(name, v string) {
		if v != "" {
			terms = append(terms, &Cmp{Column: col(name), Op: OpEq, Values: []Value{{datasets.Varchar, v}}})
		}
	}
	eq("resource_id", req.Resource)
	if tenant == nil {
		eq("project_id", req.Project)
	}
	eq("user_id", req.User)
	eq("source", req.Source)
	eq("counter_name", req.Meter)
	// metadata.<key>=<value> (sample, resource and meter lists)
	switch req.Kind {
	case MeterResources, MeterSamples, MeterMeters:
		keys := make([]string, 0, len(req.Metadata))
		for k := range req.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "" {
				return nil, bad("metadata filter without a key; write metadata.<key>=<value>")
			}
			terms = append(terms, &Cmp{Column: col("resource_metadata"), Key: k, Op: OpEq, Values: []Value{{datasets.Varchar, req.Metadata[k]}}})
		}
	}

	out := func(name, column string) Output {
		c := col(column)
		return Output{Name: name, Kind: OutColumn, Column: c}
	}
	agg := func(name, fn, column string) Output {
		return Output{Name: name, Kind: OutAgg, Func: fn, Column: col(column)}
	}
	switch req.Kind {
	case MeterProjects, MeterUsers:
		c := "project_id"
		if req.Kind == MeterUsers {
			c = "user_id"
			terms = append(terms, &Cmp{Column: col(c), Op: OpIsNotNull})
		}
		p.Outputs = []Output{out(c, c)}
		p.Distinct = true
		p.Order = []Order{{Output: 0}}
	case MeterResources:
		p.Outputs = []Output{out("resource_id", "resource_id"),
			agg("first_sample_timestamp", "min", "timestamp"), agg("last_sample_timestamp", "max", "timestamp"),
			agg("project_id", "last", "project_id"), agg("source", "last", "source"), agg("user_id", "last", "user_id"),
			agg("metadata", "last", "resource_metadata")}
		p.Aggregate = true
		p.Order = []Order{{Output: 0}}
	case MeterMeters:
		p.Outputs = []Output{out("name", "counter_name"), out("type", "counter_type"), out("unit", "counter_unit"),
			out("resource_id", "resource_id"), out("project_id", "project_id"), out("user_id", "user_id"), out("source", "source")}
		p.Distinct = true
		p.Order = []Order{{Output: 3}, {Output: 0}, {Output: 1}, {Output: 2}, {Output: 4}, {Output: 5}, {Output: 6}}
	case MeterSamples:
		for _, c := range []string{"source", "counter_name", "counter_type", "counter_unit", "counter_volume", "user_id",
			"project_id", "resource_id", "timestamp", "resource_metadata", "message_id", "message_signature"} {
			p.Outputs = append(p.Outputs, out(c, c))
		}
		p.Order = []Order{{Output: 8, Desc: true}, {Output: 10}}
		if opt.MaxSamples > 0 {
			p.Limit = opt.MaxSamples + 1
		}
	case MeterVolumeMax, MeterVolumeSum:
		fn := "max"
		if req.Kind == MeterVolumeSum {
			fn = "sum"
		}
		p.Outputs = []Output{agg(MeterOutVolume, fn, "counter_volume")}
		p.Aggregate = true
	case MeterDuration:
		p.Outputs = []Output{agg(MeterOutFirst, "min", "timestamp"), agg(MeterOutLast, "max", "timestamp")}
		p.Aggregate = true
	default:
		return nil, fmt.Errorf("planner: unknown metering kind %d", req.Kind)
	}
	p.Filter = conj(terms)
	return mp, nil
}

// Duration clamps the first and last sample time found in the widened
// window to the requested bounds (reference §2.6): the result is the
// clamped bounds and their distance in seconds, or all nil when nothing
// was found or the clamped range is empty.
func (mp *MeteringPlan) Duration(first, last *time.Time) (start, end *time.Time, seconds *float64) {
	if first == nil || last == nil {
		return nil, nil, nil
	}
	s, e := *first, *last
	if mp.Start != nil && s.Before(*mp.Start) {
		s = *mp.Start
	}
	if mp.End != nil && e.After(*mp.End) {
		e = *mp.End
	}
	if e.Before(s) {
		return nil, nil, nil
	}
	secs := e.Sub(s).Seconds()
	return &s, &e, &secs
}
