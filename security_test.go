package reqivo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// credentialOpts are the ways a credential gets into a request, each with
// the header it travels in and the value to look for.
var credentialCases = []struct {
	name   string
	header string
	value  string
	opts   []Option
	req    []RequestOption
	setup  func(s *Session)
}{
	{name: "session basic auth", header: "Authorization", value: basicAuthHeader("u", "p"), opts: []Option{WithBasicAuth("u", "p")}},
	{name: "session bearer", header: "Authorization", value: "Bearer tok", setup: func(s *Session) { s.SetBearerToken("tok") }},
	{name: "per-request Authorization", header: "Authorization", value: "Bearer req", req: []RequestOption{Header("Authorization", "Bearer req")}},
	{name: "Proxy-Authorization", header: "Proxy-Authorization", value: "Basic cHJveHk6cHc=", req: []RequestOption{Header("Proxy-Authorization", "Basic cHJveHk6cHc=")}},
	{name: "manual cookie", header: "Cookie", value: "sid=secret", setup: func(s *Session) { s.SetCookie("sid", "secret") }},
	{name: "per-request Cookie", header: "Cookie", value: "sid=mine", req: []RequestOption{Header("Cookie", "sid=mine")}},
	{name: "X-Api-Key", header: "X-Api-Key", value: "k1", req: []RequestOption{Header("X-Api-Key", "k1")}},
	{name: "X-Auth-Token", header: "X-Auth-Token", value: "k2", req: []RequestOption{Header("X-Auth-Token", "k2")}},
	{name: "session X-Api-Key", header: "X-Api-Key", value: "k3", setup: func(s *Session) { s.SetHeader("X-Api-Key", "k3") }},
	{name: "WithSensitiveHeaders", header: "X-Secret", value: "k4", opts: []Option{WithSensitiveHeaders("x-secret")}, req: []RequestOption{Header("X-Secret", "k4")}},
}

func TestCredentialsDroppedAcrossOrigins(t *testing.T) {
	t.Parallel()
	for _, cc := range credentialCases {
		t.Run(cc.name, func(t *testing.T) {
			t.Parallel()
			a := setupRedirector(t)
			b := setupRedirector(t) // same host, another port
			hostOnly := strings.Replace(a.URL, "127.0.0.1", "localhost", 1)
			routes := []struct {
				name  string
				first string // path the chain starts at, on a
				check func(t *testing.T)
			}{
				{"port change", goURL("", b.URL+"/p", 302), func(t *testing.T) {
					assert.Empty(t, b.seen.at(t, "/p").Values(cc.header))
				}},
				{"host change, same server", goURL("", hostOnly+"/h", 302), func(t *testing.T) {
					assert.Empty(t, a.seen.at(t, "/h").Values(cc.header))
				}},
				{"a -> b -> a", goURL("", goURL(b.URL, a.URL+"/back", 302), 302), func(t *testing.T) {
					assert.Empty(t, b.seen.at(t, "/go").Values(cc.header))
					assert.Empty(t, a.seen.at(t, "/back").Values(cc.header), "dropped credentials are not restored")
				}},
			}
			for _, rt := range routes {
				t.Run(rt.name, func(t *testing.T) {
					s := newTestSession(t, append([]Option{WithBaseURL(a.URL)}, cc.opts...)...)
					if cc.setup != nil {
						cc.setup(s)
					}
					resp, err := s.Get(context.Background(), rt.first, cc.req...)
					require.NoError(t, err)
					assert.Equal(t, http.StatusOK, resp.StatusCode)
					// The first hop had it: the test can see the header.
					assert.Contains(t, a.seen.at(t, "/go").Get(cc.header), cc.value)
					rt.check(t)
				})
			}
		})
	}
}

func TestCredentialsKeptOnSameOrigin(t *testing.T) {
	t.Parallel()
	for _, cc := range credentialCases {
		t.Run(cc.name, func(t *testing.T) {
			t.Parallel()
			a := setupRedirector(t)
			s := newTestSession(t, append([]Option{WithBaseURL(a.URL)}, cc.opts...)...)
			if cc.setup != nil {
				cc.setup(s)
			}
			resp, err := s.Get(context.Background(), goURL("", a.URL+"/same", 302), cc.req...)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			if cc.header == "Proxy-Authorization" {
				assert.Empty(t, a.seen.at(t, "/same").Values(cc.header), "Proxy-Authorization never goes past the first hop")
				return
			}
			assert.Contains(t, a.seen.at(t, "/same").Get(cc.header), cc.value)
		})
	}
}

