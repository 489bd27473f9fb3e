package reqivo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInvalidOptions(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	tests := []struct {
		name string
		opt  Option
		kind error
	}{
		{"nil option", nil, ErrInvalidOption},
		{"base URL empty", WithBaseURL(""), ErrInvalidURL},
		{"base URL relative", WithBaseURL("/v1/"), ErrInvalidURL},
		{"base URL scheme-relative", WithBaseURL("//127.0.0.1/"), ErrInvalidURL},
		{"base URL ftp", WithBaseURL("ftp://127.0.0.1/"), ErrInvalidURL},
		{"base URL no host", WithBaseURL("http:///v1"), ErrInvalidURL},
		{"base URL unparsable", WithBaseURL("http://[::1"), ErrInvalidURL},
		{"base URL with query", WithBaseURL("http://127.0.0.1/?a=1"), ErrInvalidURL},
		{"base URL with fragment", WithBaseURL("http://127.0.0.1/#f"), ErrInvalidURL},
		{"negative timeout", WithTimeout(-time.Second), ErrInvalidOption},
		{"negative connect timeout", WithTimeouts(Timeouts{Connect: -1}), ErrInvalidOption},
		{"negative read timeout", WithTimeouts(Timeouts{Read: -1}), ErrInvalidOption},
		{"negative total timeout", WithTimeouts(Timeouts{Total: -1}), ErrInvalidOption},
		{"header with CRLF", WithHeader("X-A", "v\r\nX-B: 1"), ErrInvalidHeader},
		{"header name with space", WithHeader("X A", "v"), ErrInvalidHeader},
		{"header with NUL", WithHeader("X-A", "\x00"), ErrInvalidHeader},
		{"basic user with colon", WithBasicAuth("a:b", "p"), ErrInvalidOption},
		{"basic password with LF", WithBasicAuth("a", "p\n"), ErrInvalidHeader},
		{"bearer with CR", WithBearerToken("a\rb"), ErrInvalidHeader},
		{"bearer with NUL", WithBearerToken("a\x00"), ErrInvalidHeader},
		{"empty bearer", WithBearerToken(""), ErrInvalidOption},
		{"bearer with space", WithBearerToken("a b"), ErrInvalidOption},
		{"negative MaxConnsPerHost", WithLimits(Limits{MaxConnsPerHost: -1}), ErrInvalidOption},
		{"negative MaxIdleConns", WithLimits(Limits{MaxIdleConns: -1}), ErrInvalidOption},
		{"negative MaxIdleConnsPerHost", WithLimits(Limits{MaxIdleConnsPerHost: -1}), ErrInvalidOption},
		{"negative IdleConnTimeout", WithLimits(Limits{IdleConnTimeout: -1}), ErrInvalidOption},
		{"negative MaxResponseHeaderBytes", WithLimits(Limits{MaxResponseHeaderBytes: -1}), ErrInvalidOption},
		{"negative max redirects", WithMaxRedirects(-1), ErrInvalidOption},
		{"nil transport", WithTransport(nil), ErrInvalidOption},
		{"nil middleware", WithMiddleware(nil), ErrInvalidOption},
		{"nil OnRequest", WithOnRequest(nil), ErrInvalidOption},
		{"nil OnResponse", WithOnResponse(nil), ErrInvalidOption},
		{"empty sensitive header", WithSensitiveHeaders(""), ErrInvalidOption},
		{"sensitive header with CRLF", WithSensitiveHeaders("X-A\r\n"), ErrInvalidOption},
		{"nil TLS config", WithTLSConfig(nil), ErrInvalidOption},
		{"proxy ftp", WithProxy("ftp://127.0.0.1:21"), ErrInvalidURL},
		{"proxy no host", WithProxy("http://"), ErrInvalidURL},
		{"proxy unparsable", WithProxy("http://[::1"), ErrInvalidURL},
		{"zero max concurrency", WithMaxConcurrency(0), ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A valid option before the bad one does not hide it.
			opts := []Option{WithHeader("X-Fine", "1"), tt.opt}

			s, err := NewSession(opts...)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, tt.kind)
			require.Error(t, err)
			assert.Regexp(t, `^reqivo: `, err.Error())

			c := New("", opts...)
			assert.ErrorIs(t, c.Err(), tt.kind)
			ctx := context.Background()
			_, err = c.Get(ctx, srv.URL)
			assertRequestKind(t, err, tt.kind)
			_, err = c.Post(ctx, srv.URL, BodyString("x"))
			assert.ErrorIs(t, err, tt.kind)
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			_, err = c.Do(req)
			assert.ErrorIs(t, err, tt.kind)
			_, err = c.HTTPClient().Get(srv.URL)
			assert.ErrorIs(t, err, tt.kind)
			c.SetBearerToken("still-usable-state")
			_, err = c.Get(ctx, srv.URL)
			assert.ErrorIs(t, err, tt.kind, "every call after it")
			assert.NoError(t, c.Close())
		})
	}
	t.Cleanup(func() { assert.Zero(t, srv.conns.Load(), "nothing was sent") })
}

func TestNewWithBadBaseURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ftp://127.0.0.1", "127.0.0.1:8080", "http://", "//127.0.0.1"} {
		c := New(u)
		assert.ErrorIs(t, c.Err(), ErrInvalidURL, u)
		_, err := c.Get(context.Background(), "/x")
		assert.ErrorIs(t, err, ErrInvalidURL, u)
		assert.NoError(t, c.Close())
	}
}

func TestConflictingOptions(t *testing.T) {
	t.Parallel()
	tr := &http.Transport{}
	for _, o := range []Option{WithTLSConfig(&tls.Config{}), WithProxy("")} {
		_, err := NewSession(WithTransport(tr), o)
		assert.ErrorIs(t, err, ErrInvalidOption)
		_, err = NewSession(o, WithTransport(tr))
		assert.ErrorIs(t, err, ErrInvalidOption)
	}
}

// requestDeadline sends one GET of u through s and returns how long the
// request's context had left when s's OnRequest hook saw it, and whether
// it had a deadline at all: the total timeout as the request carries it.
func requestDeadline(t *testing.T, s *Session, u string) (time.Duration, bool) {
	t.Helper()
	var left time.Duration
	var ok bool
	s.OnRequest(func(r *http.Request) error {
		var d time.Time
		d, ok = r.Context().Deadline()
		left = time.Until(d)
		return nil
	})
	_, err := s.Get(context.Background(), u)
	require.NoError(t, err)
	return left, ok
}

// assertTotalTimeout checks the request's deadline is total away (minus
// what the request itself took, generously).
func assertTotalTimeout(t *testing.T, s *Session, u string, total time.Duration) {
	t.Helper()
	left, ok := requestDeadline(t, s, u)
	if total == 0 {
		assert.False(t, ok, "no total deadline")
		return
	}
	require.True(t, ok, "a total deadline")
	assert.LessOrEqual(t, left, total)
	assert.Greater(t, left, total-5*time.Second)
}

// declaredLengthServer answers /?n=N with a Content-Length of N and no
// body: a session that accepts the length then sees the body cut.
func declaredLengthServer(t *testing.T) *rawServer {
	t.Helper()
	return setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+req.URL.Query().Get("n")+"\r\n\r\n")
		return false
	}))
}

// assertMaxResponseBytes checks s refuses a declared length of limit+1
// and accepts limit (then fails on the cut body, a network error).
func assertMaxResponseBytes(t *testing.T, s *Session, srv *rawServer, limit int64) {
	t.Helper()
	_, err := s.Get(context.Background(), srv.URL()+"/?n="+strconv.FormatInt(limit+1, 10))
	assertRequestKind(t, err, ErrBodyTooLarge)
	_, err = s.Get(context.Background(), srv.URL()+"/?n="+strconv.FormatInt(limit, 10))
	assertRequestKind(t, err, ErrNetwork)
}

