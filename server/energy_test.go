package server

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/meta"
)

// energyOracle answers a report with hand-written SQL over the energy
// files: one []string per row (NULL as "\x00"), values as the report
// renders them.
func energyOracle(t *testing.T, metrics []string, account string, props []string, where string) [][]string {
	t.Helper()
	glob := filepath.Join(testDataDir, "datasets", "energy", "*", "*.parquet")
	q := `SELECT property_id, property_name, parent_property_id, parent_property_name, period_ending`
	for _, m := range metrics {
		q += `, "` + m + `"`
	}
	q += ` FROM read_parquet('` + glob + `') WHERE account_id = '` + account + `' AND property_id IN ('` +
		strings.Join(props, "','") + `') AND ` + where + ` ORDER BY property_id, period_ending`
	rows, err := testEngine.DB().QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("oracle: %v\n%s", err, q)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]any, 5+len(metrics))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				row[i] = "\x00"
			case float64:
				row[i] = strconv.FormatFloat(x, 'f', -1, 64)
			case time.Time:
				row[i] = x.Format("2006-01-02")
			default:
				row[i] = fmt.Sprint(x)
			}
		}
		out = append(out, row)
	}
	if len(out) == 0 {
		t.Fatalf("the oracle has no rows: %s", q)
	}
	return out
}

// reportData is the downloaded XML, as a client parses it.
type reportData struct {
	ReportID   int64  `xml:"reportId"`
	Template   string `xml:"templateName"`
	Properties int    `xml:"numberOfProperties"`
	Rows       []struct {
		PropertyID string `xml:"propertyId,attr"`
		Month      int    `xml:"month,attr"`
		Year       int    `xml:"year,attr"`
		Metrics    []struct {
			Name  string `xml:"name,attr"`
			ID    string `xml:"id,attr"`
			Value struct {
				Nil  string `xml:"http://www.w3.org/2001/XMLSchema-instance nil,attr"`
				Text string `xml:",chardata"`
			} `xml:"value"`
		} `xml:"metric"`
	} `xml:"informationAndMetrics>propertyMetrics"`
}

func (r reportData) table() [][]string {
	var out [][]string
	for _, pm := range r.Rows {
		row := make([]string, len(pm.Metrics))
		for i, m := range pm.Metrics {
			row[i] = m.Value.Text
			if m.Value.Nil == "true" {
				row[i] = "\x00"
			}
		}
		out = append(out, row)
	}
	return out
}

type energyClient struct {
	ts     *testServer
	secret string
}

func (e energyClient) do(t *testing.T, method, path, body string) response {
	t.Helper()
	return e.ts.do(t, method, path, "Bearer "+e.secret, strings.NewReader(body), "Content-Type", "application/xml")
}

