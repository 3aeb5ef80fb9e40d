package gen

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Fixed tenant ids (see the package comment), in Zipf rank order.
var (
	Publishers   = []string{"pub-contoso", "pub-fabrikam", "pub-northwind", "pub-adventureworks", "pub-tailspin", "pub-wingtip", "pub-litware", "pub-proseware"}
	Orgs         = []string{"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"}
	Environments = []string{"prod", "test"}
	Projects     = []string{"proj-a", "proj-b", "proj-c", "proj-d", "proj-e", "proj-f"}
	Accounts     = []string{"acct-1", "acct-2", "acct-3", "acct-4", "acct-5"}
)

// tenantOrder returns the indices of ids sorted by id (the byte order
// DuckDB sorts VARCHAR in), so rows can be emitted in sort_by order.
func tenantOrder(ids []string) []int {
	idx := make([]int, len(ids))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return ids[idx[a]] < ids[idx[b]] })
	return idx
}

// countPerTenant draws n rows over the tenants with the distribution d.
func countPerTenant(r *rng, d *dist, tenants int, n int64) []int64 {
	c := make([]int64, tenants)
	for i := int64(0); i < n; i++ {
		c[d.sample(r)]++
	}
	return c
}

// ---- the commercial marketplace world, shared by the insights datasets ----

type offer struct {
	pub             int
	id, name, typ   string
	category        string
	skus            []string
	planIDs         []string
	billing         string // Paid / Free
	licenseType     string // MarketplaceLicenseType
	deployMethod    string
	servicePlan     string
	productID       string
	price           float64 // list price per unit (USD)
	usageUnit       string
	meterDimensions []string
}

type customer struct {
	id, name, company, first, last, email string
	country, countryCode, city, state     string
	postal, culture, currency, address    string
	billingAccount, tpid, tenantID        string
	typ                                   string
	segment                               string
}

type subscription struct {
	id       string
	offer    *offer
	cust     *customer
	sku      int
	start    time.Time // purchase day (may precede the window)
	quantity int64
	azLic    string
	private  bool
	trial    bool
	cloud    string
	vmSize   string
	cores    int
}

type world struct {
	offers    []*offer
	byPub     [][]*offer
	customers []*customer
	custDist  *dist
	subs      [][]*subscription // per publisher
	subDist   []*dist
	pubDist   *dist
}

