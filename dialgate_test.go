package reqivo

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// burstSize is the cold burst of the h2 tests; h1Burst that of the
// HTTP/1 ones, where each request may pay a TLS handshake of its own (slow
// under -race).
const (
	burstSize = 64
	h1Burst   = 16
)

// setupTLSServer starts an https test server on 127.0.0.1 that offers
// HTTP/2 when h2 is set (HTTP/1.1 only otherwise), with its listener
// wrapped by wrap if not nil, and returns a client TLS config that trusts
// it.
func setupTLSServer(t *testing.T, h2 bool, wrap func(net.Listener) net.Listener, h http.HandlerFunc) (*httptest.Server, *tls.Config) {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) }
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the held connections' handshake errors
	srv.EnableHTTP2 = h2
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// gateOf returns the dial gate of a session built without middleware.
func gateOf(t *testing.T, s *Session) *dialGate {
	t.Helper()
	ct, ok := s.rt.(*countingTransport)
	require.True(t, ok)
	g, ok := ct.next.(*dialGate)
	require.True(t, ok)
	return g
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return u.Host
}

// burst sends n GETs to rawURL at once and returns their errors and the
// protocol each response came over.
func burst(ctx context.Context, s *Session, rawURL string, n int) ([]error, []string) {
	errs := make([]error, n)
	protos := make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := s.Get(ctx, rawURL)
			errs[i] = err
			if err == nil {
				protos[i] = resp.Proto
			}
		})
	}
	close(start)
	wg.Wait()
	return errs, protos
}

// holdFirstListener holds the first connection it accepts, without a TLS
// handshake, until release is closed; then it serves it, or closes it when
// kill is set. Other connections are served at once.
type holdFirstListener struct {
	net.Listener
	kill     bool
	accepted chan struct{} // closed when the first connection is held
	release  chan struct{}
	conns    chan net.Conn
	done     chan struct{}
	once     sync.Once
}

func newHoldFirst(ln net.Listener, kill bool) *holdFirstListener {
	l := &holdFirstListener{Listener: ln, kill: kill, accepted: make(chan struct{}), release: make(chan struct{}),
		conns: make(chan net.Conn), done: make(chan struct{})}
	go l.loop()
	return l
}

func (l *holdFirstListener) loop() {
	first := true
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return
		}
		if first {
			first = false
			close(l.accepted)
			go l.hold(c)
			continue
		}
		select {
		case l.conns <- c:
		case <-l.done:
			_ = c.Close()
			return
		}
	}
}

func (l *holdFirstListener) hold(c net.Conn) {
	select {
	case <-l.release:
		if !l.kill {
			select {
			case l.conns <- c:
				return
			case <-l.done:
			}
		}
	case <-l.done:
	}
	_ = c.Close()
}

func (l *holdFirstListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *holdFirstListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// waitForWaiters waits until n requests to host wait at the gate.
func waitForWaiters(t *testing.T, g *dialGate, host string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return g.waiting(host) == n }, 10*time.Second, time.Millisecond,
		"waiting requests: want %d, have %d", n, g.waiting(host))
}

func TestColdBurstH2OneConnection(t *testing.T) {
	t.Parallel()
	srv, tlsConf := setupTLSServer(t, true, nil, nil)
	s := newTestSession(t, WithTLSConfig(tlsConf))
	g := gateOf(t, s)
	host := hostOf(t, srv.URL)

	errs, protos := burst(t.Context(), s, srv.URL, burstSize)
	for i := range errs {
		require.NoError(t, errs[i])
		assert.Equal(t, "HTTP/2.0", protos[i])
	}
	assert.EqualValues(t, 1, s.Stats().ConnsOpened, "a cold burst to an h2 origin shares one connection")

	// Warm: a burst passes straight through and opens nothing.
	errs, _ = burst(t.Context(), s, srv.URL, burstSize)
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, s.Stats().ConnsOpened)

	// The connection closes: the origin is cold again, and the next burst
	// again opens one connection.
	srv.CloseClientConnections()
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.origins[host] == nil
	}, 10*time.Second, time.Millisecond, "the gate forgets a closed h2 connection")
	errs, _ = burst(t.Context(), s, srv.URL, burstSize)
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 2, s.Stats().ConnsOpened)
}

