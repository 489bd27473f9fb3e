package reqivo

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSessionHeaders(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL), WithHeader("X-Opt", "o"))
	assert.Equal(t, DefaultUserAgent, s.Header().Get("User-Agent"))

	s.SetHeader("x-set", "1")
	s.SetHeader("X-Set", "2") // replaces
	s.SetHeader("User-Agent", "mine/1")
	h := s.Header()
	assert.Equal(t, []string{"2"}, h["X-Set"])
	h.Set("X-Set", "mutated")
	h.Set("X-New", "n")
	assert.Equal(t, "2", s.Header().Get("X-Set"), "Header returns a copy")
	assert.Empty(t, s.Header().Get("X-New"))

	e := getEcho(t, s, "/")
	assert.Equal(t, "2", e.Header.Get("X-Set"))
	assert.Equal(t, "o", e.Header.Get("X-Opt"))
	assert.Equal(t, "mine/1", e.Header.Get("User-Agent"))
	assert.Empty(t, e.Header.Get("X-New"))

	s.DelHeader("x-set")
	s.DelHeader("X-Opt")
	e = getEcho(t, s, "/")
	assert.Empty(t, e.Header.Get("X-Set"))
	assert.Empty(t, e.Header.Get("X-Opt"))
	assert.NotContains(t, s.Header(), "X-Set")
}

func TestSessionAuthSwitching(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL))
	get := func() string {
		t.Helper()
		return getEcho(t, s, "/").Header.Get("Authorization")
	}
	assert.Empty(t, get())
	s.SetBasicAuth("alice", "s3cret")
	assert.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:s3cret")), get())
	s.SetBearerToken("tok")
	assert.Equal(t, "Bearer tok", get(), "bearer replaces basic")
	s.SetBasicAuth("bob", "")
	assert.Equal(t, basicAuthHeader("bob", ""), get(), "basic replaces bearer")
	s.ClearAuth()
	assert.Empty(t, get())

	// Options set auth too; the last one given wins.
	s2 := newTestSession(t, WithBaseURL(srv.URL), WithBasicAuth("u", "p"), WithBearerToken("t2"))
	assert.Equal(t, "Bearer t2", getEcho(t, s2, "/").Header.Get("Authorization"))
	s3 := newTestSession(t, WithBaseURL(srv.URL), WithBearerToken("t2"), WithBasicAuth("u", "p"))
	assert.Equal(t, basicAuthHeader("u", "p"), getEcho(t, s3, "/").Header.Get("Authorization"))
}

func TestSessionAuthInvalid(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL))
	bad := []struct {
		name   string
		set    func()
		kind   error
		setter string
	}{
		{"user with colon", func() { s.SetBasicAuth("a:b", "p") }, ErrInvalidOption, "SetBasicAuth"},
		{"password with LF", func() { s.SetBasicAuth("a", "p\nX: 1") }, ErrInvalidHeader, "SetBasicAuth"},
		{"user with NUL", func() { s.SetBasicAuth("a\x00", "p") }, ErrInvalidHeader, "SetBasicAuth"},
		{"empty bearer", func() { s.SetBearerToken("") }, ErrInvalidOption, "SetBearerToken"},
		{"bearer with space", func() { s.SetBearerToken("a b") }, ErrInvalidOption, "SetBearerToken"},
		{"bearer with CRLF", func() { s.SetBearerToken("a\r\nX: 1") }, ErrInvalidHeader, "SetBearerToken"},
		{"cookie with LF", func() { s.SetCookie("c", "v\nX") }, ErrInvalidHeader, "SetCookie"},
		{"header with CR", func() { s.SetHeader("X-A", "v\r") }, ErrInvalidHeader, "SetHeader"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			s.SetBearerToken("good")
			tt.set()
			_, err := s.Get(context.Background(), "/")
			assertRequestKind(t, err, tt.kind)
			assert.Contains(t, err.Error(), tt.setter, "the error names the setter")
			s.SetCookie("c", "")
			s.DelHeader("X-A")
		})
	}
	// The most recent bad setting is the one reported.
	s.SetHeader("X-B", "bad\n")
	s.SetBearerToken("bad\x00")
	_, err := s.Get(context.Background(), "/")
	assert.ErrorContains(t, err, "SetBearerToken")
	s.SetBearerToken("good")
	_, err = s.Get(context.Background(), "/")
	assert.ErrorContains(t, err, "SetHeader", "the older one is still in force")
	s.DelHeader("X-B")
	assert.Zero(t, srv.requests.Load(), "nothing sent with bad auth")
	s.ClearAuth()
	e := getEcho(t, s, "/")
	assert.Empty(t, e.Header.Get("Authorization"), "ClearAuth clears a bad setting")
	s.SetBearerToken("a b")
	s.SetBearerToken("fine")
	e = getEcho(t, s, "/")
	assert.Equal(t, "Bearer fine", e.Header.Get("Authorization"), "setting it again clears a bad setting")
}

