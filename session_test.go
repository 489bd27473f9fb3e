package reqivo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSmokeGet(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL), WithBasicAuth("u", "p"))
	s.SetHeader("X-Test", "1")
	s.SetCookie("c", "v")
	for i := 0; i < 3; i++ {
		resp, err := s.Get(context.Background(), "/basic-auth/u/p")
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
	}
	resp, err := s.Get(context.Background(), "/cookies")
	require.NoError(t, err)
	assert.Contains(t, resp.Text(), `"c": "v"`)
	resp, err = s.Get(context.Background(), "/status/404")
	require.NoError(t, err)
	assert.Error(t, resp.Err())
	assert.Equal(t, Stats{Requests: 5, ConnsOpened: 1}, s.Stats())
}

func TestSessionVerbs(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL))
	ctx := context.Background()
	type verb func(context.Context, string, ...RequestOption) (*Response, error)
	tests := []struct {
		name   string
		method string
		call   verb
	}{
		{"Get", http.MethodGet, s.Get},
		{"Head", http.MethodHead, s.Head},
		{"Options", http.MethodOptions, s.Options},
		{"Delete", http.MethodDelete, s.Delete},
		{"Post", http.MethodPost, s.Post},
		{"Put", http.MethodPut, s.Put},
		{"Patch", http.MethodPatch, s.Patch},
		{"Request PROPFIND", "PROPFIND", func(ctx context.Context, u string, o ...RequestOption) (*Response, error) {
			return s.Request(ctx, "PROPFIND", u, o...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.call(ctx, "/verb")
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, tt.method, resp.Header.Get("X-Method"))
			assert.Equal(t, tt.method, resp.Request.Method)
			if tt.method == http.MethodHead {
				assert.Empty(t, resp.Bytes())
				return
			}
			e := decodeEcho(t, resp)
			assert.Equal(t, tt.method, e.Method)
			assert.Equal(t, "/verb", e.Path)
		})
	}
}

func TestRequestBadMethod(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	s := newTestSession(t)
	for _, m := range []string{"", "GET /x", "G\nET"} {
		_, err := s.Request(context.Background(), m, srv.URL)
		assert.ErrorIs(t, err, ErrInvalidOption, "method %q", m)
	}
	assert.Zero(t, srv.conns.Load())
}

func TestRequestBodiesAndQuery(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL))
	ctx := context.Background()
	tests := []struct {
		name     string
		url      string
		opts     []RequestOption
		body     string
		ctype    string
		rawQuery string
	}{
		{name: "string", url: "/b", opts: []RequestOption{BodyString("hello")}, body: "hello"},
		{name: "bytes", url: "/b", opts: []RequestOption{BodyBytes([]byte("raw"))}, body: "raw"},
		{name: "reader", url: "/b", opts: []RequestOption{Body(io.MultiReader(strings.NewReader("chun"), strings.NewReader("ked")))}, body: "chunked"},
		{name: "json", url: "/b", opts: []RequestOption{JSON(map[string]int{"a": 1})}, body: `{"a":1}`, ctype: "application/json"},
		{name: "form", url: "/b", opts: []RequestOption{Form(url.Values{"k": {"v w"}})}, body: "k=v+w", ctype: "application/x-www-form-urlencoded"},
		{name: "json with own content type", url: "/b", opts: []RequestOption{JSON(1), Header("Content-Type", "application/vnd+json")}, body: "1", ctype: "application/vnd+json"},
		{name: "query appended", url: "/q?a=1", opts: []RequestOption{Query("b", "2"), Params(url.Values{"c": {"3"}})}, rawQuery: "a=1&b=2&c=3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.Post(ctx, tt.url, tt.opts...)
			require.NoError(t, err)
			e := decodeEcho(t, resp)
			assert.Equal(t, tt.body, e.Body)
			if tt.ctype != "" {
				assert.Equal(t, tt.ctype, e.Header.Get("Content-Type"))
			}
			if tt.rawQuery != "" {
				assert.Equal(t, tt.rawQuery, e.Query)
			}
		})
	}
	_, err := s.Post(ctx, "/b", BodyString("a"), BodyString("b"))
	assert.ErrorIs(t, err, ErrInvalidOption)
	_, err = s.Post(ctx, "/b", JSON(make(chan int)))
	assert.ErrorIs(t, err, ErrInvalidOption)
	_, err = s.Get(ctx, "/b", nil)
	assert.ErrorIs(t, err, ErrInvalidOption)
}

func TestRequestNilContext(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	s := newTestSession(t)
	//nolint:staticcheck // a nil context is what is tested
	_, err := s.Get(nil, srv.URL) //lint:ignore SA1012 tested
	assert.ErrorIs(t, err, ErrInvalidOption)
	assert.Zero(t, srv.conns.Load())
}