// The defaults, seen where a request shows them: its total deadline, the
// bound on a response, the jar, the User-Agent, and the headers a
// cross-origin redirect drops. The redirect limit's default is checked by
// TestMaxRedirects, TLS verification by TestTLSVerifiedByDefault; what
// shows only after seconds or under load is in TestDefaultTransport.
func TestDefaultsTakeEffect(t *testing.T) {
	t.Parallel()
	s := newTestSession(t)
	assert.Equal(t, http.Header{"User-Agent": {"reqivo-go/" + Version}}, s.Header())
	assert.Nil(t, s.BaseURL())
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			http.SetCookie(w, &http.Cookie{Name: "jar", Value: "on"})
		}
		echoHandler(w, r)
	})
	assertTotalTimeout(t, s, srv.URL+"/set", 30*time.Second)
	assert.Equal(t, "jar=on", getEcho(t, s, srv.URL+"/get").Header.Get("Cookie"), "a cookie jar by default")
	assertMaxResponseBytes(t, newTestSession(t), declaredLengthServer(t), DefaultMaxResponseBytes)

	a, b := setupRedirector(t), setupRedirector(t)
	sensitive := []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "X-Auth-Token"}
	var opts []RequestOption
	for _, h := range sensitive {
		opts = append(opts, Header(h, "secret"))
	}
	_, err := newTestSession(t).Get(context.Background(), goURL(a.URL, b.URL+"/to", http.StatusFound), opts...)
	require.NoError(t, err)
	for _, h := range sensitive {
		assert.Equal(t, "secret", a.seen.at(t, "/go").Get(h), "sanity: %s was sent", h)
		assert.Empty(t, b.seen.at(t, "/to").Values(h), "%s is sensitive by default", h)
	}
}

// TestDefaultTransport reads the pool the session built: its settings
// show only under load (64 idle connections per host) or after seconds (a
// 10 s handshake timeout, a 30 s read timeout), the proxy from the
// environment only by changing the process's environment (read once per
// process by net/http), and the TLS floor not at all while crypto/tls's
// own default floor is the same.
func TestDefaultTransport(t *testing.T) {
	t.Parallel()
	s := newTestSession(t)
	assert.Equal(t, 30*time.Second, s.cfg.timeouts.Read)
	require.NotNil(t, s.transport)
	assert.Equal(t, 64, s.transport.MaxIdleConnsPerHost)
	assert.Equal(t, 256, s.transport.MaxIdleConns)
	assert.Equal(t, 10*time.Second, s.transport.TLSHandshakeTimeout, "the connect timeout")
	assert.Zero(t, s.transport.ResponseHeaderTimeout, "the session bounds the header wait itself")
	assert.Equal(t, uint16(tls.VersionTLS12), s.transport.TLSClientConfig.MinVersion)
	assert.NotNil(t, s.transport.Proxy, "the environment's proxy settings by default")
}

func TestWithTimeoutsKeepsDefaultsForZeroFields(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t, WithTimeouts(Timeouts{Read: time.Second}))
	assertTotalTimeout(t, s, srv.URL, 30*time.Second)
	// The connect and read timeouts show only after seconds: read from the
	// session's pool and config.
	assert.Equal(t, 10*time.Second, s.transport.TLSHandshakeTimeout)
	s = newTestSession(t, WithTimeouts(Timeouts{Connect: 2 * time.Second}), WithTimeout(0))
	assertTotalTimeout(t, s, srv.URL, 0)
	assert.Equal(t, 30*time.Second, s.cfg.timeouts.Read)
	assert.Equal(t, 2*time.Second, s.transport.TLSHandshakeTimeout)
}

func TestWithLimitsTakesEffect(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, WithLimits(Limits{MaxConnsPerHost: 3, MaxIdleConns: 5, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute, MaxResponseHeaderBytes: 4096}))
	// The pool's limits show only under load or after a minute: read from
	// the pool the session built.
	assert.Equal(t, 3, s.transport.MaxConnsPerHost)
	assert.Equal(t, 5, s.transport.MaxIdleConns)
	assert.Equal(t, 4, s.transport.MaxIdleConnsPerHost)
	assert.Equal(t, time.Minute, s.transport.IdleConnTimeout)
	// A zero field keeps its default.
	assertMaxResponseBytes(t, s, declaredLengthServer(t), DefaultMaxResponseBytes)

	// MaxResponseHeaderBytes is enforced on the wire.
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", string(make([]byte, 8192)))
	})
	_, err := s.Get(context.Background(), srv.URL)
	assertRequestKind(t, err, ErrInvalidResponse)
}

