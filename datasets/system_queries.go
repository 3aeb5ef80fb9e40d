package datasets

import (
	_ "embed"
	"encoding/json"
	"strings"
)

// SystemQuery is a built-in report query with a published id (the ten
// commercial-marketplace system queries of Partner Center).
type SystemQuery struct {
	QueryID     string `json:"queryId"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Dataset     string `json:"dataset"`
	Query       string `json:"query"`
}

//go:embed system_queries.json
var systemQueriesJSON []byte

var systemQueries = func() []SystemQuery {
	var qs []SystemQuery
	if err := json.Unmarshal(systemQueriesJSON, &qs); err != nil {
		panic("datasets: bad system_queries.json: " + err.Error())
	}
	return qs
}()

// SystemQueries lists the built-in system queries.
func SystemQueries() []SystemQuery { return append([]SystemQuery(nil), systemQueries...) }

// SystemQueryByID finds a system query by its QueryId (case-insensitive).
func SystemQueryByID(id string) (SystemQuery, bool) {
	for _, q := range systemQueries {
		if strings.EqualFold(q.QueryID, strings.TrimSpace(id)) {
			return q, true
		}
	}
	return SystemQuery{}, false
}
