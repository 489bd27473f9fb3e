package reqivo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// countingSource gives tok1, tok2 ... (or what next returns), counting
// the fetches.
type countingSource struct {
	n    atomic.Int32
	next func(n int32) (*oauth2.Token, error)
}

func (c *countingSource) Token() (*oauth2.Token, error) {
	n := c.n.Add(1)
	if c.next != nil {
		return c.next(n)
	}
	return &oauth2.Token{AccessToken: fmt.Sprintf("tok%d", n), Expiry: time.Now().Add(time.Hour)}, nil
}

// sameSource always gives the same token.
func sameSource(tok string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})
}

// authRecorder answers with status(n, Authorization) for the nth request,
// recording each request's Authorization.
type authRecorder struct {
	mu     sync.Mutex
	seen   []string
	status func(n int, auth string) (int, string) // status and WWW-Authenticate; nil: 200
}

func (a *authRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	a.mu.Lock()
	a.seen = append(a.seen, r.Header.Get("Authorization"))
	n := len(a.seen)
	a.mu.Unlock()
	code, challenge := http.StatusOK, ""
	if a.status != nil {
		code, challenge = a.status(n, r.Header.Get("Authorization"))
	}
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	w.WriteHeader(code)
}

func (a *authRecorder) auths() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

func TestTokenSourcePerAttempt(t *testing.T) {
	t.Parallel()
	rec := &authRecorder{status: func(n int, _ string) (int, string) {
		if n == 1 {
			return http.StatusServiceUnavailable, ""
		}
		return http.StatusOK, ""
	}}
	srv := setupServer(t, rec.ServeHTTP)
	ts := &countingSource{}
	s := newTestSession(t, WithBaseURL(srv.URL), WithTokenSource(ts),
		WithRetry(RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: time.Millisecond}))
	resp, err := s.Get(context.Background(), "/")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{"Bearer tok1", "Bearer tok2"}, rec.auths(), "each attempt fetches its token")
}

func TestTokenSourceRefused(t *testing.T) {
	t.Parallel()
	refuseFirst := func(code int, challenge string) func(int, string) (int, string) {
		return func(n int, _ string) (int, string) {
			if n == 1 {
				return code, challenge
			}
			return http.StatusOK, ""
		}
	}
	tests := []struct {
		name   string
		status func(int, string) (int, string)
		ts     oauth2.TokenSource
		opts   []RequestOption
		want   []string
		code   int
	}{
		{"401, new token", refuseFirst(401, ""), &countingSource{}, nil, []string{"Bearer tok1", "Bearer tok2"}, 200},
		{"400 invalid_token, new token", refuseFirst(400, `Bearer error="invalid_token"`), &countingSource{}, nil,
			[]string{"Bearer tok1", "Bearer tok2"}, 200},
		{"403 other error, not retried", refuseFirst(403, `Bearer error="insufficient_scope"`), &countingSource{}, nil,
			[]string{"Bearer tok1"}, 403},
		{"401, same token", refuseFirst(401, ""), sameSource("same"), nil, []string{"Bearer same"}, 401},
		{"401 twice, once retried", func(int, string) (int, string) { return 401, "" }, &countingSource{}, nil,
			[]string{"Bearer tok1", "Bearer tok2"}, 401},
		{"401, body not replayable", refuseFirst(401, ""), &countingSource{},
			[]RequestOption{Body(io.MultiReader(strings.NewReader("once")))}, []string{"Bearer tok1"}, 401},
		{"401, second fetch fails", refuseFirst(401, ""), &countingSource{next: func(n int32) (*oauth2.Token, error) {
			if n > 1 {
				return nil, errors.New("down")
			}
			return &oauth2.Token{AccessToken: "first"}, nil
		}}, nil, []string{"Bearer first"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &authRecorder{status: tt.status}
			srv := setupServer(t, rec.ServeHTTP)
			s := newTestSession(t, WithBaseURL(srv.URL), WithTokenSource(tt.ts))
			opts := tt.opts
			if opts == nil {
				opts = []RequestOption{BodyString("b")}
			}
			resp, err := s.Post(context.Background(), "/", opts...)
			require.NoError(t, err)
			assert.Equal(t, tt.code, resp.StatusCode)
			assert.Equal(t, tt.want, rec.auths())
		})
	}
}

