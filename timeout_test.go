package reqivo

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stallServer answers every request with head (status line and headers,
// then whatever part of a body it holds) and then sends nothing more until
// the test ends. An empty head stalls before the headers.
func stallServer(t testing.TB, head string) *rawServer {
	t.Helper()
	return setupRawServer(t, func(c net.Conn, done <-chan struct{}) {
		if readRequestHead(c) != nil {
			return
		}
		if head != "" {
			if _, err := io.WriteString(c, head); err != nil {
				return
			}
		}
		<-done
	})
}

const stalledBodyHead = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst ten."

func TestTotalTimeoutCoversBodyRead(t *testing.T) {
	t.Parallel()
	rs := stallServer(t, stalledBodyHead)
	tests := []struct {
		name string
		opts []Option
		req  []RequestOption
	}{
		{name: "WithTimeout", opts: []Option{WithTimeout(200 * time.Millisecond)}},
		{name: "WithTimeouts Total", opts: []Option{WithTimeouts(Timeouts{Total: 200 * time.Millisecond})}},
		{name: "Timeout per request", req: []RequestOption{Timeout(200 * time.Millisecond)}},
		{name: "Timeout per request under a longer session one", opts: []Option{WithTimeout(time.Hour)}, req: []RequestOption{Timeout(200 * time.Millisecond)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t, tt.opts...)
			_, err := s.Get(context.Background(), rs.URL(), tt.req...)
			assertRequestKind(t, err, ErrTimeout)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.NotErrorIs(t, err, ErrReadTimeout, "the read timeout (30 s) did not fire")
		})
	}
}

func TestTotalTimeoutCoversStreamedBody(t *testing.T) {
	t.Parallel()
	rs := stallServer(t, stalledBodyHead)
	s := newTestSession(t, WithTimeout(200*time.Millisecond))
	resp, err := s.Get(context.Background(), rs.URL(), Stream())
	require.NoError(t, err, "headers arrived in time")
	defer resp.Close()
	_, err = io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestPerRequestTimeoutOverridesSession(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "late")
	})
	s := newTestSession(t, WithTimeout(50*time.Millisecond))
	_, err := s.Get(context.Background(), srv.URL)
	assertRequestKind(t, err, ErrTimeout)

	resp, err := s.Get(context.Background(), srv.URL, Timeout(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, "late", resp.Text())

	resp, err = s.Get(context.Background(), srv.URL, Timeout(0))
	require.NoError(t, err, "Timeout(0) means no total deadline")
	assert.Equal(t, "late", resp.Text())
}

func TestReadTimeoutWaitingForHeaders(t *testing.T) {
	t.Parallel()
	rs := stallServer(t, "")
	s := newTestSession(t, WithTimeouts(Timeouts{Read: 150 * time.Millisecond, Total: time.Minute}))
	_, err := s.Get(context.Background(), rs.URL())
	assertRequestKind(t, err, ErrReadTimeout)
	assert.ErrorIs(t, err, ErrTimeout)
}

func TestReadTimeoutBetweenBodyReads(t *testing.T) {
	t.Parallel()
	rs := stallServer(t, stalledBodyHead)
	s := newTestSession(t, WithTimeouts(Timeouts{Read: 150 * time.Millisecond, Total: time.Minute}))
	_, err := s.Get(context.Background(), rs.URL())
	assertRequestKind(t, err, ErrReadTimeout)
	assert.ErrorIs(t, err, ErrTimeout)

	resp, err := s.Get(context.Background(), rs.URL(), Stream())
	require.NoError(t, err)
	defer resp.Close()
	_, err = io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, ErrReadTimeout)
}

func TestReadTimeoutResetsOnProgress(t *testing.T) {
	t.Parallel()
	// A body trickling in pieces, each gap well under the read timeout,
	// for longer than the read timeout in all.
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		fl := w.(http.Flusher)
		for i := 0; i < 6; i++ {
			_, _ = io.WriteString(w, "piece ")
			fl.Flush()
			select {
			case <-time.After(50 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	s := newTestSession(t, WithTimeouts(Timeouts{Read: 2 * time.Second, Total: time.Minute}))
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Len(t, resp.Bytes(), 36)
}

func TestConnectTimeoutTLSHandshake(t *testing.T) {
	t.Parallel()
	// Accepts the TCP connection and never answers the ClientHello.
	rs := setupRawServer(t, func(c net.Conn, done <-chan struct{}) { <-done })
	s := newTestSession(t, WithTimeouts(Timeouts{Connect: 150 * time.Millisecond, Total: time.Minute}))
	_, err := s.Get(context.Background(), "https://"+rs.addr+"/")
	assertRequestKind(t, err, ErrConnectTimeout)
	assert.ErrorIs(t, err, ErrTimeout)
}

func TestContextDeadline(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := s.Get(ctx, "/delay/3")
	assertRequestKind(t, err, ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, bin.URL+"/delay/3", re.URL)
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	_, err := s.Get(ctx, "/delay/3")
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrTimeout)

	// An already cancelled context sends nothing.
	srv := setupCountingServer(t, echoHandler)
	_, err = s.Get(ctx, srv.URL)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, srv.requests.Load())
}

func TestTimeoutKindsMatchErrTimeout(t *testing.T) {
	t.Parallel()
	assert.True(t, errors.Is(ErrConnectTimeout, ErrTimeout))
	assert.True(t, errors.Is(ErrReadTimeout, ErrTimeout))
	assert.False(t, errors.Is(ErrTimeout, ErrReadTimeout))
	assert.False(t, errors.Is(ErrConnectTimeout, ErrReadTimeout))
}
