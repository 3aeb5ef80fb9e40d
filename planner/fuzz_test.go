package planner

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
)

// FuzzAnalyticsRequest feeds arbitrary JSON bodies to the analytics and
// monetization builders: they never panic, an error is a validation
// error with a message (or JSON's own), and every plan they accept
// compiles to SQL.
//
//	go test -run=^$ -fuzz=FuzzAnalyticsRequest -fuzztime=60s ./planner/
func FuzzAnalyticsRequest(f *testing.F) {
	for _, s := range []string{
		`{"metrics":[{"name":"message_count","function":"sum","alias":"sum_txn"}],"dimensions":["apiproxy"],"timeRange":"last24hours","limit":14400,"filter":"(message_count ge 0)"}`,
		`{"metrics":[{"name":"tpm"}],"dimensions":["apiproxy"],"groupByTimeUnit":"minute","limit":1000,"timeRange":{"start":"2018-07-01T11:00:00Z","end":"2018-07-30T11:00:00Z"}}`,
		`{"metrics":[{"name":"message_count","function":"sum","operator":"/","value":"7"}],"timeRange":"last60minutes"}`,
		`{"metrics":[{"name":"total_response_time","function":"avg","alias":"a"}],"filter":"(apiproxy ne 'proxy_1') and (apiproxy ne 'proxy_2')","timeRange":"last7days"}`,
		`{"metrics":[],"timeRange":{}}`, `{"metrics":[{"value":1e400}]}`, `[]`, `{"timeRange":"x"}`, ``,
		`{"fromDate":"2017-06-01 00:00:00","toDate":"2017-06-30 00:00:00","productIds":["a_product"],"devCriteria":[{"id":"AbstTzpnZZMEDwjc","orgId":"myorg"}]}`,
		`{"billingMonth":"JULY","billingYear":2015,"currencyOption":"GPB"}`,
	} {
		f.Add(s)
	}
	cat, err := datasets.Builtin()
	if err != nil {
		f.Fatal(err)
	}
	opt := AnalyticsOptions{Options: Options{Now: time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC), Scope: Scope{Org: "myorg"}}, Org: "myorg", Env: "test"}
	f.Fuzz(func(t *testing.T, body string) {
		check := func(p *Plan, err error) {
			if err != nil {
				var pe *Error
				var je *json.SyntaxError
				if errors.As(err, &pe) && pe.Message == "" {
					t.Fatalf("validation error without a message: %v", err)
				}
				if !errors.As(err, &pe) && !errors.As(err, &je) && err.Error() == "" {
					t.Fatalf("empty error")
				}
				return
			}
			if _, err := Compile(p, DuckDB, `"x"`); err != nil && !strings.Contains(err.Error(), "rate") {
				t.Fatalf("accepted plan does not compile: %v\n%s", err, p)
			}
		}
		var req AnalyticsRequest
		if json.Unmarshal([]byte(body), &req) == nil {
			check(FromAnalytics(req, cat, opt))
		}
		var mint MintRequest
		if json.Unmarshal([]byte(body), &mint) == nil {
			check(FromMint(mint, cat, opt))
		}
	})
}

// FuzzMeteringTime: any text either parses to a time or is an error with
// a message; never a panic.
func FuzzMeteringTime(f *testing.F) {
	for _, s := range []string{"2012-07-02T10:40:00", "2012-07-02 10:40:00.123456", "2012-07-02T10:40:00+02:00",
		"2012-07-02T10:40:00.000000Z", "2012-13-45T99:99:99", "", "now", "2012-07-02"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseMeteringTime(s); err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}

// FuzzEnergyTimeframe: any timeframe either resolves to at most
// MaxDateRangePeriods period endings in order, or is an error.
func FuzzEnergyTimeframe(f *testing.F) {
	for _, s := range []string{
		`{"kind":"dateRange","fromPeriodEndingDate":{"month":1,"year":2023},"toPeriodEndingDate":{"month":12,"year":2025},"interval":"MONTHLY"}`,
		`{"kind":"twoPeriods","periodEndingDate":{"month":6,"year":2025},"periodEndingDateTwo":{"month":3,"year":2024}}`,
		`{"kind":"currentVsBaseline","meterType":"ENERGY"}`, `{"kind":"singlePeriod","periodEndingDate":{"month":0,"year":-1}}`,
		`{"kind":"dateRange","fromPeriodEndingDate":{"month":1,"year":1900},"toPeriodEndingDate":{"month":12,"year":9999},"interval":"MONTHLY"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var tf Timeframe
		if json.Unmarshal([]byte(body), &tf) != nil {
			return
		}
		dates, _, _, err := tf.Periods()
		if err != nil {
			return
		}
		if len(dates) > MaxDateRangePeriods {
			t.Fatalf("%d periods", len(dates))
		}
		for i := 1; i < len(dates); i++ {
			if !dates[i-1].Before(dates[i]) {
				t.Fatalf("periods out of order: %v", dates)
			}
		}
	})
}