func TestNonSensitiveHeadersFollowRedirects(t *testing.T) {
	t.Parallel()
	a := setupRedirector(t)
	b := setupRedirector(t)
	s := newTestSession(t)
	s.SetHeader("X-Trace", "t1")
	_, err := s.Get(context.Background(), goURL(a.URL, b.URL+"/p", 302), Header("X-Other", "o"))
	require.NoError(t, err)
	assert.Equal(t, "t1", b.seen.at(t, "/p").Get("X-Trace"))
	assert.Equal(t, "o", b.seen.at(t, "/p").Get("X-Other"))
}

func TestHTTPSToHTTPDropsCredentials(t *testing.T) {
	t.Parallel()
	tlsSrv, tc := setupTLSRedirector(t)
	plain := setupRedirector(t)
	s := newTestSession(t, WithTLSConfig(tc), WithBaseURL(tlsSrv.URL))
	s.SetBearerToken("tok")
	s.SetCookie("sid", "secret")
	resp, err := s.Get(context.Background(), goURL("", plain.URL+"/to", 302), Header("X-Api-Key", "k"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	first := tlsSrv.seen.at(t, "/go")
	assert.Equal(t, "Bearer tok", first.Get("Authorization"), "the https hop had them")
	assert.Equal(t, "sid=secret", first.Get("Cookie"))
	to := plain.seen.at(t, "/to")
	for _, h := range []string{"Authorization", "Cookie", "X-Api-Key", "Referer"} {
		assert.Empty(t, to.Values(h), h)
	}
}

func TestTLSVerifiedByDefault(t *testing.T) {
	t.Parallel()
	tlsSrv, _ := setupTLSRedirector(t)
	s := newTestSession(t)
	_, err := s.Get(context.Background(), tlsSrv.URL)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrTLS)
	assert.ErrorIs(t, err, ErrNetwork)
	assert.Zero(t, tlsSrv.seen.count())
}

func TestProxyAuthorizationOnlyFirstHop(t *testing.T) {
	t.Parallel()
	a := setupRedirector(t)
	s := newTestSession(t)
	_, err := s.Get(context.Background(), goURL(a.URL, goURL(a.URL, a.URL+"/end", 302), 302),
		Header("Proxy-Authorization", "Basic eDp5"), Header("Authorization", "Bearer a"))
	require.NoError(t, err)
	a.seen.mu.Lock()
	defer a.seen.mu.Unlock()
	require.Len(t, a.seen.reqs, 3)
	assert.Equal(t, "Basic eDp5", a.seen.reqs[0].Header.Get("Proxy-Authorization"))
	for _, r := range a.seen.reqs[1:] {
		assert.Empty(t, r.Header.Values("Proxy-Authorization"))
		assert.Equal(t, "Bearer a", r.Header.Get("Authorization"), "same origin: Authorization stays")
	}
}

func TestReferer(t *testing.T) {
	t.Parallel()
	a := setupRedirector(t)
	u, err := url.Parse(a.URL)
	require.NoError(t, err)
	u.User = url.UserPassword("user", "pw")
	withUser := u.String()
	s := newTestSession(t)
	_, err = s.Get(context.Background(), goURL(withUser, a.URL+"/next", 302)+"#frag")
	require.NoError(t, err)
	ref := a.seen.at(t, "/next").Get("Referer")
	assert.NotEmpty(t, ref, "a Referer is sent within http")
	assert.NotContains(t, ref, "user")
	assert.NotContains(t, ref, "pw")
	assert.NotContains(t, ref, "frag")

	// A Referer the caller set is replaced on the next hop, not carried.
	_, err = s.Get(context.Background(), goURL(a.URL, a.URL+"/mine", 302), Header("Referer", "http://user:pw@127.0.0.1/x"))
	require.NoError(t, err)
	assert.NotContains(t, a.seen.at(t, "/mine").Get("Referer"), "pw")

	assert.Empty(t, referer(mustParse(t, "https://a.example/x"), mustParse(t, "http://a.example/y")))
	assert.Equal(t, "https://a.example/x?q=1", referer(mustParse(t, "https://u:p@a.example/x?q=1#f"), mustParse(t, "https://a.example/y")))
	// To another origin, only the origin: a path or query may hold secrets.
	assert.Equal(t, "https://a.example/", referer(mustParse(t, "https://u:p@a.example/x?token=1#f"), mustParse(t, "https://b.example/")))
	assert.Equal(t, "http://a.example/", referer(mustParse(t, "http://a.example/x?q=1"), mustParse(t, "https://a.example/")))
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u
}

func TestSessionCredentialsScopedToBaseURL(t *testing.T) {
	t.Parallel()
	base := setupRedirector(t)
	other := setupRedirector(t)
	otherHost := strings.Replace(base.URL, "127.0.0.1", "localhost", 1)
	s := newTestSession(t, WithBaseURL(base.URL), WithBearerToken("tok"))
	s.SetCookie("sid", "secret")
	s.SetHeader("X-Api-Key", "key")
	s.SetHeader("X-Plain", "p")

	_, err := s.Get(context.Background(), "/mine")
	require.NoError(t, err)
	mine := base.seen.at(t, "/mine")
	assert.Equal(t, "Bearer tok", mine.Get("Authorization"))
	assert.Equal(t, "sid=secret", mine.Get("Cookie"))
	assert.Equal(t, "key", mine.Get("X-Api-Key"))

	for _, target := range []struct{ name, url string }{
		{"other port", other.URL + "/theirs"},
		{"other host", otherHost + "/theirs-host"},
	} {
		t.Run(target.name, func(t *testing.T) {
			_, err := s.Get(context.Background(), target.url)
			require.NoError(t, err)
			var h http.Header
			if strings.Contains(target.url, "localhost") {
				h = base.seen.at(t, "/theirs-host")
			} else {
				h = other.seen.at(t, "/theirs")
			}
			for _, name := range []string{"Authorization", "Cookie", "X-Api-Key"} {
				assert.Empty(t, h.Values(name), name)
			}
			assert.Equal(t, "p", h.Get("X-Plain"), "ordinary session headers still go")
		})
	}
	assert.Empty(t, s.Cookies(other.URL), "Cookies reports what would be sent")

	// Without a base URL, session credentials go where the caller asks.
	s2 := newTestSession(t, WithBearerToken("tok2"))
	_, err = s2.Get(context.Background(), other.URL+"/asked")
	require.NoError(t, err)
	assert.Equal(t, "Bearer tok2", other.seen.at(t, "/asked").Get("Authorization"))
}

func TestSchemeRelativeURLRefused(t *testing.T) {
	t.Parallel()
	base := setupRedirector(t)
	s := newTestSession(t, WithBaseURL(base.URL), WithBearerToken("tok"))
	for _, ref := range []string{"//127.0.0.1:1/x", "//evil.example", "///evil.example"} {
		_, err := s.Get(context.Background(), ref)
		assert.ErrorIs(t, err, ErrInvalidURL, ref)
	}
	assert.Zero(t, base.seen.count())
}

func TestRedirectOnlyToHTTP(t *testing.T) {
	t.Parallel()
	a := setupRedirector(t)
	s := newTestSession(t)
	for _, to := range []string{"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/", "javascript:alert(1)", "http:///nohost"} {
		resp, err := s.Get(context.Background(), goURL(a.URL, to, 302))
		require.NoError(t, err, to)
		assert.Equal(t, http.StatusFound, resp.StatusCode, "%s is not followed", to)
	}
	assert.Equal(t, 5, a.seen.count())
}

func TestInvalidHeadersNeverSent(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	s := newTestSession(t)
	tests := []struct {
		name string
		do   func() error
	}{
		{"value CRLF", func() error {
			_, err := s.Get(context.Background(), srv.URL, Header("X-A", "v\r\nX-Injected: 1"))
			return err
		}},
		{"value LF", func() error { _, err := s.Get(context.Background(), srv.URL, Header("X-A", "v\nb")); return err }},
		{"value NUL", func() error { _, err := s.Get(context.Background(), srv.URL, Header("X-A", "v\x00")); return err }},
		{"name CR", func() error { _, err := s.Get(context.Background(), srv.URL, Header("X-A\r", "v")); return err }},
		{"hook adds CRLF", func() error {
			s2 := newTestSession(t, WithOnRequest(func(r *http.Request) error { r.Header.Set("X-H", "a\r\nb"); return nil }))
			_, err := s2.Get(context.Background(), srv.URL)
			return err
		}},
		{"Do header", func() error {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Header["X-A"] = []string{"v\r\nX-Injected: 1"}
			_, err := s.Do(req)
			return err
		}},
		{"Do Host", func() error {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Host = "127.0.0.1\r\nX-Injected: 1"
			_, err := s.Do(req)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			assert.ErrorIs(t, err, ErrInvalidHeader)
		})
	}
	assert.Zero(t, hits.Load(), "nothing reached the server")
}

func TestSecretsRedactedInErrors(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: the request fails, and its error names
	// the URL.
	addr := closedAddr(t)
	s := newTestSession(t, WithRetry(RetryPolicy{MaxAttempts: 2}))
	newFakeClock().install(s)
	_, err := s.Get(context.Background(), "http://user:hunter2@"+addr+"/x?token=tok123&api_key=k456&page=2")
	require.Error(t, err)
	msg := err.Error()
	assert.NotContains(t, msg, "hunter2")
	assert.NotContains(t, msg, "tok123")
	assert.NotContains(t, msg, "k456")
	assert.Contains(t, msg, "page=2")
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.NotContains(t, re.URL, "hunter2")

	// An HTTP error's URL too.
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
	resp, err := s.Get(context.Background(), srv.URL+"/?access_token=tok789")
	require.NoError(t, err)
	assert.NotContains(t, resp.Err().Error(), "tok789")
}

// TestRetriedBodyNeverCrossesServers is the resty CVE-2023-45286 scenario:
// many concurrent requests with retries to two servers; each server must
// only ever get its own bodies, whole.
func TestRetriedBodyNeverCrossesServers(t *testing.T) {
	t.Parallel()
	type server struct {
		srv    *httptest.Server
		bodies sync.Map // body -> attempts seenRequests
		wrong  atomic.Int64
	}
	mk := func(prefix string) *server {
		sv := &server{}
		sv.srv = setupServer(t, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			body := string(b)
			if !strings.HasPrefix(body, prefix) || len(body) != 4096 {
				sv.wrong.Add(1)
			}
			n, _ := sv.bodies.LoadOrStore(body, new(atomic.Int64))
			if n.(*atomic.Int64).Add(1) == 1 {
				w.WriteHeader(503) // every body is retried once
			}
		})
		return sv
	}
	a, b := mk("A"), mk("B")
	s, _ := newRetrySession(t, RetryPolicy{MaxAttempts: 3})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sv, prefix := a, "A"
			if i%2 == 1 {
				sv, prefix = b, "B"
			}
			body := prefix + fmt.Sprintf("%04d", i) + strings.Repeat(prefix, 4096-5)
			var resp *Response
			var err error
			if i%4 < 2 {
				resp, err = s.Put(context.Background(), sv.srv.URL, BodyString(body))
			} else {
				resp, err = s.Post(context.Background(), sv.srv.URL, BodyBytes([]byte(body)), Header("Idempotency-Key", body[:5]))
			}
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, sv := range []*server{a, b} {
		assert.Zero(t, sv.wrong.Load())
		count := 0
		sv.bodies.Range(func(k, v any) bool {
			count++
			assert.Equal(t, int64(2), v.(*atomic.Int64).Load())
			return true
		})
		assert.Equal(t, 50, count)
	}
	assert.Equal(t, int64(200), s.Stats().Requests)
}

