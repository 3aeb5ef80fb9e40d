package gen

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/quarry/quarry/datasets"
)

func init() { register("transactions", newTransactions) }

// Proxy names cover the docs' filter examples: 'books', 'music', 'api1',
// 'api2', 'ap1', names starting with 'm', containing 'buy', ending in
// 'item', starting with 'Prod'.
var proxyNames = []string{"books", "music", "api1", "api2", "weather-api", "movies", "mobile-checkout", "maps",
	"payments", "orders", "ethorapi", "Search", "ViewItem", "buy-now", "carts-v2", "guest-auth-v3",
	"inventory", "Product-catalog", "ProdSearch", "lineitem", "ap1", "proxy_1", "proxy_2", "non-prod"}

type txProxy struct {
	name, basepath, targetHost string
	product                    string
	monetized                  bool
	suffixes                   []string // proxy_pathsuffix values
	paths, targetURLs          []string // per suffix
	uris                       [][]string
	latency                    float64 // median target ms
	errBias                    float64
	cacheable                  bool
}

type txApp struct {
	developer, email, app, clientID string
}

type txOrg struct {
	name     string
	proxies  []*txProxy
	pdist    *dist
	apps     []txApp
	adist    *dist
	ips      []string
	revision []string
}

type geo struct{ country, city string }

type ua struct{ agent, family, device, os string }

