package planner

import (
	"testing"
	"time"
)

func TestResolveTimespan(t *testing.T) {
	d := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		now, span, start, end string
	}{
		// an ordinary day
		{"2026-11-22T10:30:00Z", "TODAY", "2026-11-22", "2026-11-23"},
		{"2026-11-22T10:30:00Z", "YESTERDAY", "2026-11-21", "2026-11-22"},
		{"2026-11-22T10:30:00Z", "LAST_7_DAYS", "2026-11-15", "2026-11-22"},
		{"2026-11-22T10:30:00Z", "LAST_14_DAYS", "2026-11-08", "2026-11-22"},
		{"2026-11-22T10:30:00Z", "LAST_30_DAYS", "2026-10-23", "2026-11-22"},
		{"2026-11-22T10:30:00Z", "LAST_90_DAYS", "2026-08-24", "2026-11-22"},
		{"2026-11-22T10:30:00Z", "LAST_180_DAYS", "2026-05-26", "2026-11-22"},
		{"2026-11-22T10:30:00Z", "LAST_365_DAYS", "2025-11-22", "2026-11-22"},
		{"2026-11-22T10:30:00Z", "LAST_MONTH", "2026-10-01", "2026-11-01"},
		{"2026-11-22T10:30:00Z", "LAST_3_MONTHS", "2026-08-01", "2026-11-01"},
		{"2026-11-22T10:30:00Z", "LAST_6_MONTHS", "2026-05-01", "2026-11-01"},
		{"2026-11-22T10:30:00Z", "LAST_1_YEAR", "2025-11-01", "2026-11-01"},
		// month end: the last instant of a 31-day month
		{"2026-10-31T23:59:59Z", "TODAY", "2026-10-31", "2026-11-01"},
		{"2026-10-31T23:59:59Z", "LAST_MONTH", "2026-09-01", "2026-10-01"},
		{"2026-11-01T00:00:00Z", "YESTERDAY", "2026-10-31", "2026-11-01"},
		{"2026-11-01T00:00:00Z", "LAST_MONTH", "2026-10-01", "2026-11-01"},
		// leap day and the March after it
		{"2028-02-29T12:00:00Z", "TODAY", "2028-02-29", "2028-03-01"},
		{"2028-03-01T00:00:00Z", "YESTERDAY", "2028-02-29", "2028-03-01"},
		{"2028-03-01T08:00:00Z", "LAST_7_DAYS", "2028-02-23", "2028-03-01"},
		{"2028-03-15T08:00:00Z", "LAST_MONTH", "2028-02-01", "2028-03-01"},
		{"2029-03-01T08:00:00Z", "LAST_365_DAYS", "2028-03-01", "2029-03-01"},
		{"2028-03-01T08:00:00Z", "LAST_365_DAYS", "2027-03-02", "2028-03-01"},
		// year boundary
		{"2027-01-01T00:00:00Z", "YESTERDAY", "2026-12-31", "2027-01-01"},
		{"2027-01-01T09:00:00Z", "LAST_MONTH", "2026-12-01", "2027-01-01"},
		{"2027-01-15T09:00:00Z", "LAST_3_MONTHS", "2026-10-01", "2027-01-01"},
		{"2027-02-15T09:00:00Z", "LAST_6_MONTHS", "2026-08-01", "2027-02-01"},
		{"2027-01-05T09:00:00Z", "LAST_7_DAYS", "2026-12-29", "2027-01-05"},
		{"2027-01-05T09:00:00Z", "LAST_1_YEAR", "2026-01-01", "2027-01-01"},
		// a zone other than UTC is converted first: 2026-12-31T23:30-05:00 is Jan 1 UTC
		{"2026-12-31T23:30:00-05:00", "TODAY", "2027-01-01", "2027-01-02"},
	}
	for _, c := range cases {
		now, err := time.Parse(time.RFC3339, c.now)
		if err != nil {
			t.Fatal(err)
		}
		w, err := ResolveTimespan(c.span, now)
		if err != nil {
			t.Fatalf("%s at %s: %v", c.span, c.now, err)
		}
		if !w.Start.Equal(d(c.start)) || !w.End.Equal(d(c.end)) {
			t.Errorf("%s at %s = [%s, %s), want [%s, %s)", c.span, c.now,
				w.Start.Format("2006-01-02"), w.End.Format("2006-01-02"), c.start, c.end)
		}
	}
	w, err := ResolveTimespan("LIFETIME", time.Now())
	if err != nil || w.Start != nil || w.End != nil {
		t.Errorf("LIFETIME = %v, %v; want unbounded", w, err)
	}
	if _, err := ResolveTimespan("LAST_2_DAYS", time.Now()); err == nil {
		t.Error("LAST_2_DAYS resolved; want an error")
	}
}
