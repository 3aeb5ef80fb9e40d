package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/quarry/quarry/meta"
)

const keysUsage = `usage:
  quarry keys create --name N --role admin|member [--user U] [--org O] [--project P] [--account A]
  quarry keys list
  quarry keys revoke ID`

// runKeys is `quarry keys create|list|revoke`: API keys in the metadata
// store. It works while `quarry serve` has the same data dir open.
func runKeys(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{"no subcommand given\n" + keysUsage}
	}
	switch args[0] {
	case "create":
		return keysCreate(ctx, os.Stdout, args[1:])
	case "list", "ls":
		return keysList(ctx, os.Stdout, args[1:])
	case "revoke":
		return keysRevoke(ctx, os.Stdout, args[1:])
	case "-h", "--help", "help":
		fmt.Fprintln(os.Stderr, keysUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Sprintf("unknown subcommand %q\n%s", args[0], keysUsage)}
}

// parseKeysFlags parses a subcommand's flags, turning a bad flag into a
// usage error (exit 2); the flag package has already printed the details.
func parseKeysFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return nil, usageError{err.Error()}
	}
	return pos, err
}

func keysCreate(ctx context.Context, w io.Writer, args []string) error {
	var data string
	var k meta.Key
	fs := flagSet("keys create", &data)
	fs.StringVar(&k.Name, "name", "", "a name to recognise the key by (required)")
	fs.StringVar(&k.Role, "role", "", "admin (every row, every object) or member (its scope only) (required)")
	fs.StringVar(&k.User, "user", "", "the user who owns the queries, reports and jobs made with the key")
	fs.StringVar(&k.Org, "org", "", "scopes transactions.organization")
	fs.StringVar(&k.Project, "project", "", "scopes meters.project_id")
	fs.StringVar(&k.Account, "account", "", "scopes PublisherId / PartnerId and energy.account_id")
	pos, err := parseKeysFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q\n%s", pos[0], keysUsage)}
	}
	// Check the command line before touching the data dir. CreateKey trims
	// and lower-cases the same way.
	check := k
	check.Name, check.Role = strings.TrimSpace(k.Name), strings.ToLower(strings.TrimSpace(k.Role))
	check.User, check.Org = strings.TrimSpace(k.User), strings.TrimSpace(k.Org)
	check.Project, check.Account = strings.TrimSpace(k.Project), strings.TrimSpace(k.Account)
	if err := meta.ValidateKey(check); err != nil {
		return usageError{err.Error()}
	}

	store, err := meta.Open(ctx, data)
	if err != nil {
		return err
	}
	defer store.Close()
	secret, created, err := store.CreateKey(ctx, k)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Created %s key %s (%s).\n\n", created.Role, created.ID, created.Name)
	fmt.Fprintf(w, "  %s\n\n", secret)
	fmt.Fprintln(w, "Copy the secret now: it is stored only as a hash and will not be shown again.")
	fmt.Fprintln(w, "Send it as 'Authorization: Bearer <secret>' or as the password of HTTP Basic.")
	fmt.Fprintf(w, "\nid:    %s\nscope: %s\n", created.ID, scopeText(created))
	return store.Close()
}

func scopeText(k meta.Key) string {
	var parts []string
	for _, f := range []struct{ n, v string }{{"user", k.User}, {"org", k.Org}, {"project", k.Project}, {"account", k.Account}} {
		if f.v != "" {
			parts = append(parts, f.n+"="+f.v)
		}
	}
	s := strings.Join(parts, " ")
	if k.Admin() {
		if s != "" {
			return "every tenant's rows (admin); " + s
		}
		return "every tenant's rows (admin)"
	}
	return s
}

func keysList(ctx context.Context, w io.Writer, args []string) error {
	var data string
	fs := flagSet("keys list", &data)
	pos, err := parseKeysFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q\n%s", pos[0], keysUsage)}
	}
	store, err := meta.Open(ctx, data)
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := store.ListKeys(ctx)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		fmt.Fprintln(w, "no keys; create one with 'quarry keys create'")
		return store.Close()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tUSER\tORG\tPROJECT\tACCOUNT\tCREATED\tREVOKED")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		// A tab or newline in a stored value would break the table.
		return strings.NewReplacer("\t", " ", "\n", " ").Replace(s)
	}
	for _, k := range keys {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, dash(k.Name), k.Role,
			dash(k.User), dash(k.Org), dash(k.Project), dash(k.Account),
			k.CreatedAt.UTC().Format(time.RFC3339), revoked)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return store.Close()
}

func keysRevoke(ctx context.Context, w io.Writer, args []string) error {
	var data string
	fs := flagSet("keys revoke", &data)
	pos, err := parseKeysFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give exactly one key id (see 'quarry keys list')\n" + keysUsage}
	}
	id := pos[0]
	store, err := meta.Open(ctx, data)
	if err != nil {
		return err
	}
	defer store.Close()
	before, err := store.KeyByID(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("no key with id %q (see 'quarry keys list')", id)
	}
	if err != nil {
		return err
	}
	if before.RevokedAt != nil {
		fmt.Fprintf(w, "%s (%s) was already revoked at %s\n", id, before.Name, before.RevokedAt.UTC().Format(time.RFC3339))
		return store.Close()
	}
	if err := store.RevokeKey(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(w, "revoked %s (%s): requests with its secret are refused\n", id, before.Name)
	return store.Close()
}
