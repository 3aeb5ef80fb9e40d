package datasets

import (
	"strings"
	"testing"
)

// specDatasets is SPEC.md §2: dataset, aliases, time column, tenant
// column, and the columns that must exist (name → role; "" = any role).
var specDatasets = []struct {
	name, aliases, time, tenant string
	dims, metrics               string
}{
	{"meters", "", "timestamp", "project_id",
		"message_id source counter_name counter_type counter_unit user_id project_id resource_id resource_metadata message_signature",
		"counter_volume"},
	{"usage", "ISVUsage", "UsageDate", "PublisherId",
		"MarketplaceSubscriptionId MonthStartDate OfferType AzureLicenseType MarketplaceLicenseType SKU CustomerCountry IsPreviewSKU SKUBillingType VMSize CloudInstanceName OfferName DeploymentMethod CustomerName CustomerCompanyName IsPrivateOffer IsNewCustomer CoreSize TrialEndDate CustomerCurrencyCC PayoutCurrencyPC PriceCC EstimatedPricePC UsageReference UsageUnit CustomerId BillingAccountId MeterDimension MeterId PartnerCenterDetectedAnomaly PublisherMarkedAnomaly NewReportedUsage ActionTakenAt ActionTakenBy PlanId ReferenceId ListPriceUSD DiscountPriceUSD IsPrivatePlan OfferId PrivateOfferId PrivateOfferName BillingId CustomerAdjustmentUSD MultiParty PartnerInfo SalesNotes PlanType CustomerAccess PublisherAccess IsInternal ServicePlanName",
		"NormalizedUsage RawUsage MeteredUsage EstimatedExtendedChargeCC EstimatedExtendedChargePC EstimatedFinancialImpactUSD"},
	{"orders", "ISVOrder ISVOrderV2", "OrderPurchaseDate", "PublisherId",
		"MarketplaceSubscriptionId MonthStartDate OfferType AzureLicenseType MarketplaceLicenseType Sku CustomerCountry IsPreviewSKU OrderId OrderQuantity CloudInstanceName IsNewCustomer OrderStatus OrderCancelDate CustomerCompanyName CustomerName OfferName TrialEndDate CustomerId BillingAccountId TermStartDate TermEndDate PurchaseRecordId PurchaseRecordLineItemId HasTrial IsTrialDeployment estimatedcharges AssetId Quantity IsPrivateOffer BillingTerm BillingPlan BilledRevenue Currency IsTrial OrderAction QuantityChanged ReferenceId PlanId AutoRenew EventTimestamp OrderVersion ListPriceUSD DiscountPriceUSD IsPrivatePlan OfferId PrivateOfferId PrivateOfferName BillingId CustomerAdjustmentUSD MultiParty PartnerInfo SalesNotes",
		""},
	{"customers", "ISVCustomer", "DateAcquired", "PublisherId",
		"MarketplaceSubscriptionId DateLost ProviderName ProviderEmail FirstName LastName Email CustomerCompanyName CustomerCity CustomerPostalCode CustomerCommunicationCulture CustomerCountryRegion AzureLicenseType PromotionalCustomers CustomerState CommerceRootCustomer CustomerId BillingAccountId ID IsActive CustomerType OfferName PlanID SKU lastModifiedAt AddressLine1 BillingID ReferenceId OfferId IsPrivatePlan MultiParty PartnerInfo SalesNotes",
		""},
	{"revenue", "ISVRevenue", "MonthStartDate", "PublisherId",
		"AssetId SalesChannel BillingAccountId CustomerCity CustomerCompanyName CustomerCountry CustomerEmail CustomerId CustomerName CustomerState EarningCurrencyCode EarningExchangeRatePC EstimatedPayoutMonth ExchangeRateDate ExchangeRatePC ExchangeRateUSD PayoutStatus IncentiveRate TrialDeployment LineItemId OfferName OfferType PaymentInstrumentType PaymentSentDate PurchaseRecordId Quantity SKU TermEndDate TermStartDate BillingModel Units",
		"EarningAmountCC EarningAmountPC EarningAmountUSD Revenue EstimatedRevenuePC EstimatedRevenueUSD TransactionAmountCC TransactionAmountPC TransactionAmountUSD"},
	{"marketplace_insights", "ISVMarketplaceInsights", "Date", "PublisherId",
		"OfferName ReferralDomain CountryName Campaign platforms Site",
		"PageVisits GetItNow ContactMe TestDrive FreeTrial consentGivenCount"},
	{"quality_of_service", "ISVQualityOfService", "StartTime", "PublisherId",
		"OfferId Sku DeploymentStatus DeploymentCorrelationId SubscriptionId CustomerTenantId CustomerName TemplateType EndTime DeploymentRegion ResourceProvider ResourceUri ResourceGroup ResourceType ResourceName ErrorCode ErrorName ErrorMessage DeepErrorCode DeepErrorMessage",
		"DeploymentDurationInMilliSeconds"},
	{"offer_retention", "ISVOfferRetention", "FirstUsageDate", "PublisherId",
		"OfferCategory OfferName ProductId DeploymentMethod ServicePlanName Sku SkuBillingType CustomerId CustomerName CustomerCompanyName CustomerCountryName CustomerCountryCode CustomerCurrencyCode AzureLicenseType OfferType Offset",
		"RevenueGeneratedUSD RevenueGenerated(USD) RevenueGeneratedPerDayUSD RevenueGeneratedPerDay(USD)"},
	{"customers_and_tenants", "CustomersAndTenants", "MonthStartDate", "PartnerId",
		"CustomerName CustomerTpid CustomerTenantId CustomerCountry Segment Product SKU",
		"AvailableSeats AssignedSeats BilledRevenueUSD"},
	{"transactions", "", "timestamp", "organization",
		"environment apiproxy apiproxy_revision api_product developer developer_email developer_app client_id client_ip request_verb request_uri request_path proxy_basepath proxy_pathsuffix response_status_code target_response_code target_host target_url virtual_host useragent ax_geo_country ax_geo_city ax_ua_device_category ax_ua_agent_family ax_ua_os_family rate_plan rate_plan_level monetization_package transaction_type transaction_status currency ax_day_of_week ax_hour_of_day ax_month_of_year ax_week_of_month",
		"message_count is_error policy_error target_error cache_hit total_response_time target_response_time request_processing_latency response_processing_latency request_size response_size price revenue_share_pct"},
	{"exchange_rates", "", "date", "",
		"currency", "rate_to_usd rate_to_eur rate_to_gbp"},
	{"energy", "", "period_ending", "account_id",
		"property_id property_name parent_property_id parent_property_name primary_function city state postal_code year_built",
		"score siteIntensity sourceIntensity siteIntensityWN sourceIntensityWN siteTotal sourceTotal siteTotalWN sourceTotalWN medianSiteIntensity medianSourceIntensity totalLocationBasedGHGEmissions totalLocationBasedGHGEmissionsIntensity directGHGEmissions indirectLocationBasedGHGEmissions propGrossFloorArea energyCost occupancy"},
}

