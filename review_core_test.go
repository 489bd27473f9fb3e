// Tests from the review of the core request path: each one failed before
// the fix committed with it.

package reqivo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A hook owns req.Header: changing a value in place must not reach the
// session's later requests, nor another session's (the default
// Accept-Encoding slice was one shared by the whole process).
func TestHookHeaderChangeInPlaceStaysInItsRequest(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Accept-Encoding")+" | "+r.Header.Get("Authorization"))
		mu.Unlock()
	})
	s := newTestSession(t, WithBearerToken("tok"))
	other := newTestSession(t)
	var first atomic.Bool
	s.OnRequest(func(r *http.Request) error {
		if first.CompareAndSwap(false, true) {
			for _, vs := range r.Header {
				for i := range vs {
					vs[i] = "changed"
				}
			}
		}
		return nil
	})
	ctx := context.Background()
	for _, s := range []*Session{s, s, other} {
		_, err := s.Get(ctx, srv.URL)
		require.NoError(t, err)
	}
	assert.Equal(t, []string{
		"changed | changed",
		"gzip, deflate | Bearer tok",
		"gzip, deflate | ",
	}, got)
}

// Once the cache of resolve is full, a URL not in it is resolved without
// the writers' lock (every request to a new path serialised on it), and a
// long URL is never kept (256 of them would pin their bytes for the
// session's life).
func TestResolveCacheFullTakesNoLockAndKeepsNoLongURL(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, WithBaseURL("https://api.example.com/"))
	long := "p/" + strings.Repeat("a", 64<<10)
	_, err := s.resolve(long)
	require.NoError(t, err)
	if m := s.resolved.Load(); m != nil {
		_, kept := (*m)[long]
		assert.False(t, kept, "a 64 KiB URL was cached")
	}
	for i := range maxResolved {
		_, err := s.resolve("p" + strconv.Itoa(i))
		require.NoError(t, err)
	}
	s.resolvedMu.Lock()
	defer s.resolvedMu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := s.resolve("not-cached")
		done <- err
	}()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		s.resolvedMu.Unlock() // let the goroutine end before failing
		<-done
		s.resolvedMu.Lock()
		t.Fatal("resolve of a new URL waited for the cache's lock with the cache full")
	}
}

// A MaxWait of the largest Duration ("no cap") must not panic the random
// draw: its bound, MaxWait+1, overflowed.
func TestRetryMaxWaitLargestDuration(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MinWait: time.Duration(math.MaxInt64), MaxWait: time.Duration(math.MaxInt64)}
	for range 20 {
		w := p.backoff(1, realClock.jitter)
		assert.GreaterOrEqual(t, w, time.Duration(0))
	}
	srv, hits := flakyServer(t, nil, 503, 200)
	s := newTestSession(t, WithRetry(RetryPolicy{MaxAttempts: 2, MaxWait: time.Duration(math.MaxInt64)}))
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int64(2), hits.Load())
}

// JSON on a streamed body that fails to arrive reports why it failed (a
// timeout here), not also ErrInvalidResponse: one kind per error.
func TestStreamJSONReadErrorKeepsItsOneKind(t *testing.T) {
	t.Parallel()
	rs := stallServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":")
	s := newTestSession(t, WithTimeout(200*time.Millisecond))
	resp, err := s.Get(context.Background(), rs.URL(), Stream())
	require.NoError(t, err)
	defer resp.Close()
	var v map[string]any
	err = resp.JSON(&v)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrInvalidResponse)
}

// What a hook leaves is checked as the caller's own input is, before
// anything is sent: a Host with CR or LF is ErrInvalidHeader, a URL the
// session cannot send is ErrInvalidURL.
func TestOnRequestHookOutputChecked(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	tests := []struct {
		name string
		hook func(*http.Request) error
		want error
	}{
		{"Host with CRLF", func(r *http.Request) error { r.Host = "a\r\nX-Evil: 1"; return nil }, ErrInvalidHeader},
		{"Host with NUL", func(r *http.Request) error { r.Host = "a\x00b"; return nil }, ErrInvalidHeader},
		{"scheme not http", func(r *http.Request) error { r.URL.Scheme = "ftp"; return nil }, ErrInvalidURL},
		{"no host", func(r *http.Request) error { r.URL.Host = ""; return nil }, ErrInvalidURL},
		{"nil URL", func(r *http.Request) error { r.URL = nil; return nil }, ErrInvalidURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t)
			s.OnRequest(tt.hook)
			_, err := s.Get(context.Background(), srv.URL)
			assertRequestKind(t, err, tt.want)
		})
	}
	assert.Zero(t, srv.requests.Load(), "nothing sent")
}

