package reqivo

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMaxRedirects(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	tests := []struct {
		name    string
		opts    []Option
		path    string
		wantErr error
		status  int
		reqs    int64
	}{
		{name: "default follows 10", path: "/redirect/10", status: 200, reqs: 11},
		{name: "default stops at 11", path: "/redirect/11", wantErr: ErrTooManyRedirects, reqs: 11},
		{name: "limit 2 follows 2", opts: []Option{WithMaxRedirects(2)}, path: "/relative-redirect/2", status: 200, reqs: 3},
		{name: "limit 2 stops at 3", opts: []Option{WithMaxRedirects(2)}, path: "/absolute-redirect/3", wantErr: ErrTooManyRedirects, reqs: 3},
		{name: "0 returns the 3xx", opts: []Option{WithMaxRedirects(0)}, path: "/redirect/1", status: 302, reqs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t, append([]Option{WithBaseURL(bin.URL)}, tt.opts...)...)
			resp, err := s.Get(context.Background(), tt.path)
			assert.Equal(t, tt.reqs, s.Stats().Requests)
			assert.EqualValues(t, 1, s.Stats().ConnsOpened, "hops reuse the connection")
			if tt.wantErr != nil {
				assertRequestKind(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			if tt.status == 302 {
				assert.NotEmpty(t, resp.Header.Get("Location"))
				assert.Empty(t, resp.History())
			}
		})
	}
}

func TestRedirectHistory(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	resp, err := s.Get(context.Background(), "/redirect/3")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, bin.URL+"/get", resp.URL().String())
	h := resp.History()
	require.Len(t, h, 3)
	wantPaths := []string{"/redirect/3", "/relative-redirect/2", "/relative-redirect/1"}
	for i, hr := range h {
		assert.Equal(t, 302, hr.StatusCode, "hop %d", i)
		assert.Equal(t, wantPaths[i], hr.Request.URL.Path, "hop %d, oldest first", i)
		_, err := hr.Body.Read(make([]byte, 1))
		assert.Error(t, err, "hop %d body closed", i)
	}
}

func TestRedirectMethodAndBody(t *testing.T) {
	t.Parallel()
	srv := setupRedirector(t)
	s := newTestSession(t, WithBaseURL(srv.URL))
	tests := []struct {
		code       int
		method     string
		wantMethod string
		keepBody   bool
	}{
		{301, http.MethodPost, http.MethodGet, false},
		{302, http.MethodPost, http.MethodGet, false},
		{303, http.MethodPost, http.MethodGet, false},
		{303, http.MethodPut, http.MethodGet, false},
		{302, http.MethodHead, http.MethodHead, false},
		{307, http.MethodPost, http.MethodPost, true},
		{308, http.MethodPut, http.MethodPut, true},
		{307, http.MethodPatch, http.MethodPatch, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code)+" "+tt.method, func(t *testing.T) {
			resp, err := s.Request(context.Background(), tt.method, goURL(srv.URL, "/echo", tt.code),
				JSON(map[string]string{"k": "v"}), Header("Content-Language", "en"))
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode)
			require.Len(t, resp.History(), 1)
			assert.Equal(t, tt.code, resp.History()[0].StatusCode)
			assert.Equal(t, tt.wantMethod, resp.Request.Method)
			if tt.method == http.MethodHead {
				return
			}
			e := decodeEcho(t, resp)
			assert.Equal(t, tt.wantMethod, e.Method)
			if tt.keepBody {
				assert.Equal(t, `{"k":"v"}`, e.Body, "307/308 replay the body")
				assert.Equal(t, "application/json", e.Header.Get("Content-Type"))
				assert.Equal(t, "9", e.Header.Get("Content-Length"))
			} else {
				assert.Empty(t, e.Body)
				for k := range e.Header {
					assert.False(t, strings.HasPrefix(k, "Content-"), "%s sent after %d", k, tt.code)
				}
			}
		})
	}
}

func TestRedirect307UnreplayableBody(t *testing.T) {
	t.Parallel()
	srv := setupRedirector(t)
	s := newTestSession(t, WithBaseURL(srv.URL))
	resp, err := s.Post(context.Background(), goURL(srv.URL, "/echo", 307), Body(io.MultiReader(strings.NewReader("once"))))
	require.NoError(t, err)
	assert.Equal(t, 307, resp.StatusCode, "a body that cannot be sent again is not: the 307 is the answer")
	assert.Equal(t, 1, srv.seen.count())
}

func TestRedirectLoop(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/self":
			http.Redirect(w, r, "/self", http.StatusFound)
		case "/a":
			http.Redirect(w, r, "/b", http.StatusFound)
		case "/b":
			http.Redirect(w, r, "/a", http.StatusMovedPermanently)
		case "/login":
			// A loop that sets a cookie may end differently next time.
			if _, err := r.Cookie("seen"); err != nil {
				http.SetCookie(w, &http.Cookie{Name: "seen", Value: "1"})
				http.Redirect(w, r, "/login", http.StatusFound)
				return
			}
			_, _ = io.WriteString(w, "in")
		}
	})
	s := newTestSession(t, WithBaseURL(srv.URL))
	for _, p := range []string{"/self", "/a"} {
		_, err := s.Get(context.Background(), p)
		assertRequestKind(t, err, ErrRedirectLoop)
	}
	resp, err := s.Get(context.Background(), "/login")
	require.NoError(t, err)
	assert.Equal(t, "in", resp.Text())
}

