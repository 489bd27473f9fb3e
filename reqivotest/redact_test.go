package reqivotest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/reqivo/reqivo"
)

// TestSecretNamesAgreeWithTheRoot checks that a cassette treats as secret
// the query keys reqivo redacts in errors and logs, and no others.
func TestSecretNamesAgreeWithTheRoot(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"token", "access_token", "API_KEY", "apikey", "client_secret", "password", "passwd", "pwd",
		"X-Amz-Signature", "sig", "auth", "credentials", "session_id", "page", "q", "user", "id", "signed", "monkey"} {
		root := strings.Contains(reqivo.RedactURL("http://h/?"+url.QueryEscape(k)+"=v"), "xxxxx")
		assert.Equal(t, root, isSecretName(k), k)
	}
}

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
	assert.Equal(t, matchKey("http://h/p?b=2&a=1&token=x"), matchKey("http://h/p?token=other&a=1&b=2"))
	assert.Equal(t, matchKey("http://u:p1@h/p"), matchKey("http://u:p2@h/p"))
	assert.NotEqual(t, matchKey("http://h/p?a=1"), matchKey("http://h/p?a=2"))
	assert.NotEqual(t, matchKey("http://h/p"), matchKey("http://h/q"))
	assert.Equal(t, "http://u:REDACTED@h/p?a=1&token=REDACTED", redactURL("http://u:pw@h/p?a=1&token=t"))
}
