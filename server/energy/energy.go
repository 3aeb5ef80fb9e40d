// Package energy is the ENERGY STAR Portfolio Manager custom reports
// family (shared/reference/energystar-custom-reports.md) over the energy
// dataset: the metric catalogue, templates (a name and metric ids) each
// with its report (a timeframe and property ids), asynchronous generation
// on the job queue, status, and downloads as XML (reportData) or Excel.
// Bodies are XML in the <response status="Ok|Error"> envelope, or JSON when
// the client asks.
package energy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine"
	"github.com/quarry/quarry/engine/jobs"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// Defaults of Config: the public API's limits.
const (
	DefaultMaxProperties = 5000
	DefaultMaxGenerating = 5
	DefaultResultTTL     = 90 * 24 * time.Hour
)

// JobKind is the job kind of report generations.
const JobKind = "energy.report"

// Prefixes are the base paths the family answers under: the API's own
// paths, and the same under /ws as on the public service.
var Prefixes = []string{"", "/ws"}

// Config holds the family's settings; zero fields take the defaults.
type Config struct {
	Store         meta.Energy
	MaxProperties int           // per report (5,000)
	MaxDataPoints int           // properties × metrics × periods (2 million)
	MaxGenerating int           // reports generating at once per account (5)
	ResultTTL     time.Duration // how long generated results are kept (90 days)
}

// API serves the family.
type API struct {
	cfg  Config
	eng  *engine.Engine
	jobs *jobs.Queue
	d    *datasets.Dataset
}

// New returns the family's handlers.
func New(cfg Config, eng *engine.Engine) *API {
	if cfg.MaxProperties <= 0 {
		cfg.MaxProperties = DefaultMaxProperties
	}
	if cfg.MaxDataPoints <= 0 {
		cfg.MaxDataPoints = planner.DefaultMaxDataPoints
	}
	if cfg.MaxGenerating <= 0 {
		cfg.MaxGenerating = DefaultMaxGenerating
	}
	if cfg.ResultTTL <= 0 {
		cfg.ResultTTL = DefaultResultTTL
	}
	a := &API{cfg: cfg, eng: eng}
	if eng != nil {
		a.d, _ = eng.Catalog().Lookup("energy")
	}
	return a
}

// AttachJobs registers the generation kind on q (5 at once per account,
// results kept 90 days) and keeps reports' statuses in step with their
// jobs. Call it before q.Start.
func (a *API) AttachJobs(q *jobs.Queue) {
	a.jobs = q
	q.Register(JobKind, a.generate)
	q.SetLimits(JobKind, jobs.Limits{Active: a.cfg.MaxGenerating, ResultTTL: a.cfg.ResultTTL})
	q.Observe(func(j meta.Job) {
		if j.Kind != JobKind || a.cfg.Store == nil {
			return
		}
		status, at := "", j.CreatedAt
		switch j.State {
		case meta.JobCompleted:
			status, at = meta.EnergyGenerated, deref(j.FinishedAt, at)
		case meta.JobFailed, meta.JobCancelled:
			status, at = meta.EnergyFailed, deref(j.FinishedAt, at)
		default:
			return
		}
		if err := a.cfg.Store.SetEnergyGeneration(context.Background(), j.ID, status, j.Error, at); err != nil {
			slog.Default().Error("storing a report's generation status", "job", j.ID, "err", err)
		}
	})
}

func deref(t *time.Time, def time.Time) time.Time {
	if t == nil {
		return def
	}
	return *t
}

