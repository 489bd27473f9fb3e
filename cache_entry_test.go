package reqivo

import (
	"net/http"
	"testing"
	"time"

	"github.com/reqivo/reqivo/internal/httpcache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// t0 is the time the entry tests' responses arrive.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func meta(status int, kv ...string) *httpcache.Stored {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return &httpcache.Stored{Status: status, Header: h, ReqTime: t0, RespTime: t0}
}

func TestEntryRoundTripAndCorruption(t *testing.T) {
	t.Parallel()
	m := meta(203, "Content-Type", "text/plain", "X-Multi", "a", "X-Multi", "b")
	b := encodeEntry(entryResponse, m, []byte("hello"))
	e, err := decodeEntry(b)
	require.NoError(t, err)
	assert.Equal(t, 203, e.Status)
	assert.Equal(t, "203 Non-Authoritative Information", e.statusLine)
	assert.Equal(t, m.Header, e.Header)
	assert.True(t, e.RespTime.Equal(t0))
	assert.Equal(t, "hello", string(e.body))

	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		_, err := decodeEntry(c)
		assert.ErrorIs(t, err, errCorruptEntry, "flipped byte %d", i)
	}
	for n := range len(b) {
		_, err := decodeEntry(b[:n])
		assert.ErrorIs(t, err, errCorruptEntry, "truncated at %d", n)
	}
	idx, err := decodeEntry(encodeVaryIndex([]string{"Accept"}, t0))
	require.NoError(t, err)
	assert.Equal(t, []string{"Accept"}, idx.vary)
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(entryResponse, meta(200, "A", "b"), []byte("body")))
	f.Add(encodeVaryIndex([]string{"Accept"}, t0))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeEntry(b) // must not panic
	})
}

func TestEntryKeepsOnlyStoredFields(t *testing.T) {
	t.Parallel()
	m := meta(200, "Content-Type", "text/plain", "Set-Cookie", "sid=1", "Connection", "X-Hop", "X-Hop", "h",
		"Keep-Alive", "timeout=5", "Transfer-Encoding", "chunked", "Cache-Status", "up; hit", "X-Kept", "k")
	e, err := decodeEntry(encodeEntry(entryResponse, m, nil))
	require.NoError(t, err)
	assert.Equal(t, http.Header{"Content-Type": {"text/plain"}, "X-Kept": {"k"}}, e.Header)
}

// The memory store counts an entry it keeps decoded at entryLen; its byte
// limit holds only if that is the length encodeEntry makes.
func FuzzEntryLen(f *testing.F) {
	f.Add("Content-Type", "text/plain", "X-Long", string(make([]byte, 200)), 5)
	f.Add("Connection", "X-Hop", "X-Hop", "h", 0)
	f.Add("", "", "Set-Cookie", "a=b", 1<<14)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		m := &httpcache.Stored{Status: 200, Header: http.Header{k1: {v1, v2}, k2: {v2}, "Empty": {}}, ReqTime: t0, RespTime: t0}
		body := make([]byte, n)
		if got, want := entryLen(m, n), len(encodeEntry(entryResponse, m, body)); got != want {
			t.Fatalf("entryLen %d, encoded %d bytes", got, want)
		}
	})
}
