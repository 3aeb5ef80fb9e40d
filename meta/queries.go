package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Query is a saved (user-defined) report query: a query text that parsed
// and planned when it was created, under a public UUID.
//
// Who sees it is decided by Tenant and User together (the principal): any
// key with the same scope string and user sees, runs and deletes it, so a
// rotated key keeps its user's queries. Owner records which key created it.
type Query struct {
	ID          string // lower-case UUID, the public QueryId
	Name        string
	Description string
	Query       string // the query text as given
	Owner       string // id of the key that created it
	User        string // the key's user ("" for a key without one)
	Tenant      string // the key's scope string; "" for admin keys
	CreatedAt   time.Time
	ModifiedAt  *time.Time // nil until modified (queries are not modified yet)
}

// QueryFilter selects queries for ListQueries. Zero fields do not filter.
type QueryFilter struct {
	Owner string // creating key id
	// Tenant and User select a principal's queries; pointers so that the
	// admin tenant "" and the empty user can be asked for.
	Tenant *string
	User   *string
	ID     string // exact QueryId, case-insensitive
	Name   string // exact name, case-insensitive
}

// ErrQuotaExceeded is returned (wrapped) by CreateQuery when the principal
// already has the maximum number of saved queries.
var ErrQuotaExceeded = errors.New("query quota exceeded")

// Queries stores saved report queries.
type Queries interface {
	// CreateQuery stores a new query and returns the stored record. A
	// missing ID is a fresh random UUID, a zero CreatedAt is now. When
	// maxPerUser > 0, the queries of q's principal (same Tenant and User)
	// are counted in the same transaction as the insert, and
	// ErrQuotaExceeded is returned if there are already maxPerUser.
	CreateQuery(ctx context.Context, q Query, maxPerUser int) (Query, error)
	// GetQuery returns a query by id (case-insensitive); ErrNotFound if
	// there is none.
	GetQuery(ctx context.Context, id string) (Query, error)
	// ListQueries lists the queries matching f, oldest first.
	ListQueries(ctx context.Context, f QueryFilter) ([]Query, error)
	// DeleteQuery deletes a query by id and returns the deleted record;
	// ErrNotFound if there is none.
	DeleteQuery(ctx context.Context, id string) (Query, error)
}

var _ Queries = (*SQLite)(nil)

const queryColumns = `id, name, description, query, owner, user_id, tenant, created_at, modified_at`

func scanQuery(r scanner) (Query, error) {
	var q Query
	var created string
	var modified sql.NullString
	if err := r.Scan(&q.ID, &q.Name, &q.Description, &q.Query, &q.Owner, &q.User, &q.Tenant, &created, &modified); err != nil {
		return Query{}, err
	}
	var err error
	if q.CreatedAt, err = parseTime(created); err != nil {
		return Query{}, err
	}
	if q.ModifiedAt, err = scanNullTime(modified); err != nil {
		return Query{}, err
	}
	return q, nil
}

// CreateQuery implements Queries.
func (s *SQLite) CreateQuery(ctx context.Context, q Query, maxPerUser int) (Query, error) {
	if q.ID == "" {
		id, err := uuid.NewRandom()
		if err != nil {
			return Query{}, fmt.Errorf("create query: %w", err)
		}
		q.ID = id.String()
	}
	q.ID = strings.ToLower(strings.TrimSpace(q.ID))
	if q.CreatedAt.IsZero() {
		q.CreatedAt = s.clock()
	}
	q.CreatedAt = q.CreatedAt.UTC()
	// The transaction begins IMMEDIATE (see Open): the count and the insert
	// hold the write lock together, so concurrent creates cannot overshoot.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Query{}, fmt.Errorf("create query: %w", err)
	}
	defer tx.Rollback()
	if maxPerUser > 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM queries WHERE tenant = ? AND user_id = ?`,
			q.Tenant, q.User).Scan(&n); err != nil {
			return Query{}, fmt.Errorf("create query: %w", err)
		}
		if n >= maxPerUser {
			return Query{}, fmt.Errorf("create query: %d of %d: %w", n, maxPerUser, ErrQuotaExceeded)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO queries (`+queryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		q.ID, q.Name, q.Description, q.Query, q.Owner, q.User, q.Tenant, fmtTime(q.CreatedAt), nullTime(q.ModifiedAt)); err != nil {
		return Query{}, fmt.Errorf("create query: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Query{}, fmt.Errorf("create query: %w", err)
	}
	return q, nil
}

// GetQuery implements Queries.
func (s *SQLite) GetQuery(ctx context.Context, id string) (Query, error) {
	q, err := scanQuery(s.db.QueryRowContext(ctx, `SELECT `+queryColumns+` FROM queries WHERE id = ?`,
		strings.ToLower(strings.TrimSpace(id))))
	if errors.Is(err, sql.ErrNoRows) {
		return Query{}, fmt.Errorf("query %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Query{}, fmt.Errorf("query %q: %w", id, err)
	}
	return q, nil
}

// ListQueries implements Queries.
func (s *SQLite) ListQueries(ctx context.Context, f QueryFilter) ([]Query, error) {
	var (
		where []string
		args  []any
	)
	if f.Owner != "" {
		where, args = append(where, "owner = ?"), append(args, f.Owner)
	}
	if f.Tenant != nil {
		where, args = append(where, "tenant = ?"), append(args, *f.Tenant)
	}
	if f.User != nil {
		where, args = append(where, "user_id = ?"), append(args, *f.User)
	}
	if f.ID != "" {
		where, args = append(where, "id = ?"), append(args, strings.ToLower(strings.TrimSpace(f.ID)))
	}
	if f.Name != "" {
		where, args = append(where, "name = ? COLLATE NOCASE"), append(args, f.Name)
	}
	stmt := `SELECT ` + queryColumns + ` FROM queries`
	if len(where) > 0 {
		stmt += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, stmt+` ORDER BY created_at, rowid`, args...)
	if err != nil {
		return nil, fmt.Errorf("list queries: %w", err)
	}
	defer rows.Close()
	out := []Query{}
	for rows.Next() {
		q, err := scanQuery(rows)
		if err != nil {
			return nil, fmt.Errorf("list queries: %w", err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list queries: %w", err)
	}
	return out, nil
}

// DeleteQuery implements Queries.
func (s *SQLite) DeleteQuery(ctx context.Context, id string) (Query, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Query{}, fmt.Errorf("delete query %q: %w", id, err)
	}
	defer tx.Rollback()
	q, err := scanQuery(tx.QueryRowContext(ctx, `SELECT `+queryColumns+` FROM queries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Query{}, fmt.Errorf("delete query %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Query{}, fmt.Errorf("delete query %q: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM queries WHERE id = ?`, id); err != nil {
		return Query{}, fmt.Errorf("delete query %q: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return Query{}, fmt.Errorf("delete query %q: %w", id, err)
	}
	return q, nil
}