// Routes returns the family's routes under one prefix. Fixed paths come
// before /reports/:reportId so that they match first.
func (a *API) Routes(prefix string) []api.Route {
	id := func(name string) []api.Param {
		return []api.Param{{Name: name, In: "path", Required: true, Type: "integer"}}
	}
	r := func(method, path, summary string, params []api.Param, h fiber.Handler, resp map[int]string) api.Route {
		return api.Route{Method: method, Path: prefix + path, Tag: "energy", Summary: summary, Params: params,
			Handler: h, Errors: WriteError, Responses: resp}
	}
	nf := map[int]string{fiber.StatusNotFound: "no such template or report of yours"}
	return []api.Route{
		r(fiber.MethodGet, "/reports/metrics", "The metric catalogue: groups of metrics (id, name, description, dataType, uom)",
			[]api.Param{{Name: "groupIds", In: "query", Description: "only these groups, comma-separated ids"},
				{Name: "availableToCustomMetrics", In: "query", Type: "boolean", Description: "accepted; every metric is available"}},
			a.metrics, map[int]string{fiber.StatusBadRequest: "an unknown or malformed group id"}),
		r(fiber.MethodPost, "/reports/templates", "Create a template (<reportTemplate> name + metric ids) and its report; answers both ids and links",
			nil, a.createTemplate, map[int]string{fiber.StatusCreated: "created", fiber.StatusBadRequest: "bad XML, no name, an unknown metric id"}),
		r(fiber.MethodGet, "/reports/templates", "List your templates (links)", nil, a.listTemplates, nil),
		r(fiber.MethodGet, "/reports/templates/:templateId", "Get a template: name, metric ids in display order, reportId", id("templateId"), a.getTemplate, nf),
		r(fiber.MethodPut, "/reports/templates/:templateId", "Change a template's name and metrics (resets its report to INITIALIZED); refused while generating",
			id("templateId"), a.updateTemplate, map[int]string{fiber.StatusNotFound: "no such template", fiber.StatusConflict: "the report is submitted or generating"}),
		r(fiber.MethodDelete, "/reports/templates/:templateId", "Delete a template and its report; refused while generating",
			id("templateId"), a.deleteTemplate, map[int]string{fiber.StatusNotFound: "no such template", fiber.StatusConflict: "the report is submitted or generating"}),
		r(fiber.MethodGet, "/reports", "List your reports (links)", nil, a.listReports, nil),
		r(fiber.MethodGet, "/reports/:reportId", "Get a report: timeframe, properties, template, generation status", id("reportId"), a.getReport, nf),
		r(fiber.MethodPut, "/reports/:reportId", "Set a report's timeframe and properties (<report>; the list replaces the old one; at most 5,000 properties and 2 million data points)",
			id("reportId"), a.updateReport, map[int]string{fiber.StatusBadRequest: "bad XML, a timeframe with no or two choices, too many properties or data points",
				fiber.StatusNotFound: "no such report, or a property not in your account", fiber.StatusConflict: "the report is submitted or generating"}),
		r(fiber.MethodPost, "/reports/:reportId/generate", "Generate a report asynchronously (at most 5 generating per account)",
			id("reportId"), a.generateReport, map[int]string{fiber.StatusConflict: "already generating, or not configured",
				fiber.StatusTooManyRequests: "5 reports of the account are generating"}),
		r(fiber.MethodGet, "/reports/:reportId/status", "A report's generation status: INITIALIZED, SUBMITTED, IN_PROCESS, GENERATED or FAILED, with dates",
			id("reportId"), a.status, nf),
		r(fiber.MethodGet, "/reports/:reportId/download", "Download a generated report: type=XML (reportData) or EXCEL (.xlsx)",
			append(id("reportId"), api.Param{Name: "type", In: "query", Required: true, Description: "XML or EXCEL"}),
			a.download, map[int]string{fiber.StatusConflict: "not generated yet", fiber.StatusNotFound: "no such report, or its results expired (90 days)"}),
	}
}

func (a *API) store() (meta.Energy, *api.Error) {
	if a.cfg.Store == nil || a.d == nil {
		return nil, fail(fiber.StatusServiceUnavailable, ErrInternal, "custom reports are not available on this server")
	}
	return a.cfg.Store, nil
}