func TestColdBurstH1DialsItsOwn(t *testing.T) {
	t.Parallel()
	// The first request's handler holds its response until every other
	// request is done: the others must go on once its connection is up,
	// not when its response is.
	var mu sync.Mutex
	first := true
	others := make(chan struct{})
	srv, tlsConf := setupTLSServer(t, false, nil, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lead := first
		first = false
		mu.Unlock()
		if lead {
			select {
			case <-others:
			case <-time.After(10 * time.Second):
				t.Error("the other requests were held behind the first one's response")
			}
		}
		_, _ = io.WriteString(w, r.Proto)
	})
	s := newTestSession(t, WithTLSConfig(tlsConf))
	g := gateOf(t, s)
	g.after = func(time.Duration) (<-chan time.Time, func() bool) { return nil, func() bool { return true } } // no bound: only the leader's connection releases them

	results := make(chan error, h1Burst)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range h1Burst {
		wg.Go(func() {
			<-start
			_, err := s.Get(t.Context(), srv.URL)
			results <- err
		})
	}
	close(start)
	for range h1Burst - 1 {
		require.NoError(t, <-results)
	}
	close(others)
	require.NoError(t, <-results)
	wg.Wait()
	assert.Greater(t, s.Stats().ConnsOpened, int64(1), "HTTP/1 requests dial their own connections")
	g.mu.Lock()
	o := g.origins[hostOf(t, srv.URL)]
	require.NotNil(t, o)
	assert.True(t, o.h1, "an HTTP/1 origin is not gated again")
	g.mu.Unlock()
}

func TestColdBurstWaitIsBounded(t *testing.T) {
	t.Parallel()
	b := newHeldBurst(t, false, true)
	bound := make(chan time.Time)
	b.g.after = func(d time.Duration) (<-chan time.Time, func() bool) {
		assert.Equal(t, DefaultConnectTimeout, d, "the wait is bounded by Timeouts.Connect")
		return bound, func() bool { return true }
	}
	leader := b.lead(t) // the leader's handshake hangs
	errs := b.follow(t, h1Burst-1)
	waitForWaiters(t, b.g, b.host, h1Burst-1)
	close(bound) // Timeouts.Connect has passed: each goes on alone
	for range h1Burst - 1 {
		require.NoError(t, <-errs)
	}
	// The leader is handed a connection another request has finished with
	// (net/http's late binding); its own dial fails when released.
	require.NoError(t, <-leader)
	close(b.held.release)
}

func TestColdBurstLeaderFailsOthersRedial(t *testing.T) {
	t.Parallel()
	b := newHeldBurst(t, true, true)
	leader := b.lead(t)
	errs := b.follow(t, burstSize-1)
	waitForWaiters(t, b.g, b.host, burstSize-1)
	close(b.held.release) // the leader's handshake fails
	err := <-leader
	require.ErrorIs(t, err, ErrNetwork)
	for range burstSize - 1 {
		require.NoError(t, <-errs, "a waiter fails only with an error of its own")
	}
	assert.EqualValues(t, 2, b.s.Stats().ConnsOpened, "the failed connection, then one h2 connection for the rest")
}

func TestColdBurstCancelWhileWaiting(t *testing.T) {
	t.Parallel()
	b := newHeldBurst(t, true, false)
	s, g, host, held := b.s, b.g, b.host, b.held
	leader := b.lead(t)
	ctx, cancel := context.WithCancel(t.Context())
	canceled := make(chan error, 1)
	go func() {
		_, err := s.Post(ctx, b.url, Body(io.NopCloser(bytes.NewReader([]byte("x")))))
		canceled <- err
	}()
	others := b.follow(t, 2)
	waitForWaiters(t, g, host, 3)
	cancel()
	err := <-canceled
	require.ErrorIs(t, err, context.Canceled)
	waitForWaiters(t, g, host, 2)
	close(held.release) // the leader's handshake goes on
	require.NoError(t, <-leader)
	for range 2 {
		require.NoError(t, <-others)
	}
	assert.EqualValues(t, 1, s.Stats().ConnsOpened)
}

