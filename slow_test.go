package reqivo

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Bounds for the slow-server tests: timeouts are set in the hundreds of
// milliseconds, and a request must end well within `generous` of them. No
// test asserts that anything is fast, only that nothing waits for ever.
const (
	shortTimeout = 300 * time.Millisecond
	generous     = 20 * time.Second
)

// trickle writes s one byte every interval until it is all written, the
// client goes away, or the test ends.
func trickle(c net.Conn, s string, interval time.Duration, stop <-chan struct{}) {
	for i := 0; i < len(s); i++ {
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
		select {
		case <-time.After(interval):
		case <-stop:
			return
		}
	}
}

// silent never answers: it keeps the connection until the client closes it.
func silent(c net.Conn, req *http.Request) bool { return true }

// timed runs do in a goroutine and fails the test if it takes longer than
// generous; it returns do's error.
func timed(t *testing.T, do func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- do() }()
	select {
	case err := <-done:
		return err
	case <-time.After(generous):
		t.Fatal("the request did not end")
		return nil
	}
}

func TestDefaultTimeouts(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t)
	assertTotalTimeout(t, s, srv.URL, 30*time.Second)
	assert.Equal(t, 30*time.Second, DefaultTimeout)
	// The connect (10 s) and read (30 s) defaults show only after that
	// long: TestDefaultTransport reads them from the session.

	// Timeout(0) and WithTimeout(0) are the only ways to no total deadline.
	s2 := newTestSession(t, WithTimeouts(Timeouts{Read: time.Second}))
	assertTotalTimeout(t, s2, srv.URL, 30*time.Second) // a zero field keeps its default
}

func TestServerNeverAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     []Option
		req      []RequestOption
		kind     error
		deadline bool // context.DeadlineExceeded in the chain
	}{
		{"total", []Option{WithTimeout(shortTimeout)}, nil, ErrTimeout, true},
		{"per-request total", nil, []RequestOption{Timeout(shortTimeout)}, ErrTimeout, true},
		{"read", []Option{WithTimeouts(Timeouts{Read: shortTimeout})}, nil, ErrReadTimeout, false},
		{"read, streamed", []Option{WithTimeouts(Timeouts{Read: shortTimeout})}, []RequestOption{Stream()}, ErrReadTimeout, false},
		{"read, no total deadline", []Option{WithTimeouts(Timeouts{Read: shortTimeout}), WithTimeout(0)}, nil, ErrReadTimeout, false},
		{"read, a request without a total deadline", []Option{WithTimeouts(Timeouts{Read: shortTimeout})}, []RequestOption{Timeout(0)}, ErrReadTimeout, false},
		{"caller's deadline", []Option{WithTimeout(0)}, nil, ErrTimeout, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := setupRawServer(t, afterRequest(silent))
			s := newTestSession(t, tt.opts...)
			ctx := context.Background()
			if tt.name == "caller's deadline" {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, shortTimeout)
				defer cancel()
			}
			err := timed(t, func() error {
				_, err := s.Get(ctx, srv.URL(), tt.req...)
				return err
			})
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.kind)
			assert.ErrorIs(t, err, ErrTimeout)
			if tt.deadline {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			}
			srv.waitClosed(t, 1)
		})
	}
}

func TestHeadersTrickled(t *testing.T) {
	t.Parallel()
	head := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Slow: " + strings.Repeat("s", 500) + "\r\n\r\nok"
	tests := []struct {
		name     string
		opts     []Option
		kind     error
		deadline bool
	}{
		// Bytes keep coming, but the head as a whole takes too long: the
		// read timeout bounds the wait for the whole head, not each byte.
		{"read", []Option{WithTimeouts(Timeouts{Read: shortTimeout})}, ErrReadTimeout, false},
		{"total", []Option{WithTimeout(shortTimeout)}, ErrTimeout, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stop := make(chan struct{})
			t.Cleanup(func() { close(stop) })
			srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
				trickle(c, head, 10*time.Millisecond, stop)
				return false
			}))
			s := newTestSession(t, tt.opts...)
			err := timed(t, func() error {
				_, err := s.Get(context.Background(), srv.URL())
				return err
			})
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.kind)
			if tt.deadline {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			}
			srv.waitClosed(t, 1)
		})
	}
}

