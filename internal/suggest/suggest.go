// Package suggest measures how far apart two names are, for "did you mean"
// hints in the parser (keywords) and the catalog (datasets and columns).
package suggest

// Distance is the Damerau (optimal string alignment) edit distance on
// bytes: insertions, deletions, substitutions and swaps of neighbours each
// cost 1. Names are ASCII; strings over 64 bytes are "far" (1<<20) so a
// hostile input costs nothing.
func Distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