func TestTokenSourceErrors(t *testing.T) {
	t.Parallel()
	errDown := errors.New("token endpoint down")
	tests := []struct {
		name  string
		ts    oauth2.TokenSource
		cause error
	}{
		{"source error", &countingSource{next: func(int32) (*oauth2.Token, error) { return nil, errDown }}, errDown},
		{"nil token", &countingSource{next: func(int32) (*oauth2.Token, error) { return nil, nil }}, nil},
		{"empty token", sameSource(""), nil},
		{"token with CRLF", sameSource("SECRET\r\nX-Evil: 1"), nil},
		{"token with space", sameSource("SECRET part"), nil},
		{"bad type", oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "SECRET", TokenType: "a b"}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := setupCountingServer(t, echoHandler)
			s := newTestSession(t, WithBaseURL(srv.URL), WithTokenSource(tt.ts))
			_, err := s.Get(context.Background(), "/")
			assertRequestKind(t, err, ErrAuth)
			if tt.cause != nil {
				assert.ErrorIs(t, err, tt.cause)
			}
			assert.NotContains(t, err.Error(), "SECRET")
			assert.Zero(t, srv.requests.Load(), "nothing sent")
		})
	}
	_, err := NewSession(WithTokenSource(nil))
	assert.ErrorIs(t, err, ErrInvalidOption)
}

func TestTokenSourceScope(t *testing.T) {
	t.Parallel()
	other := &authRecorder{}
	otherSrv := setupServer(t, other.ServeHTTP)
	home := &authRecorder{}
	var homeURL string
	homeSrv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, otherSrv.URL+"/x", http.StatusFound)
		case "/here":
			http.Redirect(w, r, homeURL+"/x", http.StatusFound)
		default:
			home.ServeHTTP(w, r)
		}
	})
	homeURL = homeSrv.URL
	s := newTestSession(t, WithBaseURL(homeSrv.URL), WithTokenSource(&countingSource{}))
	ctx := context.Background()
	_, err := s.Get(ctx, "/away")
	require.NoError(t, err)
	_, err = s.Get(ctx, otherSrv.URL+"/direct")
	require.NoError(t, err)
	assert.Equal(t, []string{"", ""}, other.auths(), "no token to another origin, directly or by redirect")
	_, err = s.Get(ctx, "/here")
	require.NoError(t, err)
	assert.Equal(t, []string{"Bearer tok3"}, home.auths(), "a same-origin redirect hop fetches its own token")

	noBase := newTestSession(t, WithTokenSource(sameSource("t")))
	_, err = noBase.Get(ctx, otherSrv.URL+"/nobase")
	require.NoError(t, err)
	assert.Equal(t, "Bearer t", other.auths()[2], "no base URL: the host the caller asks for")
}

func TestTokenSourcePrecedence(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	ts := &countingSource{}
	s := newTestSession(t, WithBaseURL(srv.URL), WithTokenSource(ts))
	assert.Equal(t, "Bearer tok1", getEcho(t, s, "/").Header.Get("Authorization"))
	assert.Equal(t, "Bearer mine", getEcho(t, s, "/", Header("Authorization", "Bearer mine")).Header.Get("Authorization"),
		"a request's own Authorization wins")
	u := strings.Replace(srv.URL, "http://", "http://u:p@", 1)
	assert.Equal(t, basicAuthHeader("u", "p"), getEcho(t, s, u).Header.Get("Authorization"), "userinfo wins")
	s.SetBearerToken("session")
	assert.Equal(t, "Bearer session", getEcho(t, s, "/").Header.Get("Authorization"), "session auth wins")
	s.ClearAuth()
	assert.Equal(t, "Bearer tok2", getEcho(t, s, "/").Header.Get("Authorization"))
	assert.Equal(t, int32(2), ts.n.Load(), "no token fetched when it is not sent")

	hooked := newTestSession(t, WithBaseURL(srv.URL), WithTokenSource(ts), WithOnRequest(func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer hook")
		return nil
	}))
	assert.Equal(t, "Bearer hook", getEcho(t, hooked, "/").Header.Get("Authorization"), "a hook's Authorization wins")
}