func TestWithTransport(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	rec := &recordingTransport{next: &http.Transport{}}
	defer rec.next.(*http.Transport).CloseIdleConnections()
	s := newTestSession(t, WithTransport(rec), WithHeader("X-S", "1"))
	// An unused pool shows in no behaviour: read the session's.
	assert.Nil(t, s.transport, "the session builds no pool of its own")
	e := getEcho(t, s, srv.URL)
	assert.Equal(t, "1", e.Header.Get("X-S"))
	assert.Equal(t, []string{"GET " + srv.URL}, rec.seen())
}

// recordingTransport records each request it forwards.
type recordingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []string
	tag  string
	log  *[]string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.String())
	if r.log != nil {
		*r.log = append(*r.log, r.tag)
	}
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recordingTransport) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

func TestWithMiddleware(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	var order []string // appended under the outer middleware's lock, then the inner's; requests are sequential
	var outer, inner *recordingTransport
	s := newTestSession(t, WithBaseURL(bin.URL),
		WithMiddleware(func(next http.RoundTripper) http.RoundTripper {
			outer = &recordingTransport{next: next, tag: "outer", log: &order}
			return outer
		}),
		WithMiddleware(func(next http.RoundTripper) http.RoundTripper {
			inner = &recordingTransport{next: next, tag: "inner", log: &order}
			return inner
		}))
	resp, err := s.Get(context.Background(), "/redirect/2")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Len(t, outer.seen(), 3, "every hop goes through the middleware")
	assert.Equal(t, outer.seen(), inner.seen())
	assert.Equal(t, []string{"outer", "inner", "outer", "inner", "outer", "inner"}, order, "first is outermost")
	assert.EqualValues(t, 3, s.Stats().Requests, "the middleware wraps the counted transport")
}

func TestWithTLSConfig(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
	srv.Config.ErrorLog = discardLogger()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	conf := tlsConfigWithRoots(pool)
	s := newTestSession(t, WithTLSConfig(conf))
	conf.RootCAs = nil // the session keeps its own clone
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	require.NotNil(t, resp.TLS)
	assert.GreaterOrEqual(t, resp.TLS.Version, uint16(tls.VersionTLS12))

	_, err = newTestSession(t).Get(context.Background(), srv.URL)
	assertRequestKind(t, err, ErrTLS)

	// Turning verification off is the caller's explicit choice.
	insecure := newTestSession(t, WithTLSConfig(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // tested
	_, err = insecure.Get(context.Background(), srv.URL)
	assert.NoError(t, err)
}

func TestWithProxy(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	proxy := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.RequestURI)
		mu.Unlock()
		_, _ = io.WriteString(w, "via proxy")
	})
	// The target is never contacted: the proxy answers for it.
	target := "http://127.0.0.1:1/target?q=1"
	s := newTestSession(t, WithProxy(proxy.URL))
	resp, err := s.Get(context.Background(), target)
	require.NoError(t, err)
	assert.Equal(t, "via proxy", resp.Text())
	mu.Lock()
	assert.Equal(t, []string{target}, seen, "the proxy got the absolute URI")
	mu.Unlock()

	none := newTestSession(t, WithProxy(""))
	assert.Nil(t, none.transport.Proxy, `"" means no proxy at all, the environment ignored`)
}

func TestWithBaseURLTakesEffect(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL+"/root/"))
	assert.Equal(t, srv.URL+"/root/", s.BaseURL().String())
	s.BaseURL().Path = "/mutated"
	assert.Equal(t, srv.URL+"/root/", s.BaseURL().String(), "BaseURL returns a copy")
	assert.Equal(t, "/root/x", getEcho(t, s, "x").Path)
}