func TestCredentialsScope(t *testing.T) {
	t.Parallel()
	a := setupServer(t, echoHandler)
	b := setupServer(t, echoHandler)
	withBase := newTestSession(t, WithBaseURL(a.URL), WithBearerToken("tok"))
	e := getEcho(t, withBase, a.URL+"/abs")
	assert.Equal(t, "Bearer tok", e.Header.Get("Authorization"), "absolute URL on the base origin")
	e = getEcho(t, withBase, b.URL+"/abs")
	assert.Empty(t, e.Header.Get("Authorization"), "another origin")

	noBase := newTestSession(t, WithBearerToken("tok"))
	for _, srv := range []string{a.URL, b.URL} {
		e = getEcho(t, noBase, srv)
		assert.Equal(t, "Bearer tok", e.Header.Get("Authorization"), "no base URL: each host the caller asks for")
	}
}

func TestMergeOrder(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL), WithBearerToken("session"), WithHeader("X-Both", "session"), WithHeader("X-Session", "s"))
	s.SetCookie("m", "1")
	var seen http.Header
	s.OnRequest(func(r *http.Request) error {
		seen = r.Header.Clone()
		r.Header.Set("X-Hook", "h")
		return nil
	})

	e := getEcho(t, s, "/", Header("X-Both", "request"), Header("Authorization", "Bearer request"))
	assert.Equal(t, "request", e.Header.Get("X-Both"), "per-request header replaces the session's")
	assert.Equal(t, "s", e.Header.Get("X-Session"))
	assert.Equal(t, "Bearer request", e.Header.Get("Authorization"), "per-request Authorization wins")
	assert.Equal(t, "m=1", e.Header.Get("Cookie"))
	assert.Equal(t, "h", e.Header.Get("X-Hook"), "hooks run last and may change the request")
	// The hook saw everything merged before it.
	assert.Equal(t, "request", seen.Get("X-Both"))
	assert.Equal(t, "Bearer request", seen.Get("Authorization"))
	assert.Equal(t, "m=1", seen.Get("Cookie"))

	e = getEcho(t, s, "/")
	assert.Equal(t, "Bearer session", e.Header.Get("Authorization"))
	assert.Equal(t, "session", e.Header.Get("X-Both"))

	// A per-request Cookie header goes first, then the session's.
	e = getEcho(t, s, "/", Header("Cookie", "own=2"))
	assert.Equal(t, "own=2; m=1", e.Header.Get("Cookie"))
}

func TestHooksFIFOOncePerRequest(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	var order []string
	var mu sync.Mutex
	rec := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	s := newTestSession(t, WithBaseURL(bin.URL),
		WithOnRequest(func(*http.Request) error { rec("optReq"); return nil }),
		WithOnResponse(func(*Response) error { rec("optResp"); return nil }))
	s.OnRequest(func(*http.Request) error { rec("req1"); return nil })
	s.OnRequest(func(*http.Request) error { rec("req2"); return nil })
	s.OnResponse(func(r *Response) error {
		rec("resp1 " + strconv.Itoa(r.StatusCode) + " " + strconv.Itoa(len(r.History())))
		return nil
	})
	s.OnResponse(func(*Response) error { rec("resp2"); return nil })
	s.OnRequest(nil) // ignored
	s.OnResponse(nil)

	resp, err := s.Get(context.Background(), "/redirect/3")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, []string{"optReq", "req1", "req2", "optResp", "resp1 200 3", "resp2"}, order)
	assert.EqualValues(t, 4, s.Stats().Requests)
}

