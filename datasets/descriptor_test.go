package datasets

import (
	"slices"
	"testing"
)

func TestDescriptor(t *testing.T) {
	cat, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	d, ok := cat.Lookup("isvusage")
	if !ok {
		t.Fatal("ISVUsage alias not found")
	}
	desc := d.Descriptor("ISVUsage")
	if desc.DatasetName != "ISVUsage" {
		t.Errorf("name %q", desc.DatasetName)
	}
	for _, m := range []string{"NormalizedUsage", "RawUsage", "MeteredUsage", "EstimatedExtendedChargeCC", "EstimatedExtendedChargePC", "EstimatedFinancialImpactUSD"} {
		if !slices.Contains(desc.AvailableMetrics, m) {
			t.Errorf("metric %s missing from %v", m, desc.AvailableMetrics)
		}
		if slices.Contains(desc.SelectableColumns, m) {
			t.Errorf("metric %s listed as selectable", m)
		}
	}
	for _, c := range []string{"MarketplaceSubscriptionId", "UsageDate", "SKUBillingType", "OfferType"} {
		if !slices.Contains(desc.SelectableColumns, c) {
			t.Errorf("column %s missing from selectable %v", c, desc.SelectableColumns)
		}
	}
	if !slices.Contains(desc.AvailableDateRanges, "LAST_6_MONTHS") || !slices.Contains(desc.AvailableDateRanges, "LIFETIME") {
		t.Errorf("date ranges %v", desc.AvailableDateRanges)
	}
}

func TestZeroCatalogAdd(t *testing.T) {
	var c Catalog
	d := &Dataset{Name: "x", TimeColumn: "t", Columns: []Column{{Name: "t", Type: Date, Role: Time}}}
	if err := c.Add(d); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup("X"); !ok {
		t.Error("added dataset not found")
	}
}
