package insights

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/parser"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// Output layouts of time values in rows (the public API's CSV shows the
// same forms).
const (
	dateLayout     = "2006-01-02"
	dateTimeLayout = "2006-01-02 15:04:05"
)

// testQueryResult answers GET /ScheduledQueries/testQueryResult: parse,
// plan with the key's scope and the engine clock, run within the time
// limit, and return the first TestQueryRows rows.
func (a *API) testQueryResult(c *fiber.Ctx) error {
	text, _ := api.Query(c, "exportQuery")
	id, _ := api.Query(c, "queryId")
	text, id = strings.TrimSpace(text), strings.TrimSpace(id)
	switch {
	case text != "" && id != "":
		return badRequest("Invalid query parameters - exportQuery and queryId are mutually exclusive",
			"pass either exportQuery=<query text> or queryId=<QueryId>, not both")
	case text == "" && id == "":
		return badRequest(MsgMissingValue, "pass exportQuery=<query text> or queryId=<QueryId>")
	case id != "":
		var err error
		if text, err = a.queryText(c, id); err != nil {
			return err
		}
	}
	opt := planner.Options{Now: a.eng.Now(), Scope: api.KeyFrom(c).Scope(), MaxLimit: TestQueryRows}
	var err error
	if opt.Start, err = timeParam(c, "startTime"); err != nil {
		return err
	}
	if opt.End, err = timeParam(c, "endTime"); err != nil {
		return err
	}

	opt.MaxLimit = 0 // a LIMIT over 100 is allowed; only 100 rows come back
	p, err := a.plan(text, opt)
	if err != nil {
		return err
	}
	if p.Limit == 0 || p.Limit > TestQueryRows {
		p.Limit = TestQueryRows
	}

	ctx, cancel := context.WithTimeout(c.UserContext(), a.cfg.TestQueryTimeout)
	defer cancel()
	rows, err := a.firstRows(ctx, p, TestQueryRows)
	if err != nil {
		return a.runError(ctx, err)
	}
	return ok(c, rows, len(rows), nil)
}

// queryText resolves testQueryResult's queryId: a system query, or a
// saved query the caller may see; anything else is "Invalid QueryId", so
// another tenant's id cannot be told from an unknown one.
func (a *API) queryText(c *fiber.Ctx, id string) (string, error) {
	if sq, found := datasets.SystemQueryByID(id); found {
		return sq.Query, nil
	}
	invalid := badRequest(MsgInvalidQueryID, fmt.Sprintf("no system query and none of your queries has QueryId '%s'", id))
	if a.cfg.Queries == nil {
		return "", invalid
	}
	q, err := a.userQuery(c, id)
	if err != nil {
		if e := api.AsError(err); e.Status == fiber.StatusNotFound {
			return "", invalid
		}
		return "", err
	}
	return q.Query, nil
}

// plan parses a query text and plans it over the catalog with opt (the
// caller's scope and clock): the check a saved query passes at creation
// and every run goes through. Errors are the family's (see queryError).
func (a *API) plan(text string, opt planner.Options) (*planner.Plan, error) {
	q, err := parser.ParseQuery(text)
	if err != nil {
		return nil, queryError(err)
	}
	if d, found := a.eng.Catalog().Lookup(q.From.Name); found && !a.served[d.Name] {
		return nil, badRequest(planner.MsgInvalidTable, fmt.Sprintf("%s: dataset '%s' is not served by the insights API; use one of %s",
			q.From.Pos, q.From.Name, strings.Join(a.names(), ", ")))
	}
	p, err := planner.FromQuery(q, a.eng.Catalog(), opt)
	if err != nil {
		return nil, queryError(err)
	}
	return p, nil
}

func timeParam(c *fiber.Ctx, name string) (*time.Time, error) {
	v, _ := api.Query(c, name)
	if v = strings.TrimSpace(v); v == "" {
		return nil, nil
	}
	t, err := planner.ParseTime(v)
	if err != nil {
		return nil, badRequest(fmt.Sprintf("Invalid query parameters - %s should follow format: yyyy-MM-ddTHH:mm:ssZ", name), err.Error())
	}
	return &t, nil
}

// queryError maps parser and planner errors to the family's 400 (403 for
// a scope the key lacks): the public message, and the positioned text as
// the detail.
func queryError(err error) error {
	var pe *parser.Error
	if errors.As(err, &pe) {
		return badRequest(pe.Message, pe.Error())
	}
	var ple *planner.Error
	if errors.As(err, &ple) {
		if ple.Message == planner.MsgForbidden {
			return &api.Error{Status: fiber.StatusForbidden, Code: "forbidden", Message: ple.Message, Detail: ple.Error()}
		}
		return badRequest(ple.Message, ple.Error())
	}
	return api.Internal(fmt.Errorf("plan query: %w", err))
}

func (a *API) runError(ctx context.Context, err error) error {
	var ple *planner.Error
	switch {
	case errors.As(err, &ple):
		return queryError(err)
	case errors.Is(err, engine.ErrTimeout) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return badRequest("Query execution timed out",
			fmt.Sprintf("the query ran past the %s limit of testQueryResult; narrow its TIMESPAN or add conditions", a.cfg.TestQueryTimeout))
	case errors.Is(ctx.Err(), context.Canceled):
		return &api.Error{Status: fiber.StatusServiceUnavailable, Code: "unavailable", Message: MsgUnavailable,
			Detail: "the query was cancelled: the server is shutting down", Err: err}
	}
	return api.Internal(fmt.Errorf("run query: %w", err))
}

// firstRows runs the plan and returns up to max rows as JSON objects
// keyed by column name, in column order.
func (a *API) firstRows(ctx context.Context, p *planner.Plan, max int) ([]json.RawMessage, error) {
	res, err := a.eng.Run(ctx, p)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	fields := res.Schema().Fields()
	keys := make([][]byte, len(fields))
	for i, f := range fields {
		keys[i], _ = json.Marshal(f.Name)
	}
	rows := []json.RawMessage{}
	for len(rows) < max && res.Reader.Next() {
		rec := res.Reader.RecordBatch()
		for r := 0; r < int(rec.NumRows()) && len(rows) < max; r++ {
			var b bytes.Buffer
			b.WriteByte('{')
			for i, f := range fields {
				if i > 0 {
					b.WriteByte(',')
				}
				b.Write(keys[i])
				b.WriteByte(':')
				v, err := json.Marshal(jsonValue(engine.Value(rec.Column(i), r), f.Type))
				if err != nil {
					return nil, fmt.Errorf("column %s: %w", f.Name, err)
				}
				b.Write(v)
			}
			b.WriteByte('}')
			rows = append(rows, b.Bytes())
		}
	}
	if err := res.Reader.Err(); err != nil {
		return nil, err
	}
	return rows, nil
}

// jsonValue makes a cell JSON-typed: numbers and booleans stay, dates
// become YYYY-MM-DD and timestamps YYYY-MM-DD hh:mm:ss (UTC), NaN and
// infinities null.
func jsonValue(v any, t arrow.DataType) any {
	switch x := v.(type) {
	case engine.Date:
		return x.UTC().Format(dateLayout)
	case time.Time:
		switch t.ID() {
		case arrow.DATE32, arrow.DATE64:
			return x.UTC().Format(dateLayout)
		}
		return x.UTC().Format(dateTimeLayout)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	}
	return v
}
