package insights

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/datasets"
	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/planner"
	"github.com/quarry/quarry/server/api"
)

// Query types of the public API.
const (
	TypeSystem      = "system"
	TypeUserDefined = "userDefined"
)

// MaxNameLength bounds a saved query's Name and Description, in
// characters (the public API's limit on report names and descriptions).
const MaxNameLength = 256

// timeLayout is the public API's time format: yyyy-MM-ddTHH:mm:ssZ.
const timeLayout = "2006-01-02T15:04:05Z"

// uuidRE is the canonical textual form of a QueryId.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// QueryView is a query as the family shows it (the docs' shape). System
// queries have no user and no times.
type QueryView struct {
	QueryID      string  `json:"queryId"`
	Name         string  `json:"name"`
	Description  string  `json:"description"`
	Query        string  `json:"query"`
	Type         string  `json:"type"` // TypeSystem or TypeUserDefined
	User         *string `json:"user"`
	CreatedTime  *string `json:"createdTime"`
	ModifiedTime *string `json:"modifiedTime"`
}

func systemView(q datasets.SystemQuery) QueryView {
	return QueryView{QueryID: q.QueryID, Name: q.Name, Description: q.Description, Query: q.Query, Type: TypeSystem}
}

func userView(q meta.Query) QueryView {
	user := q.User
	if user == "" {
		user = q.Owner // a key without a user: the key is the user
	}
	return QueryView{QueryID: q.ID, Name: q.Name, Description: q.Description, Query: q.Query, Type: TypeUserDefined,
		User: &user, CreatedTime: fmtTime(&q.CreatedAt), ModifiedTime: fmtTime(q.ModifiedAt)}
}

func fmtTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(timeLayout)
	return &s
}

// Tenant is the scope string of a key: "" for an admin key, else its
// non-empty scopes, e.g. "account:pub-contoso" or
// "account:pub-contoso,org:acme". Saved queries belong to a tenant and a
// user (meta.Query).
func Tenant(k meta.Key) string {
	if k.Admin() {
		return ""
	}
	var parts []string
	for _, s := range []struct{ name, v string }{{"account", k.Account}, {"org", k.Org}, {"project", k.Project}} {
		if s.v != "" {
			parts = append(parts, s.name+":"+s.v)
		}
	}
	return strings.Join(parts, ",")
}

// visible reports whether a key may see, run and delete a saved query:
// the key's tenant and user are the query's.
func visible(k meta.Key, q meta.Query) bool {
	return q.Tenant == Tenant(k) && q.User == k.User
}

func notFound(detail string) *api.Error {
	return &api.Error{Status: fiber.StatusNotFound, Code: "not_found", Message: MsgNoItem, Detail: detail}
}

func (a *API) queries() (meta.Queries, error) {
	if a.cfg.Queries == nil {
		return nil, api.Internal(errors.New("insights: no saved-query store configured"))
	}
	return a.cfg.Queries, nil
}

// userQuery returns the saved query id names if the caller may see it; a
// 404 "No item found with given filters" otherwise (unknown, malformed or
// another tenant's id alike).
func (a *API) userQuery(c *fiber.Ctx, id string) (meta.Query, error) {
	store, err := a.queries()
	if err != nil {
		return meta.Query{}, err
	}
	nf := notFound(fmt.Sprintf("none of your queries has QueryId '%s'", id))
	if !uuidRE.MatchString(id) {
		return meta.Query{}, nf
	}
	q, err := store.GetQuery(c.UserContext(), id)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && !visible(api.KeyFrom(c), q)) {
		return meta.Query{}, nf
	}
	if err != nil {
		return meta.Query{}, api.Internal(err)
	}
	return q, nil
}

// createBody is POST /ScheduledQueries' body. encoding/json matches
// field names case-insensitively, so "Name" (the docs) and "name"
// (most clients) both fill Name.
type createBody struct {
	Name        *string `json:"Name"`
	Description *string `json:"Description"`
	Query       *string `json:"Query"`
}

// createQuery answers POST /ScheduledQueries: validate the body, parse
// and plan the query with the caller's scope, and store it within the
// user's quota.
func (a *API) createQuery(c *fiber.Ctx) error {
	store, err := a.queries()
	if err != nil {
		return err
	}
	var body createBody
	if b := c.Body(); len(strings.TrimSpace(string(b))) == 0 {
		return badRequest(MsgMissingValue, `send a JSON body {"Name": "…", "Description": "…", "Query": "SELECT … FROM … TIMESPAN …"}`)
	} else if err := json.Unmarshal(b, &body); err != nil {
		return badRequest(MsgInvalidBody, fmt.Sprintf(`the body is not a JSON object {"Name": "…", "Description": "…", "Query": "…"} of strings: %v`, err))
	}
	name, desc, text := trimmed(body.Name), trimmed(body.Description), trimmed(body.Query)
	var missing []string
	if name == "" {
		missing = append(missing, "Name")
	}
	if text == "" {
		missing = append(missing, "Query")
	}
	if len(missing) > 0 {
		return badRequest(MsgMissingValue, strings.Join(missing, " and ")+" must be given and not empty")
	}
	if utf8.RuneCountInString(name) > MaxNameLength || utf8.RuneCountInString(desc) > MaxNameLength {
		return badRequest(MsgQueryLength, fmt.Sprintf("Name has %d characters and Description %d; at most %d each",
			utf8.RuneCountInString(name), utf8.RuneCountInString(desc), MaxNameLength))
	}
	key := api.KeyFrom(c)
	if _, err := a.plan(text, planner.Options{Now: a.eng.Now(), Scope: key.Scope()}); err != nil {
		return err
	}
	q, err := store.CreateQuery(c.UserContext(), meta.Query{Name: name, Description: desc, Query: text,
		Owner: key.ID, User: key.User, Tenant: Tenant(key)}, a.cfg.MaxQueriesPerUser)
	if errors.Is(err, meta.ErrQuotaExceeded) {
		return badRequest(MsgQueryQuota, fmt.Sprintf("you already have %d saved queries, the limit; "+
			"delete some with DELETE /ScheduledQueries/{queryId}", a.cfg.MaxQueriesPerUser))
	}
	if err != nil {
		return api.Internal(err)
	}
	msg := MsgQueryCreated
	return ok(c, []QueryView{userView(q)}, 1, &msg)
}