// principal is who owns templates and reports: the key's energy account
// and user. An admin key sees every template and report.
func principal(k meta.Key) (tenant, user string, admin bool, err *api.Error) {
	if k.Admin() {
		return k.Account, k.User, true, nil
	}
	if k.Account == "" {
		return "", "", false, fail(fiber.StatusForbidden, ErrForbidden, "this key has no account scope, so it cannot use custom reports; use a key created with --account")
	}
	return k.Account, k.User, false, nil
}

func mine(k meta.Key, tenant, user string) bool {
	return k.Admin() || (tenant == k.Account && user == k.User)
}

func pathID(c *fiber.Ctx, name string) (int64, *api.Error) {
	s := c.Params(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fail(fiber.StatusNotFound, ErrNotFound, "%s '%s' is not an id", name, s)
	}
	return id, nil
}

// owned loads the object of a path id for the caller: another
// principal's object is as not found as a missing one.
func owned[T any](c *fiber.Ctx, a *API, param, what string, get func(meta.Energy, int64) (T, error), owner func(T) (tenant, user string)) (T, *api.Error) {
	var zero T
	st, aerr := a.store()
	if aerr != nil {
		return zero, aerr
	}
	if _, _, _, aerr := principal(api.KeyFrom(c)); aerr != nil {
		return zero, aerr
	}
	id, aerr := pathID(c, param)
	if aerr != nil {
		return zero, aerr
	}
	v, err := get(st, id)
	if err == nil {
		if tenant, user := owner(v); !mine(api.KeyFrom(c), tenant, user) {
			err = meta.ErrNotFound
		}
	}
	if errors.Is(err, meta.ErrNotFound) {
		return zero, fail(fiber.StatusNotFound, ErrNotFound, "%s %d was not found", what, id)
	}
	if err != nil {
		return zero, api.Internal(err)
	}
	return v, nil
}

func (a *API) template(c *fiber.Ctx) (meta.EnergyTemplate, *api.Error) {
	return owned(c, a, "templateId", "Template",
		func(st meta.Energy, id int64) (meta.EnergyTemplate, error) {
			return st.GetEnergyTemplate(c.UserContext(), id)
		},
		func(t meta.EnergyTemplate) (string, string) { return t.Tenant, t.User })
}

func (a *API) report(c *fiber.Ctx) (meta.EnergyReport, *api.Error) {
	return owned(c, a, "reportId", "Report",
		func(st meta.Energy, id int64) (meta.EnergyReport, error) {
			return st.GetEnergyReport(c.UserContext(), id)
		},
		func(r meta.EnergyReport) (string, string) { return r.Tenant, r.User })
}

func busy(err error, what string) *api.Error {
	if errors.Is(err, meta.ErrReportBusy) {
		return fail(fiber.StatusConflict, ErrBusy, "%s cannot be changed while its report is submitted for generation or generating; wait until its status is GENERATED or FAILED", what)
	}
	if errors.Is(err, meta.ErrNotFound) {
		return fail(fiber.StatusNotFound, ErrNotFound, "%s was not found", what)
	}
	return api.Internal(err)
}

// metrics is GET /reports/metrics.
func (a *API) metrics(c *fiber.Ctx) error {
	if _, aerr := a.store(); aerr != nil {
		return aerr
	}
	groups := map[string]int{}
	var out reportMetrics
	for _, col := range a.d.Columns {
		if col.MetricID == 0 {
			continue
		}
		gi, ok := groups[col.Group]
		if !ok {
			gi = len(out.Group)
			groups[col.Group] = gi
			out.Group = append(out.Group, metricGroup{ID: gi + 1, Name: col.Group})
		}
		desc := col.Description
		if desc == "" {
			desc = Header(planner.Output{Name: col.Name, Column: &col})
		}
		out.Group[gi].Metrics.Metric = append(out.Group[gi].Metrics.Metric, metricDef{ID: col.MetricID, Name: col.PublicName(),
			Description: desc, DataType: dataType(col.Type), UOM: col.Unit, AvailableToCustomMetrics: true})
	}
	if s, _ := api.Query(c, "groupIds"); strings.TrimSpace(s) != "" {
		var keep []metricGroup
		for _, part := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil || n < 1 || n > len(out.Group) {
				return fail(fiber.StatusBadRequest, ErrInvalidRequest, "groupIds: '%s' is not a group id (1 to %d)", strings.TrimSpace(part), len(out.Group))
			}
			if !slices.ContainsFunc(keep, func(g metricGroup) bool { return g.ID == n }) {
				keep = append(keep, out.Group[n-1])
			}
		}
		out.Group = keep
	}
	return send(c, fiber.StatusOK, "reportMetrics", out)
}

