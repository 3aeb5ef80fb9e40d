package planner

import (
	"fmt"
	"time"

	"github.com/quarry/quarry/parser"
)

// Timespans lists the TIMESPAN values of the report language.
var Timespans = parser.TimespanValues()

// DefaultTimespan applies when a report query has no TIMESPAN.
const DefaultTimespan = "LAST_6_MONTHS"

// ResolveTimespan turns a TIMESPAN value into a window relative to now
// (UTC). Days and months are UTC calendar days and months:
//
//	TODAY          [today, tomorrow)
//	YESTERDAY      [today-1d, today)
//	LAST_N_DAYS    [today-Nd, today)           the N whole days before today
//	LAST_MONTH     [first of previous month, first of this month)
//	LAST_N_MONTHS  [first of month-N, first of this month)
//	LAST_1_YEAR    [first of month-12, first of this month)
//	LIFETIME       unbounded
func ResolveTimespan(value string, now time.Time) (Window, error) {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	days := func(n int) Window { s := today.AddDate(0, 0, -n); e := today; return Window{&s, &e} }
	months := func(n int) Window { s := month.AddDate(0, -n, 0); e := month; return Window{&s, &e} }
	switch value {
	case "TODAY":
		e := today.AddDate(0, 0, 1)
		return Window{&today, &e}, nil
	case "YESTERDAY":
		return days(1), nil
	case "LAST_7_DAYS":
		return days(7), nil
	case "LAST_14_DAYS":
		return days(14), nil
	case "LAST_30_DAYS":
		return days(30), nil
	case "LAST_90_DAYS":
		return days(90), nil
	case "LAST_180_DAYS":
		return days(180), nil
	case "LAST_365_DAYS":
		return days(365), nil
	case "LAST_MONTH":
		return months(1), nil
	case "LAST_3_MONTHS":
		return months(3), nil
	case "LAST_6_MONTHS":
		return months(6), nil
	case "LAST_1_YEAR":
		return months(12), nil
	case "LIFETIME":
		return Window{}, nil
	}
	return Window{}, fmt.Errorf("unknown TIMESPAN %q", value)
}
