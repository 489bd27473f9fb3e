// Tests of WebSocket messages: echo, sizes, fragments, ping, closing,
// contexts and concurrency, against go-httpbin and coder/websocket servers.

package reqivo

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wsTimeout bounds every wait in these tests; generous, since echoing 10 MiB
// under -race on 2 cores takes several seconds.
const wsTimeout = 60 * time.Second

func wsContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsTimeout)
	t.Cleanup(cancel)
	return ctx
}

// setupWSServer starts a WebSocket server on 127.0.0.1 that accepts every
// handshake with opts and runs serve on the connection.
func setupWSServer(t testing.TB, opts *websocket.AcceptOptions, serve func(ctx context.Context, c *websocket.Conn)) *httptest.Server {
	t.Helper()
	return setupServer(t, wsHandler(opts, serve))
}

func wsHandler(opts *websocket.AcceptOptions, serve func(ctx context.Context, c *websocket.Conn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		serve(r.Context(), c)
	}
}

// serveEcho echoes every message with its type, whatever its size.
func serveEcho(ctx context.Context, c *websocket.Conn) {
	c.SetReadLimit(-1)
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, b); err != nil {
			return
		}
	}
}

// wsAddr turns an httptest server's URL into a ws or wss one.
func wsAddr(srv *httptest.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// dialWS dials and closes the WebSocket when the test ends.
func dialWS(t testing.TB, s *Session, rawURL string, opts ...WebSocketOption) *WebSocket {
	t.Helper()
	ws, err := s.WebSocket(wsContext(t), rawURL, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func TestWebSocketEchoHTTPBin(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	binary := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)
	tests := []struct {
		name string
		base string // session base URL
		url  string
	}{
		{name: "ws", url: wsAddr(bin) + "/websocket/echo"},
		{name: "http", url: bin.URL + "/websocket/echo"},
		{name: "relative to base", base: bin.URL + "/websocket/", url: "echo"},
		{name: "absolute path with base", base: bin.URL, url: "/websocket/echo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []Option
			if tt.base != "" {
				opts = append(opts, WithBaseURL(tt.base))
			}
			s := newTestSession(t, opts...)
			ctx := wsContext(t)
			ws := dialWS(t, s, tt.url)

			require.NoError(t, ws.SendText(ctx, "hello, wörld"))
			typ, got, err := ws.Receive(ctx)
			require.NoError(t, err)
			assert.Equal(t, MessageText, typ)
			assert.Equal(t, "hello, wörld", string(got))

			require.NoError(t, ws.Send(ctx, binary))
			typ, got, err = ws.Receive(ctx)
			require.NoError(t, err)
			assert.Equal(t, MessageBinary, typ)
			assert.Equal(t, binary, got)

			assert.NoError(t, ws.Close())
			assert.Equal(t, int64(1), s.Stats().Requests, "the handshake is one request")
		})
	}
}

func TestWebSocketFacade(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	c := New(bin.URL)
	t.Cleanup(func() { _ = c.Close() })
	ctx := wsContext(t)
	ws, err := c.WebSocket(ctx, "/websocket/echo")
	require.NoError(t, err)
	defer ws.Close()
	require.NoError(t, ws.SendText(ctx, "via the facade"))
	_, got, err := ws.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "via the facade", string(got))

	_, err = New("ftp://nope").WebSocket(ctx, "/websocket/echo")
	assert.ErrorIs(t, err, ErrInvalidURL, "the kept construction error")
}

func TestWebSocketLargeMessage(t *testing.T) {
	t.Parallel()
	srv := setupWSServer(t, nil, serveEcho)
	s := newTestSession(t)
	ctx := wsContext(t)
	ws := dialWS(t, s, wsAddr(srv))
	big := make([]byte, DefaultMaxMessageBytes)
	for i := range big {
		big[i] = byte(i * 7)
	}
	require.NoError(t, ws.Send(ctx, big))
	typ, got, err := ws.Receive(ctx)
	require.NoError(t, err, "a message of exactly the default limit")
	assert.Equal(t, MessageBinary, typ)
	assert.True(t, bytes.Equal(big, got))

	require.NoError(t, ws.Send(ctx, append(big, 1)))
	_, _, err = ws.Receive(ctx)
	assert.ErrorIs(t, err, ErrWebSocket, "one byte over the default limit")
	assert.ErrorIs(t, err, websocket.ErrMessageTooBig)
}