func dataType(t datasets.Type) string {
	switch t {
	case datasets.Date, datasets.Timestamp:
		return "date"
	case datasets.Varchar:
		return "string"
	}
	return "numeric"
}

// templateMetrics validates a template body's metric ids.
func (a *API) templateMetrics(t reportTemplate) ([]int, *api.Error) {
	if strings.TrimSpace(t.Name) == "" {
		return nil, fail(fiber.StatusBadRequest, ErrInvalidRequest, "the template needs a <name>")
	}
	if len(t.Name) > 200 {
		return nil, fail(fiber.StatusBadRequest, ErrInvalidRequest, "the template's name is %d characters; at most 200", len(t.Name))
	}
	var ids []int
	if t.Metrics != nil {
		for _, id := range t.Metrics.ID {
			ids = append(ids, int(id))
		}
	}
	if _, err := planner.EnergyMetrics(a.d, ids); err != nil {
		var pe *planner.Error
		if errors.As(err, &pe) {
			return nil, fail(fiber.StatusBadRequest, ErrInvalidMetric, "%s", pe.Detail)
		}
		return nil, api.Internal(err)
	}
	return ids, nil
}

func templateLinks(t meta.EnergyTemplate) *links {
	return &links{Link: []link{
		{ID: t.ID, Link: fmt.Sprintf("/reports/templates/%d", t.ID), LinkDescription: "This is the GET url for this Report Template.", HTTPMethod: "GET"},
		{ID: t.ReportID, Link: fmt.Sprintf("/reports/%d", t.ReportID), LinkDescription: "This is the GET url for the Report of this Template.", HTTPMethod: "GET"},
	}}
}

// createTemplate is POST /reports/templates.
func (a *API) createTemplate(c *fiber.Ctx) error {
	st, aerr := a.store()
	if aerr != nil {
		return aerr
	}
	k := api.KeyFrom(c)
	tenant, user, _, aerr := principal(k)
	if aerr != nil {
		return aerr
	}
	var body reportTemplate
	if aerr := decode(c, "reportTemplate", &body); aerr != nil {
		return aerr
	}
	ids, aerr := a.templateMetrics(body)
	if aerr != nil {
		return aerr
	}
	t, _, err := st.CreateEnergyTemplate(c.UserContext(), meta.EnergyTemplate{Name: strings.TrimSpace(body.Name), Metrics: ids,
		Owner: k.ID, User: user, Tenant: tenant})
	if err != nil {
		return api.Internal(err)
	}
	return send(c, fiber.StatusCreated, "response", response{Status: "Ok", ID: t.ID, Links: templateLinks(t)})
}

// getTemplate is GET /reports/templates/{templateId}.
func (a *API) getTemplate(c *fiber.Ctx) error {
	t, aerr := a.template(c)
	if aerr != nil {
		return aerr
	}
	cols, err := planner.EnergyMetrics(a.d, t.Metrics)
	if err != nil {
		return api.Internal(err)
	}
	ids := &intIDs{}
	for _, col := range cols {
		ids.ID = append(ids.ID, int64(col.MetricID))
	}
	return send(c, fiber.StatusOK, "reportTemplate", reportTemplate{ID: t.ID, Name: t.Name, TemplateType: "CUSTOM", Metrics: ids, ReportID: t.ReportID})
}

