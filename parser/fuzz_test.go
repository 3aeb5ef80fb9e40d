package parser

import (
	"strings"
	"testing"
)

// FuzzParseQuery checks that ParseQuery never panics, that every error is
// a well-formed *Error, that a successful parse round-trips through
// String, and that participle and the error analyser agree on where a
// text goes wrong.
//
//	go test -run=^$ -fuzz=FuzzParseQuery -fuzztime=60s ./parser/
func FuzzParseQuery(f *testing.F) {
	for _, s := range seedQueries {
		f.Add(s)
	}
	for _, s := range []string{
		"", "SELECT", "select a from b", "SELECT a FROM X WHERE b = 'it''s' AND c IN (1, -2.5)",
		"SELECT a FROM X WHERE b = ‘x’ ORDER BY a ASC, b LIMIT 1 TIMESPAN lifetime",
		"SELECT a FROM X WHERE b = 'open", "SELECT a FROM X LIMIT 0", "SELECT a FROM X TIMESPAN LAST_7_DAY",
		"SELECT a FROM X WHER b = 1", "SELECT a\nFROM X\nWHERE b <> 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		q, err := ParseQuery(src)
		if len(src) <= MaxInputBytes {
			checkLexers(t, src)
			checkQueryAgreement(t, src)
		}
		if err != nil {
			checkError(t, src, err, queryMessage)
			return
		}
		checkQueryRoundTrip(t, src, q)
		checkQueryPositions(t, src, q)
	})
}

// FuzzParseFilter is FuzzParseQuery for the filter language.
//
//	go test -run=^$ -fuzz=FuzzParseFilter -fuzztime=60s ./parser/
func FuzzParseFilter(f *testing.F) {
	for _, s := range seedFilters {
		f.Add(s)
	}
	for _, s := range []string{
		"", "(", "a eq 1 or b eq 2 and c eq 3", "(a eq 'it''s') and (b in 1,-2.5,'x')",
		"(a is null) or (b isnot null) or (c not like ‘x%’)", "(a eq 1", "(a = 1)", "(a eq 'open",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		fl, err := ParseFilter(src)
		if len(src) <= MaxInputBytes {
			checkLexers(t, src)
			checkFilterAgreement(t, src)
		}
		if err != nil {
			checkError(t, src, err, filterMessage)
			return
		}
		checkFilterRoundTrip(t, src, fl)
		checkFilterPositions(t, src, fl)
	})
}

// checkQueryAgreement asserts that participle and analyzeQuery accept the
// same texts, and that the analyser's failing token is the first one no
// valid query can continue with.
func checkQueryAgreement(t *testing.T, src string) {
	t.Helper()
	if strings.TrimFunc(src, isSpace) == "" {
		return
	}
	_, perr := queryParser.ParseString("", src)
	aerr := analyzeQuery(src, tokenize(queryLexer, src))
	agree(t, src, perr, aerr)
}

func checkFilterAgreement(t *testing.T, src string) {
	t.Helper()
	if strings.TrimFunc(src, isSpace) == "" {
		return
	}
	_, perr := filterParser.ParseString("", src)
	aerr := analyzeFilter(src, tokenize(filterLexer, src))
	agree(t, src, perr, aerr)
}

func agree(t *testing.T, src string, perr error, aerr *Error) {
	t.Helper()
	switch {
	case perr == nil && aerr != nil:
		t.Fatalf("%q: participle accepts, analyser rejects: %v", src, aerr)
	case perr != nil && aerr == nil:
		t.Fatalf("%q: participle rejects (%v), analyser accepts", src, perr)
	case perr != nil && errorOffset(src, perr) > aerr.Pos.Offset:
		// The analyser finds the first token no valid text can continue
		// with. Participle may report an earlier one (it silently undoes a
		// half-matched repetition, as in "SELECT a," where it blames the
		// comma), never a later one.
		t.Fatalf("%q: participle fails at offset %d (%v), analyser earlier at %d (%v)", src, errorOffset(src, perr), perr, aerr.Pos.Offset, aerr)
	}
}

// TestAgreementOnTestdata runs the agreement check over the seeds.
func TestAgreementOnSeeds(t *testing.T) {
	for _, s := range seedQueries {
		checkQueryAgreement(t, s)
	}
	for _, s := range seedFilters {
		checkFilterAgreement(t, s)
	}
}

// BenchmarkParseQuery parses the ISVUsage LIMIT 10 sample of the spec.
func BenchmarkParseQuery(b *testing.B) {
	const src = "SELECT MarketplaceSubscriptionId, EstimatedExtendedChargeCC FROM ISVUsage ORDER BY EstimatedExtendedChargeCC LIMIT 10"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseQuery(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseFilter parses a typical filter.
func BenchmarkParseFilter(b *testing.B) {
	const src = "(responsecode le 201 or responsecode eq 301) and (iserror eq 1) or (apiproxy in 'api1','api2')"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFilter(src); err != nil {
			b.Fatal(err)
		}
	}
}
