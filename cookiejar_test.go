package reqivo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// feedJar hands jar the Set-Cookie lines of a response from rawURL, parsed
// as the session parses them.
func feedJar(t testing.TB, jar http.CookieJar, rawURL string, lines ...string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	resp := &http.Response{Header: http.Header{"Set-Cookie": lines}}
	jar.SetCookies(u, resp.Cookies())
}

func jarCookies(t testing.TB, jar http.CookieJar, rawURL string) []*http.Cookie {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return jar.Cookies(u)
}

func cookieNames(cs []*http.Cookie) []string {
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func TestCookiePrefixes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		from     string
		line     string
		to       string
		accepted bool
	}{
		{"__Secure- from https with Secure", "https://api.example.com/", "__Secure-id=1; Secure", "https://api.example.com/", true},
		{"__Secure- without Secure", "https://api.example.com/", "__Secure-id=1", "https://api.example.com/", false},
		{"__Secure- from http", "http://api.example.com/", "__Secure-id=1; Secure", "https://api.example.com/", false},
		{"__Secure- in any case", "https://api.example.com/", "__SECURE-id=1", "https://api.example.com/", false},
		{"__Secure- from a sibling over https with Domain", "https://evil.example.com/", "__Secure-id=1; Secure; Domain=example.com", "https://api.example.com/", true},
		{"__Secure- from a sibling over http", "http://evil.example.com/", "__Secure-id=1; Secure; Domain=example.com", "https://api.example.com/", false},
		{"__Host- from https with Secure and Path=/", "https://api.example.com/", "__Host-id=1; Secure; Path=/", "https://api.example.com/", true},
		{"__Host- with Domain of the host", "https://api.example.com/", "__Host-id=1; Secure; Path=/; Domain=api.example.com", "https://api.example.com/", false},
		{"__Host- from a sibling with Domain", "https://evil.example.com/", "__Host-id=1; Secure; Path=/; Domain=example.com", "https://api.example.com/", false},
		{"__Host- without Path", "https://api.example.com/", "__Host-id=1; Secure", "https://api.example.com/", false},
		{"__Host- with another Path", "https://api.example.com/app/x", "__Host-id=1; Secure; Path=/app", "https://api.example.com/app/x", false},
		{"__Host- without Secure", "https://api.example.com/", "__Host-id=1; Path=/", "https://api.example.com/", false},
		{"__Host- from http", "http://api.example.com/", "__host-id=1; Secure; Path=/", "https://api.example.com/", false},
		{"Secure from https", "https://api.example.com/", "sid=1; Secure", "https://api.example.com/", true},
		{"Secure from http", "http://api.example.com/", "sid=1; Secure", "https://api.example.com/", false},
		{"Secure from a sibling over http", "http://evil.example.com/", "sid=1; Secure; Domain=example.com", "https://api.example.com/", false},
		{"Secure from http://localhost", "http://localhost:8080/", "sid=1; Secure", "http://localhost:8080/", true},
		{"__Host- from http://127.0.0.1", "http://127.0.0.1:8080/", "__Host-id=1; Secure; Path=/", "http://127.0.0.1:8080/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jar := newJar()
			feedJar(t, jar, tt.from, tt.line)
			got := jarCookies(t, jar, tt.to)
			if tt.accepted {
				assert.Len(t, got, 1)
			} else {
				assert.Empty(t, got)
			}
		})
	}
}