func TestRedirectOnlyHTTPTargets(t *testing.T) {
	t.Parallel()
	srv := setupRedirector(t)
	s := newTestSession(t, WithBaseURL(srv.URL))
	for _, to := range []string{"ftp://127.0.0.1/x", "file:///etc/passwd", "javascript:alert(1)", "gopher://127.0.0.1/", "http:///nohost"} {
		t.Run(to, func(t *testing.T) {
			resp, err := s.Get(context.Background(), goURL(srv.URL, to, 302))
			require.NoError(t, err)
			assert.Equal(t, 302, resp.StatusCode, "not followed")
			assert.Equal(t, "redirecting", resp.Text())
		})
	}
	resp, err := s.Get(context.Background(), goURL(srv.URL, "", 302))
	require.NoError(t, err)
	assert.Equal(t, 302, resp.StatusCode, "no Location")
}

// crossOriginSetup returns a session whose base URL is a, with every kind
// of credential set, and a second server b on another port.
func crossOriginSetup(t *testing.T, opts ...Option) (s *Session, a, b *redirectServer) {
	t.Helper()
	a = setupRedirector(t)
	b = setupRedirector(t)
	s = newTestSession(t, append([]Option{WithBaseURL(a.URL), WithBasicAuth("user", "pw"), WithHeader("X-Api-Key", "k"),
		WithHeader("X-Auth-Token", "t"), WithHeader("X-Plain", "p")}, opts...)...)
	s.SetCookie("manual", "m")
	return s, a, b
}

var sensitiveNames = []string{"Authorization", "Cookie", "X-Api-Key", "X-Auth-Token", "Proxy-Authorization"}

func TestRedirectSameOriginKeepsCredentials(t *testing.T) {
	t.Parallel()
	s, a, _ := crossOriginSetup(t)
	resp, err := s.Get(context.Background(), goURL(a.URL, "/echo", 302))
	require.NoError(t, err)
	e := decodeEcho(t, resp)
	assert.Equal(t, basicAuthHeader("user", "pw"), e.Header.Get("Authorization"))
	assert.Equal(t, "manual=m", e.Header.Get("Cookie"))
	assert.Equal(t, "k", e.Header.Get("X-Api-Key"))
	assert.Equal(t, "p", e.Header.Get("X-Plain"))
}

func TestRedirectCrossOriginDropsSensitiveHeaders(t *testing.T) {
	t.Parallel()
	s, a, b := crossOriginSetup(t, WithSensitiveHeaders("X-Custom-Secret"))
	bHost := "localhost:" + mustPort(t, b.URL) // another host name on the same port: another origin too
	tests := []struct {
		name   string
		target string
	}{
		{"other port", b.URL + "/echo"},
		{"other host name", "http://" + bHost + "/echo"},
		{"scheme-relative Location", "//" + strings.TrimPrefix(b.URL, "http://") + "/echo"},
		{"out and back to the first origin", goURL(b.URL, a.URL+"/echo", 302)},
		{"out and back with 307", goURL(b.URL, a.URL+"/echo", 307)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.Get(context.Background(), goURL(a.URL, tt.target, 302),
				Header("Proxy-Authorization", "Basic cHJveHk="), Header("X-Custom-Secret", "c"))
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode)
			e := decodeEcho(t, resp)
			for _, h := range append(sensitiveNames, "X-Custom-Secret") {
				assert.Empty(t, e.Header.Get(h), "%s leaked", h)
			}
			assert.Equal(t, "p", e.Header.Get("X-Plain"), "other headers are kept")
		})
	}
}

func TestRedirectPerRequestAuthorizationDropped(t *testing.T) {
	t.Parallel()
	_, a, b := crossOriginSetup(t)
	s := newTestSession(t, WithBaseURL(a.URL))
	resp, err := s.Get(context.Background(), goURL(a.URL, b.URL+"/echo", 302), Header("Authorization", "Bearer own"), Header("Cookie", "own=1"))
	require.NoError(t, err)
	e := decodeEcho(t, resp)
	assert.Empty(t, e.Header.Get("Authorization"))
	assert.Empty(t, e.Header.Get("Cookie"))
}

func TestRedirectHTTPSToHTTPDropsCredentials(t *testing.T) {
	t.Parallel()
	plain := setupRedirector(t)
	tlsSrv, tc := setupTLSRedirector(t)
	s := newTestSession(t, WithBaseURL(tlsSrv.URL), WithBearerToken("tok"), WithTLSConfig(tc))
	resp, err := s.Get(context.Background(), goURL(tlsSrv.URL, plain.URL+"/echo", 302))
	require.NoError(t, err)
	e := decodeEcho(t, resp)
	assert.Empty(t, e.Header.Get("Authorization"))
	assert.Empty(t, e.Header.Get("Referer"), "no Referer from https to http")
}

