package gen

import (
	"fmt"
	"math"
	"slices"
	"time"
)

func init() {
	register("usage", func(*env) generator { return daily{defRows: 100_000, growth: 1.5, wk: flatWeek, row: usageRow} })
	register("orders", func(*env) generator { return daily{defRows: 20_000, growth: 1.4, wk: businessWeek, row: orderRow} })
	register("customers", func(*env) generator { return daily{defRows: 10_000, growth: 1.4, wk: businessWeek, row: customerRow} })
	register("marketplace_insights", func(*env) generator {
		return daily{defRows: 20_000, growth: 1.3, wk: businessWeek, row: insightRow}
	})
	register("quality_of_service", func(*env) generator {
		return daily{defRows: 10_000, growth: 1.4, wk: businessWeek, row: qosRow, timed: true}
	})
	register("offer_retention", func(*env) generator {
		return daily{defRows: 10_000, growth: 1.3, wk: flatWeek, row: retentionRow}
	})
	register("revenue", func(*env) generator { return monthly{defRows: 20_000, growth: 1.5, row: revenueRow} })
	register("customers_and_tenants", func(*env) generator {
		return monthly{defRows: 10_000, growth: 1.3, row: tenantRow}
	})
}

// fxUSD is the USD value of one unit of a currency (base rates; the
// exchange_rates dataset drifts around them).
var fxUSD = map[string]float64{"USD": 1, "EUR": 1.09, "GBP": 1.27, "JPY": 0.0068, "CAD": 0.74, "INR": 0.012,
	"AUD": 0.66, "BRL": 0.2, "SEK": 0.095, "CHF": 1.13, "CNY": 0.14, "MXN": 0.058, "KRW": 0.00075, "SGD": 0.74,
	"NZD": 0.61, "NOK": 0.094, "DKK": 0.146, "PLN": 0.25, "ZAR": 0.054, "HKD": 0.128}

// rowFunc fills and emits one row of publisher p (k-th row of its day).
// t is the row's time when the dataset's time column is a TIMESTAMP.
type rowFunc func(dc *dayCtx, p int, t time.Time) error

// daily: one partition per day, rows spread over publishers by Zipf and
// emitted publisher by publisher in PublisherId order.
type daily struct {
	defRows int64
	growth  float64
	wk      weekly
	row     rowFunc
	timed   bool // time column is a TIMESTAMP: sort the times within a publisher
}

func (g daily) plan(e *env) ([]time.Time, []int64) { return dailyPlan(e, g.defRows, g.growth, g.wk) }

func (g daily) day(dc *dayCtx) error { return perPublisher(dc, g.row, g.timed) }

// monthly: one partition per month start.
type monthly struct {
	defRows int64
	growth  float64
	row     rowFunc
}

func (g monthly) plan(e *env) ([]time.Time, []int64) { return monthlyPlan(e, g.defRows, g.growth) }

func (g monthly) day(dc *dayCtx) error { return perPublisher(dc, g.row, false) }

var pubOrder = tenantOrder(Publishers)

func perPublisher(dc *dayCtx, f rowFunc, timed bool) error {
	counts := countPerTenant(dc.r, dc.env.world.pubDist, len(Publishers), dc.n)
	var ts []int64
	for _, p := range pubOrder {
		k := int(counts[p])
		ts = ts[:0]
		for i := 0; i < k; i++ {
			var t int64
			if timed {
				t = int64(hourDist.sample(dc.r))*3_600_000 + int64(dc.r.intn(3_600_000))
			}
			ts = append(ts, t)
		}
		slices.Sort(ts)
		for i, t := range ts {
			if err := dc.checkCtx(i); err != nil {
				return err
			}
			if err := f(dc, p, dc.day.Add(time.Duration(t)*time.Millisecond)); err != nil {
				return err
			}
		}
	}
	return nil
}

