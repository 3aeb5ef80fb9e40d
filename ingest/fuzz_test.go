package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// FuzzReaders feeds arbitrary bytes to the NDJSON and CSV readers (as an
// HTTP body would): they never panic, a rejected input names a line, and
// with bad rows skipped every accepted row plus every rejected one is no
// more than the lines read.
//
//	go test -run=^$ -fuzz=FuzzReaders -fuzztime=60s ./ingest/
func FuzzReaders(f *testing.F) {
	for _, s := range []string{
		goodNDJSON,
		`{"org":"a","ts":"2024-04-01T01:00:00Z","status":"x"}` + "\n" + `not json` + "\n",
		"org,ts,proxy,status\na,2024-04-01T01:00:00Z,p,200\nb,bad,p,1\n",
		`{"org":"a","ts":1711933200000,"meta":{"k":[1,{"x":null}]},"latency":"1e308"}`,
		"\xef\xbb\xbf{\"org\":\"a\",\"ts\":\"2024-04-01\"}", `{"org":"a","org":"b"}`, "", "\n\n", `{"ts":"2024-02-30"}`,
	} {
		f.Add(s)
	}
	d := testDataset(f)
	f.Fuzz(func(t *testing.T, body string) {
		lines := int64(strings.Count(body, "\n") + 1)
		for _, format := range []Format{NDJSON, CSV} {
			for _, skip := range []bool{false, true} {
				p, err := Parse(context.Background(), d, strings.NewReader(body), "body", format, Options{SkipBadRows: skip}, 1<<20)
				if err != nil {
					var re *RowError
					if errors.As(err, &re) && re.Reason == "" {
						t.Fatalf("row error without a reason: %v", err)
					}
					continue
				}
				if p.Rows+p.Rejected > lines {
					t.Fatalf("%s: %d accepted + %d rejected rows from %d lines", format, p.Rows, p.Rejected, lines)
				}
				if !skip && p.Rejected != 0 {
					t.Fatalf("rows rejected without SkipBadRows")
				}
			}
		}
	})
}