func TestWebSocketFragmentedMessage(t *testing.T) {
	t.Parallel()
	// The server sends each message back in frames of 10 bytes.
	srv := setupWSServer(t, nil, func(ctx context.Context, c *websocket.Conn) {
		for {
			typ, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			w, err := c.Writer(ctx, typ)
			if err != nil {
				return
			}
			for len(b) > 0 {
				n := min(10, len(b))
				if _, err := w.Write(b[:n]); err != nil {
					return
				}
				b = b[n:]
			}
			if w.Close() != nil {
				return
			}
		}
	})
	s := newTestSession(t)
	ctx := wsContext(t)
	ws := dialWS(t, s, wsAddr(srv))
	msg := strings.Repeat("fragment ", 100)
	require.NoError(t, ws.SendText(ctx, msg))
	typ, got, err := ws.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, MessageText, typ)
	assert.Equal(t, msg, string(got))
}

func TestWebSocketMaxMessageBytes(t *testing.T) {
	t.Parallel()
	closed := make(chan error, 1)
	srv := setupWSServer(t, nil, func(ctx context.Context, c *websocket.Conn) {
		if c.Write(ctx, websocket.MessageBinary, make([]byte, 1000)) != nil {
			return
		}
		if c.Write(ctx, websocket.MessageBinary, make([]byte, 1001)) != nil {
			return
		}
		_, _, err := c.Read(ctx)
		closed <- err
	})
	s := newTestSession(t)
	ctx := wsContext(t)
	ws := dialWS(t, s, wsAddr(srv), MaxMessageBytes(1000))
	_, got, err := ws.Receive(ctx)
	require.NoError(t, err, "a message of exactly the limit")
	assert.Len(t, got, 1000)
	_, _, err = ws.Receive(ctx)
	assert.ErrorIs(t, err, ErrWebSocket)
	assert.ErrorIs(t, err, websocket.ErrMessageTooBig)
	assert.Contains(t, err.Error(), "1000 bytes")
	assert.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(<-closed), "the peer is told why")
}

func TestWebSocketPing(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	ctx := wsContext(t)
	ws := dialWS(t, s, "/websocket/echo")

	// No Receive running: nothing reads the pong, and Ping waits for ctx.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := ws.Ping(short)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// With a Receive running, the pong arrives; the connection survived
	// the timed-out Ping.
	got := make(chan string, 1)
	go func() {
		_, b, err := ws.Receive(ctx)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
	}()
	require.NoError(t, ws.Ping(ctx))
	require.NoError(t, ws.Ping(ctx))
	require.NoError(t, ws.SendText(ctx, "after ping"))
	assert.Equal(t, "after ping", <-got)
}

func TestWebSocketServerClose(t *testing.T) {
	t.Parallel()
	srv := setupWSServer(t, nil, func(ctx context.Context, c *websocket.Conn) {
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
		_ = c.Close(4000, "bye now")
	})
	s := newTestSession(t)
	ctx := wsContext(t)
	ws := dialWS(t, s, wsAddr(srv))
	require.NoError(t, ws.SendText(ctx, "close please"))
	_, _, err := ws.Receive(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrWebSocket)
	var ce *CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 4000, ce.Code)
	assert.Equal(t, "bye now", ce.Reason)
	assert.Equal(t, websocket.StatusCode(4000), websocket.CloseStatus(err), "coder/websocket's helper still works")
	assert.Contains(t, err.Error(), `4000 "bye now"`)

	// Later calls keep reporting the peer's close.
	_, _, err = ws.Receive(ctx)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 4000, ce.Code)
	err = ws.SendText(ctx, "too late")
	assert.ErrorIs(t, err, ErrWebSocket)
	assert.NoError(t, ws.Close(), "closing a closed connection")
	assert.NoError(t, ws.Close())
}