func TestSecureCookiesLeftAlone(t *testing.T) {
	t.Parallel()
	type check struct {
		to   string
		want map[string]string
	}
	none := map[string]string{}
	tests := []struct {
		name   string
		from   string
		line   string
		checks []check
	}{
		{"same name from http", "http://api.example.com/", "sid=evil", []check{
			{"https://api.example.com/", map[string]string{"sid": "good"}},
			{"http://api.example.com/", none},
		}},
		{"same name from a sibling over http, for the parent domain", "http://evil.example.com/", "sid=evil; Domain=example.com", []check{
			{"https://api.example.com/", map[string]string{"sid": "good"}},
			{"http://www.example.com/", none},
		}},
		{"deletion from http", "http://api.example.com/", "sid=; Max-Age=0", []check{
			{"https://api.example.com/", map[string]string{"sid": "good"}},
		}},
		{"deletion from http by a past Expires", "http://api.example.com/", "sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", []check{
			{"https://api.example.com/", map[string]string{"sid": "good"}},
		}},
		{"a path under the Secure cookie's", "http://api.example.com/", "pref=evil; Path=/login/en", []check{
			{"https://api.example.com/login/en", map[string]string{"sid": "good", "pref": "good"}},
			{"http://api.example.com/login/en", none},
		}},
		{"a path beside the Secure cookie's", "http://api.example.com/", "pref=other; Path=/loginhelper", []check{
			{"http://api.example.com/loginhelper", map[string]string{"pref": "other"}},
		}},
		{"another name from http", "http://api.example.com/", "theme=dark", []check{
			{"http://api.example.com/", map[string]string{"theme": "dark"}},
		}},
		{"same name, another site", "http://www.example.org/", "sid=other", []check{
			{"http://www.example.org/", map[string]string{"sid": "other"}},
		}},
		{"same name from https", "https://api.example.com/", "sid=new", []check{
			{"https://api.example.com/", map[string]string{"sid": "new"}},
			{"http://api.example.com/", map[string]string{"sid": "new"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jar := newJar()
			feedJar(t, jar, "https://api.example.com/login", "sid=good; Secure; Path=/", "pref=good; Secure; Path=/login")
			feedJar(t, jar, tt.from, tt.line)
			for _, c := range tt.checks {
				assert.Equal(t, c.want, cookieMap(jarCookies(t, jar, c.to)), c.to)
			}
		})
	}
}

func TestCookieSizeCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		size     int // name plus value
		accepted bool
	}{
		{"4096 bytes", 4096, true},
		{"4097 bytes", 4097, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jar := newJar()
			feedJar(t, jar, "http://api.example.com/", "n="+strings.Repeat("v", tt.size-1))
			assert.Equal(t, tt.accepted, len(jarCookies(t, jar, "http://api.example.com/")) == 1)
		})
	}
}

// pair returns a Set-Cookie line whose name=value is size bytes.
func pair(name string, size int) string {
	return name + "=" + strings.Repeat("v", size-len(name)-1)
}

func TestCookieHeaderCap(t *testing.T) {
	t.Parallel()
	many := func(n, size int) []string {
		var lines []string
		for i := range n {
			lines = append(lines, pair(fmt.Sprintf("c%03d", i), size))
		}
		return lines
	}
	tests := []struct {
		name  string
		lines []string // in creation order
		want  []string // names sent
	}{
		{"exactly 8190 bytes all go", []string{pair("a", 4094), pair("b", 4094)}, []string{"a", "b"}},
		{"one byte more drops the oldest", []string{pair("a", 4094), pair("b", 4095)}, []string{"b"}},
		{"the oldest go first, small ones too", []string{pair("s", 3), pair("a", 4094), pair("b", 4094)}, []string{"a", "b"}},
		{"an older cookie that still fits goes", []string{pair("s", 3), pair("a", 4094), pair("b", 4095)}, []string{"s", "b"}},
		{"ten of 1000 bytes: the newest eight", many(10, 1000), cookieNamesOf(many(10, 1000)[2:])},
		{"160 small ones: the newest 150", many(160, 10), cookieNamesOf(many(160, 10)[10:])},
		{"150 of 50 bytes all go", many(150, 50), cookieNamesOf(many(150, 50))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jar := newJar()
			for _, l := range tt.lines {
				feedJar(t, jar, "http://api.example.com/", l) // one response each, so creation order is theirs
			}
			got := jarCookies(t, jar, "http://api.example.com/")
			assert.Equal(t, tt.want, cookieNames(got))
			assert.LessOrEqual(t, cookieHeaderLen(got), 8190)
		})
	}
}