func TestTokenSourceConcurrentOneRefresh(t *testing.T) {
	t.Parallel()
	rec := &authRecorder{}
	srv := setupServer(t, rec.ServeHTTP)
	inner := &countingSource{next: func(int32) (*oauth2.Token, error) {
		time.Sleep(10 * time.Millisecond) // a slow endpoint: concurrent callers pile up on the refresh
		return &oauth2.Token{AccessToken: "shared", Expiry: time.Now().Add(time.Hour)}, nil
	}}
	s := newTestSession(t, WithBaseURL(srv.URL), WithTokenSource(oauth2.ReuseTokenSource(nil, inner)))
	hammer(t, 64, 4, func() error {
		resp, err := s.Get(context.Background(), "/")
		if err != nil {
			return err
		}
		return resp.Err()
	})
	assert.Equal(t, int32(1), inner.n.Load(), "one refresh for all requests")
	for _, a := range rec.auths() {
		require.Equal(t, "Bearer shared", a)
	}
	assert.Len(t, rec.auths(), 256)
}

func TestTokenSourceExpiryRefreshes(t *testing.T) {
	t.Parallel()
	rec := &authRecorder{}
	srv := setupServer(t, rec.ServeHTTP)
	inner := &countingSource{next: func(n int32) (*oauth2.Token, error) {
		// The first token is already past its expiry (oauth2 treats one
		// expiring within 10 s as expired): the next call refreshes.
		exp := time.Now().Add(time.Hour)
		if n == 1 {
			exp = time.Now().Add(time.Second)
		}
		return &oauth2.Token{AccessToken: fmt.Sprintf("t%d", n), Expiry: exp}, nil
	}}
	s := newTestSession(t, WithBaseURL(srv.URL), WithTokenSource(oauth2.ReuseTokenSource(nil, inner)))
	for i := 0; i < 3; i++ {
		_, err := s.Get(context.Background(), "/")
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"Bearer t1", "Bearer t2", "Bearer t2"}, rec.auths())
}

func TestTokenSourceNoSecretsInLogsOrErrors(t *testing.T) {
	t.Parallel()
	const secret = "SECRET-tok-6f1c"
	rec := &authRecorder{status: func(int, string) (int, string) {
		return http.StatusUnauthorized, `Bearer error="invalid_token"`
	}}
	srv := setupServer(t, rec.ServeHTTP)
	logger, logs := newTestLogger(slog.LevelDebug)
	ts := &countingSource{next: func(n int32) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: fmt.Sprintf("%s-%d", secret, n)}, nil
	}}
	s := newTestSession(t, WithBaseURL(srv.URL), WithTokenSource(ts), WithLogger(logger),
		WithRetry(RetryPolicy{MaxAttempts: 2, MinWait: time.Millisecond, MaxWait: time.Millisecond,
			Retry: func(_ *http.Request, resp *http.Response, _ error) bool { return resp != nil }}))
	resp, err := s.Get(context.Background(), "/?x=1")
	require.NoError(t, err)
	var he *HTTPError
	require.ErrorAs(t, resp.Err(), &he)
	assert.NotContains(t, he.Error()+string(he.Body)+he.URL, secret)
	assert.Len(t, rec.auths(), 4, "two attempts, each retried once with a new token")
	assert.NotEmpty(t, logs.records(t))
	assert.NotContains(t, logs.String(), secret)
}

func TestTokenSourceWebSocketHandshake(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	var got atomic.Value
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusUnauthorized) // the first token is refused
			return
		}
		got.Store(r.Header.Get("Authorization"))
		wsHandler(nil, serveEcho)(w, r)
	})
	s := newTestSession(t, WithBaseURL(srv.URL), WithTokenSource(&countingSource{}))
	dialWS(t, s, wsAddr(srv))
	assert.Equal(t, "Bearer tok2", got.Load(), "the handshake is an attempt: a refused token is replaced once")
}
