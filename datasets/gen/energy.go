package gen

import (
	"fmt"
	"math"
	"sort"
	"time"
)

func init() {
	register("energy", newEnergy)
	register("exchange_rates", newExchange)
}

// ---- energy: one row per property per month end ----

var propTypes = []struct {
	name        string
	medianEUI   float64 // kBtu/ft², national median site EUI
	scoreable   bool
	elecShare   float64
	minGFA, gfa float64
}{
	{"Office", 52.9, true, 0.65, 20_000, 150_000},
	{"K-12 School", 48.5, true, 0.45, 30_000, 90_000},
	{"Hotel", 63, true, 0.55, 40_000, 200_000},
	{"Multifamily Housing", 59.6, true, 0.5, 20_000, 120_000},
	{"Retail Store", 47, true, 0.75, 10_000, 60_000},
	{"Warehouse", 22.7, true, 0.6, 50_000, 300_000},
	{"Hospital (General Medical & Surgical)", 234.3, true, 0.45, 150_000, 600_000},
	{"Mixed Use Property", 78.8, false, 0.6, 30_000, 180_000},
}

var usCities = [][3]string{{"Seattle", "WA", "98101"}, {"Portland", "OR", "97201"}, {"Denver", "CO", "80202"},
	{"Chicago", "IL", "60601"}, {"Boston", "MA", "02108"}, {"New York", "NY", "10001"}, {"Washington", "DC", "20001"},
	{"Atlanta", "GA", "30303"}, {"Austin", "TX", "78701"}, {"San Francisco", "CA", "94103"}}

type property struct {
	id, name, parentID, parentName, account string
	typ                                     int
	addr                                    string
	city                                    [3]string
	year, buildings                         int
	gfa, parking                            float64
	eff                                     float64 // efficiency vs. the median (1 = median)
	trend                                   float64 // yearly change of eff
	gas, steam                              bool
}

type energy struct {
	props []*property // sorted by (account, id)
	nProp int
}

func newEnergy(e *env) generator {
	months := len(monthEnds(e))
	n := 40
	if e.rows > 0 {
		n = int(math.Max(1, math.Ceil(float64(e.rows)/float64(max(months, 1)))))
	}
	r := newRNG(e.seed, "energy", "entities")
	ad := zipf(len(Accounts), 1.0)
	g := &energy{nProp: n}
	for i := 0; i < n; i++ {
		t := r.intn(len(propTypes))
		pt := propTypes[t]
		p := &property{id: fmt.Sprintf("%d", 22_000_000+i*37+r.intn(30)), account: Accounts[ad.sample(r)], typ: t,
			city: usCities[r.intn(len(usCities))], year: 1900 + r.intn(124), buildings: 1,
			gfa: math.Round(pt.minGFA + r.float()*pt.gfa), eff: r.lognorm(1, 0.25), trend: -0.03 + 0.04*r.float(),
			gas: r.chance(0.8), steam: r.chance(0.1)}
		p.name = fmt.Sprintf("%s %s #%d", p.city[0], pt.name, i+1)
		p.addr = fmt.Sprintf("%d %s Ave", 100+r.intn(9000), pick(r, lastNames))
		if r.chance(0.25) {
			p.buildings = 2 + r.intn(3)
		}
		if r.chance(0.4) {
			p.parking = math.Round(p.gfa * 0.2)
		}
		if i > 0 && r.chance(0.1) {
			par := g.props[r.intn(len(g.props))]
			p.parentID, p.parentName, p.account = par.id, par.name, par.account
		}
		g.props = append(g.props, p)
	}
	sort.Slice(g.props, func(a, b int) bool {
		if g.props[a].account != g.props[b].account {
			return g.props[a].account < g.props[b].account
		}
		return g.props[a].id < g.props[b].id
	})
	return g
}

