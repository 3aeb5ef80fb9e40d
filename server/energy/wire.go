package energy

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// The wire format: XML by default, as the public API; JSON when the client
// asks for it (a JSON Content-Type for bodies, Accept: application/json
// for answers). JSON documents are the XML ones with the root element's
// name as their single key: {"response": {"status": "Ok", …}}.

// xmlHeader starts every XML answer, as the public API's do.
const xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

// Error numbers of the family's <error errorNumber=…>.
const (
	ErrBadBody        = 1000 // not well-formed XML/JSON, or the wrong root element
	ErrInvalidMetric  = 1001
	ErrInvalidTime    = 1002 // timeframe
	ErrNotFound       = 1003 // template, report or property
	ErrTooMany        = 1004 // properties or data points over the limit
	ErrBusy           = 1005 // submitted or generating: no edit, delete or second generation
	ErrGenerateLimit  = 1006 // 5 reports generating per account
	ErrNotGenerated   = 1007 // download before a generation completed
	ErrExpired        = 1008 // results older than 90 days
	ErrInvalidRequest = 1009 // other validation
	ErrForbidden      = 1010
	ErrUnauthorized   = 1011
	ErrInternal       = 1099
)

type response struct {
	XMLName xml.Name  `xml:"response" json:"-"`
	Status  string    `xml:"status,attr" json:"status"`
	ID      int64     `xml:"id,omitempty" json:"id,omitempty"`
	Links   *links    `xml:"links,omitempty" json:"links,omitempty"`
	Errors  *errorSet `xml:"errors,omitempty" json:"errors,omitempty"`
}

type links struct {
	Link []link `xml:"link" json:"link"`
}

type link struct {
	ID              int64  `xml:"id,attr,omitempty" json:"id,omitempty"`
	Link            string `xml:"link,attr" json:"link"`
	LinkDescription string `xml:"linkDescription,attr,omitempty" json:"linkDescription,omitempty"`
	HTTPMethod      string `xml:"httpMethod,attr,omitempty" json:"httpMethod,omitempty"`
	Hint            string `xml:"hint,attr,omitempty" json:"hint,omitempty"`
}

type errorSet struct {
	Error []errorEl `xml:"error" json:"error"`
}

type errorEl struct {
	ErrorNumber      int    `xml:"errorNumber,attr" json:"errorNumber"`
	ErrorDescription string `xml:"errorDescription,attr" json:"errorDescription"`
}

type reportTemplate struct {
	XMLName      xml.Name `xml:"reportTemplate" json:"-"`
	ID           int64    `xml:"id,omitempty" json:"id,omitempty"`
	Name         string   `xml:"name" json:"name"`
	TemplateType string   `xml:"templateType,omitempty" json:"templateType,omitempty"`
	Metrics      *intIDs  `xml:"metrics" json:"metrics"`
	ReportID     int64    `xml:"reportId,omitempty" json:"reportId,omitempty"`
}

type intIDs struct {
	ID []int64 `xml:"id" json:"id"`
}

type stringIDs struct {
	ID []string `xml:"id" json:"id"`
}

type report struct {
	XMLName                xml.Name   `xml:"report" json:"-"`
	ID                     int64      `xml:"id,omitempty" json:"id,omitempty"`
	Type                   string     `xml:"type,omitempty" json:"type,omitempty"`
	Timeframe              *timeframe `xml:"timeframe" json:"timeframe"`
	TemplateID             int64      `xml:"templateId,omitempty" json:"templateId,omitempty"`
	TemplateName           string     `xml:"templateName,omitempty" json:"templateName,omitempty"`
	Properties             *stringIDs `xml:"properties" json:"properties"`
	ReportGenerationStatus string     `xml:"reportGenerationStatus,omitempty" json:"reportGenerationStatus,omitempty"`
}

type ped struct {
	Month int `xml:"month" json:"month"`
	Year  int `xml:"year" json:"year"`
}

type meter struct {
	MeterType string `xml:"meterType" json:"meterType"`
}

type meterPeriod struct {
	MeterType        string `xml:"meterType" json:"meterType"`
	PeriodEndingDate *ped   `xml:"periodEndingDate" json:"periodEndingDate"`
}

type single struct {
	PeriodEndingDate *ped `xml:"periodEndingDate" json:"periodEndingDate"`
}

type two struct {
	One *ped `xml:"periodEndingDateOne" json:"periodEndingDateOne"`
	Two *ped `xml:"periodEndingDateTwo" json:"periodEndingDateTwo"`
}

type dateRange struct {
	From     *ped   `xml:"fromPeriodEndingDate" json:"fromPeriodEndingDate"`
	To       *ped   `xml:"toPeriodEndingDate" json:"toPeriodEndingDate"`
	Interval string `xml:"interval" json:"interval"`
}

