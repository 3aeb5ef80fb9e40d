package suggest

import "testing"

func TestDistance(t *testing.T) {
	cases := []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"WHERE", "WHERE", 0}, {"WHER", "WHERE", 1}, {"WHREE", "WHERE", 1},
		{"usagedat", "usagedate", 1}, {"isvusag", "isvusage", 1}, {"abc", "xyz", 3},
		{"ca", "abc", 3}, {string(make([]byte, 65)), "a", 1 << 20},
	}
	for _, c := range cases {
		if d := Distance(c.a, c.b); d != c.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, d, c.d)
		}
	}
}