// ok checks a <response status="Ok"> and returns its id and links.
func (e energyClient) ok(t *testing.T, r response, status int) (int64, []string) {
	t.Helper()
	var v struct {
		Status string `xml:"status,attr"`
		ID     int64  `xml:"id"`
		Links  []struct {
			Link string `xml:"link,attr"`
		} `xml:"links>link"`
	}
	if r.Status != status || xml.Unmarshal(r.Body, &v) != nil || v.Status != "Ok" {
		t.Fatalf("want %d Ok, got %d %s", status, r.Status, r.Body)
	}
	if !bytes.HasPrefix(r.Body, []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`)) {
		t.Errorf("answer without the XML declaration: %.80s", r.Body)
	}
	var ls []string
	for _, l := range v.Links {
		ls = append(ls, l.Link)
	}
	return v.ID, ls
}

func (e energyClient) generate(t *testing.T, reportID int64) {
	t.Helper()
	e.ok(t, e.do(t, http.MethodPost, fmt.Sprintf("/reports/%d/generate", reportID), ""), http.StatusOK)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st struct {
			Status              string `xml:"status"`
			SubmittedDate       string `xml:"submittedDate"`
			GenerationStartDate string `xml:"generationStartDate"`
			GenerationEndDate   string `xml:"generationEndDate"`
		}
		r := e.do(t, http.MethodGet, fmt.Sprintf("/reports/%d/status", reportID), "")
		if err := xml.Unmarshal(r.Body, &st); err != nil {
			t.Fatalf("status: %v %s", err, r.Body)
		}
		switch st.Status {
		case meta.EnergyGenerated:
			if st.SubmittedDate == "" || st.GenerationStartDate == "" || st.GenerationEndDate == "" {
				t.Errorf("generated without its dates: %s", r.Body)
			}
			return
		case meta.EnergyFailed:
			t.Fatalf("generation failed: %s", r.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s", st.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check downloads both formats and compares them with the oracle.
func (e energyClient) check(t *testing.T, reportID int64, template string, metrics []string, want [][]string, nProps int) {
	t.Helper()
	r := e.do(t, http.MethodGet, fmt.Sprintf("/reports/%d/download?type=XML", reportID), "")
	wantStatus(t, r, http.StatusOK)
	var rd reportData
	if err := xml.Unmarshal(r.Body, &rd); err != nil {
		t.Fatalf("XML download: %v", err)
	}
	if rd.ReportID != reportID || rd.Template != template || rd.Properties != nProps {
		t.Errorf("header: report %d template %q properties %d", rd.ReportID, rd.Template, rd.Properties)
	}
	got := rd.table()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("XML rows differ from the oracle\n got: %q\nwant: %q", got, want)
	}
	if len(rd.Rows) > 0 {
		names := []string{}
		for _, m := range rd.Rows[0].Metrics {
			names = append(names, m.Name)
		}
		wantNames := append([]string{"portfolioManagerPropertyId", "propertyName", "parentPropertyId", "parentPropertyName", "periodEndingDate"}, metrics...)
		if strings.Join(names, ",") != strings.Join(wantNames, ",") {
			t.Errorf("metric names %v, want %v", names, wantNames)
		}
		pe := want[0][4]
		if y, m := rd.Rows[0].Year, rd.Rows[0].Month; fmt.Sprintf("%d-%02d", y, m) != pe[:7] {
			t.Errorf("propertyMetrics month/year %d/%d, want the period ending %s", m, y, pe)
		}
	}
	r = e.do(t, http.MethodGet, fmt.Sprintf("/reports/%d/download?type=EXCEL", reportID), "")
	wantStatus(t, r, http.StatusOK)
	f, err := excelize.OpenReader(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("Excel download: %v", err)
	}
	defer f.Close()
	rows, err := f.GetRows("Sheet1", excelize.Options{RawCellValue: true})
	if err != nil || len(rows) == 0 {
		t.Fatalf("Excel rows: %v", err)
	}
	if rows[0][0] != "portfolioManagerPropertyId" || rows[0][4] != "Period Ending Date" || !strings.Contains(strings.Join(rows[0], "|"), "(kBtu/ft²)") && slicesContains(metrics, "siteIntensity") {
		t.Errorf("Excel header %v", rows[0])
	}
	var xl [][]string
	for _, row := range rows[1:] {
		out := make([]string, len(want[0]))
		for i := range out {
			out[i] = "\x00"
			if i < len(row) && row[i] != "" {
				out[i] = row[i]
			}
		}
		xl = append(xl, out)
	}
	if fmt.Sprint(xl) != fmt.Sprint(want) {
		t.Errorf("Excel rows differ from the oracle\n got: %q\nwant: %q", xl, want)
	}
}

func slicesContains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func accountProperties(t *testing.T, account string, n int) []string {
	t.Helper()
	glob := filepath.Join(testDataDir, "datasets", "energy", "*", "*.parquet")
	rows, err := testEngine.DB().Query(`SELECT DISTINCT property_id FROM read_parquet('` + glob + `') WHERE account_id = '` + account + `' ORDER BY 1 LIMIT ` + strconv.Itoa(n))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	if len(out) < n {
		t.Fatalf("account %s has %d properties, want %d", account, len(out), n)
	}
	return out
}

func idsXML(ids []string) string {
	return "<id>" + strings.Join(ids, "</id><id>") + "</id>"
}

// The seed's three flows over HTTP, each download checked against the
// oracle in both formats.
func TestEnergyFlows(t *testing.T) {
	ts := startServer(t, serverSetup{})
	e := energyClient{ts, ts.key(t, meta.Key{Name: "pm", User: "pm-user", Account: "acct-1"})}
	props := accountProperties(t, "acct-1", 4)

	// the metric catalogue
	var cat struct {
		Groups []struct {
			ID      int    `xml:"id,attr"`
			Name    string `xml:"name,attr"`
			Metrics []struct {
				ID   int    `xml:"id,attr"`
				Name string `xml:"name,attr"`
				UOM  string `xml:"uom,attr"`
			} `xml:"metrics>metric"`
		} `xml:"group"`
	}
	r := e.do(t, http.MethodGet, "/reports/metrics", "")
	wantStatus(t, r, http.StatusOK)
	if err := xml.Unmarshal(r.Body, &cat); err != nil || len(cat.Groups) < 5 {
		t.Fatalf("metrics: %v %s", err, r.Body)
	}
	eui := 0
	for _, g := range cat.Groups {
		if strings.Contains(g.Name, "Energy Use Intensity") {
			eui = g.ID
		}
	}
	r = e.do(t, http.MethodGet, fmt.Sprintf("/reports/metrics?groupIds=%d", eui), "")
	cat.Groups = nil
	if err := xml.Unmarshal(r.Body, &cat); err != nil || len(cat.Groups) != 1 || cat.Groups[0].ID != eui {
		t.Fatalf("metrics of group %d: %v %s", eui, err, r.Body)
	}
	if r := e.do(t, http.MethodGet, "/reports/metrics?groupIds=99", ""); r.Status != http.StatusBadRequest {
		t.Errorf("unknown group: %d %s", r.Status, r.Body)
	}
	found := false
	for _, m := range cat.Groups[0].Metrics {
		found = found || (m.ID == 273 && m.Name == "siteIntensity" && m.UOM == "kBtu/ft²")
	}
	if !found {
		t.Errorf("group 2 lacks Site EUI: %s", r.Body)
	}

	// Flow 1: a new template and its report.
	tplID, ls := e.ok(t, e.do(t, http.MethodPost, "/reports/templates",
		`<reportTemplate><name>EUI 2025</name><metrics><id>273</id><id>285</id><id>438</id></metrics></reportTemplate>`), http.StatusCreated)
	if len(ls) != 2 || ls[0] != fmt.Sprintf("/reports/templates/%d", tplID) || !strings.HasPrefix(ls[1], "/reports/") {
		t.Fatalf("links %v", ls)
	}
	reportID, _ := strconv.ParseInt(strings.TrimPrefix(ls[1], "/reports/"), 10, 64)
	e.ok(t, e.do(t, http.MethodPut, fmt.Sprintf("/reports/%d", reportID), `<?xml version="1.0" encoding="UTF-8"?>
		<report><timeframe><dateRange><fromPeriodEndingDate><month>1</month><year>2024</year></fromPeriodEndingDate>
		<toPeriodEndingDate><month>12</month><year>2025</year></toPeriodEndingDate><interval>YEARLY</interval></dateRange></timeframe>
		<properties>`+idsXML(props[:3])+`</properties></report>`), http.StatusOK)
	e.generate(t, reportID)
	metrics := []string{"siteIntensity", "sourceIntensity", "score"}
	e.check(t, reportID, "EUI 2025", metrics,
		energyOracle(t, metrics, "acct-1", props[:3], `period_ending IN (DATE '2024-12-31', DATE '2025-12-31')`), 3)

	// Flow 2: change the template's metrics (found through the report).
	var rep struct {
		TemplateID int64  `xml:"templateId"`
		Status     string `xml:"reportGenerationStatus"`
	}
	xml.Unmarshal(e.do(t, http.MethodGet, fmt.Sprintf("/reports/%d", reportID), "").Body, &rep)
	if rep.TemplateID != tplID || rep.Status != meta.EnergyGenerated {
		t.Fatalf("report: %+v", rep)
	}
	e.ok(t, e.do(t, http.MethodPut, fmt.Sprintf("/reports/templates/%d", tplID),
		`<reportTemplate><name>GHG 2025</name><metrics><id>430</id><id>478</id></metrics></reportTemplate>`), http.StatusOK)
	xml.Unmarshal(e.do(t, http.MethodGet, fmt.Sprintf("/reports/%d", reportID), "").Body, &rep)
	if rep.Status != meta.EnergyInitialized {
		t.Errorf("after a template change the report is %s, want INITIALIZED", rep.Status)
	}
	e.generate(t, reportID)
	metrics = []string{"totalLocationBasedGHGEmissions", "propGrossFloorArea"}
	e.check(t, reportID, "GHG 2025", metrics,
		energyOracle(t, metrics, "acct-1", props[:3], `period_ending IN (DATE '2024-12-31', DATE '2025-12-31')`), 3)

	// Flow 3: change the report's timeframe and properties (found through
	// the template).
	var tpl struct {
		ReportID int64   `xml:"reportId"`
		Metrics  []int64 `xml:"metrics>id"`
	}
	xml.Unmarshal(e.do(t, http.MethodGet, fmt.Sprintf("/reports/templates/%d", tplID), "").Body, &tpl)
	if tpl.ReportID != reportID || fmt.Sprint(tpl.Metrics) != "[448 443 449 1301 430 478]" {
		t.Fatalf("template: %+v", tpl)
	}
	e.ok(t, e.do(t, http.MethodPut, fmt.Sprintf("/reports/%d", reportID), `<report><timeframe><twoPeriods>
		<periodEndingDateOne><month>6</month><year>2025</year></periodEndingDateOne>
		<periodEndingDateTwo><month>3</month><year>2024</year></periodEndingDateTwo></twoPeriods></timeframe>
		<properties>`+idsXML(props[1:4])+`</properties></report>`), http.StatusOK)
	e.generate(t, reportID)
	e.check(t, reportID, "GHG 2025", metrics,
		energyOracle(t, metrics, "acct-1", props[1:4], `period_ending IN (DATE '2024-03-31', DATE '2025-06-30')`), 3)

	// currentVsBaseline: each property's latest and earliest period with data
	e.ok(t, e.do(t, http.MethodPut, fmt.Sprintf("/reports/%d", reportID), `<report><timeframe><currentVsBaseline><meterType>ENERGY</meterType></currentVsBaseline></timeframe>
		<properties>`+idsXML(props[:2])+`</properties></report>`), http.StatusOK)
	e.generate(t, reportID)
	e.check(t, reportID, "GHG 2025", metrics, energyOracle(t, metrics, "acct-1", props[:2],
		`(period_ending = (SELECT max(period_ending) FROM read_parquet('`+filepath.Join(testDataDir, "datasets", "energy", "*", "*.parquet")+`') x WHERE x.property_id = property_id AND x.siteTotal IS NOT NULL)
		 OR period_ending = (SELECT min(period_ending) FROM read_parquet('`+filepath.Join(testDataDir, "datasets", "energy", "*", "*.parquet")+`') x WHERE x.property_id = property_id AND x.siteTotal IS NOT NULL))`), 2)

	// lists
	var lst struct {
		Links []struct {
			ID   int64  `xml:"id,attr"`
			Hint string `xml:"hint,attr"`
		} `xml:"links>link"`
	}
	xml.Unmarshal(e.do(t, http.MethodGet, "/reports/templates", "").Body, &lst)
	if len(lst.Links) != 1 || lst.Links[0].ID != tplID || lst.Links[0].Hint != "GHG 2025" {
		t.Errorf("template list %+v", lst)
	}
	// JSON when asked for
	r = ts.do(t, http.MethodGet, fmt.Sprintf("/reports/%d/status", reportID), "Bearer "+e.secret, nil, "Accept", "application/json")
	var js map[string]map[string]string
	if err := json.Unmarshal(r.Body, &js); err != nil || js["reportStatus"]["status"] != meta.EnergyGenerated {
		t.Errorf("JSON status: %v %s", err, r.Body)
	}
	// another user of the account does not see them
	other := energyClient{ts, ts.key(t, meta.Key{Name: "other", User: "someone-else", Account: "acct-1"})}
	for _, p := range []string{fmt.Sprintf("/reports/%d", reportID), fmt.Sprintf("/reports/templates/%d", tplID), fmt.Sprintf("/reports/%d/download?type=XML", reportID)} {
		if r := other.do(t, http.MethodGet, p, ""); r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), `status="Error"`) {
			t.Errorf("another user reads %s: %d %s", p, r.Status, r.Body)
		}
	}
	// delete takes the report with it
	e.ok(t, e.do(t, http.MethodDelete, fmt.Sprintf("/reports/templates/%d", tplID), ""), http.StatusOK)
	if r := e.do(t, http.MethodGet, fmt.Sprintf("/reports/%d", reportID), ""); r.Status != http.StatusNotFound {
		t.Errorf("report after its template was deleted: %d", r.Status)
	}
}

// Bad input: each a clear error in the envelope, and nothing changes.
func TestEnergyErrors(t *testing.T) {
	ts := startServer(t, serverSetup{holdJobs: true})
	e := energyClient{ts, ts.key(t, meta.Key{Name: "pm", User: "pm-user", Account: "acct-1"})}
	props := accountProperties(t, "acct-1", 2)
	foreign := accountProperties(t, "acct-2", 1)
	fail := func(method, path, body string, status, number int, want string) {
		t.Helper()
		r := e.do(t, method, path, body)
		var v struct {
			Status string `xml:"status,attr"`
			Errors []struct {
				Number int    `xml:"errorNumber,attr"`
				Desc   string `xml:"errorDescription,attr"`
			} `xml:"errors>error"`
		}
		if err := xml.Unmarshal(r.Body, &v); err != nil || r.Status != status || v.Status != "Error" || len(v.Errors) != 1 ||
			v.Errors[0].Number != number || !strings.Contains(v.Errors[0].Desc, want) {
			t.Errorf("%s %s: %d %s; want %d, error %d naming %q", method, path, r.Status, r.Body, status, number, want)
		}
	}
	fail(http.MethodPost, "/reports/templates", `<reportTemplate><name>x</name><metrics><id>273</id></metrics>`, 400, 1000, "not well-formed XML")
	fail(http.MethodPost, "/reports/templates", `<report><name>x</name></report>`, 400, 1000, "not a <reportTemplate> document")
	// XML entities are never expanded: no external entity (XXE), no
	// billion laughs
	fail(http.MethodPost, "/reports/templates", `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><reportTemplate><name>&x;</name></reportTemplate>`,
		400, 1000, "not well-formed XML")
	laughs := `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>` +
		`<reportTemplate><name>&c;</name><metrics><id>273</id></metrics></reportTemplate>`
	fail(http.MethodPost, "/reports/templates", laughs, 400, 1000, "not well-formed XML")
	fail(http.MethodPost, "/reports/templates", `<reportTemplate><name>x</name><metrics><id>99999</id></metrics></reportTemplate>`, 400, 1001, "unknown metric id 99999")
	fail(http.MethodPost, "/reports/templates", `<reportTemplate><metrics><id>273</id></metrics></reportTemplate>`, 400, 1009, "needs a <name>")
	_, ls := e.ok(t, e.do(t, http.MethodPost, "/reports/templates", `<reportTemplate><name>t</name><metrics><id>273</id></metrics></reportTemplate>`), http.StatusCreated)
	rp := ls[1]
	single := `<timeframe><singlePeriod><periodEndingDate><month>12</month><year>2025</year></periodEndingDate></singlePeriod></timeframe>`
	fail(http.MethodPut, rp, `<report><timeframe><singlePeriod><periodEndingDate><month>12</month><year>2025</year></periodEndingDate></singlePeriod>
		<currentPeriod><meterType>ENERGY</meterType></currentPeriod></timeframe><properties>`+idsXML(props)+`</properties></report>`,
		400, 1002, "<timeframe> has 2 choices (currentPeriod and singlePeriod)")
	fail(http.MethodPut, rp, `<report><timeframe></timeframe><properties>`+idsXML(props)+`</properties></report>`, 400, 1002, "<timeframe> is empty")
	fail(http.MethodPut, rp, `<report>`+single+`<properties><id>99999999</id>`+idsXML(props)+`</properties></report>`, 404, 1003, "1 of the report's properties were not found in your account: 99999999")
	fail(http.MethodPut, rp, `<report>`+single+`<properties>`+idsXML(foreign)+`</properties></report>`, 404, 1003, "not found in your account: "+foreign[0])
	fail(http.MethodPut, rp, `<report><timeframe><dateRange><fromPeriodEndingDate><month>1</month><year>2025</year></fromPeriodEndingDate>
		<toPeriodEndingDate><month>12</month><year>2025</year></toPeriodEndingDate><interval>WEEKLY</interval></dateRange></timeframe><properties>`+idsXML(props)+`</properties></report>`,
		400, 1002, "interval 'WEEKLY'")
	many := make([]string, 5001)
	for i := range many {
		many[i] = strconv.Itoa(i + 1)
	}
	fail(http.MethodPut, rp, `<report>`+single+`<properties>`+idsXML(many)+`</properties></report>`, 400, 1004, "at most 5000 are allowed")
	fail(http.MethodGet, rp+"/download?type=XML", "", 409, 1007, "has not been generated")
	fail(http.MethodPost, rp+"/generate", "", 409, 1009, "no timeframe or properties yet")
	fail(http.MethodGet, "/reports/424242", "", 404, 1003, "Report 424242 was not found")

	// while submitted: no edit, no delete, no second generation
	e.ok(t, e.do(t, http.MethodPut, rp, `<report>`+single+`<properties>`+idsXML(props)+`</properties></report>`), http.StatusOK)
	e.ok(t, e.do(t, http.MethodPost, rp+"/generate", ""), http.StatusOK)
	fail(http.MethodPut, rp, `<report>`+single+`<properties>`+idsXML(props[:1])+`</properties></report>`, 409, 1005, "while its report is submitted")
	fail(http.MethodPut, ls[0], `<reportTemplate><name>t2</name></reportTemplate>`, 409, 1005, "while its report is submitted")
	fail(http.MethodDelete, ls[0], "", 409, 1005, "while its report is submitted")
	fail(http.MethodPost, rp+"/generate", "", 409, 1005, "is already SUBMITTED")
	// five generating per account: the sixth is refused
	for i := 0; i < 4; i++ {
		_, l := e.ok(t, e.do(t, http.MethodPost, "/reports/templates", `<reportTemplate><name>t</name><metrics><id>273</id></metrics></reportTemplate>`), http.StatusCreated)
		e.ok(t, e.do(t, http.MethodPut, l[1], `<report>`+single+`<properties>`+idsXML(props)+`</properties></report>`), http.StatusOK)
		e.ok(t, e.do(t, http.MethodPost, l[1]+"/generate", ""), http.StatusOK)
	}
	_, l := e.ok(t, e.do(t, http.MethodPost, "/reports/templates", `<reportTemplate><name>t</name><metrics><id>273</id></metrics></reportTemplate>`), http.StatusCreated)
	e.ok(t, e.do(t, http.MethodPut, l[1], `<report>`+single+`<properties>`+idsXML(props)+`</properties></report>`), http.StatusOK)
	fail(http.MethodPost, l[1]+"/generate", "", 429, 1006, "5 reports of your account are generating")
	// a key without an account
	noAcct := energyClient{ts, ts.key(t, meta.Key{Name: "org", User: "u", Org: "acme"})}
	if r := noAcct.do(t, http.MethodGet, "/reports/templates", ""); r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "no account scope") {
		t.Errorf("key without an account: %d %s", r.Status, r.Body)
	}
}

// Generated results are kept 90 days; then the download says they expired.
func TestEnergyResultsExpire(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	ts := startServer(t, serverSetup{jobs: &jobs.Config{Workers: 2, PollInterval: 50 * time.Millisecond, Clock: clk.Now}})
	e := energyClient{ts, ts.key(t, meta.Key{Name: "pm", User: "pm-user", Account: "acct-1"})}
	props := accountProperties(t, "acct-1", 1)
	_, ls := e.ok(t, e.do(t, http.MethodPost, "/reports/templates", `<reportTemplate><name>t</name><metrics><id>273</id></metrics></reportTemplate>`), http.StatusCreated)
	e.ok(t, e.do(t, http.MethodPut, ls[1], `<report><timeframe><singlePeriod><periodEndingDate><month>12</month><year>2025</year></periodEndingDate></singlePeriod></timeframe><properties>`+idsXML(props)+`</properties></report>`), http.StatusOK)
	id, _ := strconv.ParseInt(strings.TrimPrefix(ls[1], "/reports/"), 10, 64)
	e.generate(t, id)
	clk.Set(clk.Now().Add(89 * 24 * time.Hour))
	if err := ts.Jobs.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, http.MethodGet, ls[1]+"/download?type=XML", ""); r.Status != http.StatusOK {
		t.Fatalf("after 89 days: %d %s", r.Status, r.Body)
	}
	clk.Set(clk.Now().Add(24*time.Hour + time.Minute))
	if err := ts.Jobs.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, http.MethodGet, ls[1]+"/download?type=EXCEL", "")
	if r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), "expired (generated reports are kept 90 days)") {
		t.Errorf("after 90 days: %d %s", r.Status, r.Body)
	}
}