// TestLogsHoldNoSecrets is the go-retryablehttp CVE-2024-6104 scenario:
// everything logged at Debug, across redirects, retries and failures, and
// not one credential in the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/go" {
			http.Redirect(w, r, "/final?session_id=sessionsecret", http.StatusFound)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "setcookiesecret"})
		w.Header().Set("X-Auth-Token", "responsetokensecret")
		if hits.Add(1) == 1 {
			w.WriteHeader(503)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newTestSession(t, WithLogger(logger), WithBasicAuth("u", "basicsecret"),
		WithRetry(RetryPolicy{MaxAttempts: 3}), WithSensitiveHeaders("X-Custom"))
	newFakeClock().install(s)
	s.SetCookie("m", "manualsecret")
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	u.User = url.UserPassword("user", "urlpwsecret")
	resp, err := s.Get(context.Background(), u.String()+"/go?access_token=querysecret&page=1",
		Header("X-Api-Key", "apikeysecret"), Header("X-Custom", "customsecret"),
		Header("X-Upload-Token", "lookslikesecret"), Header("Cookie", "c=cookieheadersecret"))
	require.NoError(t, err)
	assert.Equal(t, "ok", resp.Text())

	// A failure, with the same credentials in the URL.
	addr := closedAddr(t)
	_, err = s.Get(context.Background(), "http://user:urlpwsecret@"+addr+"/?token=querysecret")
	require.Error(t, err)

	out := logs.String()
	require.Contains(t, out, redacted, "sanity: something was logged, and redacted")
	require.Contains(t, out, "page=1", "sanity: URLs are logged")
	for _, secret := range []string{
		"basicsecret", "urlpwsecret", "querysecret", "sessionsecret", "setcookiesecret",
		"responsetokensecret", "manualsecret", "apikeysecret", "customsecret", "lookslikesecret",
		"cookieheadersecret",
		strings.TrimPrefix(basicAuthHeader("u", "basicsecret"), "Basic "),
		strings.TrimPrefix(basicAuthHeader("user", "urlpwsecret"), "Basic "),
	} {
		assert.NotContains(t, out, secret)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