// The redirect rules judge origins from where the request went: a hook
// that points it elsewhere makes that the first origin, so a same-origin
// redirect there keeps the hook's Authorization.
func TestOnRequestHookURLIsTheFirstOrigin(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	b := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/end", http.StatusFound)
			return
		}
		got.Store(r.Header.Get("Authorization"))
	})
	a := setupCountingServer(t, echoHandler)
	bu, err := url.Parse(b.URL)
	require.NoError(t, err)
	s := newTestSession(t)
	s.OnRequest(func(r *http.Request) error {
		r.URL.Host, r.Host = bu.Host, bu.Host
		r.Header.Set("Authorization", "Bearer for-b")
		return nil
	})
	resp, err := s.Get(context.Background(), a.URL+"/start")
	require.NoError(t, err)
	assert.Equal(t, b.URL+"/end", resp.URL().String())
	assert.Equal(t, "Bearer for-b", got.Load())
	assert.Zero(t, a.requests.Load())
}

// An error names the bad input it refuses, escaped: a header name or
// method with CR or LF must not write a line of its own into the caller's
// logs.
func TestErrorStringsEscapeControlBytes(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	ctx := context.Background()
	const evil = "X\r\nInjected: 1\x00"
	tests := []struct {
		name string
		do   func(s *Session) error
	}{
		{"session header name", func(s *Session) error {
			s.SetHeader(evil, "v")
			_, err := s.Get(ctx, srv.URL)
			return err
		}},
		{"request header name", func(s *Session) error {
			_, err := s.Get(ctx, srv.URL, Header(evil, "v"))
			return err
		}},
		{"method", func(s *Session) error {
			_, err := s.Request(ctx, evil, srv.URL)
			return err
		}},
		{"cookie name", func(s *Session) error {
			s.SetCookie(evil, "v")
			_, err := s.Get(ctx, srv.URL)
			return err
		}},
		{"Host of Do", func(s *Session) error {
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			require.NoError(t, err)
			req.Host = evil
			_, err = s.Do(req)
			return err
		}},
		{"option", func(*Session) error {
			_, err := NewSession(WithHeader(evil, "v"))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.do(newTestSession(t))
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "\r")
			assert.NotContains(t, err.Error(), "\n")
			assert.NotContains(t, err.Error(), "\x00")
			assert.Contains(t, err.Error(), `X\r\nInjected: 1\x00`)
		})
	}
	assert.Zero(t, srv.requests.Load())
}

// A hook's error is the caller's own: it comes back in a *RequestError as
// the hook made it, matching a kind of ours only if it already did.
func TestHookErrorsPassThroughUnchanged(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	plain := errors.New("hook says no")
	kinded := fmt.Errorf("hook refuses: %w", ErrInvalidOption)
	tests := []struct {
		name string
		opt  Option
		err  error
		kind error // nil: none of ours
	}{
		{"OnRequest", WithOnRequest(func(*http.Request) error { return plain }), plain, nil},
		{"OnResponse", WithOnResponse(func(*Response) error { return plain }), plain, nil},
		{"OnRequest with a kind", WithOnRequest(func(*http.Request) error { return kinded }), kinded, ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t, tt.opt)
			_, err := s.Get(context.Background(), srv.URL+"/?token=secret")
			var re *RequestError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.err, re.Err)
			assert.Equal(t, srv.URL+"/?token=xxxxx", re.URL)
			for name, k := range allKinds {
				if k != tt.kind {
					assert.NotErrorIs(t, err, k, name)
				}
			}
			if tt.kind != nil {
				assert.ErrorIs(t, err, tt.kind)
			}
		})
	}
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

// A request cancelled by its caller is ErrNetwork, as ErrNetwork's doc
// says, with context.Canceled in the chain.
func TestCanceledRequestIsErrCanceled(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	s := newTestSession(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Get(ctx, srv.URL)
	assertRequestKind(t, err, ErrCanceled)
	assert.NotErrorIs(t, err, ErrNetwork)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, srv.requests.Load())
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