func TestTrackedConnReadFrom(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	got := make(chan []byte, 2)
	go func() {
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(c)
			_ = c.Close()
			got <- b
		}
	}()
	tcp, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	half := &trackedConn{Conn: tcp}
	_, isCloseWriter := any(half).(interface{ CloseWrite() error })
	assert.True(t, isCloseWriter, "CloseWrite is kept for upgraded connections")
	other, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	tests := []struct {
		name string
		conn net.Conn
	}{
		{"with the connection's own ReadFrom", tcp},
		{"without one", struct{ net.Conn }{other}},
	}
	for _, tt := range tests {
		c := &trackedConn{Conn: tt.conn}
		closed := false
		require.True(t, c.watch(func() { closed = true }))
		n, err := c.ReadFrom(bytes.NewReader([]byte("payload")))
		require.NoError(t, err, tt.name)
		assert.EqualValues(t, 7, n, tt.name)
		assert.True(t, tt.conn == c.NetConn(), tt.name)
		require.NoError(t, c.Close())
		assert.True(t, closed, tt.name)
		assert.Equal(t, "payload", string(<-got), tt.name)
		assert.False(t, c.watch(func() {}), "a closed connection is not watched")
	}
}

func TestGateOnlyOnTheSessionsOwnTransport(t *testing.T) {
	t.Parallel()
	own := &http.Transport{}
	t.Cleanup(own.CloseIdleConnections)
	tests := []struct {
		name  string
		opts  []Option
		gated bool
	}{
		{"the session's pool", nil, true},
		{"WithTransport", []Option{WithTransport(own)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSession(t, tt.opts...)
			ct, ok := s.rt.(*countingTransport)
			require.True(t, ok)
			g, gated := ct.next.(*dialGate)
			assert.Equal(t, tt.gated, gated)
			if gated {
				assert.Same(t, s.transport, g.next)
				assert.Equal(t, DefaultConnectTimeout, g.wait)
				require.NotNil(t, s.transport.HTTP2)
				assert.Equal(t, h2StreamWindow, s.transport.HTTP2.MaxReceiveBufferPerStream)
				assert.Equal(t, h2ConnWindow, s.transport.HTTP2.MaxReceiveBufferPerConnection)
			} else {
				assert.Same(t, own, ct.next, "a caller's transport is used as it is")
			}
		})
	}
}

func TestGatePlainHTTPPassesThrough(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {})
	s := newTestSession(t)
	errs, _ := burst(t.Context(), s, srv.URL, 8)
	for _, err := range errs {
		require.NoError(t, err)
	}
	g := gateOf(t, s)
	g.mu.Lock()
	defer g.mu.Unlock()
	assert.Empty(t, g.origins, "plain http is not gated")
}

func TestColdBurstWithDialTLSContext(t *testing.T) {
	t.Parallel()
	srv, tlsConf := setupTLSServer(t, true, nil, nil)
	dialTLS := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conf := tlsConf.Clone()
		conf.NextProtos = []string{"h2", "http/1.1"}
		conf.ServerName = "example.com" // the test certificate's name
		tc := tls.Client(conn, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return tc, nil
	}
	s := newTestSession(t, WithDialTLSContext(dialTLS))
	// Its connections are the caller's *tls.Conn, which the gate cannot
	// watch: each burst is gated again, and its leader finds the pooled
	// connection at once.
	for range 2 {
		errs, protos := burst(t.Context(), s, srv.URL, burstSize)
		for i := range errs {
			require.NoError(t, errs[i])
			assert.Equal(t, "HTTP/2.0", protos[i])
		}
		assert.EqualValues(t, 1, s.Stats().ConnsOpened)
	}
}

// heldBurst starts a cold burst against a TLS server (HTTP/2 or not)
// whose first connection's handshake is held until held.release (and then
// fails, with kill): the session, its gate and the origin's host.
type heldBurst struct {
	s    *Session
	g    *dialGate
	url  string
	host string
	held *holdFirstListener
}

func newHeldBurst(t *testing.T, h2, kill bool) *heldBurst {
	t.Helper()
	b := &heldBurst{}
	srv, tlsConf := setupTLSServer(t, h2, func(ln net.Listener) net.Listener {
		b.held = newHoldFirst(ln, kill)
		return b.held
	}, nil)
	b.s = newTestSession(t, WithTLSConfig(tlsConf))
	b.g = gateOf(t, b.s)
	b.url, b.host = srv.URL, hostOf(t, srv.URL)
	return b
}

// lead sends the leader's GET and returns once its handshake is held.
func (b *heldBurst) lead(t *testing.T) <-chan error {
	leader := make(chan error, 1)
	go func() {
		_, err := b.s.Get(t.Context(), b.url)
		leader <- err
	}()
	<-b.held.accepted
	return leader
}

// follow sends n GETs behind the leader.
func (b *heldBurst) follow(t *testing.T, n int) <-chan error {
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := b.s.Get(t.Context(), b.url)
			errs <- err
		}()
	}
	return errs
}
