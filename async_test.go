package reqivo

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// patience bounds every wait in these tests; it is never reached unless
// something is broken.
const patience = 10 * time.Second

// newTestAsync returns an async session closed when the test ends.
func newTestAsync(t testing.TB, opts ...Option) *AsyncSession {
	t.Helper()
	a, err := NewAsyncSession(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// checkNoLeaks fails the test if a goroutine started during it is still
// alive once its cleanups (servers, sessions) have run. Tests using it must
// not be parallel.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// gate is a handler whose requests on /block wait until released (or
// until the client goes away); other paths answer at once.
type gate struct {
	arrived chan string   // the path of each request, as it arrives
	release chan struct{} // closed to let blocked requests answer
	once    sync.Once
	hits    sync.Map // path -> *atomic.Int64
}

func setupGate(t *testing.T) (*gate, string) {
	t.Helper()
	g := &gate{arrived: make(chan string, 4096), release: make(chan struct{})}
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := g.hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		g.arrived <- r.URL.Path
		if strings.HasPrefix(r.URL.Path, "/block") {
			select {
			case <-g.release:
			case <-r.Context().Done():
				return
			case <-time.After(patience): // only when a test fails
			}
		}
		_, _ = io.WriteString(w, r.URL.Path)
	})
	t.Cleanup(g.open) // before srv.Close, which waits for handlers
	return g, srv.URL
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) count(path string) int64 {
	n, ok := g.hits.Load(path)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// awaitArrival waits until a request for path reaches the server.
func (g *gate) awaitArrival(t *testing.T, path string) {
	t.Helper()
	timeout := time.After(patience)
	for {
		select {
		case p := <-g.arrived:
			if p == path {
				return
			}
		case <-timeout:
			t.Fatalf("no request for %s reached the server", path)
		}
	}
}

// await waits for f, failing the test if it does not resolve.
func await(t *testing.T, f *Future) (*Response, error) {
	t.Helper()
	select {
	case <-f.Done():
		return f.Wait()
	case <-time.After(patience):
		t.Fatal("future did not resolve")
		return nil, nil
	}
}

func queued(a *AsyncSession) (running, waiting int) {
	waiting = a.slots.waiting()
	a.slots.mu.Lock()
	defer a.slots.mu.Unlock()
	return a.slots.busy, waiting
}

func TestAsyncThousandFutures(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, r.URL.Query().Get("i"))
	})
	a := newTestAsync(t, WithBaseURL(srv.URL))
	fs := make([]*Future, 1000)
	for i := range fs {
		fs[i] = a.Get(context.Background(), "/", Query("i", strconv.Itoa(i)))
	}
	rs, err := Gather(context.Background(), fs...)
	require.NoError(t, err)
	require.Len(t, rs, len(fs))
	for i, r := range rs {
		require.NotNil(t, r, i)
		assert.Equal(t, strconv.Itoa(i), r.Text())
	}
	assert.Equal(t, int64(1000), hits.Load())
	assert.Equal(t, int64(1000), a.Stats().Requests)
	require.NoError(t, a.Close())
	for _, f := range fs {
		r, err := f.Wait()
		assert.NoError(t, err)
		assert.NotNil(t, r)
	}
}

func TestAsyncBoundOnRequestsInFlight(t *testing.T) {
	t.Parallel()
	for _, bound := range []int{1, 3, 16, DefaultMaxConcurrency} {
		t.Run(strconv.Itoa(bound), func(t *testing.T) {
			t.Parallel()
			var cur, peak atomic.Int64
			full := make(chan struct{}) // closed once bound requests are in
			var fullOnce sync.Once
			srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
				n := cur.Add(1)
				defer cur.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				if n >= int64(bound) {
					fullOnce.Do(func() { close(full) })
				}
				// The first requests wait for the bound to fill, so that a
				// session letting more through would show it here.
				select {
				case <-full:
				case <-time.After(patience):
				}
			})
			opts := []Option{WithBaseURL(srv.URL)}
			if bound != DefaultMaxConcurrency {
				opts = append(opts, WithMaxConcurrency(bound))
			}
			a := newTestAsync(t, opts...)
			assert.Equal(t, bound, a.MaxConcurrency())
			fs := make([]*Future, 4*bound+10)
			for i := range fs {
				fs[i] = a.Get(context.Background(), "/")
				running, _ := queued(a)
				assert.LessOrEqual(t, running, bound)
			}
			_, err := Gather(context.Background(), fs...)
			require.NoError(t, err)
			assert.Equal(t, int64(bound), peak.Load(), "peak in flight at the server")
		})
	}
}

