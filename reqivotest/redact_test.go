package reqivotest

import (
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedactHeaders(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	req := r.requestHeader(http.Header{
		"Authorization":       {"Bearer abc.def"},
		"Proxy-Authorization": {"Basic " + "dXNlcjpwYXNzd29yZDE="}, // user:password1
		"Cookie":              {"a=1111; b=2222"},
		"X-Api-Key":           {"k-123"},
		"X-Custom-Token":      {"ct-456"},
		"X-Tenant":            {"acme"},
		"Accept":              {"application/json"},
		"User-Agent":          {"reqivo-go/test"},
	})
	assert.Equal(t, http.Header{
		"Authorization":       {"Bearer REDACTED-1"},
		"Proxy-Authorization": {"Basic REDACTED-6"},
		"Cookie":              {"a=REDACTED-2; b=REDACTED-3"},
		"X-Api-Key":           {"REDACTED-7"},
		"X-Custom-Token":      {"REDACTED-8"},
		"X-Tenant":            {"REDACTED"},
		"Accept":              {"application/json"},
		"User-Agent":          {"reqivo-go/test"},
	}, req)
	assert.Equal(t, []string{"abc.def", "1111", "2222", "password1", "user:password1", "dXNlcjpwYXNzd29yZDE=", "k-123", "ct-456"}, r.order)

	resp := r.responseHeader(http.Header{
		"Set-Cookie":       {"sid=s-1111; Path=/; HttpOnly", `q="quoted-v"; Secure`},
		"Www-Authenticate": {`Bearer realm="api"`},
		"X-Session-Id":     {"s-9999"},
		"Location":         {"/next"},
		"Etag":             {`"v1"`},
	})
	assert.Equal(t, http.Header{
		"Set-Cookie":       {"sid=REDACTED-9; Path=/; HttpOnly", "q=REDACTED-10; Secure"},
		"Www-Authenticate": {`Bearer realm="api"`},
		"X-Session-Id":     {"REDACTED-11"},
		"Location":         {"/next"},
		"Etag":             {`"v1"`},
	}, resp)
}

func TestRedactReplacesEverywhere(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	r.secret("abc")      // too short to replace elsewhere
	r.secret("tok/en+1") // escaped forms too
	r.secret("tok/en+1-long")
	got := string(r.replaceAll([]byte("abc tok/en+1-long tok/en+1 tok%2Fen%2B1 tok%2Fen+1")))
	assert.Equal(t, "abc REDACTED-3 REDACTED-2 REDACTED-2 REDACTED-2", got)
}

func TestCanonicalBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, ct, in, want string }{
		{"form sorted and redacted", "application/x-www-form-urlencoded", "z=1&password=p&a=2", "a=2&password=REDACTED&z=1"},
		{"json sorted and redacted", "application/json; charset=utf-8", `{"b": 1, "a": {"api_key": "k", "n": 1.50}, "list": [{"token": 7}]}`,
			`{"a":{"api_key":"REDACTED","n":1.50},"b":1,"list":[{"token":"REDACTED"}]}`},
		{"problem json", "application/problem+json", `{"secret":"s"}`, `{"secret":"REDACTED"}`},
		{"bad json kept", "application/json", `{"a":`, `{"a":`},
		{"text kept", "text/plain", "password=p", "password=p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, string(canonicalBody(tc.ct, []byte(tc.in))))
		})
	}
	var seen []string
	walkSecrets("application/json", []byte(`{"access_token":"t1","user":{"password":"p1"},"x":"y"}`), func(s string) { seen = append(seen, s) })
	assert.ElementsMatch(t, []string{"t1", "p1"}, seen)
}

func TestMatchKey(t *testing.T) {
	t.Parallel()
	assert.Equal(t, matchKey("http://h/p?b=2&a=1&token=x", false), matchKey("http://h/p?token=other&a=1&b=2", false))
	assert.Equal(t, matchKey("http://u:p1@h/p", false), matchKey("http://u:p2@h/p", false))
	assert.Equal(t, matchKey("http://127.0.0.1:1234/p?a=1", false), matchKey("https://127.0.0.1:5678/p?a=1#f", false))
	assert.Equal(t, matchKey("http://h", false), matchKey("http://h/", false))
	assert.NotEqual(t, matchKey("http://h/p?a=1", false), matchKey("http://h/p?a=2", false))
	assert.NotEqual(t, matchKey("http://h/p", false), matchKey("http://h/q", false))
	assert.NotEqual(t, matchKey("http://h:1/p", true), matchKey("http://h:2/p", true))
	assert.Equal(t, matchKey("http://u:p1@h:1/p", true), matchKey("http://h:1/p", true))
	assert.Equal(t, "http://REDACTED:REDACTED@h/p?a=1&token=REDACTED", redactRawURL("http://u:pw@h/p?a=1&token=t"))
	assert.Equal(t, "http://REDACTED:REDACTED@h/p#access_token=REDACTED&x=1", redactRawURL("http://t0k3n@h/p#access_token=t&x=1"))
}

func TestRedactURLHeaders(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	got := r.responseHeader(http.Header{
		"Location":         {"https://t0k3n-user@h/cb?code=c0de-secret&access_token=qtok-1234#access_token=ftok-5678&state=s"},
		"Content-Location": {"/doc?page=2"},
	})
	assert.Equal(t, http.Header{
		"Location":         {"https://REDACTED:REDACTED@h/cb?code=c0de-secret&access_token=REDACTED-2#access_token=REDACTED-3&state=s"},
		"Content-Location": {"/doc?page=2"},
	}, got)
	assert.Equal(t, []string{"t0k3n-user", "qtok-1234", "ftok-5678"}, r.order)

	req := r.requestHeader(http.Header{"Referer": {"https://u:refpass-1@h/?sig=s1g-0001"}})
	assert.Equal(t, http.Header{"Referer": {"https://REDACTED:REDACTED@h/?sig=REDACTED-5"}}, req)
}

func TestMultipartFields(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	mw := multipart.NewWriter(&b)
	require.NoError(t, mw.WriteField("user", "ada"))
	require.NoError(t, mw.WriteField("Client_Secret", "cs-1"))
	fw, err := mw.CreateFormFile("ssh_key", "id")
	require.NoError(t, err)
	_, _ = io.WriteString(fw, "file-secret")
	require.NoError(t, mw.Close())
	ct := mw.FormDataContentType()

	var seen []string
	got := string(multipartFields(ct, []byte(b.String()), func(s string) { seen = append(seen, s) }))
	assert.Equal(t, []string{"cs-1", "file-secret"}, seen)
	assert.NotContains(t, got, "cs-1")
	assert.NotContains(t, got, "file-secret")
	assert.NotContains(t, got, mw.Boundary())
	assert.Contains(t, got, "--"+canonicalBoundary+"\r\n")
	assert.Contains(t, got, "ada")
	assert.Equal(t, got, string(canonicalBody(ct, []byte(b.String()))))

	other := multipart.NewWriter(io.Discard) // another boundary, same fields
	assert.NotEqual(t, mw.Boundary(), other.Boundary())
	assert.Equal(t, got, string(canonicalBody(strings.Replace(ct, mw.Boundary(), other.Boundary(), 1),
		[]byte(strings.ReplaceAll(b.String(), mw.Boundary(), other.Boundary())))))

	assert.Equal(t, "not multipart", string(multipartFields(ct, []byte("not multipart"), nil)))
	assert.Equal(t, "x", string(multipartFields("multipart/form-data", []byte("x"), nil)))
}
