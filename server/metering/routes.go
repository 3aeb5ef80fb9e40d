package metering

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// TimeLayout is how the v1 API writes datetimes (reference §1.2).
const TimeLayout = "2006-01-02T15:04:05.000000"

// Prefix is the base path of the family.
const Prefix = "/v1"

// Routes returns the family's route table entries.
func (a *API) Routes() []api.Route {
	pp := func(name, what string) api.Param {
		return api.Param{Name: name, In: "path", Required: true, Description: what}
	}
	var (
		start = api.Param{Name: "start_timestamp", In: "query",
			Description: "ISO 8601 date/time (T or space, optional fraction; a zone is ignored, the time is taken as UTC); inclusive lower bound"}
		end    = api.Param{Name: "end_timestamp", In: "query", Description: "ISO 8601 date/time; exclusive upper bound"}
		offset = api.Param{Name: "search_offset", In: "query", Type: "integer",
			Description: "minutes to widen the window on both sides (volume and duration only)"}
		metadata = api.Param{Name: "metadata.<key>", In: "query",
			Description: "exact match of a resource_metadata key's value as text; several are ANDed"}
		resource = pp("resource", "resource id")
		project  = pp("project", "project id; 404 when the caller is limited to another project")
		user     = pp("user", "user id")
		source   = pp("source", "source name")
		meter    = pp("meter", "meter name, e.g. instance:m1.tiny or volume.size")
	)
	responses := map[int]string{
		fiber.StatusBadRequest: "malformed start_timestamp, end_timestamp or search_offset",
		fiber.StatusForbidden:  "the key has no project scope (member keys need --project)",
		fiber.StatusNotFound:   "a project the caller is not limited to",
	}
	type def struct {
		path    string
		kind    planner.MeteringKind
		summary string
		params  []api.Param
	}
	listR := []api.Param{start, end, metadata}
	defs := []def{
		{"/resources", planner.MeterResources, "All resources: {\"resources\": [{resource_id, first_sample_timestamp, last_sample_timestamp, project_id, source, user_id, metadata}]}", listR},
		{"/projects", planner.MeterProjects, "All project ids, sorted: {\"projects\": […]}", nil},
		{"/users", planner.MeterUsers, "All user ids, sorted: {\"users\": […]}", nil},
		{"/meters", planner.MeterMeters, "All meters: {\"meters\": [{name, type, unit, resource_id, project_id, user_id, source}]}", []api.Param{metadata}},
		{"/projects/:project/resources", planner.MeterResources, "Resources of a project", append([]api.Param{project}, listR...)},
		{"/projects/:project/meters", planner.MeterMeters, "Meters of a project", []api.Param{project, metadata}},
		{"/users/:user/resources", planner.MeterResources, "Resources of a user", append([]api.Param{user}, listR...)},
		{"/users/:user/meters", planner.MeterMeters, "Meters of a user", []api.Param{user, metadata}},
		{"/resources/:resource/meters", planner.MeterMeters, "Meters of a resource", []api.Param{resource, metadata}},
		{"/sources/:source/resources", planner.MeterResources, "Resources a source reports", append([]api.Param{source}, listR...)},
		{"/sources/:source/projects", planner.MeterProjects, "Projects a source reports, sorted", []api.Param{source}},
		{"/sources/:source/users", planner.MeterUsers, "Users a source reports, sorted", []api.Param{source}},
		{"/sources/:source/meters", planner.MeterMeters, "Meters a source reports", []api.Param{source, metadata}},
		{"/resources/:resource/meters/:meter", planner.MeterSamples, "Raw samples of a resource's meter, newest first: {\"events\": […]}", []api.Param{resource, meter, start, end, metadata}},
		{"/projects/:project/meters/:meter", planner.MeterSamples, "Raw samples of a project's meter, newest first", []api.Param{project, meter, start, end, metadata}},
		{"/users/:user/meters/:meter", planner.MeterSamples, "Raw samples of a user's meter, newest first", []api.Param{user, meter, start, end, metadata}},
		{"/sources/:source/meters/:meter", planner.MeterSamples, "Raw samples of a source's meter, newest first", []api.Param{source, meter, start, end, metadata}},
		{"/resources/:resource/meters/:meter/volume/max", planner.MeterVolumeMax, "Max counter_volume: {\"volume\": n|null}", []api.Param{resource, meter, start, end, offset}},
		{"/resources/:resource/meters/:meter/volume/sum", planner.MeterVolumeSum, "Total counter_volume: {\"volume\": n|null}", []api.Param{resource, meter, start, end, offset}},
		{"/projects/:project/meters/:meter/volume/max", planner.MeterVolumeMax, "Max counter_volume over a project's resources", []api.Param{project, meter, start, end, offset}},
		{"/projects/:project/meters/:meter/volume/sum", planner.MeterVolumeSum, "Total counter_volume over a project's resources", []api.Param{project, meter, start, end, offset}},
		{"/resources/:resource/meters/:meter/duration", planner.MeterDuration,
			"First and last sample time, clamped to the window, and their distance in seconds: {start_timestamp, end_timestamp, duration} (all null when empty)",
			[]api.Param{resource, meter, start, end, offset}},
	}
	routes := make([]api.Route, 0, len(defs)+1)
	for _, d := range defs {
		routes = append(routes, api.Route{Method: fiber.MethodGet, Path: Prefix + d.path, Tag: "metering", Summary: d.summary,
			Params: d.params, Responses: responses, Handler: a.handler(d.kind), Errors: WriteError})
	}
	routes = append(routes, api.Route{Method: fiber.MethodGet, Path: Prefix + "/sources/:source", Tag: "metering",
		Summary: "The configured description of a source, or {} (not stored data)", Params: []api.Param{source},
		Handler: a.source, Errors: WriteError})
	return routes
}

