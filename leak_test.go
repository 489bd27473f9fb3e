package reqivo

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// connCounter counts a server's connections by the states they reach.
type connCounter struct {
	opened, closed, hijacked atomic.Int64
}

func (c *connCounter) track(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		c.opened.Add(1)
	case http.StateClosed:
		c.closed.Add(1)
	case http.StateHijacked:
		c.hijacked.Add(1)
	}
}

func (c *connCounter) open() int64 { return c.opened.Load() - c.closed.Load() - c.hijacked.Load() }

// TestNoLeaksAfterMixedLoad sends 1,000 requests over four sessions:
// successes, redirects, server errors, refused connections, malformed and
// oversized bodies, cancellations, timeouts, streams abandoned half read
// and streams never closed, with one session closed while its requests are
// in flight. Then every connection must be closed at the server, and the
// goroutine count back to where it was. It is not parallel: goleak
// compares the whole process.
func TestNoLeaksAfterMixedLoad(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	var conns connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/ok":
			_, _ = io.WriteString(w, "ok")
		case "/go":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/fail":
			w.WriteHeader(500)
		case "/big":
			_, _ = w.Write(make([]byte, 256<<10))
		case "/stream":
			for range 64 {
				if _, err := w.Write(make([]byte, 4096)); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case "/malformed":
			c, bw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
			_ = bw.Flush()
			c.Close()
		}
	}))
	srv.Config.ConnState = conns.track
	srv.Start()
	defer srv.Close()

	refused := "http://" + closedAddr(t) + "/"

	var outcomes sync.Map // kind name -> *atomic.Int64
	count := func(name string) {
		v, _ := outcomes.LoadOrStore(name, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	var sessions []*Session
	one := func(s *Session, i int) {
		ctx := context.Background()
		var resp *Response
		var err error
		switch i % 10 {
		case 0:
			resp, err = s.Get(ctx, "/ok")
		case 1:
			resp, err = s.Get(ctx, "/go")
		case 2:
			resp, err = s.Post(ctx, "/fail", BodyString("payload"))
		case 3:
			resp, err = s.Get(ctx, refused)
		case 4:
			resp, err = s.Get(ctx, "/malformed")
		case 5:
			resp, err = s.Get(ctx, "/big") // over the session's 64 KiB cap
		case 6:
			c, cancel := context.WithCancel(ctx)
			time.AfterFunc(5*time.Millisecond, cancel)
			resp, err = s.Get(c, "/slow")
			cancel()
		case 7:
			resp, err = s.Get(ctx, "/slow", Timeout(20*time.Millisecond))
		case 8:
			// Abandoned half read.
			resp, err = s.Get(ctx, "/stream", Stream())
			if err == nil {
				_, _ = io.CopyN(io.Discard, resp.Body, 1000)
				_ = resp.Close()
			}
		case 9:
			// Never closed: the request's deadline reclaims it.
			resp, err = s.Get(ctx, "/stream", Stream(), Timeout(50*time.Millisecond))
			if err == nil {
				_, _ = io.CopyN(io.Discard, resp.Body, 100)
				resp = nil
			}
		}
		switch {
		case err == nil && resp != nil:
			count("ok " + resp.Status)
		case err == nil:
			count("abandoned")
		case errors.Is(err, ErrClosed):
			count("closed")
		case errors.Is(err, ErrTimeout):
			count("timeout")
		case errors.Is(err, ErrBodyTooLarge):
			count("too large")
		case errors.Is(err, ErrInvalidResponse):
			count("invalid")
		case errors.Is(err, context.Canceled):
			count("cancelled")
		case errors.Is(err, ErrNetwork):
			count("network")
		default:
			t.Errorf("request %d: unexpected error %v", i, err)
		}
	}

	const perSession, workers = 250, 16
	for round := range 4 {
		s, err := NewSession(WithBaseURL(srv.URL), WithLimits(Limits{MaxResponseBytes: 64 << 10}))
		require.NoError(t, err)
		sessions = append(sessions, s)
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					one(s, i)
				}
			}()
		}
		for i := range perSession {
			if round == 3 && i == perSession*4/5 {
				// Closed with requests in flight.
				go func() { _ = s.Close() }()
			}
			jobs <- round*perSession + i
		}
		close(jobs)
		wg.Wait()
		_ = s.Close()
		assert.NoError(t, s.Close(), "Close is idempotent")
	}

	outcomes.Range(func(k, v any) bool {
		t.Logf("%-16s %d", k, v.(*atomic.Int64).Load())
		return true
	})
	// Every connection the sessions opened is closed at the server, before
	// the server itself closes anything: the streams never closed by hand
	// are closed when their deadline passes.
	assert.Eventually(t, func() bool { return conns.open() == 0 }, 15*time.Second, 10*time.Millisecond,
		"connections still open at the server: %d", conns.open())
	// Every connection the sessions counted reached the server. (The
	// server may see a few more: a dial cancelled just as the TCP
	// handshake completed fails at the client, which closes it.) A dial
	// abandoned by a cancelled request may finish after the request
	// returned: count once everything is closed.
	var dialed int64
	for _, s := range sessions {
		dialed += s.Stats().ConnsOpened
	}
	assert.LessOrEqual(t, dialed, conns.opened.Load())
	assert.Positive(t, dialed)
	t.Logf("connections: %d opened, %d closed, %d hijacked", conns.opened.Load(), conns.closed.Load(), conns.hijacked.Load())
	assert.Greater(t, conns.opened.Load(), int64(1), "sanity: the load used connections")
	assert.Less(t, conns.opened.Load(), int64(1000), "sanity: connections were reused")
}

// TestStreamClosedEarlyReleasesConnection checks one abandoned stream in
// isolation: Close on a half-read stream closes (not pools) the
// connection, and nothing is left behind.
func TestStreamClosedEarlyReleasesConnection(t *testing.T) {
	t.Parallel()
	var conns connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 1<<20))
	}))
	srv.Config.ConnState = conns.track
	srv.Start()
	t.Cleanup(srv.Close)
	s := newTestSession(t, WithTimeout(0))
	resp, err := s.Get(context.Background(), srv.URL, Stream())
	require.NoError(t, err)
	buf := make([]byte, 10)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	require.NoError(t, resp.Close())
	require.NoError(t, resp.Close(), "Close is safe twice")
	assert.Eventually(t, func() bool { return conns.closed.Load() == 1 }, 10*time.Second, 5*time.Millisecond)
}
