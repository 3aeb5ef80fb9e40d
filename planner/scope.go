package planner

import (
	"fmt"

	"github.com/quarry/quarry/datasets"
)

// Scope is what a caller may see. An admin sees every row; any other
// caller sees only the rows of its account, org or project, whichever
// the dataset's tenant column is scoped by.
type Scope struct {
	Admin   bool
	Account string // PublisherId / PartnerId of the insights datasets, energy account_id
	Org     string // transactions.organization
	Project string // meters.project_id
}

// tenant returns the mandatory tenant predicate of the scope over d, or
// nil for an admin or a dataset without tenants.
func (s Scope) tenant(d *datasets.Dataset) (*Tenant, error) {
	if s.Admin || d.TenantColumn == "" {
		return nil, nil
	}
	var v string
	switch d.TenantScope {
	case "account":
		v = s.Account
	case "org":
		v = s.Org
	case "project":
		v = s.Project
	}
	if v == "" {
		return nil, &Error{Message: MsgForbidden,
			Detail: fmt.Sprintf("this key has no %s scope, so it cannot read dataset %s; use a key created with --%s", d.TenantScope, d.Name, d.TenantScope)}
	}
	c, _ := d.Column(d.TenantColumn)
	return &Tenant{Column: c, Value: v}, nil
}