func TestWebSocketPeerVanishes(t *testing.T) {
	t.Parallel()
	// The server drops the connection without a close frame.
	srv := setupWSServer(t, nil, func(ctx context.Context, c *websocket.Conn) {
		_, _, _ = c.Read(ctx)
		_ = c.CloseNow()
	})
	s := newTestSession(t)
	ctx := wsContext(t)
	ws := dialWS(t, s, wsAddr(srv))
	require.NoError(t, ws.SendText(ctx, "go away"))
	_, _, err := ws.Receive(ctx)
	assert.ErrorIs(t, err, ErrWebSocket, "an abnormal closure")
	var ce *CloseError
	assert.False(t, errors.As(err, &ce), "no close frame came")
	// Every call after the connection is gone fails, and says why: a send
	// that TCP would still accept is not silently lost.
	for name, call := range map[string]func() error{
		"SendText": func() error { return ws.SendText(ctx, "lost?") },
		"Send":     func() error { return ws.Send(ctx, []byte("lost?")) },
		"Ping":     func() error { return ws.Ping(ctx) },
		"Receive":  func() error { _, _, err := ws.Receive(ctx); return err },
	} {
		err := call()
		assert.ErrorIs(t, err, ErrWebSocket, name)
		assert.ErrorContains(t, err, "connection gone", name)
	}
	assert.NoError(t, ws.Close(), "Close after a drop is nil")
	assert.NoError(t, ws.Close(), "and so is a second Close")
}

func TestWebSocketClientClose(t *testing.T) {
	t.Parallel()
	closed := make(chan error, 1)
	srv := setupWSServer(t, nil, func(ctx context.Context, c *websocket.Conn) {
		_, _, err := c.Read(ctx)
		closed <- err
	})
	s := newTestSession(t)
	ctx := wsContext(t)
	ws := dialWS(t, s, wsAddr(srv))

	assert.ErrorIs(t, ws.CloseWith(1005, ""), ErrInvalidOption, "1005 is never sent")
	assert.ErrorIs(t, ws.CloseWith(999, ""), ErrInvalidOption)
	assert.ErrorIs(t, ws.CloseWith(4000, strings.Repeat("x", 124)), ErrInvalidOption)
	require.NoError(t, ws.CloseWith(4001, "done"))
	var ce websocket.CloseError
	require.ErrorAs(t, <-closed, &ce)
	assert.Equal(t, websocket.StatusCode(4001), ce.Code)
	assert.Equal(t, "done", ce.Reason)

	assert.NoError(t, ws.Close())
	err := ws.Send(ctx, []byte("x"))
	assert.ErrorIs(t, err, ErrWebSocket)
	assert.ErrorIs(t, err, net.ErrClosed)
	_, _, err = ws.Receive(ctx)
	assert.ErrorIs(t, err, ErrWebSocket)
}

func TestWebSocketCloseUnblocksReceive(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t)
	ctx := wsContext(t)
	ws := dialWS(t, s, wsAddr(bin)+"/websocket/echo")
	errc := make(chan error, 1)
	go func() {
		_, _, err := ws.Receive(ctx)
		errc <- err
	}()
	require.NoError(t, ws.Ping(ctx), "the Receive is running")
	require.NoError(t, ws.Close())
	err := <-errc
	assert.ErrorIs(t, err, ErrWebSocket)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
}