func TestWithOptionsAppliesInOrder(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, WithOptions(WithHeader("X-A", "1"), WithHeader("X-A", "2")), WithOptions())
	assert.Equal(t, "2", s.Header().Get("X-A"))
	_, err := NewSession(WithOptions(WithHeader("X-A", "1"), nil))
	assert.ErrorIs(t, err, ErrInvalidOption)
	_, err = NewSession(WithOptions(WithTimeout(-1)))
	assert.ErrorIs(t, err, ErrInvalidOption)
}

// bareRT answers like many RoundTrippers written for tests: a status and
// little else (no Body, no Request), or nothing at all. The wire cannot
// produce these, hence the fake.
type bareRT struct {
	resp func() *http.Response
}

func (b bareRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return b.resp(), nil
}

// A caller's RoundTripper (WithTransport, WithMiddleware) that leaves out
// Body, Request or Header must not panic the session: they are filled in
// as http.Client fills in the body, and a response that is not one at all
// is ErrInvalidResponse.
func TestBareTransportResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp func() *http.Response
		want error // nil: a response
	}{
		{"200 without body or request", func() *http.Response { return &http.Response{StatusCode: 200} }, nil},
		{"404 without body or request", func() *http.Response { return &http.Response{StatusCode: 404} }, nil},
		{"503 retried", func() *http.Response { return &http.Response{StatusCode: 503} }, nil},
		{"302 followed", func() *http.Response {
			return &http.Response{StatusCode: 302, Header: http.Header{"Location": {"/next"}}}
		}, ErrRedirectLoop},
		{"no body but a Content-Length", func() *http.Response { return &http.Response{StatusCode: 200, ContentLength: 5} }, ErrInvalidResponse},
		{"nil response", func() *http.Response { return nil }, ErrInvalidResponse},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tt.name, stream), func(t *testing.T) {
				t.Parallel()
				s := newTestSession(t, WithTransport(bareRT{tt.resp}), WithMaxRedirects(2),
					WithRetry(RetryPolicy{MaxAttempts: 2, MinWait: time.Nanosecond, MaxWait: time.Nanosecond}))
				var opts []RequestOption
				if stream {
					opts = append(opts, Stream())
				}
				resp, err := s.Get(context.Background(), "http://127.0.0.1:1/x", opts...)
				if tt.want != nil {
					assertRequestKind(t, err, tt.want)
					return
				}
				require.NoError(t, err)
				defer resp.Close()
				assert.Equal(t, tt.resp().StatusCode, resp.StatusCode)
				assert.Equal(t, "http://127.0.0.1:1/x", resp.URL().String())
				assert.Empty(t, resp.Bytes())
				if resp.StatusCode >= 400 {
					var he *HTTPError
					assert.ErrorAs(t, resp.Err(), &he)
				}
			})
		}
	}
}

// WithTransport says the pool fields of Limits cannot be used with it: a
// caller setting them must hear so, not have them silently ignored.
// MaxResponseBytes is the session's own and stays usable.
func TestWithTransportRefusesPoolLimits(t *testing.T) {
	t.Parallel()
	tr := &http.Transport{}
	for name, l := range map[string]Limits{
		"MaxConnsPerHost":        {MaxConnsPerHost: 4},
		"MaxIdleConns":           {MaxIdleConns: 4},
		"MaxIdleConnsPerHost":    {MaxIdleConnsPerHost: 4},
		"IdleConnTimeout":        {IdleConnTimeout: time.Second},
		"MaxResponseHeaderBytes": {MaxResponseHeaderBytes: 1 << 10},
	} {
		for _, opts := range [][]Option{{WithTransport(tr), WithLimits(l)}, {WithLimits(l), WithTransport(tr)}} {
			_, err := NewSession(opts...)
			assert.ErrorIs(t, err, ErrInvalidOption, name)
		}
	}
	l := DefaultLimits()
	l.MaxResponseBytes = 1 << 10
	for _, l := range []Limits{{MaxResponseBytes: 1 << 10}, l} {
		s, err := NewSession(WithTransport(tr), WithLimits(l))
		require.NoError(t, err)
		assert.NoError(t, s.Close())
	}
}
