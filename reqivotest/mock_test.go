package reqivotest_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/reqivotest"
)

// newAPIClient is a production constructor: it sets pool, TLS and proxy
// options and takes more from its caller.
func newAPIClient(t testing.TB, base string, extra ...reqivo.Option) *reqivo.Session {
	t.Helper()
	opts := []reqivo.Option{
		reqivo.WithBaseURL(base),
		reqivo.WithLimits(reqivo.Limits{MaxConnsPerHost: 4, MaxIdleConnsPerHost: 4}),
		reqivo.WithTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}),
		reqivo.WithProxy("http://proxy.example.invalid:3128"),
		reqivo.WithBearerToken("prod-token-123"),
	}
	s, err := reqivo.NewSession(append(opts, extra...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMockAnswersThroughAProductionConstructor(t *testing.T) {
	t.Parallel()
	m := reqivotest.NewMock(t)
	m.On("GET /v1/users/{id}").Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "user "+r.PathValue("id"))
	}))
	m.On("POST /v1/users").JSON(201, map[string]any{"id": 7}).Header("Location", "/v1/users/7")
	s := newAPIClient(t, "https://api.example.com/v1/", m.Option())
	ctx := context.Background()

	resp, err := s.Get(ctx, "users/42")
	require.NoError(t, err)
	assert.Equal(t, "user 42", resp.Text())
	assert.NotNil(t, resp.TLS)

	resp, err = s.Post(ctx, "users", reqivo.JSON(map[string]string{"name": "ada"}))
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "/v1/users/7", resp.Header.Get("Location"))
	var got struct{ ID int }
	require.NoError(t, resp.JSON(&got))
	assert.Equal(t, 7, got.ID)

	reqs := m.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "/v1/users/42", reqs[0].URL.Path)
	assert.Equal(t, "Bearer prod-token-123", reqs[0].Header.Get("Authorization"))
	assert.Equal(t, "api.example.com", reqs[1].Host)
	for range 2 { // a body reads again at each call
		body, err := io.ReadAll(m.Requests()[1].Body)
		require.NoError(t, err)
		assert.JSONEq(t, `{"name":"ada"}`, string(body))
	}
}

func TestMockSequenceDrivesRetries(t *testing.T) {
	t.Parallel()
	m := reqivotest.NewMock(t)
	m.On("GET /flaky").
		Reply(503, "busy").Header("Retry-After", "20").
		Reply(503, "busy").
		Reply(200, "ok")
	clk := reqivotest.NewClock()
	s := newAPIClient(t, "http://api.example.com", m.Option(), clk.Option(),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 5, MaxWait: time.Minute}))
	start := time.Now()
	resp, err := s.Get(context.Background(), "flaky")
	require.NoError(t, err)
	assert.Equal(t, "ok", resp.Text())
	assert.Len(t, m.Requests(), 3)
	waits := clk.Waits()
	require.Len(t, waits, 2)
	assert.Equal(t, 20*time.Second, waits[0], "Retry-After of the first answer")
	assert.LessOrEqual(t, waits[1], 5*time.Second, "backoff: the second answer has no Retry-After")
	assert.Less(t, time.Since(start), 5*time.Second, "no wait is real")

	resp, err = s.Get(context.Background(), "flaky")
	require.NoError(t, err)
	assert.Equal(t, "ok", resp.Text(), "the last answer repeats")
}

func TestMockUnmatchedRequestFailsAndErrs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		routes []string
		method string
		path   string
		want   []string // in the failure and the error
	}{
		{
			name:   "another method",
			routes: []string{"GET /users/{id}", "DELETE /users/{id}", "GET /items"},
			method: http.MethodPost, path: "users/9?token=s3cr3t-query&page=2",
			want: []string{"no route for POST http://api.example.com/users/9?", "token=xxxxx", "page=2",
				`another method: "GET /users/{id}", "DELETE /users/{id}"`},
		},
		{
			name:   "another path",
			routes: []string{"GET /users/{id}", "POST /users", "GET /items"},
			method: http.MethodGet, path: "user/9",
			want: []string{"no route for GET http://api.example.com/user/9", `routes for GET: "GET /users/{id}", "GET /items"`},
		},
		{
			name:   "no routes",
			method: http.MethodGet, path: "x",
			want: []string{"no route for GET http://api.example.com/x; the mock has no routes"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ft := &fakeTB{}
			m := reqivotest.NewMock(ft)
			for _, p := range tc.routes {
				m.On(p).AnyTimes()
			}
			s := newAPIClient(t, "http://api.example.com", m.Option())
			_, err := s.Request(context.Background(), tc.method, tc.path)
			require.Error(t, err)
			assert.ErrorIs(t, err, reqivo.ErrNetwork)
			errs := ft.errors()
			require.Len(t, errs, 1)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
				assert.Contains(t, errs[0], w)
			}
			assert.NotContains(t, err.Error()+errs[0], "s3cr3t-query")
			assert.Len(t, m.Requests(), 1, "a refused request is recorded too")
			ft.end()
			assert.Len(t, ft.errors(), 1, "AnyTimes routes are not expected")
		})
	}
}