// listTemplates is GET /reports/templates.
func (a *API) listTemplates(c *fiber.Ctx) error {
	return a.listLinks(c, func(st meta.Energy, tenant, user string, all bool) ([]link, error) {
		ts, err := st.ListEnergyTemplates(c.UserContext(), tenant, user, all)
		var ls []link
		for _, t := range ts {
			ls = append(ls, link{ID: t.ID, Link: fmt.Sprintf("/reports/templates/%d", t.ID),
				LinkDescription: "This is the GET url for this Report Template.", HTTPMethod: "GET", Hint: t.Name})
		}
		return ls, err
	})
}

// listLinks answers a list route: the principal's items (an admin's: all)
// as links in the <response> envelope.
func (a *API) listLinks(c *fiber.Ctx, items func(st meta.Energy, tenant, user string, all bool) ([]link, error)) error {
	st, aerr := a.store()
	if aerr != nil {
		return aerr
	}
	tenant, user, admin, aerr := principal(api.KeyFrom(c))
	if aerr != nil {
		return aerr
	}
	ls, err := items(st, tenant, user, admin)
	if err != nil {
		return api.Internal(err)
	}
	return send(c, fiber.StatusOK, "response", response{Status: "Ok", Links: &links{Link: append([]link{}, ls...)}})
}

// updateTemplate is PUT /reports/templates/{templateId}.
func (a *API) updateTemplate(c *fiber.Ctx) error {
	t, aerr := a.template(c)
	if aerr != nil {
		return aerr
	}
	var body reportTemplate
	if aerr := decode(c, "reportTemplate", &body); aerr != nil {
		return aerr
	}
	ids, aerr := a.templateMetrics(body)
	if aerr != nil {
		return aerr
	}
	t.Name, t.Metrics = strings.TrimSpace(body.Name), ids
	t, err := a.cfg.Store.UpdateEnergyTemplate(c.UserContext(), t)
	if err != nil {
		return busy(err, fmt.Sprintf("Template %d", t.ID))
	}
	return send(c, fiber.StatusOK, "response", response{Status: "Ok", ID: t.ID, Links: templateLinks(t)})
}

// deleteTemplate is DELETE /reports/templates/{templateId}.
func (a *API) deleteTemplate(c *fiber.Ctx) error {
	t, aerr := a.template(c)
	if aerr != nil {
		return aerr
	}
	r, err := a.cfg.Store.GetEnergyReport(c.UserContext(), t.ReportID)
	if err := a.cfg.Store.DeleteEnergyTemplate(c.UserContext(), t.ID); err != nil {
		return busy(err, fmt.Sprintf("Template %d", t.ID))
	}
	if err == nil && r.JobID != "" && a.jobs != nil {
		// the report's files go with it
		if err := removeResults(a.jobs.ResultDir(r.JobID)); err != nil {
			slog.Default().Error("removing a deleted report's files", "report", r.ID, "err", err)
		}
	}
	return send(c, fiber.StatusOK, "response", response{Status: "Ok", ID: t.ID})
}

// listReports is GET /reports.
func (a *API) listReports(c *fiber.Ctx) error {
	return a.listLinks(c, func(st meta.Energy, tenant, user string, all bool) ([]link, error) {
		rs, err := st.ListEnergyReports(c.UserContext(), tenant, user, all)
		var ls []link
		for _, r := range rs {
			ls = append(ls, link{ID: r.ID, Link: fmt.Sprintf("/reports/%d", r.ID),
				LinkDescription: "This is the GET url for this Report.", HTTPMethod: "GET", Hint: r.Status})
		}
		return ls, err
	})
}