// source is GET /v1/sources/{source}: the configured object, or {}.
func (a *API) source(c *fiber.Ctx) error {
	req, err := request(c, planner.MeterProjects)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	if v, ok := a.cfg.Sources[req.Source]; ok {
		return c.Send(v)
	}
	return c.SendString("{}")
}

// handler answers one kind of request.
func (a *API) handler(kind planner.MeteringKind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if p := c.Path(); len(p) > 1 && strings.HasSuffix(p, "/") {
			// the v1 API has no route with a trailing slash
			return api.Errorf(fiber.StatusNotFound, "not_found", "%s: no such route; drop the trailing slash", p)
		}
		req, err := request(c, kind)
		if err != nil {
			return err
		}
		opt, aerr := a.Caller(c)
		if aerr != nil {
			return aerr
		}
		body, err := a.Answer(c.UserContext(), req, opt)
		if err != nil {
			return err
		}
		if kind == planner.MeterSamples && prefersHTML(c.Get(fiber.HeaderAccept)) {
			page, err := samplesHTML("Samples: "+c.Path(), body)
			if err != nil {
				return api.Internal(err)
			}
			c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
			return c.Send(page)
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(body)
	}
}

// Answer plans (or reuses the plan of) a request, runs it and returns the
// JSON body. Errors are *api.Error.
func (a *API) Answer(ctx context.Context, req planner.MeteringRequest, opt planner.MeteringOptions) ([]byte, error) {
	opt.MaxSamples = a.cfg.MaxSamples
	key := cacheKey(req, opt)
	e := a.cache.get(key)
	if e == nil {
		mp, err := planner.FromMetering(req, a.eng.Catalog(), opt)
		if err != nil {
			return nil, planError(err)
		}
		e = a.cache.add(key, mp)
	}
	mp := e.mp
	if mp.Plan == nil {
		return marshal(map[string]any{listKey(mp.Kind): mp.Static})
	}
	rows, err := a.rows(ctx, e)
	if err != nil {
		return nil, err
	}
	switch mp.Kind {
	case planner.MeterVolumeMax, planner.MeterVolumeSum:
		var v any
		if len(rows) > 0 {
			v = rows[0][0]
		}
		return marshal(map[string]any{"volume": v})
	case planner.MeterDuration:
		var first, last *time.Time
		if len(rows) > 0 {
			if t, ok := rows[0][0].(time.Time); ok {
				first = &t
			}
			if t, ok := rows[0][1].(time.Time); ok {
				last = &t
			}
		}
		s, en, secs := mp.Duration(first, last)
		var b bytes.Buffer
		b.WriteString(`{"start_timestamp":`)
		writeTime(&b, s)
		b.WriteString(`,"end_timestamp":`)
		writeTime(&b, en)
		b.WriteString(`,"duration":`)
		if secs == nil {
			b.WriteString("null")
		} else {
			b.WriteString(strconv.FormatFloat(*secs, 'f', -1, 64))
		}
		b.WriteByte('}')
		return b.Bytes(), nil
	case planner.MeterProjects, planner.MeterUsers:
		ids := make([]any, len(rows))
		for i, r := range rows {
			ids[i] = r[0]
		}
		return marshal(map[string]any{listKey(mp.Kind): ids})
	case planner.MeterSamples:
		if int64(len(rows)) > a.cfg.MaxSamples {
			return nil, &api.Error{Status: fiber.StatusBadRequest, Message: "Too many samples",
				Detail: fmt.Sprintf("more than %d samples match; narrow start_timestamp/end_timestamp", a.cfg.MaxSamples)}
		}
	}
	return records(listKey(mp.Kind), mp.Plan.Outputs, rows)
}

