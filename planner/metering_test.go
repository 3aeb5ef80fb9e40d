package planner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
)

// meteringCase runs a `metering` data-driven case: one request field per
// input line (kind=, resource=, project=, user=, source=, meter=,
// start_timestamp=, end_timestamp=, search_offset=, metadata.<key>=,
// caller_user=), the case's scope as the caller's. It prints the plan, its
// SQL and arguments, the requested bounds, or the static answer.
func meteringCase(t *testing.T, input string, cat *datasets.Catalog, scope Scope) string {
	t.Helper()
	req := MeteringRequest{Metadata: map[string]string{}}
	opt := MeteringOptions{Scope: scope}
	for _, line := range strings.Split(input, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("metering case line %q is not key=value", line)
		}
		switch {
		case k == "kind":
			kind, ok := ParseMeteringKind(v)
			if !ok {
				t.Fatalf("unknown metering kind %q", v)
			}
			req.Kind = kind
		case k == "resource":
			req.Resource = v
		case k == "project":
			req.Project = v
		case k == "user":
			req.User = v
		case k == "source":
			req.Source = v
		case k == "meter":
			req.Meter = v
		case k == "start_timestamp":
			req.Start = v
		case k == "end_timestamp":
			req.End = v
		case k == "search_offset":
			req.Offset = v
		case strings.HasPrefix(k, "metadata."):
			req.Metadata[strings.TrimPrefix(k, "metadata.")] = v
		case k == "caller_user":
			opt.UserFromCaller, opt.CallerUser = true, v
		default:
			t.Fatalf("unknown metering case key %q", k)
		}
	}
	mp, err := FromMetering(req, cat, opt)
	if err != nil {
		return errText(err)
	}
	var b strings.Builder
	if mp.Plan == nil {
		fmt.Fprintf(&b, "static %s: %#v\n", mp.Kind, mp.Static)
		return b.String()
	}
	f := func(t *time.Time) string {
		if t == nil {
			return "none"
		}
		return t.Format(time.RFC3339Nano)
	}
	fmt.Fprintf(&b, "%s requested=[%s, %s) offset=%d\n", mp.Kind, f(mp.Start), f(mp.End), mp.Offset)
	b.WriteString(mp.Plan.String())
	s, err := Compile(mp.Plan, DuckDB, DuckDB.Ident(mp.Plan.Dataset.Name))
	if err != nil {
		return "compile error: " + err.Error() + "\n"
	}
	b.WriteString("--\n")
	b.WriteString(s.Text)
	b.WriteString("\n")
	for i, a := range s.Args {
		fmt.Fprintf(&b, "$%d = %#v\n", i+1, a)
	}
	return b.String()
}

func TestParseMeteringTime(t *testing.T) {
	want := func(s string) time.Time {
		t.Helper()
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"2012-09-20T12:13:14", want("2012-09-20T12:13:14Z")},
		{"2012-07-02 10:42:00", want("2012-07-02T10:42:00Z")},
		{"2012-07-02T10:42:00.5", want("2012-07-02T10:42:00.5Z")},
		{"2012-07-02T10:42:00.123456789", want("2012-07-02T10:42:00.123456789Z")},
		{"2012-07-02T10:42:00Z", want("2012-07-02T10:42:00Z")},
		// a zone is dropped without conversion (reference §1.3)
		{"2012-07-02T10:42:00+02:00", want("2012-07-02T10:42:00Z")},
		{"2012-07-02T10:42:00-0500", want("2012-07-02T10:42:00Z")},
		{"2012-07-02T10:42:00 02:00", want("2012-07-02T10:42:00Z")}, // an unencoded '+'
		{"2012-07-02T10:42", want("2012-07-02T10:42:00Z")},
		{"2012-07-02", want("2012-07-02T00:00:00Z")},
		{" 2012-07-02T10:42:00 ", want("2012-07-02T10:42:00Z")},
	} {
		got, err := ParseMeteringTime(c.in)
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("ParseMeteringTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "yesterday", "2012-13-01T00:00:00", "2012-02-30", "2012-07-02T24:00:00",
		"2012-07-02T10:60:00", "2012-07-02X10:42:00", "12-07-02", "2012-07-02T10:42:00+2"} {
		if got, err := ParseMeteringTime(in); err == nil {
			t.Errorf("ParseMeteringTime(%q) = %v, want an error", in, got)
		}
	}
}

func TestMeteringDurationClamp(t *testing.T) {
	ts := func(s string) *time.Time {
		tm, err := ParseMeteringTime(s)
		if err != nil {
			t.Fatal(err)
		}
		return &tm
	}
	str := func(t *time.Time) string {
		if t == nil {
			return "null"
		}
		return t.Format("15:04")
	}
	for _, c := range []struct {
		start, end  string // requested; "" = absent
		first, last string // found; "" = none
		want        string
	}{
		{"", "", "", "", "null null null"},
		{"", "", "2012-08-28T10:00", "2012-08-28T12:00", "10:00 12:00 7200"},
		{"2012-08-28T11:00", "", "2012-08-28T10:00", "2012-08-28T12:00", "11:00 12:00 3600"},
		{"", "2012-08-28T11:30", "2012-08-28T10:00", "2012-08-28T12:00", "10:00 11:30 5400"},
		{"2012-08-28T10:30", "2012-08-28T11:00", "2012-08-28T10:00", "2012-08-28T12:00", "10:30 11:00 1800"},
		// samples only in the offset margins: the clamped range is empty
		{"2012-08-28T11:00", "2012-08-28T11:30", "2012-08-28T11:40", "2012-08-28T11:50", "null null null"},
		{"2012-08-28T11:00", "2012-08-28T11:30", "2012-08-28T10:40", "2012-08-28T10:50", "null null null"},
		// one sample: zero duration
		{"", "", "2012-08-28T10:00", "2012-08-28T10:00", "10:00 10:00 0"},
	} {
		mp := &MeteringPlan{}
		if c.start != "" {
			mp.Start = ts(c.start)
		}
		if c.end != "" {
			mp.End = ts(c.end)
		}
		var first, last *time.Time
		if c.first != "" {
			first, last = ts(c.first), ts(c.last)
		}
		s, e, d := mp.Duration(first, last)
		got := str(s) + " " + str(e) + " "
		if d == nil {
			got += "null"
		} else {
			got += fmt.Sprint(*d)
		}
		if got != c.want {
			t.Errorf("%+v: got %q, want %q", c, got, c.want)
		}
	}
}