// getReport is GET /reports/{reportId}.
func (a *API) getReport(c *fiber.Ctx) error {
	r, aerr := a.report(c)
	if aerr != nil {
		return aerr
	}
	out := report{ID: r.ID, Type: "CUSTOM", TemplateID: r.TemplateID, Properties: &stringIDs{ID: r.Properties},
		ReportGenerationStatus: r.Status}
	if t, err := a.cfg.Store.GetEnergyTemplate(c.UserContext(), r.TemplateID); err == nil {
		out.TemplateName = t.Name
	}
	if len(r.Timeframe) > 0 {
		var tf planner.Timeframe
		if err := json.Unmarshal(r.Timeframe, &tf); err != nil {
			return api.Internal(err)
		}
		out.Timeframe = timeframeOf(tf)
	}
	return send(c, fiber.StatusOK, "report", out)
}

// updateReport is PUT /reports/{reportId}: timeframe and properties.
func (a *API) updateReport(c *fiber.Ctx) error {
	r, aerr := a.report(c)
	if aerr != nil {
		return aerr
	}
	var body report
	if aerr := decode(c, "report", &body); aerr != nil {
		return aerr
	}
	tf, err := body.Timeframe.toPlanner()
	if err != nil {
		return fail(fiber.StatusBadRequest, ErrInvalidTime, "%v", err)
	}
	var props []string
	seen := map[string]bool{}
	if body.Properties != nil {
		for _, p := range body.Properties.ID {
			p = strings.TrimSpace(p)
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			props = append(props, p)
		}
	}
	if len(props) == 0 {
		return fail(fiber.StatusBadRequest, ErrInvalidRequest, "the report needs at least one property: <properties><id>…</id></properties>")
	}
	if len(props) > a.cfg.MaxProperties {
		return fail(fiber.StatusBadRequest, ErrTooMany, "the report lists %d properties; at most %d are allowed", len(props), a.cfg.MaxProperties)
	}
	t, err := a.cfg.Store.GetEnergyTemplate(c.UserContext(), r.TemplateID)
	if err != nil {
		return api.Internal(err)
	}
	key := api.KeyFrom(c)
	// plan it now: the timeframe, metrics and data points are checked here
	if _, err := planner.FromEnergy(planner.EnergyRequest{Metrics: t.Metrics, Properties: props, Timeframe: tf,
		MaxDataPoints: a.cfg.MaxDataPoints}, a.eng.Catalog(), planner.Options{Now: a.eng.Now(), Scope: key.Scope()}); err != nil {
		return planFail(err)
	}
	if missing, err := a.missingProperties(c.UserContext(), key, props); err != nil {
		return api.Internal(err)
	} else if len(missing) > 0 {
		shown := missing
		if len(shown) > 10 {
			shown = shown[:10]
		}
		return fail(fiber.StatusNotFound, ErrNotFound, "%d of the report's properties were not found in your account: %s", len(missing), strings.Join(shown, ", "))
	}
	tfJSON, _ := json.Marshal(tf)
	if _, err := a.cfg.Store.ConfigureEnergyReport(c.UserContext(), r.ID, tfJSON, props, a.eng.Now()); err != nil {
		return busy(err, fmt.Sprintf("Report %d", r.ID))
	}
	return send(c, fiber.StatusOK, "response", response{Status: "Ok", ID: r.ID, Links: &links{Link: []link{
		{ID: r.ID, Link: fmt.Sprintf("/reports/%d", r.ID), LinkDescription: "This is the GET url for this Report.", HTTPMethod: "GET"}}}})
}

func planFail(err error) *api.Error {
	var pe *planner.Error
	if !errors.As(err, &pe) {
		return api.Internal(err)
	}
	switch pe.Message {
	case "Invalid timeframe":
		return fail(fiber.StatusBadRequest, ErrInvalidTime, "%s", pe.Detail)
	case "Invalid metric":
		return fail(fiber.StatusBadRequest, ErrInvalidMetric, "%s", pe.Detail)
	case "Too many data points":
		return fail(fiber.StatusBadRequest, ErrTooMany, "%s", pe.Detail)
	case planner.MsgForbidden:
		return fail(fiber.StatusForbidden, ErrForbidden, "%s", pe.Detail)
	}
	return fail(fiber.StatusBadRequest, ErrInvalidRequest, "%s", pe.Detail)
}