func trimmed(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

// boolParam reads an optional boolean query parameter (true/false in any
// case, 1/0).
func boolParam(c *fiber.Ctx, name string, def bool) (bool, error) {
	v, _ := api.Query(c, name)
	if v = strings.TrimSpace(v); v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(strings.ToLower(v))
	if err != nil {
		return false, badRequest(fmt.Sprintf("Invalid query parameters - %s should be true or false", name),
			fmt.Sprintf("%s=%s is not a boolean", name, v))
	}
	return b, nil
}

// listQueries answers GET /ScheduledQueries: the system queries (unless
// includeSystemQueries=false) then the caller's saved queries, oldest
// first (unless includeOnlySystemQueries=true), filtered by queryId and
// queryName. A filter that matches nothing is a 404, as the public API's
// other getters answer.
func (a *API) listQueries(c *fiber.Ctx) error {
	withSystem, err := boolParam(c, "includeSystemQueries", true)
	if err != nil {
		return err
	}
	onlySystem, err := boolParam(c, "includeOnlySystemQueries", false)
	if err != nil {
		return err
	}
	if onlySystem && !withSystem {
		return badRequest("Invalid query parameters - includeOnlySystemQueries=true contradicts includeSystemQueries=false",
			"drop one of the two parameters")
	}
	id, _ := api.Query(c, "queryId")
	name, _ := api.Query(c, "queryName")
	id, name = strings.TrimSpace(id), strings.TrimSpace(name)
	_, isSystem := datasets.SystemQueryByID(id)
	// One published system QueryId (q9df4939-…-v2c81d11e58d) is not a
	// UUID: known ids pass as they are.
	if id != "" && !isSystem && !uuidRE.MatchString(id) {
		return badRequest(MsgInvalidQueryID, fmt.Sprintf("'%s' is not a QueryId: a QueryId is a UUID such as %s",
			id, datasets.SystemQueries()[0].QueryID))
	}

	list := []QueryView{}
	if withSystem {
		for _, sq := range datasets.SystemQueries() {
			if (id == "" || strings.EqualFold(sq.QueryID, id)) && (name == "" || strings.EqualFold(sq.Name, name)) {
				list = append(list, systemView(sq))
			}
		}
	}
	if !onlySystem {
		store, err := a.queries()
		if err != nil {
			return err
		}
		key := api.KeyFrom(c)
		tenant := Tenant(key)
		qs, err := store.ListQueries(c.UserContext(), meta.QueryFilter{Tenant: &tenant, User: &key.User, ID: id, Name: name})
		if err != nil {
			return api.Internal(err)
		}
		for _, q := range qs {
			list = append(list, userView(q))
		}
	}
	if len(list) == 0 && (id != "" || name != "") {
		var f []string
		if id != "" {
			f = append(f, "queryId="+id)
		}
		if name != "" {
			f = append(f, "queryName="+name)
		}
		return notFound(fmt.Sprintf("no system query and none of your queries matches %s", strings.Join(f, " and ")))
	}
	msg := MsgQueriesFetched
	return ok(c, list, len(list), &msg)
}

// deleteQuery answers DELETE /ScheduledQueries/{queryId}: delete one of
// the caller's saved queries and return it. System queries cannot be
// deleted; another tenant's id is not found, like an unknown one.
func (a *API) deleteQuery(c *fiber.Ctx) error {
	id := strings.TrimSpace(c.Params("queryId"))
	if sq, found := datasets.SystemQueryByID(id); found {
		return badRequest(MsgSystemQuery, fmt.Sprintf("'%s' is the system query %q; only your own (userDefined) queries can be deleted",
			sq.QueryID, sq.Name))
	}
	if !uuidRE.MatchString(id) {
		return badRequest(MsgInvalidQueryID, fmt.Sprintf("'%s' is not a QueryId: a QueryId is a UUID such as %s",
			id, datasets.SystemQueries()[0].QueryID))
	}
	q, err := a.userQuery(c, id)
	if err != nil {
		return err
	}
	store, err := a.queries()
	if err != nil {
		return err
	}
	q, err = store.DeleteQuery(c.UserContext(), q.ID)
	if errors.Is(err, meta.ErrNotFound) { // deleted meanwhile
		return notFound(fmt.Sprintf("none of your queries has QueryId '%s'", id))
	}
	if err != nil {
		return api.Internal(err)
	}
	msg := MsgQueryDeleted
	return ok(c, []QueryView{userView(q)}, 1, &msg)
}