func (g *energy) plan(e *env) ([]time.Time, []int64) {
	days := monthEnds(e)
	rows := make([]int64, len(days))
	for i := range rows {
		rows[i] = int64(len(g.props))
	}
	return days, rows
}

// monthlyShape is the share of a year's use in each month (heating and
// cooling peaks), index 0 = January.
var monthlyShape = [12]float64{1.25, 1.15, 1.05, 0.9, 0.85, 0.95, 1.1, 1.1, 0.9, 0.85, 0.9, 1.0}

func (g *energy) day(dc *dayCtx) error {
	w, r := dc.w, dc.r
	years := dc.day.Sub(dc.env.first()).Hours() / (24 * 365)
	for i, p := range g.props {
		if err := dc.checkCtx(i); err != nil {
			return err
		}
		pt := propTypes[p.typ]
		w.S("property_id", p.id)
		w.S("property_name", p.name)
		w.SN("parent_property_id", p.parentID)
		w.SN("parent_property_name", p.parentName)
		w.S("account_id", p.account)
		w.S("primary_function", pt.name)
		w.S("address1", p.addr)
		w.S("city", p.city[0])
		w.S("state", p.city[1])
		w.S("postal_code", p.city[2])
		w.I32("year_built", p.year)
		w.D("period_ending", dc.day)
		w.S("largestPropertyUseType", pt.name)
		w.D("energyCurrentDate", dc.day.AddDate(0, 0, -r.intn(20)))
		gap := r.chance(0.05)
		w.S("alertEnergyMeterGap", map[bool]string{true: "Possible Issue", false: "Ok"}[gap])
		w.S("alertEnergyMeterLessThanTwelveMonthsMeterData", "Ok")
		w.S("alertNoGFA", "Ok")
		w.S("estimatedValuesEnergy", yesNo(gap))

		eff := p.eff * (1 + p.trend*years) * (0.98 + 0.04*r.float())
		site := round1(pt.medianEUI * eff)
		srcFactor := 1.2 + 1.6*pt.elecShare
		wn := 0.96 + 0.08*r.float()
		siteTotal := math.Round(site * p.gfa)
		elec := siteTotal * pt.elecShare
		gas := siteTotal - elec
		if !p.gas {
			elec, gas = siteTotal, 0
		}
		if pt.scoreable {
			score := math.Round(100 / (1 + math.Exp(3.5*(eff-1))))
			w.F("score", math.Max(1, math.Min(100, score)))
			w.F("medianSiteIntensity", pt.medianEUI)
			w.F("medianSourceIntensity", round1(pt.medianEUI*srcFactor))
		} else {
			w.S("reasonsForNoScore", "Your property type is not eligible for an ENERGY STAR score.")
		}
		w.F("siteIntensity", site)
		w.F("sourceIntensity", round1(site*srcFactor))
		w.F("siteIntensityWN", round1(site*wn))
		w.F("sourceIntensityWN", round1(site*srcFactor*wn))
		w.F("siteTotal", siteTotal)
		w.F("sourceTotal", math.Round(siteTotal*srcFactor))
		w.F("siteTotalWN", math.Round(siteTotal*wn))
		w.F("sourceTotalWN", math.Round(siteTotal*srcFactor*wn))
		elecT := elec * 0.000_12 // t CO2e per kBtu of grid electricity
		gasT := gas * 0.000_053
		w.F("totalLocationBasedGHGEmissions", round1(elecT+gasT))
		w.F("totalLocationBasedGHGEmissionsIntensity", round1((elecT+gasT)*1000/p.gfa))
		w.F("directGHGEmissions", round1(gasT))
		w.F("indirectLocationBasedGHGEmissions", round1(elecT))
		w.F("propGrossFloorArea", p.gfa)
		w.F("propertyFloorAreaBuildingsAndParking", p.gfa+p.parking)
		w.F("propertyFloorAreaParking", p.parking)
		w.F("largestPropertyUseTypeGFA", p.gfa)
		w.F("occupancy", float64(50+5*r.intn(11)))
		w.F("numberOfBuildings", float64(p.buildings))
		w.F("energyCost", math.Round(elec*0.035+gas*0.012))
		w.F("siteEnergyUseElectricityGridPurchase", math.Round(elec))
		w.F("siteEnergyUseElectricityGridPurchaseKwh", math.Round(elec/3.412))
		shape := monthlyShape[dc.day.Month()-1]
		w.F("siteElectricityUseMonthly", math.Round(elec/12*shape))
		if gas > 0 {
			w.F("siteEnergyUseNaturalGas", math.Round(gas))
			w.F("siteEnergyUseNaturalGasTherms", math.Round(gas/100))
			w.F("siteNaturalGasUseMonthly", math.Round(gas/12*shape*shape))
		}
		if p.steam {
			w.F("siteEnergyUseDistrictSteamMonthly", math.Round(siteTotal*0.1/12*shape))
		}
		if err := w.emit(); err != nil {
			return err
		}
	}
	return nil
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// ---- exchange rates: one row per currency per day ----

type exchange struct {
	codes []string // sorted
	base  map[string]float64
	phase map[string][2]float64
}

func newExchange(e *env) generator {
	n := 20
	if e.rows > 0 {
		n = int(math.Max(1, math.Round(float64(e.rows)/float64(len(e.window)))))
	}
	g := &exchange{base: map[string]float64{}, phase: map[string][2]float64{}}
	var codes []string
	for c := range fxUSD {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	// USD, EUR and GBP always; then the others; then synthetic codes.
	picked := []string{"EUR", "GBP", "USD"}
	for _, c := range codes {
		if len(picked) >= n {
			break
		}
		if c != "USD" && c != "EUR" && c != "GBP" {
			picked = append(picked, c)
		}
	}
	r := newRNG(e.seed, "exchange_rates", "entities")
	for k := 0; len(picked) < n; k++ {
		c := fmt.Sprintf("X%c%c", 'A'+byte(k/26%26), 'A'+byte(k%26))
		fxUSD2 := 0.01 + r.float()*2
		g.base[c] = fxUSD2
		picked = append(picked, c)
	}
	if n < len(picked) {
		picked = picked[:n]
	}
	sort.Strings(picked)
	for _, c := range picked {
		if _, ok := g.base[c]; !ok {
			g.base[c] = fxUSD[c]
		}
		g.phase[c] = [2]float64{r.float() * 2 * math.Pi, r.float() * 2 * math.Pi}
	}
	g.codes = picked
	return g
}

func (g *exchange) plan(e *env) ([]time.Time, []int64) {
	rows := make([]int64, len(e.window))
	for i := range rows {
		rows[i] = int64(len(g.codes))
	}
	return e.window, rows
}

// usd is the USD value of one unit of c on day t: a smooth drift around
// the base rate (two slow waves), so consecutive days stay close.
func (g *exchange) usd(c string, t time.Time) float64 {
	if c == "USD" {
		return 1
	}
	base, ok := g.base[c]
	if !ok {
		base = fxUSD[c]
	}
	ph := g.phase[c]
	days := float64(t.Unix()) / 86400
	return base * math.Exp(0.04*math.Sin(2*math.Pi*days/173+ph[0])+0.015*math.Sin(2*math.Pi*days/31+ph[1]))
}

func (g *exchange) day(dc *dayCtx) error {
	w := dc.w
	eur, gbp := g.usd("EUR", dc.day), g.usd("GBP", dc.day)
	for _, c := range g.codes {
		u := g.usd(c, dc.day)
		w.D("date", dc.day)
		w.S("currency", c)
		w.F("rate_to_usd", round6(u))
		w.F("rate_to_eur", round6(u/eur))
		w.F("rate_to_gbp", round6(u/gbp))
		if err := w.emit(); err != nil {
			return err
		}
	}
	return nil
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