var (
	offerTypes   = []string{"SaaS", "Azure Applications", "vm core image", "Virtual Machine Licenses", "multisolution"}
	licenseTypes = []string{"Billed Through Azure", "Bring Your Own License", "Free", "Microsoft as Reseller"}
	azureLicense = newWeighted([]string{"Pay as You Go", "Enterprise", "Cloud Solution Provider", "Enterprise through Reseller", "GTM"}, []float64{50, 25, 15, 7, 3})
	countries    = newWeighted([]struct{ name, code, currency, culture string }{
		{"United States", "US", "USD", "en-US"}, {"United Kingdom", "GB", "GBP", "en-GB"}, {"Germany", "DE", "EUR", "de-DE"},
		{"France", "FR", "EUR", "fr-FR"}, {"Japan", "JP", "JPY", "ja-JP"}, {"Canada", "CA", "CAD", "en-CA"},
		{"India", "IN", "INR", "en-IN"}, {"Australia", "AU", "AUD", "en-AU"}, {"Brazil", "BR", "BRL", "pt-BR"},
		{"Netherlands", "NL", "EUR", "nl-NL"}, {"Spain", "ES", "EUR", "es-ES"}, {"Sweden", "SE", "SEK", "sv-SE"},
	}, []float64{40, 10, 9, 6, 6, 5, 5, 4, 4, 4, 4, 3})
	cities = map[string][][2]string{ // country -> (city, state)
		"US": {{"Seattle", "WA"}, {"Redmond", "WA"}, {"New York", "NY"}, {"Austin", "TX"}, {"Chicago", "IL"}, {"San Francisco", "CA"}, {"Boston", "MA"}},
		"GB": {{"London", "England"}, {"Manchester", "England"}, {"Edinburgh", "Scotland"}},
		"DE": {{"Berlin", "BE"}, {"Munich", "BY"}, {"Hamburg", "HH"}},
		"FR": {{"Paris", "IDF"}, {"Lyon", "ARA"}},
		"JP": {{"Tokyo", "13"}, {"Osaka", "27"}},
		"CA": {{"Toronto", "ON"}, {"Vancouver", "BC"}},
		"IN": {{"Bengaluru", "KA"}, {"Mumbai", "MH"}},
		"AU": {{"Sydney", "NSW"}, {"Melbourne", "VIC"}},
		"BR": {{"São Paulo", "SP"}, {"Rio de Janeiro", "RJ"}},
		"NL": {{"Amsterdam", "NH"}, {"Rotterdam", "ZH"}},
		"ES": {{"Madrid", "MD"}, {"Barcelona", "CT"}},
		"SE": {{"Stockholm", "AB"}, {"Gothenburg", "O"}},
	}
	firstNames      = []string{"Ava", "Ben", "Chloe", "Dan", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kira", "Liam", "Mia", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tara"}
	lastNames       = []string{"Smith", "Garcia", "Müller", "Dubois", "Sato", "Brown", "Patel", "Jones", "Silva", "de Vries", "Lopez", "Berg", "Kim", "Nguyen", "Rossi"}
	companyStems    = []string{"Contosso", "Fabrikam", "Northwind", "Litware", "Proseware", "Tailspin", "Wingtip", "Woodgrove", "Adatum", "Alpine Ski", "Blue Yonder", "City Power", "Coho Vineyard", "Fourth Coffee", "Graphic Design", "Humongous", "Lucerne", "Margie's Travel", "Relecloud", "Trey Research", "VanArsdel", "Wide World", "Bellows College", "Datum", "Lamna"}
	companySuffixes = []string{"Ltd", "Inc", "GmbH", "Corp", "Group", "Pharma", "Labs", "Holdings"}
	vmSizes         = []string{"Standard_D2s_v3", "Standard_D4s_v3", "Standard_B2ms", "Standard_E8s_v4", "Standard_F4s_v2"}
	clouds          = newWeighted([]string{"Azure Global", "Azure Government", "Azure China"}, []float64{92, 6, 2})
)

// offerSeeds are the offers every run has; the names and types cover the
// values the public sample queries filter on.
var offerSeeds = []struct {
	pub            int
	name, typ, bil string
}{
	{0, "Example Offer Name", "SaaS", "Paid"},
	{0, "Contoso test Services", "Azure Applications", "Paid"},
	{0, "Contoso VM Image", "vm core image", "Paid"},
	{0, "Contoso Free Tier", "SaaS", "Free"},
	{1, "Fabrikam Analytics", "SaaS", "Paid"},
	{1, "Fabrikam Secure VM", "Virtual Machine Licenses", "Paid"},
	{1, "Fabrikam Suite", "multisolution", "Paid"},
	{2, "Northwind Traders Cloud", "Azure Applications", "Paid"},
	{2, "Northwind Dev Image", "vm core image", "Free"},
	{3, "Adventure Works CRM", "SaaS", "Paid"},
	{3, "Adventure Works Bundle", "multisolution", "Paid"},
	{4, "Tailspin Monitor", "Azure Applications", "Paid"},
	{4, "Tailspin Linux VM", "Virtual Machine Licenses", "Free"},
	{5, "Wingtip Toys API", "SaaS", "Free"},
	{6, "Litware Backup", "vm core image", "Paid"},
	{7, "Proseware Insights", "SaaS", "Paid"},
}