// timeframe is timeframeType: exactly one child.
type timeframe struct {
	CurrentPeriod         *meter       `xml:"currentPeriod" json:"currentPeriod,omitempty"`
	BaselinePeriod        *meter       `xml:"baselinePeriod" json:"baselinePeriod,omitempty"`
	CurrentVsBaseline     *meter       `xml:"currentVsBaseline" json:"currentVsBaseline,omitempty"`
	SinglePeriod          *single      `xml:"singlePeriod" json:"singlePeriod,omitempty"`
	CompareCurrentPeriod  *meterPeriod `xml:"compareCurrentPeriod" json:"compareCurrentPeriod,omitempty"`
	CompareBaselinePeriod *meterPeriod `xml:"compareBaselinePeriod" json:"compareBaselinePeriod,omitempty"`
	TwoPeriods            *two         `xml:"twoPeriods" json:"twoPeriods,omitempty"`
	DateRange             *dateRange   `xml:"dateRange" json:"dateRange,omitempty"`
}

func (p *ped) value() planner.PeriodEnding {
	if p == nil {
		return planner.PeriodEnding{}
	}
	return planner.PeriodEnding{Month: p.Month, Year: p.Year}
}

func pedOf(p planner.PeriodEnding) *ped { return &ped{Month: p.Month, Year: p.Year} }

// toPlanner reads the one choice of a timeframe.
func (t *timeframe) toPlanner() (planner.Timeframe, error) {
	if t == nil {
		return planner.Timeframe{}, fmt.Errorf("the report has no <timeframe>; give one of %s", strings.Join(planner.TimeframeKinds, ", "))
	}
	var kinds []string
	var out planner.Timeframe
	if t.CurrentPeriod != nil {
		kinds = append(kinds, planner.CurrentPeriod)
		out = planner.Timeframe{Kind: planner.CurrentPeriod, MeterType: t.CurrentPeriod.MeterType}
	}
	if t.BaselinePeriod != nil {
		kinds = append(kinds, planner.BaselinePeriod)
		out = planner.Timeframe{Kind: planner.BaselinePeriod, MeterType: t.BaselinePeriod.MeterType}
	}
	if t.CurrentVsBaseline != nil {
		kinds = append(kinds, planner.CurrentVsBaseline)
		out = planner.Timeframe{Kind: planner.CurrentVsBaseline, MeterType: t.CurrentVsBaseline.MeterType}
	}
	if t.SinglePeriod != nil {
		kinds = append(kinds, planner.SinglePeriod)
		out = planner.Timeframe{Kind: planner.SinglePeriod, Period: t.SinglePeriod.PeriodEndingDate.value()}
	}
	if t.CompareCurrentPeriod != nil {
		kinds = append(kinds, planner.CompareCurrentPeriod)
		out = planner.Timeframe{Kind: planner.CompareCurrentPeriod, MeterType: t.CompareCurrentPeriod.MeterType,
			Period: t.CompareCurrentPeriod.PeriodEndingDate.value()}
	}
	if t.CompareBaselinePeriod != nil {
		kinds = append(kinds, planner.CompareBaselinePeriod)
		out = planner.Timeframe{Kind: planner.CompareBaselinePeriod, MeterType: t.CompareBaselinePeriod.MeterType,
			Period: t.CompareBaselinePeriod.PeriodEndingDate.value()}
	}
	if t.TwoPeriods != nil {
		kinds = append(kinds, planner.TwoPeriods)
		out = planner.Timeframe{Kind: planner.TwoPeriods, Period: t.TwoPeriods.One.value(), PeriodTwo: t.TwoPeriods.Two.value()}
	}
	if t.DateRange != nil {
		kinds = append(kinds, planner.DateRange)
		out = planner.Timeframe{Kind: planner.DateRange, From: t.DateRange.From.value(), To: t.DateRange.To.value(),
			Interval: t.DateRange.Interval}
	}
	switch len(kinds) {
	case 0:
		return out, fmt.Errorf("<timeframe> is empty; give exactly one of %s", strings.Join(planner.TimeframeKinds, ", "))
	case 1:
		return out, nil
	}
	return out, fmt.Errorf("<timeframe> has %d choices (%s); give exactly one", len(kinds), strings.Join(kinds, " and "))
}

// timeframeOf renders a stored timeframe.
func timeframeOf(t planner.Timeframe) *timeframe {
	switch t.Kind {
	case planner.CurrentPeriod:
		return &timeframe{CurrentPeriod: &meter{t.MeterType}}
	case planner.BaselinePeriod:
		return &timeframe{BaselinePeriod: &meter{t.MeterType}}
	case planner.CurrentVsBaseline:
		return &timeframe{CurrentVsBaseline: &meter{t.MeterType}}
	case planner.SinglePeriod:
		return &timeframe{SinglePeriod: &single{pedOf(t.Period)}}
	case planner.CompareCurrentPeriod:
		return &timeframe{CompareCurrentPeriod: &meterPeriod{t.MeterType, pedOf(t.Period)}}
	case planner.CompareBaselinePeriod:
		return &timeframe{CompareBaselinePeriod: &meterPeriod{t.MeterType, pedOf(t.Period)}}
	case planner.TwoPeriods:
		return &timeframe{TwoPeriods: &two{pedOf(t.Period), pedOf(t.PeriodTwo)}}
	case planner.DateRange:
		return &timeframe{DateRange: &dateRange{pedOf(t.From), pedOf(t.To), t.Interval}}
	}
	return nil
}