var (
	geos = newWeighted([]geo{{"US", "Seattle"}, {"US", "New York"}, {"US", "San Jose"}, {"US", "Chicago"}, {"GB", "London"},
		{"DE", "Frankfurt"}, {"FR", "Paris"}, {"IN", "Mumbai"}, {"JP", "Tokyo"}, {"BR", "Sao Paulo"}, {"CA", "Toronto"},
		{"AU", "Sydney"}, {"NL", "Amsterdam"}, {"SG", "Singapore"}, {"KR", "Seoul"}},
		[]float64{14, 10, 8, 6, 9, 7, 5, 8, 6, 5, 4, 4, 3, 3, 3})
	uas = newWeighted([]ua{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", "Chrome", "Computer", "Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 Version/17.2 Safari/605.1.15", "Safari", "Computer", "Mac OS X"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "Mobile Safari", "Smartphone", "iOS"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36", "Chrome Mobile", "Smartphone", "Android"},
		{"okhttp/4.12.0", "okhttp", "Other", "Android"},
		{"curl/8.5.0", "curl", "Other", "Other"},
		{"python-requests/2.31.0", "Python Requests", "Other", "Other"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox", "Computer", "Linux"},
		{"Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "Mobile Safari", "Tablet", "iOS"},
	}, []float64{22, 10, 14, 16, 12, 6, 10, 5, 5})
	verbs       = newWeighted([]string{"GET", "POST", "PUT", "DELETE"}, []float64{70, 18, 7, 5})
	hourW       = []float64{0.35, 0.3, 0.27, 0.25, 0.27, 0.35, 0.5, 0.7, 0.9, 1, 1.05, 1.1, 1.1, 1.15, 1.2, 1.2, 1.15, 1.1, 1, 0.9, 0.8, 0.65, 0.5, 0.42}
	hourDist    = newDist(hourW)
	err4xx      = newWeighted([]int{400, 401, 403, 404, 429}, []float64{15, 30, 10, 30, 15})
	err5xx      = newWeighted([]int{500, 502, 503, 504}, []float64{40, 25, 20, 15})
	orgDist     = zipf(len(Orgs), 1.2)
	currencies3 = []string{"USD", "EUR", "GBP"}
)

type transactions struct {
	orgs  []*txOrg
	order []int
}

// txCols holds the stored column indices of transactions.
type txCols struct {
	organization, environment, apiproxy, apiproxyRevision, apiProduct, developer, developerEmail,
	developerApp, clientID, clientIP, requestVerb, requestURI, requestPath, proxyBasepath,
	proxyPathsuffix, responseStatusCode, targetResponseCode, targetHost, targetURL, virtualHost,
	useragent, geoCountry, geoCity, uaDevice, uaAgent, uaOS, timestamp, messageCount, isError,
	policyError, targetError, cacheHit, totalResponseTime, targetResponseTime, reqLatency,
	respLatency, requestSize, responseSize, ratePlan, ratePlanLevel, monetizationPackage,
	transactionType, transactionStatus, currency, price, revenueSharePct int
}

func newTransactions(e *env) generator {
	r := newRNG(e.seed, "transactions", "entities")
	g := &transactions{order: tenantOrder(Orgs)}
	for oi, name := range Orgs {
		o := &txOrg{name: name}
		// Each org uses every proxy, in its own popularity order; the
		// biggest org keeps the catalogue order so 'books' and 'music'
		// lead it.
		perm := make([]int, len(proxyNames))
		for i := range perm {
			perm[i] = i
		}
		if oi > 0 {
			for i := len(perm) - 1; i > 0; i-- {
				j := r.intn(i + 1)
				perm[i], perm[j] = perm[j], perm[i]
			}
		}
		for _, pi := range perm {
			pn := proxyNames[pi]
			p := &txProxy{name: pn, basepath: "/v1/" + pn, targetHost: pn + ".backend." + name + ".internal",
				product: pn + "-product", monetized: r.chance(0.35), latency: r.lognorm(60, 0.6),
				errBias: 0.5 + r.float(), cacheable: r.chance(0.4)}
			if pi%5 == 0 {
				p.product = "premium-bundle"
			}
			p.suffixes = []string{"", "/items", "/items/{id}", "/search", "/status"}
			for _, s := range p.suffixes {
				path := p.basepath + s
				p.paths = append(p.paths, path)
				p.targetURLs = append(p.targetURLs, "https://"+p.targetHost+s)
				var us []string
				for k := 0; k < 4; k++ {
					u := path
					if k > 0 {
						u += "?page=" + strconv.Itoa(k) + "&apikey=" + r.hexString(8)
					}
					us = append(us, u)
				}
				p.uris = append(p.uris, us)
			}
			o.proxies = append(o.proxies, p)
		}
		o.pdist = zipf(len(o.proxies), 1.05)
		nDev := 300 / (oi + 1)
		for d := 0; d < nDev; d++ {
			devID := r.uuid()
			email := fmt.Sprintf("dev%d@%s.example", d, name)
			for a := 0; a < 1+r.intn(3); a++ {
				o.apps = append(o.apps, txApp{developer: name + "@@@" + devID, email: email,
					app: fmt.Sprintf("%s-app-%d-%d", name, d, a), clientID: r.hexString(32)})
			}
		}
		o.adist = zipf(len(o.apps), 1.0)
		for k := 0; k < 2000; k++ {
			o.ips = append(o.ips, fmt.Sprintf("%d.%d.%d.%d", 11+r.intn(200), r.intn(256), r.intn(256), 1+r.intn(254)))
		}
		for k := 1; k <= 9; k++ {
			o.revision = append(o.revision, strconv.Itoa(k))
		}
		g.orgs = append(g.orgs, o)
	}
	return g
}

func (g *transactions) plan(e *env) ([]time.Time, []int64) {
	return dailyPlan(e, 200_000, 1.6, businessWeek)
}

func (g *transactions) day(dc *dayCtx) error {
	w := dc.w
	var cols txCols
	c := &cols
	c.organization, c.environment, c.apiproxy, c.apiproxyRevision = w.col("organization"), w.col("environment"), w.col("apiproxy"), w.col("apiproxy_revision")
	c.apiProduct, c.developer, c.developerEmail, c.developerApp = w.col("api_product"), w.col("developer"), w.col("developer_email"), w.col("developer_app")
	c.clientID, c.clientIP, c.requestVerb, c.requestURI = w.col("client_id"), w.col("client_ip"), w.col("request_verb"), w.col("request_uri")
	c.requestPath, c.proxyBasepath, c.proxyPathsuffix = w.col("request_path"), w.col("proxy_basepath"), w.col("proxy_pathsuffix")
	c.responseStatusCode, c.targetResponseCode, c.targetHost, c.targetURL = w.col("response_status_code"), w.col("target_response_code"), w.col("target_host"), w.col("target_url")
	c.virtualHost, c.useragent, c.geoCountry, c.geoCity = w.col("virtual_host"), w.col("useragent"), w.col("ax_geo_country"), w.col("ax_geo_city")
	c.uaDevice, c.uaAgent, c.uaOS, c.timestamp = w.col("ax_ua_device_category"), w.col("ax_ua_agent_family"), w.col("ax_ua_os_family"), w.col("timestamp")
	c.messageCount, c.isError, c.policyError, c.targetError, c.cacheHit = w.col("message_count"), w.col("is_error"), w.col("policy_error"), w.col("target_error"), w.col("cache_hit")
	c.totalResponseTime, c.targetResponseTime, c.reqLatency, c.respLatency = w.col("total_response_time"), w.col("target_response_time"), w.col("request_processing_latency"), w.col("response_processing_latency")
	c.requestSize, c.responseSize = w.col("request_size"), w.col("response_size")
	c.ratePlan, c.ratePlanLevel, c.monetizationPackage, c.transactionType = w.col("rate_plan"), w.col("rate_plan_level"), w.col("monetization_package"), w.col("transaction_type")
	c.transactionStatus, c.currency, c.price, c.revenueSharePct = w.col("transaction_status"), w.col("currency"), w.col("price"), w.col("revenue_share_pct")

	r := dc.r
	counts := countPerTenant(r, orgDist, len(g.orgs), dc.n)
	dayMs := dc.day.UnixMilli()
	revIdx := int(dc.frac * 6) // revisions roll forward over the window
	var ts []int64
	row := w.row
	n := 0
	for _, oi := range g.order {
		o := g.orgs[oi]
		k := int(counts[oi])
		ts = ts[:0]
		for i := 0; i < k; i++ {
			h := hourDist.sample(r)
			ts = append(ts, dayMs+int64(h)*3_600_000+int64(r.intn(3_600_000)))
		}
		slices.Sort(ts)
		for _, t := range ts {
			if err := dc.checkCtx(n); err != nil {
				return err
			}
			n++
			g.fill(row, &cols, r, o, t, revIdx)
			if err := w.pw.Write(row); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *transactions) fill(row *datasets.Row, c *txCols, r *rng, o *txOrg, t int64, revIdx int) {
	p := o.proxies[o.pdist.sample(r)]
	row.String(c.organization, o.name)
	env := "prod"
	if r.intn(100) < 15 {
		env = "test"
	}
	row.String(c.environment, env)
	row.String(c.apiproxy, p.name)
	row.String(c.apiproxyRevision, o.revision[min(len(o.revision)-1, revIdx+r.intn(2))])
	row.Time(c.timestamp, time.UnixMilli(t))

	keyless := r.intn(100) < 4
	var app *txApp
	if keyless {
		row.Null(c.apiProduct)
		row.Null(c.developer)
		row.Null(c.developerEmail)
		row.Null(c.developerApp)
		row.Null(c.clientID)
	} else {
		app = &o.apps[o.adist.sample(r)]
		row.String(c.apiProduct, p.product)
		row.String(c.developer, app.developer)
		row.String(c.developerEmail, app.email)
		row.String(c.developerApp, app.app)
		row.String(c.clientID, app.clientID)
	}
	row.String(c.clientIP, o.ips[r.intn(len(o.ips))])
	verb := verbs.sample(r)
	row.String(c.requestVerb, verb)
	si := r.intn(len(p.suffixes))
	row.String(c.requestURI, p.uris[si][r.intn(4)])
	row.String(c.requestPath, p.paths[si])
	row.String(c.proxyBasepath, p.basepath)
	row.String(c.proxyPathsuffix, p.suffixes[si])
	row.String(c.virtualHost, "default")
	u := uas.sample(r)
	row.String(c.useragent, u.agent)
	row.String(c.uaAgent, u.family)
	row.String(c.uaDevice, u.device)
	row.String(c.uaOS, u.os)
	gg := geos.sample(r)
	row.String(c.geoCountry, gg.country)
	row.String(c.geoCity, gg.city)

	// Outcome: about 4% errors in all: ~1.5% policy errors (4xx raised
	// before the target; the target is not reached), ~1% target errors
	// (5xx), ~1% target 404s, 1% unauthenticated keyless calls; some cache
	// hits on GETs (target not reached either).
	status, target := 200, 200
	reached, cache := true, false
	var isErr, polErr, tgtErr int64
	x := r.float()
	switch {
	case keyless && x < 0.25:
		status, reached, isErr, polErr = 401, false, 1, 1
	case x < 0.015*p.errBias:
		status, reached, isErr, polErr = err4xx.sample(r), false, 1, 1
	case x < 0.025*p.errBias:
		status = err5xx.sample(r)
		target, isErr, tgtErr = status, 1, 1
	case verb == "GET" && p.cacheable && x < 0.15:
		reached, cache = false, true
	default:
		switch verb {
		case "POST":
			status = 201
		case "DELETE":
			status = 204
		}
		if r.intn(100) == 0 {
			status = 404 // the target's own not-found is not a proxy error
			isErr = 1
		}
		target = status
	}
	row.Int32(c.responseStatusCode, int32(status))
	reqLat := int64(1 + r.intn(8))
	respLat := int64(1 + r.intn(5))
	var tgtMs int64
	if reached {
		row.Int32(c.targetResponseCode, int32(target))
		row.String(c.targetHost, p.targetHost)
		row.String(c.targetURL, p.targetURLs[si])
		tgtMs = int64(r.lognorm(p.latency, 0.7)) + 1
		if status >= 500 && r.intn(3) == 0 {
			tgtMs += 30_000 // timeouts
		}
		row.Int64(c.targetResponseTime, tgtMs)
	} else {
		row.Null(c.targetResponseCode)
		row.Null(c.targetHost)
		row.Null(c.targetURL)
		row.Null(c.targetResponseTime)
	}
	row.Int64(c.totalResponseTime, reqLat+respLat+tgtMs)
	row.Int64(c.reqLatency, reqLat)
	row.Int64(c.respLatency, respLat)
	row.Int64(c.messageCount, 1)
	row.Int64(c.isError, isErr)
	row.Int64(c.policyError, polErr)
	row.Int64(c.targetError, tgtErr)
	if cache {
		row.Int64(c.cacheHit, 1)
	} else {
		row.Int64(c.cacheHit, 0)
	}
	reqSize := int64(r.intn(400))
	if verb == "POST" || verb == "PUT" {
		reqSize += int64(r.lognorm(2000, 1))
	}
	row.Int64(c.requestSize, reqSize)
	respSize := int64(0)
	if status != 204 {
		respSize = int64(r.lognorm(3000, 1.1))
	}
	row.Int64(c.responseSize, respSize)

	if p.monetized && app != nil {
		level := "STANDARD"
		plan := p.product + "-standard"
		if r.intn(10) < 2 {
			level = "DEVELOPER"
			plan = p.product + "-dev-" + app.app
		}
		row.String(c.ratePlan, plan)
		row.String(c.ratePlanLevel, level)
		row.String(c.monetizationPackage, p.product+"-package")
		cur := r.intn(10)
		row.String(c.currency, currencies3[[10]int{0, 0, 0, 0, 0, 0, 0, 1, 1, 2}[cur]])
		if isErr == 1 {
			row.String(c.transactionType, "CHARGE")
			row.String(c.transactionStatus, "FAILED")
			row.Float64(c.price, 0)
		} else {
			row.String(c.transactionType, "CHARGE")
			row.String(c.transactionStatus, "SUCCESS")
			row.Float64(c.price, []float64{0.001, 0.002, 0.005, 0.01}[len(p.name)%4])
		}
		row.Float64(c.revenueSharePct, float64(50+len(p.name)%4*10))
	} else {
		row.Null(c.ratePlan)
		row.Null(c.ratePlanLevel)
		row.Null(c.monetizationPackage)
		row.Null(c.transactionType)
		row.Null(c.transactionStatus)
		row.Null(c.currency)
		row.Null(c.price)
		row.Null(c.revenueSharePct)
	}
}
