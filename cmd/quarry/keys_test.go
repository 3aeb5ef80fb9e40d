package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/quarry/quarry/meta"
)

var (
	secretRE = regexp.MustCompile(`qk_[a-z2-7]{52}`)
	keyIDRE  = regexp.MustCompile(`key_[0-9a-f]{12}`)
)

// createKey runs `quarry keys create` and returns its output, the secret
// and the id it printed.
func createKey(t *testing.T, args ...string) (out, secret, id string) {
	t.Helper()
	out, errs, code := quarry(t, append([]string{"keys", "create"}, args...)...)
	if code != 0 {
		t.Fatalf("keys create %v: exit %d\n%s%s", args, code, out, errs)
	}
	secrets := secretRE.FindAllString(out, -1)
	if len(secrets) != 1 {
		t.Fatalf("keys create printed %d secrets, want exactly one:\n%s", len(secrets), out)
	}
	return out, secrets[0], keyIDRE.FindString(out)
}

func TestKeysCLI(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	out, adminSecret, adminID := createKey(t, "--data", data, "--name", "ops", "--role", "admin")
	if !strings.Contains(out, "will not be shown again") || !strings.Contains(out, "id:    "+adminID) ||
		!strings.Contains(out, "scope: every tenant's rows (admin)") {
		t.Errorf("keys create output:\n%s", out)
	}
	// flags after the subcommand in any order
	out, memberSecret, memberID := createKey(t, "--role", "member", "--name", "acme reader", "--org", "acme", "--user", "ann", "--data", data)
	if !strings.Contains(out, "scope: user=ann org=acme") {
		t.Errorf("member scope line:\n%s", out)
	}

	// the store agrees with what was printed
	s, err := meta.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if k, err := s.KeyBySecret(ctx, memberSecret); err != nil || k.ID != memberID || k.Org != "acme" || k.User != "ann" || k.Admin() {
		t.Errorf("member key in the store: %+v %v", k, err)
	}
	if k, err := s.KeyBySecret(ctx, adminSecret); err != nil || k.ID != adminID || !k.Admin() {
		t.Errorf("admin key in the store: %+v %v", k, err)
	}

	// list: a header, both keys, never a secret
	out, errs, code := quarry(t, "keys", "list", "--data", data)
	if code != 0 {
		t.Fatalf("keys list: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^ID\s+NAME\s+ROLE\s+USER\s+ORG\s+PROJECT\s+ACCOUNT\s+CREATED\s+REVOKED$`).MatchString(lines[0]) ||
		!strings.HasPrefix(lines[1], adminID) || !strings.HasPrefix(lines[2], memberID) ||
		!regexp.MustCompile(`acme reader\s+member\s+ann\s+acme\s+-\s+-\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+-$`).MatchString(lines[2]) {
		t.Errorf("keys list:\n%s", out)
	}
	if secretRE.MatchString(out) || strings.Contains(out, "qk_") {
		t.Errorf("keys list shows a secret:\n%s", out)
	}

	// revoke: the secret stops working; list shows when
	out, errs, code = quarry(t, "keys", "revoke", memberID, "--data", data)
	if code != 0 || !strings.Contains(out, "revoked "+memberID+" (acme reader)") {
		t.Errorf("keys revoke: %d %s %s", code, out, errs)
	}
	if _, err := s.KeyBySecret(ctx, memberSecret); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("revoked key still found: %v", err)
	}
	out, _, code = quarry(t, "keys", "revoke", "--data", data, memberID)
	if code != 0 || !strings.Contains(out, "was already revoked at") {
		t.Errorf("second revoke: %d %s", code, out)
	}
	out, _, _ = quarry(t, "keys", "list", "--data", data)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 ||
		!regexp.MustCompile(`\d\d:\d\dZ\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(lines[2]) ||
		!strings.HasSuffix(lines[1], " -") {
		t.Errorf("keys list after revoke:\n%s", out)
	}
	_, errs, code = quarry(t, "keys", "revoke", "--data", data, "key_000000000000")
	if code != 1 || !strings.Contains(errs, `no key with id "key_000000000000"`) {
		t.Errorf("revoke unknown id: %d %s", code, errs)
	}
}

func TestKeysCLIUsage(t *testing.T) {
	data := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"keys"}, "no subcommand given"},
		{[]string{"keys", "rotate"}, `unknown subcommand "rotate"`},
		{[]string{"keys", "create", "--data", data, "--role", "admin"}, "a key needs a name"},
		{[]string{"keys", "create", "--data", data, "--name", "x"}, "a key needs a role: admin or member"},
		{[]string{"keys", "create", "--data", data, "--name", "x", "--role", "root"}, `unknown role "root": use admin or member`},
		{[]string{"keys", "create", "--data", data, "--name", "x", "--role", "member"}, "without a scope it could see nothing"},
		{[]string{"keys", "create", "--data", data, "--name", "x", "--role", "admin", "--org", "acme"}, "would not restrict it"},
		{[]string{"keys", "create", "--data", data, "--name", "x", "--role", "admin", "extra"}, `unexpected argument "extra"`},
		{[]string{"keys", "create", "--data", data, "--nam", "x"}, "flag provided but not defined: -nam"},
		{[]string{"keys", "revoke", "--data", data}, "give exactly one key id"},
		{[]string{"keys", "list", "--data", data, "x"}, `unexpected argument "x"`},
	} {
		_, errs, code := quarry(t, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("quarry %v: exit %d, want 2 with %q:\n%s", c.args, code, c.want, errs)
		}
	}
	// bad command lines touch nothing
	out, _, code := quarry(t, "keys", "list", "--data", data)
	if code != 0 || !strings.Contains(out, "no keys") {
		t.Errorf("keys list on an empty store: %d %s", code, out)
	}
	if _, _, code := quarry(t, "keys", "create", "-h"); code != 0 {
		t.Errorf("keys create -h: exit %d", code)
	}
}

// `quarry keys create` must work while another process (quarry serve) has
// the store open — even while that process is in the middle of a write.
func TestKeysCreateWhileStoreOpen(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	server, err := meta.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if _, _, err := server.CreateKey(ctx, meta.Key{Name: "first", Role: meta.RoleAdmin}); err != nil {
		t.Fatal(err)
	}

	// the other handle holds the write lock for a moment
	tx, err := server.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE keys SET name = name`); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "keys", "create", "--data", data, "--name", "while serving", "--role", "member", "--project", "p1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the CLI starts and queues on the lock (busy_timeout is 5 s)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("keys create while the store is open elsewhere: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	secret := secretRE.FindString(stdout.String())
	// the running "server" sees the new key at once, without reopening
	if k, err := server.KeyBySecret(ctx, secret); err != nil || k.Name != "while serving" || k.Project != "p1" {
		t.Errorf("new key from the serving handle: %+v %v", k, err)
	}
	// and the CLI sees what the server holds
	out, _, _ := quarry(t, "keys", "list", "--data", data)
	if !strings.Contains(out, "first") || !strings.Contains(out, "while serving") {
		t.Errorf("keys list:\n%s", out)
	}
}
