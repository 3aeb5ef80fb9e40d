package meta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, dir string) *SQLite {
	t.Helper()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestKeysLifecycle(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	now := t0
	s.SetClock(func() time.Time { return now })

	secret, admin, err := s.CreateKey(ctx, Key{Name: " ops ", Role: "Admin", User: "root"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "qk_") || len(secret) != 3+52 || strings.ToLower(secret) != secret {
		t.Errorf("secret %q: want qk_ + 52 lower-case base32 characters", secret)
	}
	if !strings.HasPrefix(admin.ID, "key_") || len(admin.ID) != 4+12 {
		t.Errorf("id %q: want key_ + 12 hex characters", admin.ID)
	}
	if admin.Name != "ops" || admin.Role != RoleAdmin || !admin.Admin() || !admin.CreatedAt.Equal(t0) || admin.RevokedAt != nil {
		t.Errorf("created admin key: %+v", admin)
	}

	now = t0.Add(time.Minute)
	msecret, member, err := s.CreateKey(ctx, Key{Name: "acme reader", Role: RoleMember, User: "ann", Org: "acme", Project: "p1", Account: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	if msecret == secret || member.ID == admin.ID {
		t.Fatal("two keys share a secret or an id")
	}

	got, err := s.KeyBySecret(ctx, msecret)
	if err != nil {
		t.Fatal(err)
	}
	if got != member {
		t.Errorf("KeyBySecret = %+v, want %+v", got, member)
	}
	if sc := got.Scope(); sc.Admin || sc.Org != "acme" || sc.Project != "p1" || sc.Account != "a1" {
		t.Errorf("scope %+v", sc)
	}
	if got, err := s.KeyBySecret(ctx, secret); err != nil || got.ID != admin.ID {
		t.Errorf("admin lookup: %+v %v", got, err)
	}
	for _, bad := range []string{"", "qk_", "nope", secret + "x", strings.ToUpper(secret), admin.ID} {
		if _, err := s.KeyBySecret(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("KeyBySecret(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	if n, err := s.CountAdmins(ctx); err != nil || n != 1 {
		t.Errorf("CountAdmins = %d %v, want 1", n, err)
	}

	keys, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != admin.ID || keys[1].ID != member.ID {
		t.Fatalf("ListKeys (oldest first): %+v", keys)
	}

	// revoke: the secret stops working, the record stays, listed as revoked
	now = t0.Add(time.Hour)
	if err := s.RevokeKey(ctx, admin.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KeyBySecret(ctx, secret); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked key found: %v", err)
	}
	if n, _ := s.CountAdmins(ctx); n != 0 {
		t.Errorf("CountAdmins after revoke = %d", n)
	}
	now = t0.Add(2 * time.Hour)
	if err := s.RevokeKey(ctx, admin.ID); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	k, err := s.KeyByID(ctx, admin.ID)
	if err != nil || k.RevokedAt == nil || !k.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("revoked key by id: %+v %v (want the first revocation time kept)", k, err)
	}
	keys, _ = s.ListKeys(ctx)
	if len(keys) != 2 || keys[0].RevokedAt == nil || keys[1].RevokedAt != nil {
		t.Errorf("ListKeys after revoke: %+v", keys)
	}
	if err := s.RevokeKey(ctx, "key_000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke unknown id: %v", err)
	}
	if _, err := s.KeyByID(ctx, "key_000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	// the other key is untouched
	if _, err := s.KeyBySecret(ctx, msecret); err != nil {
		t.Errorf("member key after revoking admin: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Error(err)
	}
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	for _, c := range []struct {
		k     Key
		field string
		msg   string
	}{
		{Key{Role: RoleAdmin}, "name", "a key needs a name"},
		{Key{Name: "  ", Role: RoleAdmin}, "name", "a key needs a name"},
		{Key{Name: "x"}, "role", "a key needs a role: admin or member"},
		{Key{Name: "x", Role: "owner"}, "role", `unknown role "owner": use admin or member`},
		{Key{Name: "x", Role: RoleMember}, "scope", "without a scope it could see nothing"},
		{Key{Name: "x", Role: RoleMember, User: "  "}, "scope", "at least one of --user, --org, --project or --account"},
		{Key{Name: "x", Role: RoleAdmin, Org: "acme"}, "scope", "an admin key sees every tenant's rows"},
		{Key{Name: "a\nb", Role: RoleAdmin}, "name", "control characters"},
		{Key{Name: "x", Role: RoleMember, Org: strings.Repeat("o", 300)}, "org", "longer than 256 bytes"},
	} {
		_, _, err := s.CreateKey(ctx, c.k)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("CreateKey(%+v) = %v, want a %s error containing %q", c.k, err, c.field, c.msg)
		}
	}
	if keys, _ := s.ListKeys(ctx); len(keys) != 0 {
		t.Errorf("invalid keys were stored: %+v", keys)
	}
	// each single scope is enough for a member; user alone too
	for _, k := range []Key{
		{Name: "u", Role: RoleMember, User: "ann"},
		{Name: "o", Role: RoleMember, Org: "acme"},
		{Name: "p", Role: RoleMember, Project: "p1"},
		{Name: "a", Role: RoleMember, Account: "a1"},
		{Name: "admin with owner", Role: RoleAdmin, User: "root"},
	} {
		if _, _, err := s.CreateKey(ctx, k); err != nil {
			t.Errorf("CreateKey(%+v): %v", k, err)
		}
	}
}

// The secret must appear nowhere on disk: not in the database, not in its
// WAL, before or after a checkpoint. Only its SHA-256 does.
func TestSecretNotStoredInPlaintext(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	var secrets []string
	for i := range 20 {
		secret, _, err := s.CreateKey(ctx, Key{Name: fmt.Sprint("k", i), Role: RoleMember, Org: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
	}
	scan := func(when string) {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		var seenHash bool
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, sec := range secrets {
				body := strings.TrimPrefix(sec, SecretPrefix)
				if bytes.Contains(b, []byte(body)) || bytes.Contains(bytes.ToLower(b), []byte(body)) {
					t.Errorf("%s: secret found in plaintext in %s", when, filepath.Base(f))
				}
			}
			if bytes.Contains(b, []byte(hashSecret(secrets[0]))) {
				seenHash = true
			}
		}
		if !seenHash {
			t.Errorf("%s: the secret's hash is not on disk either; did the scan read the right files? %v", when, files)
		}
	}
	scan("before checkpoint")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	scan("after close")
}

func TestSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "not", "yet") // Open creates the directory
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	secret, k, err := s.CreateKey(ctx, Key{Name: "kept", Role: RoleMember, Project: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, FileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database file: %v %v, want mode 0600", fi.Mode(), err)
	}

	s = open(t, dir)
	got, err := s.KeyBySecret(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got != k {
		t.Errorf("after reopen: %+v, want %+v", got, k)
	}
	// migrations ran once
	var n, max int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_version`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != SchemaVersion() || max != SchemaVersion() {
		t.Errorf("schema_version has %d rows, max %d; want %d", n, max, SchemaVersion())
	}
}

func TestPragmas(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	// every pooled connection carries the settings, so check several at once
	for i := range 3 {
		c, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"synchronous":  "2", // FULL
			"foreign_keys": "1",
			"busy_timeout": "5000",
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, pragma, got, want)
			}
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO schema_version VALUES (?, 'from the future', '')`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, dir); err == nil || !strings.Contains(err.Error(), "newer than this quarry knows") {
		t.Errorf("Open of a newer schema: %v", err)
	}
}

func TestContextCancelled(t *testing.T) {
	s := open(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.CreateKey(ctx, Key{Name: "x", Role: RoleAdmin}); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateKey with a cancelled context: %v", err)
	}
	if _, err := s.ListKeys(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("ListKeys with a cancelled context: %v", err)
	}
	if _, err := Open(ctx, t.TempDir()); err == nil {
		t.Error("Open with a cancelled context succeeded")
	}
}

// Two handles on one directory stand for two processes (quarry serve and
// quarry keys create): each has its own connection pool and file locks.
// Keys created from both at once, by many goroutines, are all visible from
// both, with no SQLITE_BUSY surfacing.
func TestTwoHandlesConcurrently(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Open the two handles at once on a fresh directory: the migration must
	// run exactly once.
	var a, b *SQLite
	var errA, errB error
	var wg sync.WaitGroup
	wg.Go(func() { a, errA = Open(ctx, dir) })
	wg.Go(func() { b, errB = Open(ctx, dir) })
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	defer a.Close()
	defer b.Close()

	const perHandle, workers = 40, 8
	var mu sync.Mutex
	secrets := map[string]string{} // secret → id
	errs := make(chan error, 2*workers*perHandle)
	for _, s := range []*SQLite{a, b} {
		for w := range workers {
			wg.Go(func() {
				for i := range perHandle / workers {
					secret, k, err := s.CreateKey(ctx, Key{Name: fmt.Sprintf("w%d-%d", w, i), Role: RoleMember, Org: "acme"})
					if err != nil {
						errs <- err
						return
					}
					// read back at once through the other handle
					other := a
					if s == a {
						other = b
					}
					if got, err := other.KeyBySecret(ctx, secret); err != nil || got.ID != k.ID {
						errs <- fmt.Errorf("key %s not visible from the other handle: %v", k.ID, err)
						return
					}
					mu.Lock()
					secrets[secret] = k.ID
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(secrets) != 2*perHandle {
		t.Fatalf("%d keys created, want %d", len(secrets), 2*perHandle)
	}
	for _, s := range []*SQLite{a, b} {
		keys, err := s.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2*perHandle {
			t.Errorf("ListKeys sees %d keys, want %d", len(keys), 2*perHandle)
		}
		for secret, id := range secrets {
			if k, err := s.KeyBySecret(ctx, secret); err != nil || k.ID != id {
				t.Errorf("KeyBySecret: %v %v", k.ID, err)
			}
		}
	}
	var n int
	a.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&n)
	if n != SchemaVersion() {
		t.Errorf("schema_version rows: %d, want %d (a migration ran twice?)", n, SchemaVersion())
	}
}

// A writer that holds the lock delays another handle's write rather than
// failing it (busy_timeout), and readers are not blocked meanwhile (WAL).
func TestWriterWaitsForLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := open(t, dir), open(t, dir)
	secret, _, err := a.CreateKey(ctx, Key{Name: "before", Role: RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := a.DB().BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE keys SET name = name`); err != nil {
		t.Fatal(err)
	}
	// reads go on
	if _, err := b.KeyBySecret(ctx, secret); err != nil {
		t.Errorf("read while another handle writes: %v", err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, _, err := b.CreateKey(ctx, Key{Name: "waits", Role: RoleAdmin})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("write finished while the lock was held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write after the lock was released: %v", err)
	}
	if d := time.Since(start); d > BusyTimeout {
		t.Errorf("write took %v", d)
	}
}
