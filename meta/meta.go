// Package meta is Quarry's metadata store: API keys, jobs and saved
// queries now; reports and executions as the API issues land. The
// interfaces are what the rest of Quarry uses, so a shared database can
// replace the embedded implementation later.
//
// # Why SQLite and not DuckDB
//
// The datasets are DuckDB's business; the metadata is not. A DuckDB database
// file admits one read-write process at a time, yet `quarry keys create` must
// work while `quarry serve` has the store open, and the server itself makes
// many small concurrent writes (a job changing state, an execution recorded,
// a key revoked). Those are OLTP records: a few rows per transaction, read
// by key. SQLite in WAL mode is built for that: any number of processes open
// the same file, readers never block the writer, writers queue on the lock
// (busy_timeout) instead of failing, each transaction is atomic, and a crash
// leaves either the old or the new state, never a mix. The implementation,
// [SQLite], keeps one database at <data dir>/quarry.db through
// modernc.org/sqlite, a pure-Go translation of SQLite: no cgo, and no second
// C library next to DuckDB's. [Open] documents the connection settings.
//
// # Schema migrations
//
// The schema is an ordered list of migrations (migrations.go). Open applies
// the ones a database has not seen, all in one write transaction, and records
// each in the schema_version table. Later features append migrations; a
// migration, once released, is never edited.
package meta

import (
	"context"
	"errors"
	"time"

	"github.com/quarry/quarry/planner"
)

// ErrNotFound is returned (wrapped) when an object does not exist — or
// belongs to another tenant, which callers must not be able to tell apart.
var ErrNotFound = errors.New("not found")

// Roles of a key.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Key is an API key's record. The secret itself is never stored: only its
// SHA-256 hash, which is how a presented secret is looked up.
type Key struct {
	ID        string // public id, e.g. "key_3f9a…"; safe to log
	Name      string
	Role      string // RoleAdmin or RoleMember
	User      string // owner of queries, reports and jobs made with the key
	Org       string // scopes transactions.organization
	Project   string // scopes meters.project_id
	Account   string // scopes PublisherId / PartnerId and energy.account_id
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Admin reports whether the key is an admin key.
func (k Key) Admin() bool { return k.Role == RoleAdmin }

// Scope is the row scope the planner applies for this key.
func (k Key) Scope() planner.Scope {
	return planner.Scope{Admin: k.Admin(), Account: k.Account, Org: k.Org, Project: k.Project}
}

// Keys stores API keys.
type Keys interface {
	// CreateKey stores a new key and returns its secret, shown once.
	CreateKey(ctx context.Context, k Key) (secret string, created Key, err error)
	// KeyBySecret finds the live (not revoked) key a secret belongs to;
	// ErrNotFound otherwise.
	KeyBySecret(ctx context.Context, secret string) (Key, error)
	// ListKeys lists every key, revoked ones included, oldest first.
	ListKeys(ctx context.Context) ([]Key, error)
	// RevokeKey revokes a key by id; ErrNotFound if there is none.
	RevokeKey(ctx context.Context, id string) error
	// CountAdmins counts live admin keys (first start creates one when 0).
	CountAdmins(ctx context.Context) (int, error)
}

// Store is the whole metadata store.
type Store interface {
	Keys
	Jobs
	Queries
	Reports
	Executions
	Energy
	// Ping checks the store answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}
