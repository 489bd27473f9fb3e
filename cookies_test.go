package reqivo

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func cookieMap(cs []*http.Cookie) map[string]string {
	m := map[string]string{}
	for _, c := range cs {
		m[c.Name] = c.Value
	}
	return m
}

func TestJarRoundTrip(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	resp, err := s.Get(context.Background(), "/cookies/set?a=1&b=two")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)

	var got struct{ Cookies map[string]string }
	resp, err = s.Get(context.Background(), "/cookies")
	require.NoError(t, err)
	require.NoError(t, resp.JSON(&got))
	assert.Equal(t, map[string]string{"a": "1", "b": "two"}, got.Cookies)
	assert.Equal(t, map[string]string{"a": "1", "b": "two"}, cookieMap(s.Cookies("")))
	assert.Equal(t, map[string]string{"a": "1", "b": "two"}, cookieMap(s.Cookies(bin.URL+"/anything")))

	_, err = s.Get(context.Background(), "/cookies/delete?a")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"b": "two"}, cookieMap(s.Cookies("")))
}

func TestJarUsesPublicSuffixList(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "suffix", Value: "1", Domain: "co.uk"})
		http.SetCookie(w, &http.Cookie{Name: "site", Value: "2", Domain: "example.co.uk"})
	})
	// Every host is dialed on the loopback server, so the jar sees
	// cookies set by shop.example.co.uk.
	var d net.Dialer
	s := newTestSession(t, WithProxy(""), WithDialContext(func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}))
	_, err := s.Get(context.Background(), "http://shop.example.co.uk/")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"site": "2"}, cookieMap(s.Cookies("http://www.example.co.uk/")),
		"a cookie for a public suffix is refused; one for the site is shared by its hosts")
	assert.Empty(t, s.Cookies("http://other.co.uk/"))
}

func TestSetCookieScopedToBaseOrigin(t *testing.T) {
	t.Parallel()
	a := setupServer(t, echoHandler)
	b := setupServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(a.URL))
	s.SetCookie("session", "abc")
	s.SetCookie("spaced", "x y,z")

	e := getEcho(t, s, "/")
	assert.Equal(t, `session=abc; spaced="x y,z"`, e.Header.Get("Cookie"))
	e = getEcho(t, s, a.URL+"/abs")
	assert.Equal(t, `session=abc; spaced="x y,z"`, e.Header.Get("Cookie"))
	e = getEcho(t, s, b.URL+"/")
	assert.Empty(t, e.Header.Get("Cookie"), "not sent to another origin")

	assert.Equal(t, map[string]string{"session": "abc", "spaced": "x y,z"}, cookieMap(s.Cookies("")))
	assert.Equal(t, map[string]string{"session": "abc", "spaced": "x y,z"}, cookieMap(s.Cookies("/deeper/path")))
	assert.Empty(t, s.Cookies(b.URL))
	assert.Nil(t, s.Cookies("http://[::1"), "an unparsable URL has none")

	s.SetCookie("session", "")
	e = getEcho(t, s, "/")
	assert.Equal(t, `spaced="x y,z"`, e.Header.Get("Cookie"), "an empty value deletes")
}

func TestSetCookieWithoutBaseURL(t *testing.T) {
	t.Parallel()
	a := setupServer(t, echoHandler)
	b := setupServer(t, echoHandler)
	s := newTestSession(t)
	s.SetCookie("m", "1")
	for _, srv := range []string{a.URL, b.URL} {
		e := getEcho(t, s, srv)
		assert.Equal(t, "m=1", e.Header.Get("Cookie"), "each host the caller asks for")
		assert.Equal(t, map[string]string{"m": "1"}, cookieMap(s.Cookies(srv)))
	}
	assert.Nil(t, s.Cookies(""), `no base URL: "" names no URL`)
}

func TestSetCookieReplacesJarCookie(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	_, err := s.Get(context.Background(), "/cookies/set?k=fromserver&other=o")
	require.NoError(t, err)
	s.SetCookie("k", "byhand")
	var got struct{ Cookies map[string]string }
	resp, err := s.Get(context.Background(), "/cookies")
	require.NoError(t, err)
	require.NoError(t, resp.JSON(&got))
	assert.Equal(t, map[string]string{"k": "byhand", "other": "o"}, got.Cookies)
	assert.Equal(t, map[string]string{"k": "byhand", "other": "o"}, cookieMap(s.Cookies("")))
	assert.Len(t, s.Cookies(""), 2, "no duplicate name")
}

func TestWithCookieJarNil(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL), WithCookieJar(nil))
	s.SetCookie("manual", "yes")
	_, err := s.Get(context.Background(), "/cookies/set?fromserver=1")
	require.NoError(t, err)
	var got struct{ Cookies map[string]string }
	resp, err := s.Get(context.Background(), "/cookies")
	require.NoError(t, err)
	require.NoError(t, resp.JSON(&got))
	assert.Equal(t, map[string]string{"manual": "yes"}, got.Cookies, "no jar: server cookies are not kept")
	assert.Equal(t, map[string]string{"manual": "yes"}, cookieMap(s.Cookies("")))
}

// recordingJar is a jar that remembers what it was given.
type recordingJar struct {
	http.CookieJar
	mu  sync.Mutex
	set []string
}

func (j *recordingJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	for _, c := range cs {
		j.set = append(j.set, c.Name)
	}
	j.mu.Unlock()
	j.CookieJar.SetCookies(u, cs)
}

func TestWithCookieJarCustom(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	inner, err := cookiejar.New(nil)
	require.NoError(t, err)
	jar := &recordingJar{CookieJar: inner}
	s := newTestSession(t, WithBaseURL(bin.URL), WithCookieJar(jar))
	_, err = s.Get(context.Background(), "/cookies/set?x=1")
	require.NoError(t, err)
	jar.mu.Lock()
	assert.Equal(t, []string{"x"}, jar.set)
	jar.mu.Unlock()
	u, _ := url.Parse(bin.URL)
	assert.Equal(t, map[string]string{"x": "1"}, cookieMap(inner.Cookies(u)))
	assert.Equal(t, map[string]string{"x": "1"}, cookieMap(s.Cookies("")))
}

func TestJarCookiesFollowPath(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			http.SetCookie(w, &http.Cookie{Name: "scoped", Value: "1", Path: "/api"})
			http.SetCookie(w, &http.Cookie{Name: "plain", Value: "1"})
			return
		}
		echoHandler(w, r)
	})
	s := newTestSession(t, WithBaseURL(srv.URL))
	_, err := s.Get(context.Background(), "/set")
	require.NoError(t, err)
	assert.Equal(t, "plain=1", getEcho(t, s, "/other").Header.Get("Cookie"))
	assert.Equal(t, "scoped=1; plain=1", getEcho(t, s, "/api/x").Header.Get("Cookie"))
}