func TestAsyncQueuedRequestsHoldNoGoroutine(t *testing.T) {
	checkNoLeaks(t)
	g, url := setupGate(t)
	a := newTestAsync(t, WithBaseURL(url), WithMaxConcurrency(2))
	blocked := []*Future{a.Get(context.Background(), "/block"), a.Get(context.Background(), "/block")}
	g.awaitArrival(t, "/block")
	g.awaitArrival(t, "/block")
	n0 := runtime.NumGoroutine()
	fs := make([]*Future, 1000)
	for i := range fs {
		fs[i] = a.Get(context.Background(), "/x")
	}
	running, waiting := queued(a)
	assert.Equal(t, 2, running)
	assert.Equal(t, 1000, waiting)
	assert.Less(t, runtime.NumGoroutine()-n0, 100, "goroutines grew with the line")
	g.open()
	_, err := Gather(context.Background(), append(fs, blocked...)...)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), g.count("/x"))
}

func TestAsyncCancelQueued(t *testing.T) {
	checkNoLeaks(t)
	tests := []struct {
		name      string
		ctx       func() (context.Context, context.CancelFunc)
		cancelNow bool // cancel once queued
		kind      error
		want      error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			true, ErrCanceled, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, false, ErrTimeout, context.DeadlineExceeded},
		{"already done", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, false, ErrCanceled, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, url := setupGate(t)
			a := newTestAsync(t, WithBaseURL(url), WithMaxConcurrency(1))
			first := a.Get(context.Background(), "/block")
			g.awaitArrival(t, "/block")
			ctx, cancel := tt.ctx()
			defer cancel()
			body := &closeRecorder{Reader: strings.NewReader("data")}
			f := a.Post(ctx, "/queued?token=secret", Body(body))
			after := a.Get(context.Background(), "/after")
			if tt.cancelNow {
				cancel()
			}
			resp, err := await(t, f)
			assert.Nil(t, resp)
			assert.ErrorIs(t, err, tt.kind)
			assert.ErrorIs(t, err, tt.want)
			var re *RequestError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, http.MethodPost, re.Method)
			assert.Equal(t, url+"/queued?token=xxxxx", re.URL)
			assert.True(t, body.closed.Load(), "request body closed")
			select {
			case <-first.Done():
				t.Fatal("the running request resolved before it was released")
			default:
			}
			g.open()
			_, err = Gather(context.Background(), first, after)
			require.NoError(t, err)
			assert.Zero(t, g.count("/queued"), "a cancelled queued request reached the server")
			assert.Equal(t, int64(1), g.count("/after"))
		})
	}
}

func TestAsyncCancelRunning(t *testing.T) {
	checkNoLeaks(t)
	g, url := setupGate(t)
	a := newTestAsync(t, WithBaseURL(url))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := a.Get(ctx, "/block")
	g.awaitArrival(t, "/block")
	cancel()
	resp, err := await(t, f)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, a.Close())
}

func TestAsyncCloseWaitsForQueued(t *testing.T) {
	checkNoLeaks(t)
	g, url := setupGate(t)
	a := newTestAsync(t, WithBaseURL(url), WithMaxConcurrency(1))
	fs := []*Future{a.Get(context.Background(), "/block")}
	g.awaitArrival(t, "/block")
	for range 5 {
		fs = append(fs, a.Get(context.Background(), "/queued"))
	}
	closed := make(chan error, 2)
	go func() { closed <- a.Close() }()
	go func() { closed <- a.Close() }()
	require.Eventually(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.closing
	}, patience, time.Millisecond)

	late := &closeRecorder{Reader: strings.NewReader("late")}
	resp, err := await(t, a.Put(context.Background(), "/late", Body(late)))
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, ErrClosed)
	assert.True(t, late.closed.Load(), "refused request's body closed")
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with requests in flight", err)
	default:
	}
	for _, f := range fs {
		select {
		case <-f.Done():
			t.Fatal("a request resolved before the running one was released")
		default:
		}
	}

	g.open()
	for range 2 {
		select {
		case err := <-closed:
			assert.NoError(t, err)
		case <-time.After(patience):
			t.Fatal("Close did not return")
		}
	}
	for _, f := range fs {
		select {
		case <-f.Done():
		default:
			t.Fatal("Close returned before every accepted request resolved")
		}
		r, err := f.Wait()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, r.StatusCode)
	}
	assert.Equal(t, int64(5), g.count("/queued"))
	assert.Zero(t, g.count("/late"))
	assert.NoError(t, a.Close(), "third Close")
	assert.NoError(t, a.Session.Close(), "the Session is closed: Close again is nil")
	_, err = a.Session.Get(context.Background(), "/x")
	assert.ErrorIs(t, err, ErrClosed)
}