// rows runs the entry's plan, reusing its compiled SQL while the meters
// manifest is unchanged.
func (a *API) rows(ctx context.Context, e *cacheEntry) ([][]any, error) {
	p := e.mp.Plan
	m, err := a.eng.Store().Manifest(p.Dataset.Name)
	if err != nil {
		return nil, api.Internal(err)
	}
	q, ok := e.compiled(m)
	if !ok {
		if q, err = a.eng.Compile(p); err != nil {
			return nil, api.Internal(err)
		}
		// cache the SQL only if the manifest did not change meanwhile
		if m2, err := a.eng.Store().Manifest(p.Dataset.Name); err == nil && m2 == m {
			e.setCompiled(m, q)
		}
	}
	res, err := a.eng.RunSQL(ctx, q)
	if err != nil {
		return nil, api.Internal(fmt.Errorf("metering %s: %w", e.mp.Kind, err))
	}
	defer res.Close()
	var rows [][]any
	for res.Reader.Next() {
		rec := res.Reader.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			row := make([]any, rec.NumCols())
			for c := range row {
				row[c] = engine.Value(rec.Column(c), r)
			}
			rows = append(rows, row)
		}
	}
	if err := res.Reader.Err(); err != nil {
		return nil, api.Internal(fmt.Errorf("metering %s: %w", e.mp.Kind, err))
	}
	return rows, nil
}

// listKey is the key a kind's response wraps its list in.
func listKey(k planner.MeteringKind) string {
	switch k {
	case planner.MeterResources:
		return "resources"
	case planner.MeterProjects:
		return "projects"
	case planner.MeterUsers:
		return "users"
	case planner.MeterMeters:
		return "meters"
	case planner.MeterSamples:
		return "events"
	}
	return k.String()
}

// records writes {"<key>": [{<output name>: value, …}, …]}: keys in output
// order, datetimes in TimeLayout, JSON columns as JSON.
func records(key string, outs []planner.Output, rows [][]any) ([]byte, error) {
	var b bytes.Buffer
	names := make([][]byte, len(outs))
	for i, o := range outs {
		n, err := json.Marshal(o.Name)
		if err != nil {
			return nil, api.Internal(err)
		}
		names[i] = n
	}
	k, _ := json.Marshal(key)
	b.WriteByte('{')
	b.Write(k)
	b.WriteString(":[")
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		for j, v := range r {
			if j > 0 {
				b.WriteByte(',')
			}
			b.Write(names[j])
			b.WriteByte(':')
			if err := writeValue(&b, v, outs[j].Type()); err != nil {
				return nil, api.Internal(err)
			}
		}
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

func writeValue(b *bytes.Buffer, v any, t datasets.Type) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
		return nil
	case time.Time:
		writeTime(b, &x)
		return nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b.WriteString("null")
			return nil
		}
	case string:
		if t == datasets.JSON && json.Valid([]byte(x)) {
			b.WriteString(x)
			return nil
		}
	}
	j, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("metering value %v: %w", v, err)
	}
	b.Write(j)
	return nil
}

func writeTime(b *bytes.Buffer, t *time.Time) {
	if t == nil {
		b.WriteString("null")
		return
	}
	b.WriteByte('"')
	b.WriteString(t.UTC().Format(TimeLayout))
	b.WriteByte('"')
}

func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, api.Internal(err)
	}
	return b, nil
}