func TestBuiltinCatalogMatchesSpec(t *testing.T) {
	cat, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(cat.Datasets()); got != len(specDatasets) {
		t.Errorf("catalog has %d datasets, SPEC.md §2 lists %d", got, len(specDatasets))
	}
	for _, s := range specDatasets {
		d, ok := cat.Lookup(s.name)
		if !ok {
			t.Errorf("dataset %s missing", s.name)
			continue
		}
		if d.Name != s.name {
			t.Errorf("lookup %s gave %s", s.name, d.Name)
		}
		for _, a := range strings.Fields(s.aliases) {
			for _, spelling := range []string{a, strings.ToLower(a), strings.ToUpper(a)} {
				if got, ok := cat.Lookup(spelling); !ok || got != d {
					t.Errorf("alias %s does not find %s", spelling, s.name)
				}
			}
		}
		if d.TimeColumn != s.time || d.Time() == nil || d.Time().Role != Time {
			t.Errorf("%s: time column %q, want %q with role time", s.name, d.TimeColumn, s.time)
		}
		if d.TenantColumn != s.tenant {
			t.Errorf("%s: tenant column %q, want %q", s.name, d.TenantColumn, s.tenant)
		}
		if len(d.SortBy) == 0 {
			t.Errorf("%s: no sort_by", s.name)
		}
		for _, n := range strings.Fields(s.dims) {
			c, ok := d.Column(n)
			if !ok {
				t.Errorf("%s: column %s missing", s.name, n)
			} else if c.Role != Dimension {
				t.Errorf("%s: column %s has role %s, want dimension", s.name, n, c.Role)
			}
		}
		for _, n := range strings.Fields(s.metrics) {
			c, ok := d.Column(n)
			if !ok {
				t.Errorf("%s: metric %s missing", s.name, n)
			} else if c.Role != Metric || c.Agg == "" {
				t.Errorf("%s: column %s has role %s agg %q, want a metric", s.name, n, c.Role, c.Agg)
			}
		}
		for _, c := range d.Columns {
			if c.Derived() && !strings.Contains(c.Expr, `"`) {
				t.Errorf("%s: derived %s should quote the identifiers it uses: %s", s.name, c.Name, c.Expr)
			}
		}
	}
}

