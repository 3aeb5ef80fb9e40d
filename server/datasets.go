package server

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/engine/sandbox"
	"github.com/quarry/quarry/server/api"
)

// apiRoutes are the console family's routes (generic error envelope).
func (s *Server) apiRoutes() []api.Route {
	return []api.Route{
		{Method: fiber.MethodGet, Path: "/api/datasets", Tag: "console",
			Summary: "Datasets the key may read, with columns, row counts and the days their data spans",
			Description: "A member key sees datasets without a tenant column and those whose tenant scope " +
				"(account, org, project) it has, with its own tenant's row count and days; an admin key sees every dataset.",
			Handler: s.listDatasets},
	}
}

// DatasetInfo is one dataset of GET /api/datasets.
type DatasetInfo struct {
	Name         string       `json:"name"`
	Aliases      []string     `json:"aliases"`
	Description  string       `json:"description,omitempty"`
	TimeColumn   string       `json:"time_column"`
	TenantColumn *string      `json:"tenant_column"` // null when the dataset has no tenants
	Columns      []ColumnInfo `json:"columns"`
	Rows         int64        `json:"rows"`
	FirstDay     *string      `json:"first_day"` // YYYY-MM-DD; null when the dataset has no data
	LastDay      *string      `json:"last_day"`
}

// ColumnInfo is one column of a DatasetInfo.
type ColumnInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Role string `json:"role"`          // dimension, metric or time
	Agg  string `json:"agg,omitempty"` // a metric's default aggregation
}

func (s *Server) listDatasets(c *fiber.Ctx) error {
	if s.deps.Engine == nil {
		return api.Internal(fmt.Errorf("no engine configured"))
	}
	key := KeyFrom(c)
	out := []DatasetInfo{}
	// A member key's tenant datasets show its own rows and days, counted
	// over its sandbox views, not every tenant's.
	var own map[string]sandbox.TableStats
	if !key.Admin() && s.console != nil && s.console.Sandbox() != nil {
		var err error
		if own, err = s.console.Sandbox().Stats(c.UserContext(), key.Scope()); err != nil {
			return api.Internal(err)
		}
	}
	for _, d := range s.deps.Engine.Catalog().Datasets() {
		if !api.CanRead(key, d) {
			continue
		}
		info, err := s.datasetInfo(d)
		if err != nil {
			return api.Internal(err)
		}
		if st, ok := own[d.Name]; ok && d.TenantColumn != "" {
			info.Rows, info.FirstDay, info.LastDay = st.Rows, nil, nil
			if st.FirstDay != "" {
				first, last := st.FirstDay, st.LastDay
				info.FirstDay, info.LastDay = &first, &last
			}
		}
		out = append(out, info)
	}
	return c.JSON(fiber.Map{"datasets": out})
}

func (s *Server) datasetInfo(d *datasets.Dataset) (DatasetInfo, error) {
	m, err := s.deps.Engine.Store().Manifest(d.Name)
	if err != nil {
		return DatasetInfo{}, fmt.Errorf("dataset %s: %w", d.Name, err)
	}
	info := DatasetInfo{
		Name:        d.Name,
		Aliases:     append([]string{}, d.Aliases...),
		Description: d.Description,
		TimeColumn:  d.TimeColumn,
		Columns:     make([]ColumnInfo, 0, len(d.Columns)),
		Rows:        m.Rows(),
	}
	if d.TenantColumn != "" {
		tc := d.TenantColumn
		info.TenantColumn = &tc
	}
	for _, col := range d.Columns {
		info.Columns = append(info.Columns, ColumnInfo{Name: col.Name, Type: string(col.Type), Role: string(col.Role), Agg: col.Agg})
	}
	if first, last := m.Days(); first != "" {
		info.FirstDay, info.LastDay = &first, &last
	}
	return info, nil
}
