package planner

import (
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/parser"
)

// BenchmarkParsePlanCompile measures the whole front half for a typical
// report query: parse, build and validate the plan, compile to SQL.
// Target: under 50 µs.
func BenchmarkParsePlanCompile(b *testing.B) {
	cat, err := datasets.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	const text = "SELECT MarketplaceSubscriptionId, OfferName, EstimatedExtendedChargeCC FROM ISVUsage WHERE SKUBillingType = 'Paid' AND OfferType IN ('SaaS', 'Azure Applications') ORDER BY EstimatedExtendedChargeCC LIMIT 10 TIMESPAN LAST_3_MONTHS"
	opt := Options{Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), Scope: Scope{Account: "pub-contoso"}}
	b.ReportAllocs()
	for b.Loop() {
		q, err := parser.ParseQuery(text)
		if err != nil {
			b.Fatal(err)
		}
		p, err := FromQuery(q, cat, opt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(p, DuckDB, `"usage"`); err != nil {
			b.Fatal(err)
		}
	}
}
