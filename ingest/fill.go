package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/quarry/quarry/datasets"
)

// MeterSignatureKey is the HMAC-SHA256 key of the message_signature that
// ingest fills in for meters rows that have none. It is a fixed, public
// key: the signature proves nothing about the sender; it exists so that
// every row has the field the metering API returns.
var MeterSignatureKey = []byte("quarry-meters-message-signature-v1")

// Sign returns the hex HMAC-SHA256 of canonical with MeterSignatureKey.
func Sign(canonical []byte) string {
	m := hmac.New(sha256.New, MeterSignatureKey)
	m.Write(canonical)
	return hex.EncodeToString(m.Sum(nil))
}

// filler completes the current row of a batch with per-dataset defaults.
type filler func(b *batch)

// fillerFor returns the defaults of a dataset, or nil. Only "meters" has
// any: a missing or NULL message_id becomes a random UUID (version 4) and
// a missing or NULL message_signature becomes Sign(canonical JSON of the
// row). The canonical JSON is one object of every stored column except
// message_signature whose value is not NULL (after message_id is filled),
// keys in byte order of the catalog names, no whitespace; strings escaped
// as JSON (only '"', '\\' and control characters), JSON columns as their
// compact text, numbers in Go's shortest 'g' form, booleans true/false,
// DATE "YYYY-MM-DD", TIMESTAMP "YYYY-MM-DDTHH:MM:SS[.ffffff]Z".
func fillerFor(d *datasets.Dataset, cols []*datasets.Column) filler {
	if !strings.EqualFold(d.Name, "meters") {
		return nil
	}
	id, sig := -1, -1
	var order []int
	for i, c := range cols {
		switch {
		case strings.EqualFold(c.Name, "message_id") && c.Type == datasets.Varchar:
			id = i
		case strings.EqualFold(c.Name, "message_signature") && c.Type == datasets.Varchar:
			sig = i
			continue
		}
		order = append(order, i)
	}
	if id < 0 && sig < 0 {
		return nil
	}
	sort.Slice(order, func(a, b int) bool { return cols[order[a]].Name < cols[order[b]].Name })
	var (
		buf []byte
		mac hash.Hash
		sum []byte
		hx  [64]byte
		v   value
	)
	return func(b *batch) {
		i := b.n
		if id >= 0 && !b.cols[id].valid[i] {
			u := uuid.New()
			s := []byte(u.String())
			v.k, v.b = vString, s
			b.cols[id].convert(i, &v)
		}
		if sig >= 0 && !b.cols[sig].valid[i] {
			buf = canonicalJSON(buf[:0], b, i, order)
			if mac == nil {
				mac = hmac.New(sha256.New, MeterSignatureKey)
			}
			mac.Reset()
			mac.Write(buf)
			sum = mac.Sum(sum[:0])
			hex.Encode(hx[:], sum)
			v.k, v.b = vString, hx[:]
			b.cols[sig].convert(i, &v)
		}
	}
}

// canonicalJSON appends the canonical JSON of row i (see fillerFor).
func canonicalJSON(dst []byte, b *batch, i int, order []int) []byte {
	dst = append(dst, '{')
	first := true
	for _, c := range order {
		cb := &b.cols[c]
		if !cb.valid[i] {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, cb.c.Name)
		dst = append(dst, ':')
		switch cb.typ {
		case datasets.Varchar:
			dst = appendJSONString(dst, bstr(cb.str(i)))
		case datasets.JSON:
			dst = append(dst, cb.str(i)...)
		case datasets.BigInt, datasets.Integer:
			dst = strconv.AppendInt(dst, cb.i64[i], 10)
		case datasets.Double:
			f := cb.f64[i]
			if math.IsNaN(f) || math.IsInf(f, 0) {
				dst = appendJSONString(dst, strconv.FormatFloat(f, 'g', -1, 64))
			} else {
				dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
			}
		case datasets.Boolean:
			dst = strconv.AppendBool(dst, cb.bl[i])
		case datasets.Date:
			dst = append(dst, '"')
			dst = time.UnixMicro(cb.i64[i]*microsPerDay).UTC().AppendFormat(dst, datasets.DayLayout)
			dst = append(dst, '"')
		case datasets.Timestamp:
			dst = append(dst, '"')
			dst = time.UnixMicro(cb.i64[i]).UTC().AppendFormat(dst, "2006-01-02T15:04:05.999999Z")
			dst = append(dst, '"')
		}
	}
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		case c < utf8.RuneSelf:
			dst = append(dst, c)
		default:
			_, n := utf8.DecodeRuneInString(s[i:])
			dst = append(dst, s[i:i+n]...)
			i += n
			continue
		}
		i++
	}
	return append(dst, '"')
}
