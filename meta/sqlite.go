package meta

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

// FileName is the metadata database's name inside the data directory.
const FileName = "quarry.db"

// BusyTimeout is how long a connection waits for another connection or
// process holding the write lock before it gives up with SQLITE_BUSY.
const BusyTimeout = 5 * time.Second

// SecretPrefix begins every API key secret, so a leaked one is recognisable
// (secret scanners, logs) and a mistyped credential is rejected cheaply.
const SecretPrefix = "qk_"

// IDPrefix begins every key id.
const IDPrefix = "key_"

// SQLite is the embedded metadata store: one SQLite database in WAL mode at
// <data dir>/quarry.db. It implements Store, and is safe for concurrent use
// by many goroutines and by several processes opening the same directory.
type SQLite struct {
	db *sql.DB // reads: any number of connections
	// w takes every write, on one connection: writers of this process
	// queue on it in Go instead of meeting SQLite's lock, whose busy
	// handler sleeps up to 100 ms between tries (measured on the job
	// queue: 125 → 556 jobs/s). Other processes still meet the lock and
	// wait through busy_timeout.
	w    *sql.DB
	path string
	now  atomic.Pointer[func() time.Time]
}

var _ Store = (*SQLite)(nil)

// Open opens (creating if needed) the metadata database in dataDir and
// brings its schema up to date. The directory is created if missing.
//
// Every connection is configured with:
//
//   - journal_mode=WAL: readers and one writer at a time from any number of
//     processes; a reader never blocks a writer nor sees a partial commit.
//   - busy_timeout=5000: a writer that finds the lock taken (another
//     goroutine's connection, or `quarry keys create` next to `quarry serve`)
//     retries for up to 5 s instead of failing at once.
//   - synchronous=FULL: in WAL mode NORMAL syncs the WAL only at checkpoints,
//     so a commit survives a process crash but may be rolled back by a power
//     loss or OS crash. FULL also fsyncs the WAL on every commit, so a commit
//     that returned is durable. Metadata writes are few and small, and a key
//     whose secret was already printed must not vanish, so one fsync per
//     commit is the right price.
//   - foreign_keys=on: SQLite leaves foreign keys unenforced unless asked,
//     per connection; the later job/execution tables rely on them.
//   - _txlock=immediate: transactions begin with BEGIN IMMEDIATE, taking the
//     write lock up front (waiting through busy_timeout). A deferred
//     transaction that reads and then writes can fail with SQLITE_BUSY at
//     the upgrade without the busy handler ever being asked to wait.
func Open(ctx context.Context, dataDir string) (*SQLite, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	path := filepath.Join(dataDir, FileName)
	// Create the file owner-only before SQLite does: SQLite gives its -wal
	// and -shm files the database file's permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	f.Close()

	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(BusyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("metadata store %s: %w", path, err)
	}
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("metadata store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	s := &SQLite{db: db, w: w, path: path}
	if err := s.migrateRetrying(ctx); err != nil {
		db.Close()
		w.Close()
		return nil, fmt.Errorf("metadata store %s: %w", path, err)
	}
	return s, nil
}

// migrateRetrying runs migrate, retrying while SQLite answers SQLITE_BUSY
// for up to BusyTimeout. Two processes opening a new database at once can
// get SQLITE_BUSY without the busy handler waiting: switching the file to
// WAL takes an exclusive lock that busy_timeout does not cover.
func (s *SQLite) migrateRetrying(ctx context.Context) error {
	deadline := time.Now().Add(BusyTimeout)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := s.migrate(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migrate: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var e interface{ Code() int }
	return errors.As(err, &e) && e.Code()&0xff == 5
}

// Path is the database file's path.
func (s *SQLite) Path() string { return s.path }

// DB is the underlying database, for the later stores of this package and
// for tests. Callers outside meta should use the Store methods.
func (s *SQLite) DB() *sql.DB { return s.db }

// SetClock replaces the clock that stamps CreatedAt and RevokedAt (time.Now
// by default), so tests need not sleep.
func (s *SQLite) SetClock(now func() time.Time) { s.now.Store(&now) }

func (s *SQLite) clock() time.Time {
	if f := s.now.Load(); f != nil {
		return (*f)().UTC()
	}
	return time.Now().UTC()
}

// Ping checks the store answers: a read from the database file.
func (s *SQLite) Ping(ctx context.Context) error {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil {
		return fmt.Errorf("metadata store: %w", err)
	}
	return nil
}

// Close closes the database. When the last connection of the last process
// closes, SQLite checkpoints the WAL into the main file.
func (s *SQLite) Close() error {
	if err := errors.Join(s.w.Close(), s.db.Close()); err != nil {
		return fmt.Errorf("metadata store: %w", err)
	}
	return nil
}

// ValidationError is a key (or, later, another object) that cannot be stored
// as given. Its message is meant for the person who gave it; the server maps
// it to 400 and the CLI to a usage error.
type ValidationError struct {
	Field string // the offending field: "name", "role", "scope"
	Msg   string
}

func (e *ValidationError) Error() string { return e.Msg }

// ValidateKey checks a key before it is created: a name, a known role, and
// a scope that makes sense for the role. CreateKey calls it; the CLI calls it
// too so that a bad command line fails before the database is touched.
func ValidateKey(k Key) error {
	if strings.TrimSpace(k.Name) == "" {
		return &ValidationError{"name", "a key needs a name (--name): it is how you recognise it in 'quarry keys list'"}
	}
	switch k.Role {
	case RoleAdmin:
		if k.Org != "" || k.Project != "" || k.Account != "" {
			return &ValidationError{"scope", "an admin key sees every tenant's rows, so --org, --project and --account would not restrict it; " +
				"drop them, or create a member key to scope access"}
		}
	case RoleMember:
		if k.User == "" && k.Org == "" && k.Project == "" && k.Account == "" {
			return &ValidationError{"scope", "a member key needs at least one of --user, --org, --project or --account: " +
				"without a scope it could see nothing"}
		}
	case "":
		return &ValidationError{"role", "a key needs a role: admin or member"}
	default:
		return &ValidationError{"role", fmt.Sprintf("unknown role %q: use admin or member", k.Role)}
	}
	for _, f := range []struct{ name, v string }{{"name", k.Name}, {"user", k.User}, {"org", k.Org}, {"project", k.Project}, {"account", k.Account}} {
		if strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return &ValidationError{f.name, fmt.Sprintf("the key's %s must not contain control characters", f.name)}
		}
		if len(f.v) > 256 {
			return &ValidationError{f.name, fmt.Sprintf("the key's %s is longer than 256 bytes", f.name)}
		}
	}
	return nil
}

// newSecret returns a fresh secret: the prefix and 32 bytes from crypto/rand
// (256 bits), in lower-case unpadded base32 so it survives shells, URLs and
// HTTP Basic without quoting.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return SecretPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

// hashSecret is the stored form of a secret: SHA-256, hex.
//
// A fast hash is right here, unlike for passwords. Slow hashes (bcrypt,
// argon2) exist to make guessing low-entropy human passwords expensive; a
// secret of 256 random bits cannot be guessed at any hash speed, so a
// stolen database still reveals no usable key. A fast, unsalted hash also
// makes the hash itself the lookup key (an index), where a salted slow hash
// would force checking every stored key against every request.
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func newID() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random key id: %w", err)
	}
	return IDPrefix + hex.EncodeToString(b), nil
}

