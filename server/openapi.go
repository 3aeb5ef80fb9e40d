package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/quarry/quarry/server/api"
)

// openAPI generates the OpenAPI 3.0 document of a route table. Path
// parameters are taken from the patterns themselves, so they are always
// documented; a route listed twice (same method and path) is an error.
func openAPI(routes []api.Route, version, publicURL string) ([]byte, error) {
	paths := map[string]map[string]any{}
	tags := map[string]bool{}
	for _, r := range routes {
		path, pathParams := openAPIPath(r.Path)
		method := strings.ToLower(r.Method)
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		if _, dup := paths[path][method]; dup {
			return nil, fmt.Errorf("route %s %s is listed twice", r.Method, r.Path)
		}
		op := map[string]any{
			"operationId": operationID(r.Method, path),
			"summary":     r.Summary,
			"responses":   responses(r),
		}
		if r.Description != "" {
			op["description"] = r.Description
		}
		if r.Tag != "" {
			op["tags"] = []string{r.Tag}
			tags[r.Tag] = true
		}
		if r.Public {
			op["security"] = []any{}
		} else {
			op["security"] = []any{map[string]any{"bearerAuth": []string{}}, map[string]any{"basicAuth": []string{}}}
		}
		if params := parameters(r.Params, pathParams); len(params) > 0 {
			op["parameters"] = params
		}
		paths[path][method] = op
	}
	var tagList []map[string]string
	for _, r := range routes { // first-seen order
		if tags[r.Tag] {
			tagList = append(tagList, map[string]string{"name": r.Tag})
			delete(tags, r.Tag)
		}
	}
	if version == "" {
		version = "dev"
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Quarry",
			"version":     version,
			"description": "Quarry's HTTP APIs. Every route needs an API key (Authorization: Bearer <key>, or HTTP Basic with the key as the password) except the operations routes.",
		},
		"paths": paths,
		"tags":  tagList,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearerAuth": map[string]any{"type": "http", "scheme": "bearer"},
				"basicAuth":  map[string]any{"type": "http", "scheme": "basic", "description": "any user name; the API key is the password"},
			},
		},
	}
	if publicURL != "" {
		doc["servers"] = []map[string]string{{"url": publicURL}}
	}
	return json.MarshalIndent(doc, "", "  ")
}

// openAPIPath turns a Fiber pattern into an OpenAPI path (/a/:id →
// /a/{id}) and returns the path parameters' names.
func openAPIPath(pattern string) (string, []string) {
	segs := strings.Split(pattern, "/")
	var params []string
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			name := strings.TrimSuffix(strings.TrimPrefix(s, ":"), "?")
			params = append(params, name)
			segs[i] = "{" + name + "}"
		}
	}
	return strings.Join(segs, "/"), params
}

// operationID is unique per method and path: get_insights_v1_1_cmp_ScheduledDataset.
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	under := true
	for _, r := range path {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		switch {
		case ok:
			if under {
				b.WriteByte('_')
				under = false
			}
			b.WriteRune(r)
		default:
			under = true
		}
	}
	return b.String()
}

func parameters(documented []api.Param, pathParams []string) []map[string]any {
	var out []map[string]any
	seen := map[string]bool{}
	add := func(p api.Param) {
		typ := p.Type
		if typ == "" {
			typ = "string"
		}
		m := map[string]any{"name": p.Name, "in": p.In, "required": p.Required || p.In == "path",
			"schema": map[string]string{"type": typ}}
		if p.Description != "" {
			m["description"] = p.Description
		}
		out = append(out, m)
		seen[p.In+" "+p.Name] = true
	}
	for _, p := range documented {
		add(p)
	}
	for _, n := range pathParams {
		if !seen["path "+n] {
			add(api.Param{Name: n, In: "path", Required: true})
		}
	}
	return out
}

func responses(r api.Route) map[string]any {
	out := map[string]any{
		"200": map[string]any{"description": "OK"},
	}
	if !r.Public {
		out["401"] = map[string]any{"description": "Missing, invalid or revoked API key"}
	}
	for code, desc := range r.Responses {
		if desc == "" {
			desc = http.StatusText(code)
		}
		out[strconv.Itoa(code)] = map[string]any{"description": desc}
	}
	return out
}