// missingProperties returns the ids that have no rows in the caller's
// account (another account's properties are as missing as unknown ones).
func (a *API) missingProperties(ctx context.Context, k meta.Key, ids []string) ([]string, error) {
	p, err := planner.EnergyProperties(ids, a.eng.Catalog(), planner.Options{Now: a.eng.Now(), Scope: k.Scope()})
	if err != nil {
		return nil, err
	}
	res, err := a.eng.Run(ctx, p)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	found := map[string]bool{}
	for res.Reader.Next() {
		rec := res.Reader.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			if s, ok := engine.Value(rec.Column(0), i).(string); ok {
				found[s] = true
			}
		}
	}
	if err := res.Reader.Err(); err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// generateReport is POST /reports/{reportId}/generate.
func (a *API) generateReport(c *fiber.Ctx) error {
	r, aerr := a.report(c)
	if aerr != nil {
		return aerr
	}
	if a.jobs == nil {
		return fail(fiber.StatusServiceUnavailable, ErrInternal, "report generation is not available: this server runs no job queue")
	}
	if len(r.Timeframe) == 0 || len(r.Properties) == 0 {
		return fail(fiber.StatusConflict, ErrInvalidRequest, "Report %d has no timeframe or properties yet; PUT /reports/%d with a <report> first", r.ID, r.ID)
	}
	if r.Busy() {
		return fail(fiber.StatusConflict, ErrBusy, "Report %d is already %s", r.ID, r.Status)
	}
	// The report learns its job's id before the job exists, so that the
	// job's progress always finds it.
	id, err := jobs.NewID()
	if err != nil {
		return api.Internal(err)
	}
	if _, err := a.cfg.Store.SubmitEnergyReport(c.UserContext(), r.ID, id, a.eng.Now()); err != nil {
		return busy(err, fmt.Sprintf("Report %d", r.ID))
	}
	req, _ := json.Marshal(genRequest{ReportID: r.ID, Scope: api.KeyFrom(c).Scope()})
	_, err = a.jobs.Submit(c.UserContext(), meta.Job{ID: id, Kind: JobKind, Owner: api.KeyFrom(c).ID, Tenant: "energy:" + r.Tenant, Request: req})
	if err != nil {
		if rerr := a.cfg.Store.RestoreEnergyReport(context.WithoutCancel(c.UserContext()), r, id); rerr != nil {
			slog.Default().Error("restoring a report after a refused generation", "report", r.ID, "err", rerr)
		}
		var le *jobs.LimitError
		if errors.As(err, &le) {
			return fail(fiber.StatusTooManyRequests, ErrGenerateLimit, "%d reports of your account are generating, the limit; to submit more, wait for at least one of them to finish generating", le.Limit)
		}
		return api.Internal(err)
	}
	return send(c, fiber.StatusOK, "response", response{Status: "Ok", ID: r.ID, Links: &links{Link: []link{
		{ID: r.ID, Link: fmt.Sprintf("/reports/%d/status", r.ID), LinkDescription: "This is the GET url for the status of this Report.", HTTPMethod: "GET"}}}})
}

func fmtDate(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// status is GET /reports/{reportId}/status.
func (a *API) status(c *fiber.Ctx) error {
	r, aerr := a.report(c)
	if aerr != nil {
		return aerr
	}
	out := reportStatus{Status: r.Status, GenerationStartDate: fmtDate(r.Started), GenerationEndDate: fmtDate(r.Ended),
		SubmittedDate: fmtDate(r.Submitted)}
	if r.Status == meta.EnergyFailed {
		out.Description = r.Error
	}
	return send(c, fiber.StatusOK, "reportStatus", out)
}