func TestBodyTrickled(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("b", 2000)
	head := "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n"
	tests := []struct {
		name     string
		opts     []Option
		stall    bool // send a little, then nothing
		stream   bool
		kind     error
		deadline bool
	}{
		// A byte every 10 ms never idles for the read timeout: the total
		// deadline ends it.
		{"trickle, total", []Option{WithTimeout(shortTimeout)}, false, false, ErrTimeout, true},
		{"trickle, total, streamed", []Option{WithTimeout(shortTimeout)}, false, true, ErrTimeout, true},
		// Nothing for longer than the read timeout.
		{"stall, read", []Option{WithTimeouts(Timeouts{Read: shortTimeout})}, true, false, ErrReadTimeout, false},
		{"stall, read, streamed", []Option{WithTimeouts(Timeouts{Read: shortTimeout})}, true, true, ErrReadTimeout, false},
		{"stall, total", []Option{WithTimeout(shortTimeout)}, true, false, ErrTimeout, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stop := make(chan struct{})
			t.Cleanup(func() { close(stop) })
			srv := setupRawServer(t, afterRequest(func(c net.Conn, req *http.Request) bool {
				if _, err := io.WriteString(c, head); err != nil {
					return false
				}
				if tt.stall {
					_, _ = io.WriteString(c, body[:10])
					return true // and nothing more, until the client goes
				}
				trickle(c, body, 10*time.Millisecond, stop)
				return false
			}))
			s := newTestSession(t, tt.opts...)
			err := timed(t, func() error {
				if !tt.stream {
					_, err := s.Get(context.Background(), srv.URL())
					return err
				}
				resp, err := s.Get(context.Background(), srv.URL(), Stream())
				if err != nil {
					return err
				}
				defer resp.Close()
				_, err = io.ReadAll(resp.Body)
				return err
			})
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.kind)
			if tt.deadline {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			}
			assert.NotErrorIs(t, err, ErrInvalidResponse, "a timeout is not a malformed response")
			srv.waitClosed(t, 1)
		})
	}
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     []Option
		kind     error
		deadline bool
	}{
		// The TCP connect succeeds; the TLS handshake never gets an answer.
		{"connect", []Option{WithTimeouts(Timeouts{Connect: shortTimeout})}, ErrConnectTimeout, false},
		// The total deadline ends the request, but net/http keeps dialing
		// in the background (a later request might use the connection)
		// until the connect timeout, here an hour: Session.Close cancels
		// that dial.
		{"total", []Option{WithTimeouts(Timeouts{Connect: time.Hour, Total: shortTimeout})}, ErrTimeout, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Reads the ClientHello, then waits for EOF when the client
			// gives up.
			rs := setupRawServer(t, func(c net.Conn, _ <-chan struct{}) { _, _ = io.Copy(io.Discard, c) })
			s := newTestSession(t, tt.opts...)
			err := timed(t, func() error {
				_, err := s.Get(context.Background(), "https://"+rs.addr+"/")
				return err
			})
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.kind)
			assert.NotErrorIs(t, err, ErrTLS, "a handshake that timed out is not a TLS failure")
			if tt.deadline {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				require.NoError(t, s.Close())
			}
			rs.waitClosed(t, 1) // else the client kept the connection
		})
	}
}

func TestTimeoutIsNotRetried(t *testing.T) {
	t.Parallel()
	srv := setupRawServer(t, afterRequest(silent))
	s := newTestSession(t, WithTimeout(shortTimeout), WithRetry(RetryPolicy{MaxAttempts: 5, MinWait: time.Millisecond, MaxWait: time.Millisecond}))
	err := timed(t, func() error {
		_, err := s.Get(context.Background(), srv.URL())
		return err
	})
	assert.ErrorIs(t, err, ErrTimeout)
	assert.Equal(t, int64(1), srv.opened.Load(), "the total deadline is spent: no second attempt")
	srv.waitClosed(t, 1)
}

// TestSlowConsumerIsNotAReadTimeout: the read timeout bounds how long the
// server takes to send, not how long the caller takes between two reads of
// a stream.
func TestSlowConsumerIsNotAReadTimeout(t *testing.T) {
	t.Parallel()
	more, wrote := make(chan struct{}), make(chan struct{})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "12") // the body ends with "second": no wait for its end
		_, _ = io.WriteString(w, "first,")
		w.(http.Flusher).Flush()
		select {
		case <-more:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "second")
		w.(http.Flusher).Flush()
		close(wrote)
	})
	s := newTestSession(t, WithTimeouts(Timeouts{Read: shortTimeout, Total: generous}))
	resp, err := s.Get(context.Background(), srv.URL, Stream())
	require.NoError(t, err)
	defer resp.Close()
	buf := make([]byte, 6)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	time.Sleep(3 * shortTimeout) // the caller is busy; the server is not late
	close(more)
	<-wrote // the rest is on its way before the caller reads again (a loaded machine cannot make the server late)
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "first,second", string(buf)+string(rest))
}