func TestDoDoesNotModifyRequest(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL+"/api/"), WithBearerToken("tok"), WithHeader("X-Session", "s"), WithHeader("X-Both", "session"))
	s.SetCookie("c", "1")

	req, err := http.NewRequest(http.MethodPost, "items?x=1", strings.NewReader("payload"))
	require.NoError(t, err)
	req.Header.Set("X-Both", "request")
	before := req.Header.Clone()
	beforeURL := *req.URL

	resp, err := s.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())

	var e echoed
	require.NoError(t, json.Unmarshal(body, &e))
	assert.Equal(t, "/api/items", e.Path, "relative URL resolved against the base")
	assert.Equal(t, "x=1", e.Query)
	assert.Equal(t, "payload", e.Body)
	assert.Equal(t, "request", e.Header.Get("X-Both"), "the request's own header wins")
	assert.Equal(t, "s", e.Header.Get("X-Session"))
	assert.Equal(t, "Bearer tok", e.Header.Get("Authorization"))
	assert.Equal(t, "c=1", e.Header.Get("Cookie"))
	assert.Equal(t, DefaultUserAgent, e.Header.Get("User-Agent"))

	assert.Equal(t, before, req.Header, "caller's header untouched")
	assert.Equal(t, beforeURL, *req.URL, "caller's URL untouched")
	assert.Empty(t, req.Host)
}

func TestDoNonCanonicalHeaderKeys(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t, WithHeader("X-Both", "session"), WithBearerToken("session"))
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header["x-both"] = []string{"request"}
	req.Header["authorization"] = []string{"Bearer request"}
	resp, err := s.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e echoed
	require.NoError(t, jsonDecode(resp.Body, &e))
	assert.Equal(t, []string{"request"}, e.Header["X-Both"], "the request's own value replaces the session's")
	assert.Equal(t, []string{"Bearer request"}, e.Header["Authorization"], "never two Authorization values")
	assert.Equal(t, []string{"request"}, req.Header["x-both"], "the caller's request is untouched")
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func TestDoBodyClosedByCallerReusesConnection(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 10000)))
	})
	s := newTestSession(t)
	for i := 0; i < 5; i++ {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		resp, err := s.Do(req)
		require.NoError(t, err)
		n, err := io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		assert.EqualValues(t, 10000, n)
		require.NoError(t, resp.Body.Close())
	}
	assert.EqualValues(t, 1, s.Stats().ConnsOpened)
	assert.EqualValues(t, 1, srv.conns.Load())
}

func TestDoErrors(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	s := newTestSession(t)
	_, err := s.Do(nil)
	assert.ErrorIs(t, err, ErrInvalidURL)

	closed := &closeRecorder{Reader: strings.NewReader("x")}
	req, err := http.NewRequest(http.MethodPost, "/relative", closed)
	require.NoError(t, err)
	_, err = s.Do(req)
	assert.ErrorIs(t, err, ErrInvalidURL, "relative URL without a base URL")
	assert.True(t, closed.closed.Load(), "body closed on error, as a RoundTripper must")

	req, err = http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header["X-Bad"] = []string{"a\r\nX-Injected: 1"}
	_, err = s.Do(req)
	assert.ErrorIs(t, err, ErrInvalidHeader)
	assert.Zero(t, srv.conns.Load())
}

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

func TestHTTPClient(t *testing.T) {
	t.Parallel()
	srv := setupRedirector(t)
	r1 := goURL(srv.URL, goURL("", "/final", http.StatusFound), http.StatusFound) // two hops
	s := newTestSession(t, WithBaseURL(srv.URL), WithHeader("X-Session", "yes"))
	var c *http.Client = s.HTTPClient()
	resp, err := c.Get(r1)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e echoed
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	assert.Equal(t, "/final", e.Path)
	assert.Equal(t, "yes", e.Header.Get("X-Session"))
	assert.Equal(t, 3, srv.seen.count(), "each hop once: the client does not follow again")
	assert.EqualValues(t, 3, s.Stats().Requests)
	c2 := s.HTTPClient()
	assert.NotSame(t, c, c2, "a new client each call")
	c2.Timeout = time.Second
	assert.Zero(t, c.Timeout, "changing one changes no other")

	// With following off in the session, the client gets the 3xx.
	s0 := newTestSession(t, WithMaxRedirects(0))
	resp, err = s0.HTTPClient().Get(r1)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, 4, srv.seen.count())
}