func newWorld(seed int64) *world {
	r := newRNG(seed, "world")
	w := &world{byPub: make([][]*offer, len(Publishers)), pubDist: zipf(len(Publishers), 1.1)}
	for i, s := range offerSeeds {
		o := &offer{pub: s.pub, id: slug(s.name), name: s.name, typ: s.typ, billing: s.bil,
			productID: r.uuid(), price: float64(r.between(5, 400)) + 0.99}
		switch s.typ {
		case "SaaS":
			o.category, o.deployMethod, o.usageUnit = "SaaS", "SaaS", "1 Unit"
		case "Azure Applications":
			o.category, o.deployMethod, o.usageUnit = "Azure Application", "Managed application", "1 Hour"
		default:
			o.category, o.deployMethod, o.usageUnit = "Virtual Machine", "VM", "1 Hour"
		}
		if s.bil == "Free" {
			o.licenseType = "Free"
			o.price = 0
		} else {
			o.licenseType = licenseTypes[[]int{0, 1, 3}[i%3]]
		}
		for k := 0; k < 1+r.intn(3); k++ {
			o.skus = append(o.skus, []string{"Standard", "Premium", "Basic", "Enterprise"}[k])
			o.planIDs = append(o.planIDs, fmt.Sprintf("%s-plan-%d", o.id, k+1))
		}
		o.servicePlan = o.skus[0]
		if s.typ == "SaaS" || s.typ == "Azure Applications" {
			o.meterDimensions = []string{"api_calls", "storage_gb", "active_users"}
		}
		w.offers = append(w.offers, o)
		w.byPub[s.pub] = append(w.byPub[s.pub], o)
	}
	// Customers: company names come from a pool; a few contain "Contosso"
	// (the docs' CustomerName LIKE '%Contosso%' sample).
	const nCust = 1500
	for i := 0; i < nCust; i++ {
		c := countries.sample(r)
		city := pick(r, cities[c.code])
		first, last := pick(r, firstNames), pick(r, lastNames)
		stem := companyStems[r.intn(len(companyStems))]
		if i < 3 {
			stem = "Contosso"
		}
		company := fmt.Sprintf("%s %s %d", stem, pick(r, companySuffixes), i)
		dom := strings.ToLower(strings.NewReplacer(" ", "", "'", "").Replace(stem)) + ".example"
		typ := "Organization"
		if r.chance(0.12) {
			typ = "Individual"
		}
		seg := newWeighted([]string{"SMB", "SM&C Corporate", "Enterprise", "Education", "Government"}, []float64{45, 25, 18, 7, 5}).sample(r)
		w.customers = append(w.customers, &customer{
			id: r.uuid(), name: company, company: company, first: first, last: last,
			email:   strings.ToLower(strings.ReplaceAll(first, " ", "")) + "." + strings.ToLower(strings.ReplaceAll(last, " ", "")) + "@" + dom,
			country: c.name, countryCode: c.code, city: city[0], state: city[1],
			postal: fmt.Sprintf("%05d", r.intn(99999)), culture: c.culture, currency: c.currency,
			address:        fmt.Sprintf("%d %s Street", 1+r.intn(9999), pick(r, lastNames)),
			billingAccount: r.uuid(), tpid: fmt.Sprintf("%d", 10000000+r.intn(89999999)), tenantID: r.uuid(),
			typ: typ, segment: seg,
		})
	}
	w.custDist = zipf(nCust, 0.9)
	// Subscriptions per publisher.
	w.subs = make([][]*subscription, len(Publishers))
	w.subDist = make([]*dist, len(Publishers))
	for p := range Publishers {
		n := 600 / (p + 1)
		if n < 40 {
			n = 40
		}
		for k := 0; k < n; k++ {
			o := w.byPub[p][r.intn(len(w.byPub[p]))]
			s := &subscription{id: r.uuid(), offer: o, cust: w.customers[w.custDist.sample(r)], sku: r.intn(len(o.skus)),
				quantity: int64(1 + r.intn(20)), azLic: azureLicense.sample(r), private: r.chance(0.15),
				trial: r.chance(0.2), cloud: clouds.sample(r)}
			if o.category == "Virtual Machine" {
				s.vmSize = pick(r, vmSizes)
				s.cores = []int{2, 4, 8, 16}[r.intn(4)]
			}
			w.subs[p] = append(w.subs[p], s)
		}
		w.subDist[p] = zipf(len(w.subs[p]), 0.8)
	}
	return w
}

func slug(s string) string {
	return strings.ToLower(strings.NewReplacer(" ", "-", "'", "").Replace(s))
}

// sub picks a subscription of publisher p.
func (w *world) sub(r *rng, p int) *subscription { return w.subs[p][w.subDist[p].sample(r)] }
