package planner

import (
	"testing"
	"time"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/parser"
)

// BenchmarkParsePlanCompile measures the whole front half for report
// queries: parse, build and validate the plan, compile to SQL.
// Target: under 50 µs for a typical query.
func BenchmarkParsePlanCompile(b *testing.B) {
	cat, err := datasets.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	queries := map[string]string{
		// the spec's top-10 sample
		"sample": "SELECT MarketplaceSubscriptionId, EstimatedExtendedChargeCC FROM ISVUsage ORDER BY EstimatedExtendedChargeCC LIMIT 10",
		// filters on two columns, an IN list, ordering, a limit and a timespan
		"filtered": "SELECT MarketplaceSubscriptionId, OfferName, EstimatedExtendedChargeCC FROM ISVUsage WHERE SKUBillingType = 'Paid' AND OfferType IN ('SaaS', 'Azure Applications') ORDER BY EstimatedExtendedChargeCC LIMIT 10 TIMESPAN LAST_3_MONTHS",
	}
	opt := Options{Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), Scope: Scope{Account: "pub-contoso"}}
	for name, text := range queries {
		b.Run(name, func(b *testing.B) {
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
		})
	}
}