func cookieNamesOf(lines []string) []string {
	names := make([]string, 0, len(lines))
	for _, l := range lines {
		names = append(names, l[:strings.IndexByte(l, '=')])
	}
	return names
}

func TestCookiesPerDomainCap(t *testing.T) {
	t.Parallel()
	set := func(prefix, path, attrs string, n int) []string {
		var lines []string
		for i := range n {
			lines = append(lines, fmt.Sprintf("%s%03d=1; Path=%s%s", prefix, i, path, attrs))
		}
		return lines
	}
	hosts := []struct {
		name     string
		from, to string // a host setting 200 cookies, a host they are sent to
		attrs    string
	}{
		{"a sibling for the parent domain", "evil.example.com", "api.example.com", "; Domain=example.com"},
		{"IPv4", "127.0.0.1:8080", "127.0.0.1:8080", ""},
		{"IPv6", "[::1]:8080", "[::1]:8080", ""},
		{"IPv6 without a port", "[::1]", "[::1]", ""},
	}
	for _, h := range hosts {
		a, b := set("a", "/a", h.attrs, 100), set("b", "/b", h.attrs, 100)
		tests := []struct {
			name      string
			responses [][]string
			wantA     int // the newest of a kept
		}{
			// 200 > 180: the 50 oldest go, down to 150.
			{"one response", [][]string{append(append([]string{}, a...), b...)}, 50},
			// The 181st cookie (b080) evicts 31, down to 150; 19 more follow.
			{"a response each", func() [][]string {
				var rs [][]string
				for _, l := range append(append([]string{}, a...), b...) {
					rs = append(rs, []string{l})
				}
				return rs
			}(), 69},
		}
		for _, tt := range tests {
			t.Run(h.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				jar := newJar()
				feedJar(t, jar, "http://www.example.org/", "other=1")
				for _, r := range tt.responses {
					feedJar(t, jar, "http://"+h.from+"/", r...)
				}
				assert.Equal(t, cookieNamesOf(a[100-tt.wantA:]), cookieNames(jarCookies(t, jar, "http://"+h.to+"/a")))
				assert.Equal(t, cookieNamesOf(b), cookieNames(jarCookies(t, jar, "http://"+h.to+"/b")))
				assert.Len(t, jarCookies(t, jar, "http://www.example.org/"), 1, "another site is not touched")
			})
		}
	}
}

func TestCookiesTotalCap(t *testing.T) {
	t.Parallel()
	jar := newJar()
	var cs []*http.Cookie
	for i := range 150 {
		cs = append(cs, &http.Cookie{Name: fmt.Sprintf("c%03d", i), Value: "1"})
	}
	for site := range 23 {
		jar.SetCookies(&url.URL{Scheme: "http", Host: fmt.Sprintf("site%02d.example", site), Path: "/"}, cs)
	}
	// 23*150 = 3450 > 3300: the 450 oldest go, down to 3000.
	total := 0
	for site := range 23 {
		n := len(jarCookies(t, jar, fmt.Sprintf("http://site%02d.example/", site)))
		if site < 3 {
			assert.Zero(t, n, "site%02d", site)
		} else {
			assert.Equal(t, 150, n, "site%02d", site)
		}
		total += n
	}
	assert.Equal(t, 3000, total)
}

func TestGuardedJarConcurrent(t *testing.T) {
	t.Parallel()
	jar := newJar()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				feedJar(t, jar, "http://api.example.com/", pair(fmt.Sprintf("w%d_%d", w, i), 200)+"; Domain=example.com")
				assert.LessOrEqual(t, cookieHeaderLen(jarCookies(t, jar, "http://www.example.com/")), 8190)
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, len(jarCookies(t, jar, "http://www.example.com/")), 150)
}

// fakeHostSession returns a session whose connections all go to the
// servers on loopback, by port: a request to http://evil.example.com:PORT
// reaches 127.0.0.1:PORT, and TLS verifies the name against the test
// certificate (which covers *.example.com).
func fakeHostSession(t *testing.T, tlsSrv *httptest.Server) *Session {
	t.Helper()
	tr := tlsSrv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
	t.Cleanup(tr.CloseIdleConnections)
	return newTestSession(t, WithTransport(tr))
}

