package redact

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIsSecretName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"token": true, "access_token": true, "API_KEY": true, "apikey": true, "client_secret": true,
		"password": true, "passwd": true, "pwd": true, "X-Amz-Signature": true, "sig": true, "SIG": true,
		"auth": true, "credentials": true, "session_id": true, "X-Auth-Token": true,
		// OpenTelemetry's url.full list.
		"AWSAccessKeyId": true, "Signature": true, "X-Goog-Signature": true,
		"page": false, "q": false, "user": false, "id": false, "signed": false, "sign": false, "": false,
		"monkey": true, // "key": a false positive, on the safe side
	} {
		assert.Equal(t, want, IsSecretName(name), name)
	}
}

func TestIsSecretHeader(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"Authorization": true, "proxy-authorization": true, "Cookie": true, "Set-Cookie": true,
		"X-Api-Key": true, "X-Auth-Token": true, "X-Session-Id": true,
		"Accept": false, "Location": false, "Content-Type": false,
	} {
		assert.Equal(t, want, IsSecretHeader(name), name)
	}
	assert.True(t, IsURLHeader("location"))
	assert.True(t, IsURLHeader("Referer"))
	assert.True(t, IsURLHeader("Content-Location"))
	assert.False(t, IsURLHeader("Link"))
}

func TestQuery(t *testing.T) {
	t.Parallel()
	x := Constant("xxxxx")
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"nothing secret", "a=1&b=2", "a=1&b=2"},
		{"order and encoding kept", "b=%20&token=abc&a=1", "b=%20&token=xxxxx&a=1"},
		{"escaped key", "access%5Ftoken=abc", "access%5Ftoken=xxxxx"},
		{"key with no value kept", "token&a=1", "token&a=1"},
		{"empty value", "token=", "token=xxxxx"},
		{"repeated", "sig=1&sig=2", "sig=xxxxx&sig=xxxxx"},
		{"bad escape", "token=%zz&a=%zz", "token=xxxxx&a=%zz"},
		{"empty pairs", "&&token=1&", "&&token=xxxxx&"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, Query(tc.in, x))
		})
	}
	// with gets the value decoded, and its result is written escaped.
	got := Query("token=a%2Bb&x=1", func(v string) string { return "<" + v + ">" })
	assert.Equal(t, "token="+url.QueryEscape("<a+b>")+"&x=1", got)
}

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://u:p@h/x?a=1", "https://REDACTED:REDACTED@h/x?a=1"},
		{"https://t0k3n@h/", "https://REDACTED:REDACTED@h/"},
		{"https://:p@h/", "https://REDACTED:REDACTED@h/"},
		{"https://h/x?AWSAccessKeyId=A&Signature=S&Expires=1", "https://h/x?AWSAccessKeyId=R&Signature=R&Expires=1"},
		{"https://h/cb#access_token=t&state=s", "https://h/cb"},
		{"https://h/x", "https://h/x"},
	} {
		u, err := url.Parse(tc.in)
		require.NoError(t, err)
		r := URL(u, Constant("R"))
		assert.Equal(t, tc.want, r.String(), tc.in)
		assert.Equal(t, tc.in, u.String(), "u itself is not changed")
	}
}

func TestFragment(t *testing.T) {
	t.Parallel()
	u, err := url.Parse("https://h/cb#access_token=t0k&token_type=bearer&state=s")
	require.NoError(t, err)
	assert.Equal(t, "access_token=R&token_type=R&state=s", Fragment(u, Constant("R")))
	u, err = url.Parse("https://h/doc#section-2")
	require.NoError(t, err)
	assert.Equal(t, "section-2", Fragment(u, Constant("R")))
	u, err = url.Parse("https://h/doc")
	require.NoError(t, err)
	assert.Empty(t, Fragment(u, Constant("R")))
}

func TestWordsIsACopy(t *testing.T) {
	t.Parallel()
	w := Words()
	w[0] = "changed"
	assert.True(t, IsSecretName("token"))
	assert.NotEqual(t, "changed", Words()[0])
	assert.True(t, strings.EqualFold(Words()[0], "token"))
}

func TestQueryAllocatesNothingWhenNothingIsSecret(t *testing.T) {
	x := Constant("x")
	n := testing.AllocsPerRun(100, func() { _ = Query("a=1&b=%20&page=2&q=search+terms", x) })
	assert.Zero(t, n)
}

func TestURLsIn(t *testing.T) {
	t.Parallel()
	mark := func(u string) string { return "<" + u + ">" }
	tests := []struct{ in, want string }{
		{"", ""},
		{"dial tcp 127.0.0.1:6379: connect: connection refused", "dial tcp 127.0.0.1:6379: connect: connection refused"},
		{`Get "https://u:p@h/x?token=t": EOF`, `Get "<https://u:p@h/x?token=t>": EOF`},
		{"redis://:pw@cache:6379/0 refused", "<redis://:pw@cache:6379/0> refused"},
		{"a http://x b https://y", "a <http://x> b <https://y>"},
		{"(git+ssh://k@h/r)", "(<git+ssh://k@h/r)>"},
		{"1x://h", "1<x://h>"},
		{"://http://u@h", "://<http://u@h>"},
		{"-://u@h", "-://u@h"},
		{"http://u@h?next=https://v@i", "<http://u@h?next=https://v@i>"},
		{"end http://", "end <http://>"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, URLsIn(tt.in, mark), tt.in)
	}
}

func TestURLsInAllocatesNothingWithoutAURL(t *testing.T) {
	s := "dial tcp 127.0.0.1:6379: i/o timeout"
	allocs := testing.AllocsPerRun(100, func() { _ = URLsIn(s, Constant("R")) })
	assert.Zero(t, allocs)
}