func TestAsyncCloseAfterSessionClose(t *testing.T) {
	t.Parallel()
	a := newTestAsync(t)
	require.NoError(t, a.Session.Close())
	assert.NoError(t, a.Close())
	_, err := a.Get(context.Background(), "http://127.0.0.1:1/").Wait()
	assert.ErrorIs(t, err, ErrClosed)
}

func TestAsyncWaitFromManyGoroutines(t *testing.T) {
	t.Parallel()
	g, url := setupGate(t)
	a := newTestAsync(t, WithBaseURL(url))
	f := a.Get(context.Background(), "/block")
	var wg sync.WaitGroup
	got := make([]*Response, 100)
	for i := range got {
		wg.Go(func() {
			r, err := f.Wait()
			assert.NoError(t, err)
			got[i] = r
		})
	}
	g.awaitArrival(t, "/block")
	g.open()
	wg.Wait()
	first, err := f.Wait()
	require.NoError(t, err)
	require.NotNil(t, first)
	assert.Equal(t, "/block", first.Text())
	for _, r := range got {
		assert.Same(t, first, r)
	}
	assert.Equal(t, int64(1), g.count("/block"))
}

func TestGatherOrderAndErrors(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("i") == "0" {
			time.Sleep(10 * time.Millisecond) // the first finishes last
		}
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, r.URL.Query().Get("i"))
	})
	refused := "http://" + closedAddr(t) + "/"

	a := newTestAsync(t, WithBaseURL(srv.URL), WithMaxConcurrency(2))
	fs := []*Future{
		a.Get(context.Background(), "/?i=0"),
		a.Get(context.Background(), "ftp://127.0.0.1/"),
		a.Get(context.Background(), "/?i=2"),
		a.Get(context.Background(), refused),
		a.Get(context.Background(), "/?i=4"),
	}
	rs, err := Gather(context.Background(), fs...)
	require.Len(t, rs, 5)
	for _, i := range []int{0, 2, 4} {
		require.NotNil(t, rs[i], i)
		assert.Equal(t, strconv.Itoa(i), rs[i].Text())
		assert.Equal(t, http.StatusTeapot, rs[i].StatusCode, "a status is a result, not a failure")
	}
	assert.Nil(t, rs[1])
	assert.Nil(t, rs[3])
	assert.ErrorIs(t, err, ErrInvalidURL)
	assert.ErrorIs(t, err, ErrNetwork)
	joined, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "errors.Join of the failures")
	errs := joined.Unwrap()
	require.Len(t, errs, 2)
	assert.ErrorIs(t, errs[0], ErrInvalidURL, "failures in order")
	assert.ErrorIs(t, errs[1], ErrNetwork)

	rs, err = Gather(context.Background(), fs[0], fs[2])
	assert.NoError(t, err)
	assert.Len(t, rs, 2)
	rs, err = Gather(context.Background())
	assert.NoError(t, err)
	assert.Empty(t, rs)
}