func monthStart(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

func bit(b bool) int {
	if b {
		return 1
	}
	return 0
}

// commonSub sets the columns the insights datasets share for a subscription.
func commonSub(dc *dayCtx, s *subscription, p int) {
	w, r := dc.w, dc.r
	o, c := s.offer, s.cust
	w.S("PlanId", o.planIDs[s.sku])
	w.S("ReferenceId", r.uuid())
	if w.has("ListPriceUSD") { // not in customers
		w.F("ListPriceUSD", o.price)
		w.F("DiscountPriceUSD", round2(o.price*(1-0.1*float64(bit(s.private)))))
	}
	w.I32("IsPrivatePlan", bit(s.private && s.sku > 0))
	w.S("OfferId", o.id)
	if s.private {
		w.S("PrivateOfferId", "po-"+o.id+"-"+c.tpid)
		w.S("PrivateOfferName", o.name+" for "+c.company)
	}
	w.S("BillingId", c.billingAccount[:8])
	if s.private && r.chance(0.3) && w.has("CustomerAdjustmentUSD") {
		w.F("CustomerAdjustmentUSD", -round2(o.price*0.05))
	}
	if r.chance(0.05) {
		w.S("MultiParty", "Yes")
		w.S("PartnerInfo", "CSP partner "+Publishers[(p+1)%len(Publishers)])
		w.S("SalesNotes", "Deal registered through a channel partner")
	}
}

// subscriptionHead writes the columns usage and orders rows share: the
// publisher, the subscription, its offer and SKU (skuCol is the dataset's
// spelling), the customer's country and the preview flag.
func subscriptionHead(dc *dayCtx, s *subscription, p int, skuCol string) {
	w, o := dc.w, s.offer
	w.S("PublisherId", Publishers[p])
	w.S("MarketplaceSubscriptionId", s.id)
	w.D("MonthStartDate", monthStart(dc.day))
	w.S("OfferType", o.typ)
	w.S("AzureLicenseType", s.azLic)
	w.S("MarketplaceLicenseType", o.licenseType)
	w.S(skuCol, o.skus[s.sku])
	w.S("CustomerCountry", s.cust.country)
	w.S("IsPreviewSKU", yesNo(dc.r.chance(0.02)))
}

func usageRow(dc *dayCtx, p int, _ time.Time) error {
	w, r := dc.w, dc.r
	s := dc.env.world.sub(r, p)
	o, c := s.offer, s.cust
	subscriptionHead(dc, s, p, "SKU")
	w.S("SKUBillingType", o.billing)
	w.S("IsInternal", yesNo(r.chance(0.01)))
	if s.vmSize != "" {
		w.S("VMSize", s.vmSize)
		w.I32("CoreSize", s.cores)
	}
	w.S("CloudInstanceName", s.cloud)
	w.S("ServicePlanName", o.skus[s.sku])
	w.S("OfferName", o.name)
	w.S("DeploymentMethod", o.deployMethod)
	w.S("CustomerName", c.name)
	w.S("CustomerCompanyName", c.company)
	w.I32("IsPrivateOffer", bit(s.private))
	w.D("UsageDate", dc.day)
	w.B("IsNewCustomer", r.chance(0.08))
	if s.trial {
		w.D("TrialEndDate", dc.day.AddDate(0, 0, r.between(1, 30)))
	}
	w.S("CustomerCurrencyCC", c.currency)
	priceUSD := o.price / 730 // per hour or unit
	w.F("PriceCC", round2(priceUSD/fxUSD[c.currency]*100)/100)
	w.S("PayoutCurrencyPC", "USD")
	w.F("EstimatedPricePC", round2(priceUSD*100)/100)
	w.S("UsageReference", r.uuid())
	w.S("UsageUnit", o.usageUnit)
	w.S("CustomerId", c.id)
	w.S("BillingAccountId", c.billingAccount)
	raw := math.Round(r.lognorm(200, 1.2)*(1+dc.frac)*100) / 100
	norm := raw
	if s.cores > 0 {
		norm = raw * float64(s.cores)
	}
	metered := 0.0
	if len(o.meterDimensions) > 0 {
		w.S("MeterDimension", pick(r, o.meterDimensions))
		w.S("MeterId", o.id+"-meter")
		metered = raw
		anomaly := r.chance(0.01)
		w.I32("PartnerCenterDetectedAnomaly", bit(anomaly))
		if anomaly {
			marked := r.chance(0.5)
			w.I32("PublisherMarkedAnomaly", bit(marked))
			if marked {
				w.F("NewReportedUsage", math.Round(raw*0.5*100)/100)
				w.T("ActionTakenAt", dc.day.Add(time.Duration(24+r.intn(72))*time.Hour))
				w.S("ActionTakenBy", "ops@"+Publishers[p][4:]+".example")
				w.F("EstimatedFinancialImpactUSD", round2(-raw*0.5*priceUSD))
			}
		}
	}
	commonSub(dc, s, p)
	switch o.typ {
	case "SaaS":
		w.S("PlanType", "Flat rate")
	case "Azure Applications":
		w.S("PlanType", "Usage based")
	default:
		w.S("PlanType", "Per core")
	}
	w.S("CustomerAccess", "Yes")
	w.S("PublisherAccess", "Yes")
	w.F("NormalizedUsage", norm)
	w.F("RawUsage", raw)
	w.F("MeteredUsage", metered)
	charge := round2(norm * priceUSD)
	w.F("EstimatedExtendedChargeCC", round2(charge/fxUSD[c.currency]))
	w.F("EstimatedExtendedChargePC", charge)
	return w.emit()
}

func orderRow(dc *dayCtx, p int, _ time.Time) error {
	w, r := dc.w, dc.r
	s := dc.env.world.sub(r, p)
	o, c := s.offer, s.cust
	subscriptionHead(dc, s, p, "Sku")
	orderID := r.uuid()
	w.S("OrderId", orderID)
	qty := s.quantity + int64(r.intn(5))
	if r.chance(0.03) {
		qty = 100 // the docs' OrderQuantity=100 sample
	}
	w.I64("OrderQuantity", qty)
	w.S("CloudInstanceName", s.cloud)
	w.B("IsNewCustomer", r.chance(0.3))
	cancelled := r.chance(0.12)
	if cancelled {
		w.S("OrderStatus", "Cancelled")
		w.D("OrderCancelDate", dc.day.AddDate(0, 0, r.between(0, 20)))
	} else {
		w.S("OrderStatus", "Active")
	}
	w.S("CustomerCompanyName", c.company)
	w.S("CustomerName", c.name)
	w.D("OrderPurchaseDate", dc.day)
	w.S("OfferName", o.name)
	if s.trial {
		w.D("TrialEndDate", dc.day.AddDate(0, 1, 0))
	}
	w.S("CustomerId", c.id)
	w.S("BillingAccountId", c.billingAccount)
	term := []int{1, 12, 36}[r.intn(3)]
	w.D("TermStartDate", dc.day)
	w.D("TermEndDate", dc.day.AddDate(0, term, -1))
	w.S("PurchaseRecordId", orderID[:8]+"-pr")
	w.S("PurchaseRecordLineItemId", orderID[:8]+"-li-1")
	w.B("HasTrial", s.trial)
	w.B("IsTrialDeployment", s.trial && r.chance(0.5))
	charges := round2(o.price * float64(qty) * float64(term) / fxUSD["USD"])
	w.F("estimatedcharges", charges)
	w.S("AssetId", s.id[:13]+"-asset")
	w.I64("Quantity", qty)
	w.I32("IsPrivateOffer", bit(s.private))
	w.S("BillingTerm", map[int]string{1: "1 Month", 12: "1 Year", 36: "3 Years"}[term])
	w.S("BillingPlan", []string{"Monthly", "Upfront"}[r.intn(2)])
	w.F("BilledRevenue", round2(charges/fxUSD[c.currency]))
	w.S("Currency", c.currency)
	w.B("IsTrial", s.trial)
	action := "Purchase"
	switch {
	case cancelled:
		action = "Canceled"
	case r.chance(0.2):
		action = "Renewed"
	case r.chance(0.1):
		action = "Quantity changed"
	}
	w.S("OrderAction", action)
	w.I64("QuantityChanged", int64(bit(action == "Quantity changed")*r.between(1, 5)))
	w.B("AutoRenew", r.chance(0.8))
	w.T("EventTimestamp", dc.day.Add(time.Duration(r.intn(86_400))*time.Second))
	w.I64("OrderVersion", int64(1+r.intn(3)))
	commonSub(dc, s, p)
	return w.emit()
}

func customerRow(dc *dayCtx, p int, _ time.Time) error {
	w, r := dc.w, dc.r
	s := dc.env.world.sub(r, p)
	o, c := s.offer, s.cust
	w.S("PublisherId", Publishers[p])
	w.S("MarketplaceSubscriptionId", s.id)
	w.D("DateAcquired", dc.day)
	active := true
	if r.chance(0.2) {
		lost := dc.day.AddDate(0, 0, r.between(10, 300))
		if !lost.After(dc.env.last()) {
			w.D("DateLost", lost)
			active = false
		}
	}
	w.S("ProviderName", Publishers[p][4:]+" marketplace")
	w.S("ProviderEmail", "sales@"+Publishers[p][4:]+".example")
	w.S("FirstName", c.first)
	w.S("LastName", c.last)
	w.S("Email", c.email)
	w.S("CustomerCompanyName", c.company)
	w.S("CustomerCity", c.city)
	w.S("CustomerPostalCode", c.postal)
	w.S("CustomerCommunicationCulture", c.culture)
	w.S("CustomerCountryRegion", c.country)
	w.S("AzureLicenseType", s.azLic)
	w.S("PromotionalCustomers", yesNo(r.chance(0.05)))
	w.S("CustomerState", c.state)
	w.S("CommerceRootCustomer", c.tenantID)
	w.S("CustomerId", c.id)
	w.S("BillingAccountId", c.billingAccount)
	w.S("ID", r.uuid())
	w.I32("IsActive", bit(active))
	w.S("CustomerType", c.typ)
	w.S("OfferName", o.name)
	w.S("SKU", o.skus[s.sku])
	w.T("lastModifiedAt", dc.day.Add(time.Duration(r.intn(86_400))*time.Second))
	w.S("AddressLine1", c.address)
	w.S("PurchaserEmail", c.email)
	commonSub(dc, s, p)
	return w.emit()
}

var (
	referrals  = newWeighted([]string{"azuremarketplace.microsoft.com", "appsource.microsoft.com", "www.bing.com", "www.google.com", "portal.azure.com", "(direct)"}, []float64{35, 20, 10, 15, 12, 8})
	platformsW = newWeighted([]string{"Desktop", "Mobile", "Tablet"}, []float64{75, 20, 5})
	campaignsW = []string{"spring-launch", "partner-webinar", "newsletter", "ignite"}
)

func insightRow(dc *dayCtx, p int, _ time.Time) error {
	w, r := dc.w, dc.r
	offers := dc.env.world.byPub[p]
	o := offers[r.intn(len(offers))]
	w.S("PublisherId", Publishers[p])
	w.D("Date", dc.day)
	w.S("OfferName", o.name)
	w.S("ReferralDomain", referrals.sample(r))
	w.S("CountryName", countries.sample(r).name)
	visits := int64(r.lognorm(40, 1)*(1+dc.frac)) + 1
	w.I64("PageVisits", visits)
	w.I64("GetItNow", visits*int64(r.intn(12))/100)
	w.I64("ContactMe", visits*int64(r.intn(4))/100)
	w.I64("TestDrive", visits*int64(r.intn(3))/100)
	w.I64("FreeTrial", visits*int64(r.intn(6))/100)
	if r.chance(0.3) {
		w.S("Campaign", pick(r, campaignsW))
	}
	w.I64("consentGivenCount", visits*int64(r.intn(20))/100)
	w.S("platforms", platformsW.sample(r))
	if o.typ == "SaaS" && r.chance(0.5) {
		w.S("Site", "APPSOURCE")
	} else {
		w.S("Site", "AZUREMARKETPLACE")
	}
	return w.emit()
}

var (
	regions = []string{"eastus", "westeurope", "westus2", "southeastasia", "northeurope", "centralus"}
	qosErrs = []struct{ code, name, msg, deep, deepMsg string }{
		{"DeploymentFailed", "Deployment failed", "At least one resource deployment operation failed.", "QuotaExceeded", "Operation could not be completed as it results in exceeding approved cores quota."},
		{"ResourceNotFound", "Resource not found", "The Resource was not found.", "", ""},
		{"InvalidTemplate", "Invalid template", "Deployment template validation failed.", "InvalidParameter", "The value of parameter vmSize is invalid."},
		{"Conflict", "Conflict", "The operation conflicts with an existing resource.", "", ""},
	}
)

func qosRow(dc *dayCtx, p int, t time.Time) error {
	w, r := dc.w, dc.r
	s := dc.env.world.sub(r, p)
	o, c := s.offer, s.cust
	w.S("PublisherId", Publishers[p])
	w.S("OfferId", o.id)
	w.S("Sku", o.skus[s.sku])
	failed := r.chance(0.07)
	w.S("DeploymentStatus", map[bool]string{true: "Failed", false: "Succeeded"}[failed])
	w.S("DeploymentCorrelationId", r.uuid())
	w.S("SubscriptionId", s.id)
	w.S("CustomerTenantId", c.tenantID)
	w.S("CustomerName", c.name)
	w.S("TemplateType", []string{"Solution Template", "Managed Application"}[r.intn(2)])
	w.T("StartTime", t)
	dur := int64(r.lognorm(180_000, 0.8))
	w.T("EndTime", t.Add(time.Duration(dur)*time.Millisecond))
	w.I64("DeploymentDurationInMilliSeconds", dur)
	region := pick(r, regions)
	w.S("DeploymentRegion", region)
	rg := "rg-" + o.id + "-" + s.id[:4]
	rt := []string{"virtualMachines", "storageAccounts", "networkInterfaces", "applications"}[r.intn(4)]
	prov := map[string]string{"virtualMachines": "Microsoft.Compute", "storageAccounts": "Microsoft.Storage",
		"networkInterfaces": "Microsoft.Network", "applications": "Microsoft.Solutions"}[rt]
	name := rt[:4] + "-" + s.id[:6]
	w.S("ResourceProvider", prov)
	w.S("ResourceUri", fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s/%s", s.id, rg, prov, rt, name))
	w.S("ResourceGroup", rg)
	w.S("ResourceType", prov+"/"+rt)
	w.S("ResourceName", name)
	if failed {
		e := qosErrs[r.intn(len(qosErrs))]
		w.S("ErrorCode", e.code)
		w.S("ErrorName", e.name)
		w.S("ErrorMessage", e.msg)
		w.SN("DeepErrorCode", e.deep)
		w.SN("DeepErrorMessage", e.deepMsg)
	}
	return w.emit()
}

// retentionRow: a customer that first used an offer on this day, with one
// row per month offset reached before the end of the window.
func retentionRow(dc *dayCtx, p int, _ time.Time) error {
	w, r := dc.w, dc.r
	s := dc.env.world.sub(r, p)
	o, c := s.offer, s.cust
	months := 0
	for dc.day.AddDate(0, months+1, 0).Before(dc.env.last()) && months < 12 {
		months++
	}
	// One row per (customer, offer, offset); the offset is drawn so that
	// later offsets are rarer (churn), and only reached offsets appear.
	off := 0
	for off < months && r.chance(0.75) {
		off++
	}
	w.S("PublisherId", Publishers[p])
	w.S("OfferCategory", o.category)
	w.S("OfferName", o.name)
	w.S("ProductId", o.productID)
	w.S("DeploymentMethod", o.deployMethod)
	w.S("ServicePlanName", o.servicePlan)
	w.S("Sku", o.skus[s.sku])
	w.S("SkuBillingType", o.billing)
	w.S("CustomerId", c.id)
	w.S("CustomerName", c.name)
	w.S("CustomerCompanyName", c.company)
	w.S("CustomerCountryName", c.country)
	w.S("CustomerCountryCode", c.countryCode)
	w.S("CustomerCurrencyCode", c.currency)
	w.D("FirstUsageDate", dc.day)
	w.S("AzureLicenseType", s.azLic)
	w.S("OfferType", o.typ)
	w.I32("Offset", off)
	rev := 0.0
	if o.billing == "Paid" {
		rev = round2(o.price * float64(s.quantity) * (0.8 + 0.4*r.float()))
	}
	w.F("RevenueGeneratedUSD", rev)
	w.F("RevenueGeneratedPerDayUSD", round2(rev/30))
	return w.emit()
}

var (
	payoutW    = newWeighted([]string{"Sent", "Unprocessed", "Upcoming"}, []float64{70, 10, 20})
	instrument = newWeighted([]string{"Credit card", "Invoice", "Azure prepayment"}, []float64{50, 35, 15})
)

func revenueRow(dc *dayCtx, p int, _ time.Time) error {
	w, r := dc.w, dc.r
	s := dc.env.world.sub(r, p)
	o, c := s.offer, s.cust
	w.S("PublisherId", Publishers[p])
	w.S("AssetId", s.id[:13]+"-asset")
	w.S("SalesChannel", []string{"Direct", "CSP", "Enterprise"}[r.intn(3)])
	w.S("BillingAccountId", c.billingAccount)
	w.S("CustomerCity", c.city)
	w.S("CustomerCompanyName", c.company)
	w.S("CustomerCountry", c.country)
	w.S("CustomerEmail", c.email)
	w.S("CustomerId", c.id)
	w.S("CustomerName", c.name)
	w.S("CustomerState", c.state)
	fx := fxUSD[c.currency] * (0.97 + 0.06*r.float())
	qty := s.quantity
	txUSD := round2(math.Max(o.price, 1) * float64(qty) * (0.9 + 0.2*r.float()) * (1 + 0.5*dc.frac))
	incentive := 0.8 + 0.1*float64(r.intn(2))
	earnUSD := round2(txUSD * incentive)
	w.F("EarningAmountCC", round2(earnUSD/fx))
	w.F("EarningAmountPC", earnUSD)
	w.F("EarningAmountUSD", earnUSD)
	w.S("EarningCurrencyCode", "USD")
	w.F("EarningExchangeRatePC", 1)
	w.D("EstimatedPayoutMonth", monthStart(dc.day.AddDate(0, 1, 14)))
	w.F("Revenue", round2(txUSD/fx))
	w.F("EstimatedRevenuePC", txUSD)
	w.F("EstimatedRevenueUSD", txUSD)
	w.D("ExchangeRateDate", dc.day)
	w.F("ExchangeRatePC", math.Round(1/fx*1e4)/1e4)
	w.F("ExchangeRateUSD", math.Round(1/fx*1e4)/1e4)
	// Recent months are not paid out yet.
	status := payoutW.sample(r)
	if dc.day.AddDate(0, 2, 0).After(dc.env.last()) {
		status = []string{"Upcoming", "Unprocessed"}[r.intn(2)]
	}
	w.S("PayoutStatus", status)
	w.F("IncentiveRate", incentive)
	w.B("TrialDeployment", s.trial && r.chance(0.3))
	w.S("LineItemId", r.uuid())
	w.D("MonthStartDate", dc.day)
	w.S("OfferName", o.name)
	w.S("OfferType", o.typ)
	w.S("PaymentInstrumentType", instrument.sample(r))
	if status == "Sent" {
		w.D("PaymentSentDate", dc.day.AddDate(0, 1, 14))
	}
	w.S("PurchaseRecordId", s.id[:8]+"-pr")
	w.I64("Quantity", qty)
	w.S("SKU", o.skus[s.sku])
	w.D("TermStartDate", dc.day)
	w.D("TermEndDate", dc.day.AddDate(0, 1, -1))
	w.F("TransactionAmountCC", round2(txUSD/fx))
	w.F("TransactionAmountPC", txUSD)
	w.F("TransactionAmountUSD", txUSD)
	if o.category == "Virtual Machine" || len(o.meterDimensions) > 0 && r.chance(0.5) {
		w.S("BillingModel", "UsageBased")
		w.F("Units", math.Round(r.lognorm(500, 1)*100)/100)
	} else {
		w.S("BillingModel", "SubscriptionBased")
		w.F("Units", float64(qty))
	}
	return w.emit()
}

var (
	m365Products = []struct {
		product, sku string
		price        float64
	}{
		{"Microsoft 365", "MICROSOFT 365 BUSINESS STANDARD", 12.5},
		{"Microsoft 365", "MICROSOFT 365 BUSINESS PREMIUM", 22},
		{"Microsoft 365", "MICROSOFT 365 E3", 36},
		{"Office 365", "OFFICE 365 E1", 10},
		{"Dynamics 365", "DYNAMICS 365 SALES ENTERPRISE", 95},
		{"Azure", "AZURE PLAN", 0},
		{"Power BI", "POWER BI PRO", 10},
	}
	m365Dist = newDist([]float64{35, 15, 10, 15, 8, 10, 7})
)

// tenantRow: a partner's customer tenant and one product SKU for a month.
// Big customers on MICROSOFT 365 BUSINESS STANDARD bill over 20,000 USD.
func tenantRow(dc *dayCtx, p int, _ time.Time) error {
	w, r, wd := dc.w, dc.r, dc.env.world
	c := wd.customers[wd.custDist.sample(r)]
	pr := m365Products[m365Dist.sample(r)]
	w.S("PartnerId", Publishers[p])
	w.S("CustomerName", c.name)
	w.S("CustomerTpid", c.tpid)
	w.S("CustomerTenantId", c.tenantID)
	w.S("CustomerCountry", c.country)
	w.S("Segment", c.segment)
	w.S("Product", pr.product)
	w.S("SKU", pr.sku)
	w.D("MonthStartDate", dc.day)
	seats := int64(r.lognorm(60, 1.4)) + 1
	if r.chance(0.05) {
		seats *= 40 // a few very large tenants
	}
	w.I64("AvailableSeats", seats)
	w.I64("AssignedSeats", seats*int64(60+r.intn(41))/100)
	rev := pr.price * float64(seats)
	if pr.price == 0 {
		rev = r.lognorm(3000, 1.2)
	}
	w.F("BilledRevenueUSD", round2(rev))
	return w.emit()
}