func TestWebSocketContext(t *testing.T) {
	t.Parallel()
	srv := setupWSServer(t, nil, serveEcho)
	s := newTestSession(t)

	t.Run("dial with a cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.WebSocket(ctx, wsAddr(srv))
		assert.ErrorIs(t, err, context.Canceled)
		var re *RequestError
		assert.ErrorAs(t, err, &re)
	})

	t.Run("the dial context ends after the dial", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		ws, err := s.WebSocket(ctx, wsAddr(srv))
		require.NoError(t, err)
		defer ws.Close()
		cancel()
		ctx = wsContext(t)
		require.NoError(t, ws.SendText(ctx, "still open"))
		_, got, err := ws.Receive(ctx)
		require.NoError(t, err)
		assert.Equal(t, "still open", string(got))
	})

	t.Run("receive deadline", func(t *testing.T) {
		ws := dialWS(t, s, wsAddr(srv))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, _, err := ws.Receive(ctx)
		assert.ErrorIs(t, err, ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		// As documented, a Receive cut short closes the connection.
		err = ws.SendText(wsContext(t), "x")
		assert.ErrorIs(t, err, ErrWebSocket)
	})

	t.Run("waiting for the turn does not close", func(t *testing.T) {
		ws := dialWS(t, s, wsAddr(srv))
		ctx := wsContext(t)
		got := make(chan string, 1)
		go func() {
			_, b, _ := ws.Receive(ctx)
			got <- string(b)
		}()
		require.NoError(t, ws.Ping(ctx), "the first Receive holds the turn")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, _, err := ws.Receive(cctx)
		assert.ErrorIs(t, err, context.Canceled)
		require.NoError(t, ws.SendText(ctx, "still open"))
		assert.Equal(t, "still open", <-got)
	})

	t.Run("nil context", func(t *testing.T) {
		ws := dialWS(t, s, wsAddr(srv))
		var nilCtx context.Context
		assert.ErrorIs(t, ws.Send(nilCtx, nil), ErrInvalidOption)
		assert.ErrorIs(t, ws.SendText(nilCtx, ""), ErrInvalidOption)
		assert.ErrorIs(t, ws.Ping(nilCtx), ErrInvalidOption)
		_, _, err := ws.Receive(nilCtx)
		assert.ErrorIs(t, err, ErrInvalidOption)
		_, err = s.WebSocket(nilCtx, wsAddr(srv))
		assert.ErrorIs(t, err, ErrInvalidOption)
	})
}

func TestWebSocketSendTextInvalidUTF8(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t)
	ctx := wsContext(t)
	ws := dialWS(t, s, wsAddr(bin)+"/websocket/echo")
	assert.ErrorIs(t, ws.SendText(ctx, "bad \xff"), ErrWebSocket)
	require.NoError(t, ws.SendText(ctx, "good"), "nothing was sent: the connection is fine")
	_, got, err := ws.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "good", string(got))
}

func TestWebSocketSubprotocol(t *testing.T) {
	t.Parallel()
	srv := setupWSServer(t, &websocket.AcceptOptions{Subprotocols: []string{"chat.v2"}}, serveEcho)
	s := newTestSession(t)
	ws := dialWS(t, s, wsAddr(srv), Subprotocols("chat.v1"), Subprotocols("chat.v2"))
	assert.Equal(t, "chat.v2", ws.Subprotocol())
	ws = dialWS(t, s, wsAddr(srv))
	assert.Equal(t, "", ws.Subprotocol())
}

func TestWebSocketConcurrent(t *testing.T) {
	t.Parallel()
	srv := setupWSServer(t, nil, serveEcho)
	s := newTestSession(t)
	ctx := wsContext(t)
	ws := dialWS(t, s, wsAddr(srv))

	const senders, perSender, receivers = 4, 50, 3
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			for j := range perSender {
				msg := []byte{byte(i), byte(j)}
				var err error
				if j%2 == 0 {
					err = ws.Send(ctx, msg)
				} else {
					err = ws.SendText(ctx, string([]byte{'a' + byte(i), 'a' + byte(j%26)}))
				}
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	var mu sync.Mutex
	count := 0
	received := make(chan struct{})
	for range receivers {
		wg.Go(func() {
			for {
				_, b, err := ws.Receive(ctx)
				if err != nil {
					return // closed at the end
				}
				assert.Len(t, b, 2, "whole messages")
				mu.Lock()
				count++
				if count == senders*perSender {
					close(received)
				}
				mu.Unlock()
			}
		})
	}
	for range 5 {
		require.NoError(t, ws.Ping(ctx))
	}
	select {
	case <-received:
	case <-ctx.Done():
		t.Fatal("messages lost")
	}
	require.NoError(t, ws.Close())
	wg.Wait()
}