func TestGatherContextEnds(t *testing.T) {
	checkNoLeaks(t)
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want []error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, []error{ErrTimeout, context.DeadlineExceeded}},
		{"expired", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}, []error{ErrTimeout, context.DeadlineExceeded}},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, []error{context.Canceled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, url := setupGate(t)
			a := newTestAsync(t, WithBaseURL(url))
			done := a.Get(context.Background(), "/done")
			_, err := await(t, done)
			require.NoError(t, err)
			failed := a.Get(context.Background(), "ftp://127.0.0.1/")
			_, err = await(t, failed)
			require.Error(t, err)
			reqCtx, cancelReq := context.WithCancel(context.Background())
			defer cancelReq()
			blocked := a.Get(reqCtx, "/block")
			g.awaitArrival(t, "/block")
			ctx, cancel := tt.ctx()
			defer cancel()

			rs, err := Gather(ctx, done, blocked, failed)
			require.Len(t, rs, 3)
			assert.NotNil(t, rs[0])
			assert.Nil(t, rs[1])
			assert.Nil(t, rs[2])
			for _, want := range tt.want {
				assert.ErrorIs(t, err, want)
			}
			assert.ErrorIs(t, err, ErrInvalidURL, "failures resolved by then are reported")
			assert.Contains(t, err.Error(), "1 of 3 futures unresolved")

			cancelReq() // the request goes on under its own context
			_, err = await(t, blocked)
			assert.ErrorIs(t, err, context.Canceled)
		})
	}
}

func TestAsyncBadInput(t *testing.T) {
	t.Parallel()
	_, err := NewAsyncSession(WithMaxConcurrency(0))
	assert.ErrorIs(t, err, ErrInvalidOption)
	_, err = NewAsyncSession(WithBaseURL("ftp://x"))
	assert.ErrorIs(t, err, ErrInvalidURL)

	a := newTestAsync(t)
	var nilCtx context.Context
	_, err = await(t, a.Get(nilCtx, "http://127.0.0.1:1/"))
	assert.ErrorIs(t, err, ErrInvalidOption)
	_, err = await(t, a.Request(context.Background(), "BAD METHOD", "http://127.0.0.1:1/"))
	assert.ErrorIs(t, err, ErrInvalidOption)

	_, err = Gather(nilCtx)
	assert.ErrorIs(t, err, ErrInvalidOption)
	rs, err := Gather(context.Background(), nil, &Future{})
	assert.Equal(t, []*Response{nil, nil}, rs)
	assert.ErrorIs(t, err, ErrInvalidOption)

	var zero Future
	_, err = zero.Wait()
	assert.ErrorIs(t, err, ErrInvalidOption)
	var nilF *Future
	_, err = nilF.Wait()
	assert.ErrorIs(t, err, ErrInvalidOption)
	select {
	case <-zero.Done():
	default:
		t.Fatal("zero Future's Done is not closed")
	}
}

func TestAsyncSharesSessionState(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	a := newTestAsync(t, WithBaseURL(bin.URL))
	a.SetHeader("X-Async", "yes")
	a.SetBasicAuth("u", "p")
	a.SetCookie("c", "v")
	var hooks atomic.Int64
	a.OnRequest(func(*http.Request) error { hooks.Add(1); return nil })
	a.OnResponse(func(*Response) error { hooks.Add(1); return nil })
	hookErr := errors.New("hook says no")

	fs := []*Future{
		a.Get(context.Background(), "/basic-auth/u/p"),
		a.Get(context.Background(), "/headers"),
		a.Get(context.Background(), "/cookies"),
		a.Post(context.Background(), "/post", JSON(map[string]int{"n": 1})),
		a.Put(context.Background(), "/put", BodyString("x")),
		a.Patch(context.Background(), "/patch"),
		a.Delete(context.Background(), "/delete"),
		a.Head(context.Background(), "/get"),
		a.Options(context.Background(), "/get"),
	}
	rs, err := Gather(context.Background(), fs...)
	require.NoError(t, err)
	for _, r := range rs {
		assert.Equal(t, http.StatusOK, r.StatusCode, r.Request.Method+" "+r.Request.URL.Path)
	}
	assert.Contains(t, rs[1].Text(), `"X-Async"`)
	assert.Contains(t, rs[2].Text(), `"c": "v"`)
	assert.Contains(t, rs[3].Text(), `"n": 1`)
	assert.Equal(t, int64(2*len(fs)), hooks.Load())
	assert.Equal(t, int64(len(fs)), a.Stats().Requests)

	a.OnRequest(func(*http.Request) error { return hookErr })
	_, err = await(t, a.Get(context.Background(), "/get"))
	assert.ErrorIs(t, err, hookErr)
}