type reportStatus struct {
	XMLName             xml.Name `xml:"reportStatus" json:"-"`
	Status              string   `xml:"status" json:"status"`
	Description         string   `xml:"description,omitempty" json:"description,omitempty"`
	GenerationStartDate string   `xml:"generationStartDate,omitempty" json:"generationStartDate,omitempty"`
	GenerationEndDate   string   `xml:"generationEndDate,omitempty" json:"generationEndDate,omitempty"`
	SubmittedDate       string   `xml:"submittedDate,omitempty" json:"submittedDate,omitempty"`
}

type reportMetrics struct {
	XMLName xml.Name      `xml:"reportMetrics" json:"-"`
	Group   []metricGroup `xml:"group" json:"group"`
}

type metricGroup struct {
	ID      int          `xml:"id,attr" json:"id"`
	Name    string       `xml:"name,attr" json:"name"`
	Metrics metricsOfGrp `xml:"metrics" json:"metrics"`
}

type metricsOfGrp struct {
	Metric []metricDef `xml:"metric" json:"metric"`
}

type metricDef struct {
	ID                       int    `xml:"id,attr" json:"id"`
	Name                     string `xml:"name,attr" json:"name"`
	Description              string `xml:"description,attr" json:"description"`
	DataType                 string `xml:"dataType,attr" json:"dataType"`
	UOM                      string `xml:"uom,attr,omitempty" json:"uom,omitempty"`
	AvailableToCustomMetrics bool   `xml:"availableToCustomMetrics,attr" json:"availableToCustomMetrics"`
}

// wantsJSON reports whether the client asked for JSON answers.
func wantsJSON(c *fiber.Ctx) bool {
	return strings.Contains(strings.ToLower(c.Get(fiber.HeaderAccept)), "application/json")
}

// send writes a document in the client's format.
func send(c *fiber.Ctx, status int, root string, v any) error {
	c.Status(status)
	if wantsJSON(c) {
		b, err := json.Marshal(map[string]any{root: v})
		if err != nil {
			return api.Internal(err)
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Send(b)
	}
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		return api.Internal(err)
	}
	c.Set(fiber.HeaderContentType, "application/xml; charset=UTF-8")
	return c.Send(append([]byte(xmlHeader), b...))
}

// decode reads a body of the given root element (XML, or JSON when the
// client sends JSON) into v.
func decode(c *fiber.Ctx, root string, v any) *api.Error {
	body := c.Body()
	if len(strings.TrimSpace(string(body))) == 0 {
		return bodyError("the request body is empty; send a <%s> document", root)
	}
	if strings.Contains(strings.ToLower(c.Get(fiber.HeaderContentType)), "json") {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(body, &doc); err != nil {
			return bodyError("the request body is not valid JSON: %v", err)
		}
		inner, ok := doc[root]
		if !ok || len(doc) != 1 {
			return bodyError("the JSON body must be {\"%s\": {…}}", root)
		}
		if err := json.Unmarshal(inner, v); err != nil {
			return bodyError("the %s document is not valid: %v", root, err)
		}
		return nil
	}
	dec := xml.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(v); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return bodyError("the request body is not well-formed XML (line %d): %s", se.Line, se.Msg)
		}
		if errors.Is(err, io.EOF) {
			return bodyError("the request body has no <%s> element", root)
		}
		return bodyError("the request body is not a <%s> document: %v", root, err)
	}
	// trailing garbage after the root element
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return bodyError("the request body is not well-formed XML (line %d): %s", se.Line, se.Msg)
			}
			return bodyError("the request body is not well-formed XML: %v", err)
		}
		switch tok.(type) {
		case xml.StartElement:
			return bodyError("the request body has content after its <%s> element", root)
		}
	}
}

func bodyError(format string, a ...any) *api.Error {
	return &api.Error{Status: fiber.StatusBadRequest, Code: fmt.Sprint(ErrBadBody), Message: fmt.Sprintf(format, a...)}
}

// fail is an error of the family: HTTP status, error number and text.
func fail(status, number int, format string, a ...any) *api.Error {
	return &api.Error{Status: status, Code: fmt.Sprint(number), Message: fmt.Sprintf(format, a...)}
}

// WriteError renders an error in the <response status="Error"> envelope.
func WriteError(c *fiber.Ctx, e *api.Error) error {
	number := ErrInternal
	if _, err := fmt.Sscan(e.Code, &number); err != nil {
		switch e.Status {
		case fiber.StatusUnauthorized:
			number = ErrUnauthorized
		case fiber.StatusForbidden:
			number = ErrForbidden
		case fiber.StatusNotFound:
			number = ErrNotFound
		case fiber.StatusBadRequest, fiber.StatusRequestEntityTooLarge:
			number = ErrInvalidRequest
		default:
			number = ErrInternal
		}
	}
	msg := e.Message
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return send(c, e.Status, "response", response{Status: "Error", Errors: &errorSet{Error: []errorEl{{ErrorNumber: number, ErrorDescription: msg}}}})
}