func TestSpecTypesAndAggregations(t *testing.T) {
	cat, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	typ := func(ds, col string, want Type) {
		t.Helper()
		d, _ := cat.Lookup(ds)
		if c, ok := d.Column(col); !ok || c.Type != want {
			t.Errorf("%s.%s: want type %s", ds, col, want)
		}
	}
	typ("meters", "timestamp", Timestamp)
	typ("meters", "resource_metadata", JSON)
	typ("transactions", "timestamp", Timestamp)
	typ("quality_of_service", "StartTime", Timestamp)
	typ("usage", "UsageDate", Date)
	typ("energy", "period_ending", Date)
	typ("customers", "IsActive", Integer)
	typ("usage", "IsPrivateOffer", Integer)
	typ("transactions", "message_count", BigInt)
	typ("transactions", "ax_day_of_week", Varchar)

	d, _ := cat.Lookup("transactions")
	fns := map[string]string{
		"message_count":              "sum",
		"total_response_time":        "sum avg min max",
		"request_processing_latency": "avg min max",
		"response_size":              "sum avg min max",
	}
	for col, want := range fns {
		c, _ := d.Column(col)
		for _, fn := range strings.Fields(want) {
			if !c.Supports(fn) {
				t.Errorf("transactions.%s should support %s", col, fn)
			}
		}
		if col == "message_count" && c.Supports("avg") {
			t.Errorf("message_count supports sum only")
		}
	}
	if c, _ := d.Column("request_processing_latency"); c.Agg != "avg" || c.Supports("sum") {
		t.Errorf("request_processing_latency: default agg %q; sum must not be supported", c.Agg)
	}
	for _, n := range []string{"ax_day_of_week", "ax_hour_of_day", "ax_month_of_year", "ax_week_of_month"} {
		if c, _ := d.Column(n); !c.Derived() || c.Type != Varchar {
			t.Errorf("transactions.%s must be a derived VARCHAR", n)
		}
	}
	if d.TenantScope != "org" {
		t.Errorf("transactions tenant_scope %q", d.TenantScope)
	}

	e, _ := cat.Lookup("energy")
	ids := map[string]int{"score": 438, "siteIntensity": 273, "sourceIntensity": 285, "siteIntensityWN": 275,
		"totalLocationBasedGHGEmissions": 430, "propGrossFloorArea": 478, "siteTotal": 272}
	for n, id := range ids {
		c, ok := e.Column(n)
		if !ok || c.MetricID != id || c.Type != Double || c.Role != Metric {
			t.Errorf("energy.%s: want DOUBLE metric with metric_id %d", n, id)
		}
	}
	if c, _ := e.Column("siteIntensity"); c.Agg != "avg" || c.Unit == "" {
		t.Errorf("energy.siteIntensity: agg %q unit %q", c.Agg, c.Unit)
	}
	if c, _ := e.Column("siteTotal"); c.Agg != "sum" {
		t.Errorf("energy.siteTotal: agg %q", c.Agg)
	}
	m, _ := cat.Lookup("meters")
	if m.TenantScope != "project" || strings.Join(m.SortBy, ",") != "resource_id,timestamp" {
		t.Errorf("meters: scope %q sort_by %v", m.TenantScope, m.SortBy)
	}
	for _, n := range []string{"usage", "orders", "customers", "revenue", "marketplace_insights", "quality_of_service", "offer_retention", "customers_and_tenants"} {
		d, _ := cat.Lookup(n)
		if d.TenantScope != "account" || len(d.SortBy) != 2 || d.SortBy[0] != d.TenantColumn || d.SortBy[1] != d.TimeColumn || len(d.DateRanges) == 0 {
			t.Errorf("%s: scope %q sort_by %v date_ranges %v", n, d.TenantScope, d.SortBy, d.DateRanges)
		}
	}
}