func TestRedirectRefererDoesNotLeakQueryAcrossOrigins(t *testing.T) {
	t.Parallel()
	_, a, b := crossOriginSetup(t)
	s := newTestSession(t, WithBaseURL(a.URL))
	resp, err := s.Get(context.Background(), goURL(a.URL, b.URL+"/echo", 302)+"&token=S3CRET")
	require.NoError(t, err)
	e := decodeEcho(t, resp)
	assert.NotContains(t, e.Header.Get("Referer"), "S3CRET")

	resp, err = s.Get(context.Background(), goURL(a.URL, "/echo", 302)+"&page=2")
	require.NoError(t, err)
	e = decodeEcho(t, resp)
	assert.Contains(t, e.Header.Get("Referer"), "page=2", "same origin: the whole URL")
}

func TestRedirectJarCookiesFollowTheirDomain(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	// /cookies/set sets the cookie and redirects to /cookies, which sees it.
	resp, err := s.Get(context.Background(), "/cookies/set?flavour=oat")
	require.NoError(t, err)
	require.Len(t, resp.History(), 1)
	assert.Contains(t, resp.Text(), `"flavour": "oat"`)
}

func TestResolveRelativeURL(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	tests := []struct {
		base, ref, path, query string
	}{
		{"/v1/", "users", "/v1/users", ""},
		{"/v1/", "/users", "/v1/users", ""},
		{"/v1", "/users", "/v1/users", ""},
		{"/v1/", "users/7?x=1", "/v1/users/7", "x=1"},
		{"/v1/", "users/../groups", "/v1/groups", ""},
		{"/v1/", "", "/v1/", ""},
		{"/v1/", "?q=2", "/v1/", "q=2"},
		{"/v1", "users", "/v1/users", ""},
		{"/v1/x/", "./y", "/v1/x/y", ""},
		{"", "users", "/users", ""},
	}
	for _, tt := range tests {
		t.Run(tt.base+" + "+tt.ref, func(t *testing.T) {
			s := newTestSession(t, WithBaseURL(srv.URL+tt.base))
			resp, err := s.Get(context.Background(), tt.ref)
			require.NoError(t, err)
			e := decodeEcho(t, resp)
			assert.Equal(t, tt.path, e.Path)
			assert.Equal(t, tt.query, e.Query)
		})
	}
	// Dot segments never climb above the base path: nothing is sent.
	for _, ref := range []string{"../v2/users", "/../admin", "users/../../admin", "a/./../../x?y=1", ".."} {
		t.Run("climb "+ref, func(t *testing.T) {
			s := newTestSession(t, WithBaseURL(srv.URL+"/v1"))
			_, err := s.Get(context.Background(), ref)
			assertRequestKind(t, err, ErrInvalidURL)
		})
	}
	// An absolute URL is used as it is, even to another origin, without
	// the base origin's credentials.
	other := setupServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL+"/v1/"), WithBearerToken("tok"))
	resp, err := s.Get(context.Background(), other.URL+"/abs")
	require.NoError(t, err)
	e := decodeEcho(t, resp)
	assert.Equal(t, "/abs", e.Path)
	assert.Empty(t, e.Header.Get("Authorization"))
}

func mustPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return u.Port()
}

func TestRedirectDropsNonCanonicalSensitiveHeaders(t *testing.T) {
	t.Parallel()
	_, a, b := crossOriginSetup(t)
	s := newTestSession(t)
	s.OnRequest(func(r *http.Request) error {
		r.Header["x-auth-token"] = []string{"from hook"}
		return nil
	})
	// net/http lets a caller (or an SDK on HTTPClient) use any key case.
	req, err := http.NewRequest(http.MethodGet, goURL(a.URL, b.URL+"/echo", 302), nil)
	require.NoError(t, err)
	req.Header["authorization"] = []string{"Bearer mine"}
	req.Header["x-api-key"] = []string{"k"}
	req.Header["cookie"] = []string{"c=1"}
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e echoed
	require.NoError(t, jsonDecode(resp.Body, &e))
	for _, h := range sensitiveNames {
		assert.Empty(t, e.Header.Get(h), "%s leaked", h)
	}
}

// The redirect rules judge origins from where the request went: a hook
// that points it elsewhere makes that the first origin, so a same-origin
// redirect there keeps the hook's Authorization.
func TestOnRequestHookURLIsTheFirstOrigin(t *testing.T) {
	t.Parallel()
	b := setupRedirector(t)
	a := setupCountingServer(t, echoHandler)
	bu, err := url.Parse(b.URL)
	require.NoError(t, err)
	s := newTestSession(t)
	s.OnRequest(func(r *http.Request) error {
		r.URL.Host, r.Host = bu.Host, bu.Host
		r.Header.Set("Authorization", "Bearer for-b")
		return nil
	})
	resp, err := s.Get(context.Background(), goURL(a.URL, "/end", http.StatusFound))
	require.NoError(t, err)
	assert.Equal(t, b.URL+"/end", resp.URL().String())
	assert.Equal(t, "Bearer for-b", b.seen.at(t, "/end").Get("Authorization"))
	assert.Zero(t, a.requests.Load())
}