func TestClose(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	s, err := NewSession()
	require.NoError(t, err)
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	require.EqualValues(t, 1, srv.conns.Load())

	require.NoError(t, s.Close())
	assert.NoError(t, s.Close(), "a second Close returns nil")
	require.Eventually(t, func() bool { return srv.closed.Load() == 1 }, 5*time.Second, 5*time.Millisecond,
		"the idle connection is closed")

	_, err = s.Get(context.Background(), srv.URL)
	assert.ErrorIs(t, err, ErrClosed)
	var re *RequestError
	assert.ErrorAs(t, err, &re)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, err = s.Do(req)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = s.HTTPClient().Get(srv.URL)
	assert.ErrorIs(t, err, ErrClosed)
	assert.EqualValues(t, 1, srv.requests.Load(), "nothing sent after Close")
}

func TestCloseWithRequestInFlight(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = w.Write([]byte("done"))
	})
	s, err := NewSession()
	require.NoError(t, err)
	type result struct {
		resp *Response
		err  error
	}
	ch := make(chan result)
	go func() {
		resp, err := s.Get(context.Background(), srv.URL)
		ch <- result{resp, err}
	}()
	<-started
	require.NoError(t, s.Close())
	close(release)
	r := <-ch
	require.NoError(t, r.err, "a request in flight finishes")
	assert.Equal(t, "done", r.resp.Text())
	require.Eventually(t, func() bool { return srv.closed.Load() == 1 }, 5*time.Second, 5*time.Millisecond,
		"its connection is closed when it comes back")
}

func TestStats(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	assert.Equal(t, Stats{}, s.Stats())
	resp, err := s.Get(context.Background(), "/redirect/3")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, Stats{Requests: 4, ConnsOpened: 1}, s.Stats(), "each redirect hop is a request on the wire")

	_, err = s.Get(context.Background(), "/get")
	require.NoError(t, err)
	assert.Equal(t, Stats{Requests: 5, ConnsOpened: 1}, s.Stats())
}

func TestFacadeNew(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	var hooks []string
	c := New(srv.URL+"/v1/", WithHeader("X-Opt", "o")).
		BearerToken("tok").
		Header("X-Fluent", "f").
		OnRequest(func(*http.Request) error { hooks = append(hooks, "req"); return nil }).
		OnResponse(func(*Response) error { hooks = append(hooks, "resp"); return nil })
	defer c.Close()
	require.NoError(t, c.Err())
	resp, err := c.Get(context.Background(), "users")
	require.NoError(t, err)
	e := decodeEcho(t, resp)
	assert.Equal(t, "/v1/users", e.Path)
	assert.Equal(t, "Bearer tok", e.Header.Get("Authorization"))
	assert.Equal(t, "f", e.Header.Get("X-Fluent"))
	assert.Equal(t, "o", e.Header.Get("X-Opt"))
	assert.Equal(t, []string{"req", "resp"}, hooks)
	assert.Equal(t, "f", c.Session.Header().Get("X-Fluent"))
	assert.Equal(t, c.Session.Header(), c.Headers())

	c.BasicAuth("u", "p")
	resp, err = c.Get(context.Background(), "users")
	require.NoError(t, err)
	e = decodeEcho(t, resp)
	assert.Equal(t, basicAuthHeader("u", "p"), e.Header.Get("Authorization"))

	// New("") has no base URL: absolute URLs work, relative ones do not.
	c2 := New("")
	defer c2.Close()
	require.NoError(t, c2.Err())
	_, err = c2.Get(context.Background(), srv.URL)
	assert.NoError(t, err)
	_, err = c2.Get(context.Background(), "users")
	assert.ErrorIs(t, err, ErrInvalidURL)
}

func TestHeadWithContentLength(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	resp, err := s.Head(context.Background(), "/bytes/100")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, resp.Bytes())
	resp, err = s.Head(context.Background(), "/head")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
}

func TestURLUserinfoIsBasicAuth(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBearerToken("session-token"))
	u := strings.Replace(bin.URL, "http://", "http://user:pa%20ss@", 1)
	resp, err := s.Get(context.Background(), u+"/basic-auth/user/pa%20ss")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, "userinfo in the URL wins over session auth")
	resp, err = s.Get(context.Background(), u+"/basic-auth/user/other", Header("Authorization", basicAuthHeader("user", "other")))
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, "an explicit Authorization header wins over userinfo")
}

func TestZeroSessionRefuses(t *testing.T) {
	t.Parallel()
	var zero Session
	_, err := zero.Get(context.Background(), "http://127.0.0.1:1/")
	assert.ErrorIs(t, err, ErrInvalidOption)
	var nilSession *Session
	_, err = nilSession.Get(context.Background(), "http://127.0.0.1:1/")
	assert.ErrorIs(t, err, ErrInvalidOption)
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
	_, err = zero.Do(req)
	assert.ErrorIs(t, err, ErrInvalidOption)
	_, err = zero.WebSocket(context.Background(), "ws://127.0.0.1:1/")
	assert.ErrorIs(t, err, ErrInvalidOption)
}
