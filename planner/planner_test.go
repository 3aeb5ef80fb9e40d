package planner

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/parser"
)

// TestDataDriven runs the files under testdata/: each case builds a plan
// from a report query (`query`) or an analytics request (`analytics`) and
// prints the plan, the SQL and its arguments, or the error.
//
// A `stats` case (stats_test.go) takes one query parameter per input line
// and the path's dimensions as dims=(a,b).
//
// Arguments: now=<time> (default 2026-11-22T10:30:00Z), scope=admin|account:X|org:X|project:X,
// org=, env=, tzo=, dims=. Regenerate with: go test ./planner -rewrite
func TestDataDriven(t *testing.T) {
	cat, err := datasets.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
			opt := Options{Scope: Scope{Admin: true}}
			var aopt AnalyticsOptions
			var dims []string
			for _, a := range d.CmdArgs {
				v := ""
				if len(a.Vals) > 0 {
					v = a.Vals[0]
				}
				switch a.Key {
				case "now":
					tm, err := ParseTime(v)
					if err != nil {
						t.Fatalf("%s: %v", d.Pos, err)
					}
					now = tm
				case "scope":
					k, val, _ := strings.Cut(v, ":")
					opt.Scope = Scope{}
					switch k {
					case "admin":
						opt.Scope.Admin = true
					case "account":
						opt.Scope.Account = val
					case "org":
						opt.Scope.Org = val
					case "project":
						opt.Scope.Project = val
					}
				case "org":
					aopt.Org = v
				case "env":
					aopt.Env = v
				case "tzo":
					fmt.Sscan(v, &aopt.TZOffset)
				case "dims":
					dims = a.Vals
				}
			}
			opt.Now = now
			var p *Plan
			switch d.Cmd {
			case "query":
				q, err := parser.ParseQuery(d.Input)
				if err != nil {
					return "parse error: " + err.Error() + "\n"
				}
				p, err = FromQuery(q, cat, opt)
				if err != nil {
					return errText(err)
				}
			case "analytics":
				var req AnalyticsRequest
				if err := json.Unmarshal([]byte(d.Input), &req); err != nil {
					return "json error: " + err.Error() + "\n"
				}
				aopt.Options = opt
				p, err = FromAnalytics(req, cat, aopt)
				if err != nil {
					return errText(err)
				}
			case "stats":
				aopt.Options = opt
				return statsCase(t, d.Input, dims, cat, aopt)
			case "metering":
				return meteringCase(t, d.Input, cat, opt.Scope)
			case "energy":
				var req struct {
					Metrics    []int
					Properties []string
					Timeframe  Timeframe
				}
				if err := json.Unmarshal([]byte(d.Input), &req); err != nil {
					return "json error: " + err.Error() + "\n"
				}
				p, err = FromEnergy(EnergyRequest{Metrics: req.Metrics, Properties: req.Properties, Timeframe: req.Timeframe}, cat, opt)
				if err != nil {
					return errText(err)
				}
			case "mint":
				var req MintRequest
				if err := json.Unmarshal([]byte(d.Input), &req); err != nil {
					return "json error: " + err.Error() + "\n"
				}
				aopt.Options = opt
				p, err = FromMint(req, cat, aopt)
				if err != nil {
					return errText(err)
				}
			default:
				t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
			}
			s, err := Compile(p, DuckDB, DuckDB.Ident(p.Dataset.Name))
			if err != nil {
				return "compile error: " + err.Error() + "\n"
			}
			var b strings.Builder
			b.WriteString(p.String())
			b.WriteString("--\n")
			b.WriteString(s.Text)
			b.WriteString("\n")
			for i, a := range s.Args {
				fmt.Fprintf(&b, "$%d = %#v\n", i+1, a)
			}
			return b.String()
		})
	})
}

func errText(err error) string {
	if pe, ok := err.(*Error); ok {
		return fmt.Sprintf("error [%s]: %s\n", pe.Message, pe.Error())
	}
	if pe, ok := err.(*parser.Error); ok {
		return fmt.Sprintf("error [%s]: %s\n", pe.Message, pe.Error())
	}
	return "error: " + err.Error() + "\n"
}