// cookieServers starts a plain and a TLS server on loopback with h, and
// returns them with the port of each.
func cookieServers(t *testing.T, h http.HandlerFunc) (plain, tlsSrv *httptest.Server) {
	t.Helper()
	plain = httptest.NewServer(h)
	t.Cleanup(plain.Close)
	tlsSrv = httptest.NewTLSServer(h)
	t.Cleanup(tlsSrv.Close)
	return plain, tlsSrv
}

func portOf(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return u.Port()
}

func TestCookiePrefixesEndToEnd(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	h := func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.Host, "api.") && r.URL.Path == "/login":
			w.Header().Add("Set-Cookie", "__Host-sid=good; Secure; Path=/")
			w.Header().Add("Set-Cookie", "sid=good; Secure; Path=/")
		case strings.HasPrefix(r.Host, "evil."):
			w.Header().Add("Set-Cookie", "__Host-sid=evil; Secure; Path=/; Domain=example.com")
			w.Header().Add("Set-Cookie", "__Secure-sid=evil; Secure; Path=/; Domain=example.com")
			w.Header().Add("Set-Cookie", "sid=evil; Path=/; Domain=example.com")
		default:
			mu.Lock()
			got = append(got, r.Header.Get("Cookie"))
			mu.Unlock()
		}
	}
	plain, tlsSrv := cookieServers(t, h)
	s := fakeHostSession(t, tlsSrv)
	api := "https://api.example.com:" + portOf(t, tlsSrv)
	ctx := context.Background()
	for _, u := range []string{
		api + "/login",
		"https://evil.example.com:" + portOf(t, tlsSrv) + "/", // a sibling over https: __Host- refused, __Secure- kept, sid kept beside api's
		"http://evil.example.com:" + portOf(t, plain) + "/",   // a sibling over http: all three refused
		api + "/check",
		"http://www.example.com:" + portOf(t, plain) + "/check",
	} {
		_, err := s.Get(ctx, u)
		require.NoError(t, err, u)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{
		"__Host-sid=good; sid=good; __Secure-sid=evil; sid=evil",
		"sid=evil",
	}, got)
}

func TestCookieBombEndToEnd(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	h := func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "evil.") {
			for i := range 175 { // 700 KB of cookies for every host of example.com
				w.Header().Add("Set-Cookie", pair(fmt.Sprintf("bomb%03d", i), 4000)+"; Path=/; Domain=example.com")
			}
			return
		}
		if r.URL.Path == "/login" {
			w.Header().Add("Set-Cookie", "sid=1; Path=/")
			return
		}
		mu.Lock()
		got = append(got, r.Header.Get("Cookie"))
		mu.Unlock()
	}
	plain, tlsSrv := cookieServers(t, h)
	s := fakeHostSession(t, tlsSrv)
	ctx := context.Background()
	for _, u := range []string{
		"http://api.example.com:" + portOf(t, plain) + "/check", // before the bomb
		"http://evil.example.com:" + portOf(t, plain) + "/",
		"http://api.example.com:" + portOf(t, plain) + "/check",
		"http://api.example.com:" + portOf(t, plain) + "/login",
		"http://api.example.com:" + portOf(t, plain) + "/check",
	} {
		_, err := s.Get(ctx, u)
		require.NoError(t, err, u)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 3)
	assert.Empty(t, got[0])
	for _, c := range got[1:] {
		assert.LessOrEqual(t, len(c), 8190)
		assert.Equal(t, 2, strings.Count(c, "bomb"), "two 4000-byte cookies fit in 8190 bytes")
	}
	assert.True(t, strings.HasSuffix(got[2], "; sid=1"), "the session's own cookie, newer than the bomb, is kept")
	assert.Len(t, s.Cookies("http://api.example.com:"+portOf(t, plain)+"/"), 3, "Session.Cookies reports what is sent")
}