func TestAsyncCloseWaitsForCancelledInLine(t *testing.T) {
	checkNoLeaks(t)
	g, url := setupGate(t)
	a := newTestAsync(t, WithBaseURL(url), WithMaxConcurrency(1))
	first := a.Get(context.Background(), "/block")
	g.awaitArrival(t, "/block")
	ctx, cancel := context.WithCancel(context.Background())
	fs := make([]*Future, 500)
	for i := range fs {
		fs[i] = a.Get(ctx, "/queued")
	}
	cancel() // the line empties from the context's goroutines...
	g.open()
	require.NoError(t, a.Close()) // ...while Close waits
	for _, f := range append(fs, first) {
		select {
		case <-f.Done():
		default:
			t.Fatal("Close returned before every accepted request resolved")
		}
	}
	for _, f := range fs {
		_, err := f.Wait()
		assert.ErrorIs(t, err, context.Canceled)
	}
}

// A context that has ended does not make Gather fail when every future has
// resolved already: it had nothing left to wait for.
func TestGatherResolvedBeforeContextEnds(t *testing.T) {
	t.Parallel()
	_, url := setupGate(t)
	a := newTestAsync(t, WithBaseURL(url))
	fs := []*Future{a.Get(context.Background(), "/a"), a.Get(context.Background(), "/b")}
	for _, f := range fs {
		_, err := await(t, f)
		require.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 200 { // select would pick the done context half the time
		rs, err := Gather(ctx, fs...)
		require.NoError(t, err)
		require.Len(t, rs, 2)
		assert.NotNil(t, rs[0])
		assert.NotNil(t, rs[1])
	}
}

// An AsyncSession not made by NewAsyncSession refuses requests at once,
// and closing it neither panics nor blocks.
func TestAsyncZeroValue(t *testing.T) {
	t.Parallel()
	s := newTestSession(t)
	for _, tt := range []struct {
		name string
		a    *AsyncSession
	}{
		{"zero", &AsyncSession{}},
		{"literal around a session", &AsyncSession{Session: s}},
		{"nil", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := &trackedReader{Reader: strings.NewReader("x")}
			var nilCtx context.Context
			for _, f := range []*Future{
				tt.a.Get(context.Background(), "http://127.0.0.1:1/"),
				tt.a.Post(context.Background(), "http://127.0.0.1:1/", Body(body)),
				tt.a.Get(nilCtx, "http://127.0.0.1:1/"),
			} {
				_, err := await(t, f)
				assert.ErrorIs(t, err, ErrInvalidOption)
				var re *RequestError
				assert.ErrorAs(t, err, &re)
			}
			assert.True(t, body.closed.Load(), "the refused request's body is closed")
			assert.ErrorIs(t, tt.a.Close(), ErrInvalidOption)
		})
	}
}

// Every request an AsyncSession sends counts against the bound: its Do,
// Download, WebSocket and HTTPClient wait in line with the futures.
func TestAsyncBlockingCallsCountAgainstTheBound(t *testing.T) {
	t.Parallel()
	calls := map[string]func(a *AsyncSession, base string) error{
		"Do": func(a *AsyncSession, base string) error {
			req, err := http.NewRequest(http.MethodGet, base+"/do", nil)
			if err != nil {
				return err
			}
			resp, err := a.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
		},
		"HTTPClient": func(a *AsyncSession, base string) error {
			resp, err := a.HTTPClient().Get(base + "/do")
			if err == nil {
				resp.Body.Close()
			}
			return err
		},
		"Download": func(a *AsyncSession, base string) error {
			_, err := a.Download(context.Background(), base+"/do", t.TempDir()+"/f")
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g, base := setupGate(t)
			a := newTestAsync(t, WithMaxConcurrency(1))
			f := a.Get(context.Background(), base+"/block")
			g.awaitArrival(t, "/block")
			done := make(chan error, 1)
			go func() { done <- call(a, base) }()
			select {
			case err := <-done:
				t.Fatalf("%s ran beside a running future (err %v)", name, err)
			case <-time.After(50 * time.Millisecond):
			}
			assert.Zero(t, g.count("/do"), "not sent while the only slot is taken")
			g.open()
			_, err := await(t, f)
			require.NoError(t, err)
			require.NoError(t, <-done)
			assert.EqualValues(t, 1, g.count("/do"))
		})
	}
}