func TestMockExpectations(t *testing.T) {
	t.Parallel()
	ft := &fakeTB{}
	m := reqivotest.NewMock(ft)
	m.On("GET /never")                                                        // expected once by default
	m.On("GET /twice").Times(2)                                               // called once
	m.On("GET /once").Times(1)                                                // called twice: the second is refused
	m.On("GET /seq").Reply(503, "").Reply(200, "")                            // two answers, called once
	m.On("GET /optional").AnyTimes()                                          // never called: fine
	m.On("GET /done").Reply(200, "").Times(1)                                 // as expected
	m.On("GET /default").Header("X-All", "1").Reply(200, "a").Reply(202, "b") // as expected
	s := newAPIClient(t, "http://api.example.com", m.Option())
	ctx := context.Background()
	for _, p := range []string{"twice", "once", "seq", "done", "default"} {
		_, err := s.Get(ctx, p)
		require.NoError(t, err, p)
	}
	resp, err := s.Get(ctx, "default")
	require.NoError(t, err)
	assert.Equal(t, 202, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("X-All"), "a header before the answers is on all of them")
	assert.Empty(t, ft.errors(), "nothing fails before the end but a refusal")

	_, err = s.Get(ctx, "once")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `route "GET /once" called more than 1 times, by GET http://api.example.com/once`)
	require.Len(t, ft.errors(), 1)

	ft.end()
	assert.Equal(t, []string{
		`reqivotest: route "GET /once" called more than 1 times, by GET http://api.example.com/once`,
		`reqivotest: route "GET /never" called 0 times, want at least 1`,
		`reqivotest: route "GET /twice" called 1 times, want 2`,
		`reqivotest: route "GET /seq" called 1 times, want at least 2`,
	}, ft.errors())
}

func TestMockBadRouteFailsAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		routes []string
	}{
		{"invalid", []string{"GET users"}},
		{"conflict", []string{"GET /users/{id}", "GET /users/{name}"}},
		{"duplicate", []string{"GET /x", "GET /x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ft := &fakeTB{}
			m := reqivotest.NewMock(ft)
			for _, p := range tc.routes {
				m.On(p).AnyTimes()
			}
			errs := ft.errors()
			require.Len(t, errs, 1)
			assert.True(t, strings.HasPrefix(errs[0], "FATAL reqivotest: bad route "), errs[0])
		})
	}
	ft := &fakeTB{}
	reqivotest.NewMock(ft).On("GET /x").JSON(200, func() {})
	require.Len(t, ft.errors(), 1)
	assert.Contains(t, ft.errors()[0], "JSON answer")
}

func TestMockDelayMeetsTimeouts(t *testing.T) {
	t.Parallel()
	m := reqivotest.NewMock(t)
	m.On("GET /slow").Reply(200, "late").Delay(time.Minute)
	m.On("GET /quick").Delay(time.Millisecond).Reply(200, "soon")
	s := newAPIClient(t, "http://api.example.com", m.Option())
	start := time.Now()
	_, err := s.Get(context.Background(), "slow", reqivo.Timeout(100*time.Millisecond))
	assert.ErrorIs(t, err, reqivo.ErrTimeout)
	assert.Less(t, time.Since(start), 10*time.Second)
	resp, err := s.Get(context.Background(), "quick")
	require.NoError(t, err)
	assert.Equal(t, "soon", resp.Text())
}

func TestMockIsAHandler(t *testing.T) {
	t.Parallel()
	ft := &fakeTB{}
	m := reqivotest.NewMock(ft)
	m.On("GET /a").Reply(200, "a")
	s := newAPIClient(t, "http://api.example.com", reqivotest.Handler(m))
	resp, err := s.Get(context.Background(), "b")
	require.NoError(t, err, "without Option's middleware a refusal is a response")
	assert.Equal(t, http.StatusNotImplemented, resp.StatusCode)
	assert.Contains(t, resp.Text(), "reqivotest: no route for GET http://api.example.com/b")
	assert.Len(t, ft.errors(), 1)
}

func TestMockRefusalReportedOnceAcrossRetries(t *testing.T) {
	t.Parallel()
	ft := &fakeTB{}
	m := reqivotest.NewMock(ft)
	m.On("GET /a").AnyTimes()
	s := newAPIClient(t, "http://api.example.com", m.Option(), reqivotest.InstantWaits(),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 3}))
	_, err := s.Get(context.Background(), "b")
	require.Error(t, err)
	assert.Len(t, m.Requests(), 3, "the caller's policy retries it")
	assert.Len(t, ft.errors(), 1)
}

func TestMockReplyLabelsJSON(t *testing.T) {
	t.Parallel()
	type repo struct {
		FullName string `json:"full_name"`
	}
	m := reqivotest.NewMock(t)
	m.On("GET /repo").Reply(200, ` {"full_name":"reqivo/reqivo"}`)
	m.On("GET /list").Reply(200, `[{"full_name":"a/b"}]`)
	m.On("GET /text").Reply(200, `hello {"not": "json"}`)
	m.On("GET /broken").Reply(200, `{"full_name":`)
	m.On("GET /number").Reply(200, `42`)
	m.On("GET /labelled").Reply(200, `{"a":1}`).Header("Content-Type", "application/vnd.api+json")
	m.On("GET /defaults").Header("Content-Type", "text/x-mine").Reply(200, `{"a":1}`)
	s, err := reqivo.NewSession(reqivo.WithBaseURL("http://api.example.com/"), m.Option())
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()

	r, _, err := reqivo.GetJSON[repo](ctx, s, "repo")
	require.NoError(t, err, "a JSON object is labelled JSON")
	assert.Equal(t, "reqivo/reqivo", r.FullName)
	list, _, err := reqivo.GetJSON[[]repo](ctx, s, "list")
	require.NoError(t, err, "a JSON array is labelled JSON")
	assert.Equal(t, []repo{{"a/b"}}, list)

	for path, want := range map[string]string{
		"text":     "text/plain; charset=utf-8",
		"broken":   "text/plain; charset=utf-8",
		"number":   "text/plain; charset=utf-8",
		"labelled": "application/vnd.api+json",
		"defaults": "text/x-mine",
	} {
		resp, err := s.Get(ctx, path)
		require.NoError(t, err)
		assert.Equal(t, want, resp.Header.Get("Content-Type"), path)
	}
}