// Times are stored as fixed-width UTC text: readable in the sqlite3 shell,
// and sorted as text in time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

// isConstraint reports a UNIQUE / PRIMARY KEY violation.
func isConstraint(err error) bool {
	var se *sqlite.Error
	// SQLITE_CONSTRAINT is 19; the extended codes keep it in the low byte.
	return errors.As(err, &se) && se.Code()&0xff == 19
}

// CreateKey validates k, stores it with a fresh id and secret, and returns
// the secret (the only time it exists outside the caller) and the stored
// record. k.ID, k.CreatedAt and k.RevokedAt are ignored; text fields are
// trimmed of surrounding space.
func (s *SQLite) CreateKey(ctx context.Context, k Key) (string, Key, error) {
	k.Name = strings.TrimSpace(k.Name)
	k.Role = strings.ToLower(strings.TrimSpace(k.Role))
	k.User = strings.TrimSpace(k.User)
	k.Org = strings.TrimSpace(k.Org)
	k.Project = strings.TrimSpace(k.Project)
	k.Account = strings.TrimSpace(k.Account)
	if err := ValidateKey(k); err != nil {
		return "", Key{}, fmt.Errorf("create key: %w", err)
	}
	k.CreatedAt = s.clock()
	k.RevokedAt = nil
	// An id or hash collision is astronomically unlikely (48 and 256 random
	// bits); retry a few times rather than reason about it.
	for attempt := 0; ; attempt++ {
		secret, err := newSecret()
		if err != nil {
			return "", Key{}, fmt.Errorf("create key: %w", err)
		}
		if k.ID, err = newID(); err != nil {
			return "", Key{}, fmt.Errorf("create key: %w", err)
		}
		_, err = s.w.ExecContext(ctx, `INSERT INTO keys
			(id, secret_hash, name, role, user_id, org, project, account, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, hashSecret(secret), k.Name, k.Role, k.User, k.Org, k.Project, k.Account, fmtTime(k.CreatedAt))
		if err == nil {
			return secret, k, nil
		}
		if !isConstraint(err) || attempt == 3 {
			return "", Key{}, fmt.Errorf("create key: %w", err)
		}
	}
}

const keyColumns = `id, name, role, user_id, org, project, account, created_at, revoked_at`

type scanner interface{ Scan(dest ...any) error }

func scanKey(r scanner) (Key, error) {
	var k Key
	var created string
	var revoked sql.NullString
	if err := r.Scan(&k.ID, &k.Name, &k.Role, &k.User, &k.Org, &k.Project, &k.Account, &created, &revoked); err != nil {
		return Key{}, err
	}
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return Key{}, err
	}
	if revoked.Valid {
		t, err := parseTime(revoked.String)
		if err != nil {
			return Key{}, err
		}
		k.RevokedAt = &t
	}
	return k, nil
}

// KeyBySecret finds the live key a presented secret belongs to, or
// ErrNotFound — for an unknown, malformed or revoked secret alike.
//
// No constant-time comparison is needed: the secret is never compared. It
// is hashed and the hash is looked up through a unique index, so the time a
// request takes depends at most on the hash, and learning bytes of a
// SHA-256 output brings an attacker no closer to a secret that hashes to it.
func (s *SQLite) KeyBySecret(ctx context.Context, secret string) (Key, error) {
	if !strings.HasPrefix(secret, SecretPrefix) || len(secret) > 128 {
		return Key{}, fmt.Errorf("key: %w", ErrNotFound)
	}
	k, err := scanKey(s.db.QueryRowContext(ctx,
		`SELECT `+keyColumns+` FROM keys WHERE secret_hash = ? AND revoked_at IS NULL`, hashSecret(secret)))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, fmt.Errorf("key: %w", ErrNotFound)
	}
	if err != nil {
		return Key{}, fmt.Errorf("key by secret: %w", err)
	}
	return k, nil
}

// KeyByID returns a key by its id, revoked or not; ErrNotFound if there is
// none.
func (s *SQLite) KeyByID(ctx context.Context, id string) (Key, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, fmt.Errorf("key %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Key{}, fmt.Errorf("key %q: %w", id, err)
	}
	return k, nil
}

// ListKeys lists every key, revoked ones included, oldest first.
func (s *SQLite) ListKeys(ctx context.Context) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM keys ORDER BY created_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var keys []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// RevokeKey revokes a key by id, from then on KeyBySecret does not find it.
// Revoking a revoked key succeeds and keeps the first revocation time.
// ErrNotFound if there is no key with that id.
func (s *SQLite) RevokeKey(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
		fmtTime(s.clock()), id)
	if err != nil {
		return fmt.Errorf("revoke key %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("revoke key %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("revoke key %q: %w", id, ErrNotFound)
	}
	return nil
}

// CountAdmins counts live (not revoked) admin keys.
func (s *SQLite) CountAdmins(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM keys WHERE role = ? AND revoked_at IS NULL`, RoleAdmin).Scan(&n); err != nil {
		return 0, fmt.Errorf("count admin keys: %w", err)
	}
	return n, nil
}
