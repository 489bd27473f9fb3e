package reqivotest

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCassetteFormatRoundTrip(t *testing.T) {
	t.Parallel()
	bodies := map[string][]byte{
		"empty":                nil,
		"one line":             []byte("hello"),
		"final newline":        []byte("hello\n"),
		"blank lines":          []byte("\n\na\n\n\nb\n\n"),
		"only a newline":       []byte("\n"),
		"marker-like lines":    []byte("| x\n% y\n=== 2\n--- 200 OK\n\\ no newline at end of body\nbody sha256:x\n#c"),
		"leading spaces, tabs": []byte("  a\tb  \n\t"),
		"unicode":              []byte("héllo wörld ✓"),
		"binary":               {0, 1, 2, 0xff, '\n', 'a'},
		"carriage return":      []byte("a\r\nb"),
		"invalid UTF-8":        []byte("a\xffb"),
		"long binary":          bytes.Repeat([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 100),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := []*entry{{
				method: "POST", url: "http://h/p?a=1",
				reqHeader: http.Header{"Content-Type": {"text/plain"}, "X-Many": {"1", "2"}},
				reqDigest: digest(body), reqBody: body,
				status:     "201 Created",
				respHeader: http.Header{"Set-Cookie": {"a=REDACTED-1; Path=/", "b=REDACTED-2"}, "X-Empty": {""}},
				respBody:   body,
			}, {
				method: "GET", url: "http://h/", reqHeader: http.Header{}, status: "204 No Content", respHeader: http.Header{},
			}}
			var buf bytes.Buffer
			require.NoError(t, writeEntries(&buf, in))
			out, err := parseEntries(&buf)
			require.NoError(t, err, buf.String())
			require.Len(t, out, 2)
			for i := range in {
				assert.Equal(t, in[i].method, out[i].method)
				assert.Equal(t, in[i].url, out[i].url)
				assert.Equal(t, in[i].reqHeader, out[i].reqHeader)
				assert.Equal(t, in[i].reqDigest, out[i].reqDigest)
				assert.Equal(t, string(in[i].reqBody), string(out[i].reqBody))
				assert.Equal(t, in[i].status, out[i].status)
				assert.Equal(t, in[i].respHeader, out[i].respHeader)
				assert.Equal(t, string(in[i].respBody), string(out[i].respBody))
			}
		})
	}
}

func TestCassetteFormatRefusesBadFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, file, want string }{
		{"text before", "hello\n=== 1\n", "line 1: text before the first entry"},
		{"no request line", "=== 1\n\n", "line 2: bad request line"},
		{"no response", "=== 1\nGET http://h/\nA: b\n", "line 3: entry without a response"},
		{"no response then entry", "=== 1\nGET http://h/\n=== 2\n", "line 3: entry without a response"},
		{"bad status", "=== 1\nGET http://h/\n--- OK\n", "line 3: bad status"},
		{"two responses", "=== 1\nGET http://h/\n--- 200 OK\n--- 200 OK\n", "line 4: second response"},
		{"not a header", "=== 1\nGET http://h/\nnonsense\n--- 200 OK\n", "line 3: not a header"},
		{"header after body", "=== 1\nGET http://h/\n--- 200 OK\n| x\nA: b\n", "line 5: header after the body"},
		{"mixed body", "=== 1\nGET http://h/\n--- 200 OK\n| x\n% AA==\n", "line 5: base64 line in a text body"},
		{"bad base64", "=== 1\nGET http://h/\n--- 200 OK\n% !!\n", "illegal base64"},
		{"line after marker", "=== 1\nGET http://h/\n--- 200 OK\n| x\n\\ no newline at end of body\n| y\n", "line 6: body line after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseEntries(strings.NewReader(tc.file))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func FuzzCassetteFormat(f *testing.F) {
	f.Add([]byte("hello\n"), "X-A", "v")
	f.Add([]byte{0, 1, 2}, "Set-Cookie", "a=b; Path=/")
	f.Add([]byte("\n\n| x\n"), "A", "")
	f.Fuzz(func(t *testing.T, body []byte, key, value string) {
		if !validHeader(key, value) {
			return
		}
		in := []*entry{{
			method: "PUT", url: "http://h/x", reqHeader: http.Header{key: {value}},
			reqDigest: digest(body), reqBody: body, status: "200 OK",
			respHeader: http.Header{key: {value}}, respBody: body,
		}}
		var buf bytes.Buffer
		require.NoError(t, writeEntries(&buf, in))
		out, err := parseEntries(&buf)
		require.NoError(t, err, buf.String())
		require.Len(t, out, 1)
		assert.Equal(t, string(body), string(out[0].reqBody))
		assert.Equal(t, string(body), string(out[0].respBody))
		assert.Equal(t, in[0].respHeader, out[0].respHeader)
		assert.Equal(t, in[0].reqDigest, out[0].reqDigest)
	})
}

// validHeader reports whether net/http would send key: value (a canonical
// token name, a value with no control bytes).
func validHeader(key, value string) bool {
	if key == "" || key != http.CanonicalHeaderKey(key) {
		return false
	}
	for _, c := range []byte(key) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	for _, c := range []byte(value) {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
