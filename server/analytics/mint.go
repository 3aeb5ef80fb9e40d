package analytics

import (
	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// MintPath is the monetization async reports path (a Fiber pattern).
const MintPath = "/v1/mint/organizations/:org/async-reports"

// MintRequest is a monetization async report's body.
type MintRequest = planner.MintRequest

func planMint(r MintRequest, cat *datasets.Catalog, opt planner.AnalyticsOptions) (*planner.Plan, error) {
	return planner.FromMint(r, cat, opt)
}

func (a *API) mintRoutes() []api.Route {
	return []api.Route{
		{Method: fiber.MethodPost, Path: MintPath, Tag: "analytics",
			Summary: "Submit a monetization async report: one row per monetized transaction, prices converted at the day's exchange rate",
			Description: "Body {fromDate, toDate (\"2017-06-01 00:00:00\" UTC, toDate's day excluded) or billingMonth + billingYear, " +
				"currencyOption (LOCAL, EUR, GBP, USD), appCriteria[{id,orgId}], devCriteria[{id,orgId}] (developer id or email), " +
				"productIds, monetizationPackageIds, ratePlanLevels (DEVELOPER, STANDARD)}. Answers 201 like POST …/queries; " +
				"state and result through …/environments/{environment}/queries/{id}. Columns: " + columnsDoc(),
			Params: []api.Param{
				{Name: "org", In: "path", Required: true, Description: "organization"},
				{Name: "environment", In: "query", Description: "environment (default prod)"},
			},
			Responses: map[int]string{
				fiber.StatusCreated:         "the report is enqueued",
				fiber.StatusBadRequest:      "missing or invalid dates, currencyOption, ratePlanLevels, criteria of another org, …",
				fiber.StatusForbidden:       "the key is not allowed the organization",
				fiber.StatusTooManyRequests: "the org/env's submission or active-query limit",
			},
			Handler: a.submitMint, Errors: WriteError},
	}
}

func columnsDoc() string {
	s := ""
	for i, c := range planner.MintColumns {
		if i > 0 {
			s += ", "
		}
		s += c
	}
	return s
}

// submitMint is POST /v1/mint/organizations/{org}/async-reports.
func (a *API) submitMint(c *fiber.Ctx) error {
	org := c.Params("org")
	if aerr := allowOrg(api.KeyFrom(c), org); aerr != nil {
		return aerr
	}
	env, _ := api.Query(c, "environment")
	if env == "" {
		env = "prod"
	}
	var req MintRequest
	if err := decodeBody(c.Body(), &req); err != nil {
		return err
	}
	return a.enqueue(c, jobRequest{Org: org, Env: env, Dataset: "mint", Mint: &req})
}
