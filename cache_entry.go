// Cache entries: how a stored response is laid out as bytes for a Cache,
// with a checksum so a corrupt or truncated entry is a miss, never a
// wrong answer.

package reqivo

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/reqivo/reqivo/internal/httpcache"
)

// Layout: magic "RQC1", kind (1 byte), request time and response time
// (Unix ns, 8 bytes each), status (2 bytes), the header fields (uvarint
// count; per field: name, uvarint value count, values; strings as uvarint
// length and bytes), then the body, then a CRC-32 (Castagnoli) of all
// before it. The body comes last so a response can be appended to the
// head as it streams in, with no second copy.
const (
	entryMagic      = "RQC1"
	entryResponse   = 0 // a stored response
	entryVaryIndex  = 1 // the Vary field names of the variants stored under a URI
	entryFixedBytes = 4 + 1 + 8 + 8 + 2
	entryTrailer    = 4
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errCorruptEntry = errors.New("reqivo: corrupt cache entry")

// cacheEntry is a decoded entry: a stored response as the policy takes it,
// its directives and date parsed once (an entry is decoded once and
// decided on at every hit).
type cacheEntry struct {
	httpcache.Stored
	statusLine string // as http.Response.Status: "200 OK"
	kind       byte
	body       []byte   // aliases the stored value: read only
	vary       []string // entryVaryIndex: the Vary field names
}

// encodeHead returns the entry up to its body, with room for bodyHint
// more bytes and the trailer.
func encodeHead(kind byte, m *httpcache.Stored, bodyHint int) []byte {
	var buf [16]string
	keys := storedKeys(m.Header, buf[:0])
	n := entryFixedBytes + entryTrailer + bodyHint
	for _, k := range keys {
		n += len(k) + 2*binary.MaxVarintLen32
		for _, v := range m.Header[k] {
			n += len(v) + binary.MaxVarintLen32
		}
	}
	b := make([]byte, 0, n)
	b = append(b, entryMagic...)
	b = append(b, kind)
	b = binary.BigEndian.AppendUint64(b, uint64(m.ReqTime.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(m.RespTime.UnixNano()))
	b = binary.BigEndian.AppendUint16(b, uint16(m.Status))
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		vs := m.Header[k]
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	return b
}

// storedKeys appends to keys the names of the fields of h a cache keeps
// (RFC 9111 3.1; see httpcache.Unstored), sorted.
func storedKeys(h http.Header, keys []string) []string {
	conn := httpcache.ConnectionFields(h)
	for k := range h {
		if !httpcache.Unstored(k) && !conn[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// entryLen is the length of the entry encodeEntry makes of kind, m and a
// body of n bytes, computed without making it.
func entryLen(m *httpcache.Stored, n int) int {
	var buf [16]string
	keys := storedKeys(m.Header, buf[:0])
	l := entryFixedBytes + uvarintLen(len(keys)) + n + entryTrailer
	for _, k := range keys {
		vs := m.Header[k]
		l += uvarintLen(len(k)) + len(k) + uvarintLen(len(vs))
		for _, v := range vs {
			l += uvarintLen(len(v)) + len(v)
		}
	}
	return l
}

func uvarintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return len(binary.AppendUvarint(b[:0], uint64(n)))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// finishEntry appends the trailer to an entry's head and body.
func finishEntry(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// encodeEntry encodes a whole entry.
func encodeEntry(kind byte, m *httpcache.Stored, body []byte) []byte {
	b := encodeHead(kind, m, len(body))
	return finishEntry(append(b, body...))
}

// encodeVaryIndex encodes the index of the variants under a URI.
func encodeVaryIndex(names []string, now time.Time) []byte {
	m := httpcache.Stored{Header: http.Header{"Vary": names}, ReqTime: now, RespTime: now}
	return encodeEntry(entryVaryIndex, &m, nil)
}

// decodeEntry decodes b; the entry's body aliases b.
func decodeEntry(b []byte) (*cacheEntry, error) {
	if len(b) < entryFixedBytes+1+entryTrailer || string(b[:4]) != entryMagic {
		return nil, errCorruptEntry
	}
	end := len(b) - entryTrailer
	if crc32.Checksum(b[:end], crcTable) != binary.BigEndian.Uint32(b[end:]) {
		return nil, errCorruptEntry
	}
	e := &cacheEntry{kind: b[4]}
	reqTime := time.Unix(0, int64(binary.BigEndian.Uint64(b[5:])))
	respTime := time.Unix(0, int64(binary.BigEndian.Uint64(b[13:])))
	status := int(binary.BigEndian.Uint16(b[21:]))
	d := decoder{b: b[entryFixedBytes:end]}
	nf := d.uvarint()
	if nf > uint64(len(d.b)) {
		return nil, errCorruptEntry
	}
	h := make(http.Header, nf)
	for range nf {
		k := d.string()
		nv := d.uvarint()
		if d.bad || nv > uint64(len(d.b)) {
			return nil, errCorruptEntry
		}
		vs := make([]string, nv)
		for i := range vs {
			vs[i] = d.string()
		}
		h[k] = vs
	}
	if d.bad {
		return nil, errCorruptEntry
	}
	e.Stored = httpcache.NewStored(status, h, reqTime, respTime)
	e.statusLine = strconv.Itoa(status) + " " + http.StatusText(status)
	e.body = d.b
	switch e.kind {
	case entryResponse:
	case entryVaryIndex:
		e.vary = e.Header["Vary"]
	default:
		return nil, errCorruptEntry
	}
	return e, nil
}

// decoder reads what encodeHead wrote; bad is set on the first overrun.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		d.b = nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