func TestOnRequestErrorStopsRequest(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	hookErr := errors.New("hook says no")
	var second atomic.Bool
	s := newTestSession(t, WithBaseURL(srv.URL))
	s.OnRequest(func(*http.Request) error { return hookErr })
	s.OnRequest(func(*http.Request) error { second.Store(true); return nil })
	body := &closeRecorder{Reader: strings.NewReader("x")}
	_, err := s.Post(context.Background(), "/", Body(body))
	assert.ErrorIs(t, err, hookErr)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.MethodPost, re.Method)
	assert.False(t, second.Load(), "later hooks do not run")
	assert.True(t, body.closed.Load(), "the request body is closed")
	assert.Zero(t, srv.conns.Load(), "nothing sent")
}

func TestOnResponseErrorIsReturned(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	hookErr := errors.New("bad response")
	s := newTestSession(t, WithBaseURL(srv.URL))
	var second atomic.Bool
	s.OnResponse(func(r *Response) error { return hookErr })
	s.OnResponse(func(*Response) error { second.Store(true); return nil })
	resp, err := s.Get(context.Background(), "/")
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, hookErr)
	var re *RequestError
	assert.ErrorAs(t, err, &re)
	assert.False(t, second.Load())
}

// TestConcurrentStateSnapshots runs 32 goroutines on one session while
// another keeps changing its headers, auth and cookies: every request the
// server sees must carry one consistent snapshot.
func TestConcurrentStateSnapshots(t *testing.T) {
	// Not parallel: 640 requests from 32 goroutines load both cores, and
	// other tests' generous deadlines should not compete with them.
	type seen struct{ auth, a, b, cookie string }
	var mu sync.Mutex
	var all []seen
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		all = append(all, seen{r.Header.Get("Authorization"), r.Header.Get("X-A"), r.Header.Get("X-B"), r.Header.Get("Cookie")})
		mu.Unlock()
	})
	s := newTestSession(t, WithBaseURL(srv.URL))
	s.SetBasicAuth("u0", "p0")
	s.SetHeader("X-A", "0")
	s.SetHeader("X-B", "0")

	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n := strconv.Itoa(i)
			// X-A is always set before X-B, so a snapshot has B == A or
			// B == A-1, never anything else.
			s.SetHeader("X-A", n)
			s.SetHeader("X-B", n)
			if i%2 == 0 {
				s.SetBasicAuth("u"+n, "p"+n)
			} else {
				s.SetBearerToken("t" + n)
			}
			s.SetCookie("c", n)
			if i%7 == 0 {
				s.ClearAuth()
			}
			_ = s.Header()
			_ = s.Cookies("")
		}
	}()

	const workers, perWorker = 32, 20
	hammer(t, workers, perWorker, func() error {
		resp, err := s.Get(context.Background(), "/")
		if err != nil {
			return err
		}
		return resp.Close()
	})
	close(stop)
	writer.Wait()

	require.Len(t, all, workers*perWorker)
	for _, v := range all {
		a, errA := strconv.Atoi(v.a)
		b, errB := strconv.Atoi(v.b)
		require.NoError(t, errA)
		require.NoError(t, errB)
		assert.Contains(t, []int{0, 1}, a-b, "X-A=%d X-B=%d", a, b)
		switch {
		case v.auth == "":
		case strings.HasPrefix(v.auth, "Bearer "):
			assert.NotContains(t, v.auth, "Basic")
			assert.Regexp(t, `^Bearer t\d+$`, v.auth)
		case strings.HasPrefix(v.auth, "Basic "):
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v.auth, "Basic "))
			require.NoError(t, err)
			user, pass, ok := strings.Cut(string(raw), ":")
			require.True(t, ok)
			assert.Equal(t, strings.TrimPrefix(user, "u"), strings.TrimPrefix(pass, "p"), "user and password set together")
		default:
			t.Errorf("unexpected Authorization %q", v.auth)
		}
		assert.Regexp(t, `^(c=\d+)?$`, v.cookie, "one manual cookie at most")
	}
}

// getEcho GETs u and decodes the echo, failing the test on error.
func getEcho(t testing.TB, s *Session, u string, opts ...RequestOption) echoed {
	t.Helper()
	resp, err := s.Get(context.Background(), u, opts...)
	require.NoError(t, err)
	return decodeEcho(t, resp)
}
