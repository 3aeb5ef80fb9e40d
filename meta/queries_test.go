package meta

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestQueriesLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return t0 })

	q, err := s.CreateQuery(ctx, Query{Name: "ISVUsageQuery", Description: "paid usage",
		Query: "SELECT UsageDate FROM ISVUsage TIMESPAN LAST_MONTH", Owner: "key_a", User: "u1", Tenant: "account:pub-a"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !uuidRE.MatchString(q.ID) || !q.CreatedAt.Equal(t0) || q.ModifiedAt != nil {
		t.Errorf("created %+v", q)
	}
	got, err := s.GetQuery(ctx, strings.ToUpper(q.ID)+" ")
	if err != nil {
		t.Fatal(err)
	}
	if got != q {
		t.Errorf("GetQuery = %+v, want %+v", got, q)
	}
	if _, err := s.GetQuery(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetQuery(unknown) = %v", err)
	}

	s.SetClock(func() time.Time { return t0.Add(time.Minute) })
	other, err := s.CreateQuery(ctx, Query{Name: "other", Query: "SELECT 1", Owner: "key_b", Tenant: "account:pub-b"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.CreateQuery(ctx, Query{Name: "second", Query: "SELECT 2", Owner: "key_a2", User: "u1", Tenant: "account:pub-a"}, 0)
	if err != nil {
		t.Fatal(err)
	}

	ids := func(qs []Query) string {
		var out []string
		for _, q := range qs {
			out = append(out, q.Name)
		}
		return strings.Join(out, ",")
	}
	tenantA, userA, empty := "account:pub-a", "u1", ""
	for _, tc := range []struct {
		f    QueryFilter
		want string
	}{
		{QueryFilter{}, "ISVUsageQuery,other,second"},
		{QueryFilter{Tenant: &tenantA, User: &userA}, "ISVUsageQuery,second"},
		{QueryFilter{Owner: "key_a"}, "ISVUsageQuery"},
		{QueryFilter{User: &empty}, "other"},
		{QueryFilter{Name: "isvusagequery"}, "ISVUsageQuery"},
		{QueryFilter{ID: strings.ToUpper(other.ID)}, "other"},
		{QueryFilter{Tenant: &tenantA, ID: other.ID}, ""},
	} {
		qs, err := s.ListQueries(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if ids(qs) != tc.want {
			t.Errorf("ListQueries(%+v) = %s, want %s", tc.f, ids(qs), tc.want)
		}
	}

	// Survives a reopen.
	s.Close()
	s = open(t, dir)
	if got, err := s.GetQuery(ctx, second.ID); err != nil || got.Name != "second" || got.Owner != "key_a2" {
		t.Errorf("after reopen: %+v, %v", got, err)
	}

	del, err := s.DeleteQuery(ctx, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	if del != q {
		t.Errorf("DeleteQuery = %+v, want %+v", del, q)
	}
	if _, err := s.GetQuery(ctx, q.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if _, err := s.DeleteQuery(ctx, q.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestQueriesQuota(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	mk := func(tenant, user string) error {
		_, err := s.CreateQuery(ctx, Query{Name: "q", Query: "SELECT 1", Owner: "k", User: user, Tenant: tenant}, 3)
		return err
	}
	for i := 0; i < 3; i++ {
		if err := mk("account:a", "u"); err != nil {
			t.Fatal(err)
		}
	}
	if err := mk("account:a", "u"); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("4th query: %v, want ErrQuotaExceeded", err)
	}
	// Another user of the tenant, and the same user in another tenant, have
	// quotas of their own.
	if err := mk("account:a", "v"); err != nil {
		t.Error(err)
	}
	if err := mk("account:b", "u"); err != nil {
		t.Error(err)
	}
	// A deletion frees a place.
	qs, _ := s.ListQueries(ctx, QueryFilter{Owner: "k"})
	if _, err := s.DeleteQuery(ctx, qs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := mk("account:a", "u"); err != nil {
		t.Errorf("after a delete: %v", err)
	}
}

// Concurrent creates, from two handles on one file, never overshoot the quota.
func TestQueriesQuotaConcurrent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := open(t, dir), open(t, dir)
	const limit = 5
	var ok, over atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(s *SQLite) {
			defer wg.Done()
			_, err := s.CreateQuery(ctx, Query{Name: "q", Query: "SELECT 1", Tenant: "t", User: "u"}, limit)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrQuotaExceeded):
				over.Add(1)
			default:
				t.Error(err)
			}
		}(map[bool]*SQLite{true: a, false: b}[i%2 == 0])
	}
	wg.Wait()
	if ok.Load() != limit || over.Load() != 20-limit {
		t.Errorf("created %d, refused %d; want %d and %d", ok.Load(), over.Load(), limit, 20-limit)
	}
}
