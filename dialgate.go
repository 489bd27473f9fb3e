// Dial gate: a cold burst of requests to an https origin waits for the
// first connection's protocol, so an HTTP/2 origin gets one connection
// instead of one per request.

package reqivo

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// net/http learns that an origin speaks HTTP/2 only when a TLS handshake
// has negotiated it (ALPN). Until then every request that finds no
// connection dials its own, and all but one of those connections are closed
// once the first one is pooled: a cold burst of 64 requests opens dozens of
// TCP+TLS connections. Once an h2 connection is pooled, net/http hands it to
// every new request, so only the time before the first handshake needs
// help.
//
// The gate sits in front of the session's own *http.Transport (never in
// front of a caller's, see WithTransport). For each https origin it keeps
// what it has learned:
//
//   - nothing yet, or its h2 connections have all closed: the origin is
//     cold. The first request leads: it goes to the transport with a trace
//     hook that reports the connection it gets. Requests that arrive while
//     it leads wait for that connection, then go on together; over h2 they
//     find it in net/http's pool, over HTTP/1 they dial their own. The
//     leader's attempt takes at most one handshake (Timeouts.Connect), and
//     no request waits longer than Timeouts.Connect in all: past it, it goes
//     on as if there were no gate.
//   - the leader got no connection (a dial or handshake failure, or its own
//     context ended): the waiters are not given its error; one of them leads
//     the next attempt and the others wait for it, within the same bound.
//     Each request therefore fails only with an error of its own.
//   - HTTP/1 (or no ALPN): requests pass straight through from then on.
//   - a live h2 connection: requests pass straight through until the
//     connection closes (the session's dialer reports the close); then the
//     origin is cold again.
//
// Requests over plain http pass straight through.

// maxGateOrigins caps the origins the gate remembers; past it, origins it
// has nothing to wait on are forgotten (they are gated once more later).
const maxGateOrigins = 4096

// dialGate is an http.RoundTripper in front of the session's transport.
// It is safe for concurrent use by multiple goroutines.
type dialGate struct {
	next http.RoundTripper
	wait time.Duration // the longest a request waits for others' connections
	// after starts the wait bound; tests replace it.
	after func(d time.Duration) (<-chan time.Time, func() bool)

	mu      sync.Mutex
	origins map[string]*originGate // by request URL host; guarded by mu
}

// originGate is what the gate knows of one origin. Its fields are guarded
// by dialGate.mu.
type originGate struct {
	h1     bool                      // the origin answered without h2: pass
	h2     map[*trackedConn]struct{} // its live h2 connections: pass while any
	flight *flight                   // the leading attempt, nil if none
}

func (o *originGate) open() bool { return o.h1 || len(o.h2) > 0 }

// flight is one leading attempt to get a connection.
type flight struct {
	done chan struct{} // closed when the leader got a connection or gave up
	// conn is set before done is closed: the leader got a connection, and
	// its waiters go on without waiting again.
	conn    bool
	waiting int // requests waiting on it; guarded by dialGate.mu
}

func newDialGate(next http.RoundTripper, wait time.Duration) *dialGate {
	return &dialGate{next: next, wait: wait, after: realAfter, origins: make(map[string]*originGate)}
}

func realAfter(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

func (g *dialGate) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "https" {
		return g.next.RoundTrip(req)
	}
	host := req.URL.Host
	var bound <-chan time.Time
	for {
		g.mu.Lock()
		o := g.origins[host]
		if o != nil && o.open() {
			g.mu.Unlock()
			return g.next.RoundTrip(req)
		}
		if o == nil {
			o = g.addLocked(host)
		}
		f := o.flight
		if f == nil {
			f = &flight{done: make(chan struct{})}
			o.flight = f
			g.mu.Unlock()
			return g.lead(req, host, o, f)
		}
		f.waiting++
		g.mu.Unlock()

		if bound == nil {
			var stop func() bool
			bound, stop = g.after(g.wait)
			defer stop()
		}
		select {
		case <-f.done:
			g.unwait(f)
			if f.conn {
				return g.next.RoundTrip(req)
			}
			// The leader gave up: lead the next attempt, or wait for it.
		case <-bound:
			g.unwait(f)
			return g.next.RoundTrip(req)
		case <-req.Context().Done():
			g.unwait(f)
			if req.Body != nil {
				_ = req.Body.Close() // a RoundTripper closes the body, even on error
			}
			return nil, context.Cause(req.Context())
		}
	}
}

func (g *dialGate) unwait(f *flight) {
	g.mu.Lock()
	f.waiting--
	g.mu.Unlock()
}

// addLocked adds a cold origin, first forgetting the origins nothing waits
// on when the map is full. g.mu must be held.
func (g *dialGate) addLocked(host string) *originGate {
	if len(g.origins) >= maxGateOrigins {
		for h, o := range g.origins {
			if o.flight == nil {
				delete(g.origins, h)
			}
		}
	}
	o := &originGate{}
	g.origins[host] = o
	return o
}

// lead sends req with a trace hook that settles f with the connection req
// gets; if it gets none, f is settled without one when the round trip ends.
func (g *dialGate) lead(req *http.Request, host string, o *originGate, f *flight) (*http.Response, error) {
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { g.settle(host, o, f, info.Conn) },
	}
	r := req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := g.next.RoundTrip(r)
	g.settle(host, o, f, nil)
	if resp != nil && resp.Request == r {
		resp.Request = req
	}
	return resp, err
}

// settle ends f (once): with conn, it records the origin's protocol and
// lets the waiters go on; without, a waiter leads the next attempt.
func (g *dialGate) settle(host string, o *originGate, f *flight, conn net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o.flight != f {
		return
	}
	o.flight = nil
	if conn != nil {
		f.conn = true
		g.learnLocked(host, o, conn)
	}
	close(f.done)
	if !o.open() && g.origins[host] == o && f.waiting == 0 {
		delete(g.origins, host)
	}
}

// learnLocked records the protocol of conn, a connection to o. An h2
// connection the gate cannot watch (one tunnelled through an https proxy)
// leaves the origin cold: the next burst is gated again, and its leader
// finds the pooled connection at once. g.mu must be held.
func (g *dialGate) learnLocked(host string, o *originGate, conn net.Conn) {
	tc, ok := conn.(*tls.Conn)
	if !ok || tc.ConnectionState().NegotiatedProtocol != "h2" {
		o.h1 = true
		return
	}
	c, ok := tc.NetConn().(*trackedConn)
	if !ok {
		return
	}
	if _, known := o.h2[c]; known {
		return
	}
	if !c.watch(func() { g.closed(host, o, c) }) {
		return // closed already
	}
	if o.h2 == nil {
		o.h2 = make(map[*trackedConn]struct{})
	}
	o.h2[c] = struct{}{}
}

// closed forgets c, an h2 connection to o that has closed.
func (g *dialGate) closed(host string, o *originGate, c *trackedConn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(o.h2, c)
	if !o.open() && o.flight == nil && g.origins[host] == o {
		delete(g.origins, host)
	}
}

// waiting reports how many requests to host wait for another's connection.
func (g *dialGate) waiting(host string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o := g.origins[host]; o != nil && o.flight != nil {
		return o.flight.waiting
	}
	return 0
}

// trackDials wraps the connections dial opens so that the gate learns
// when they close. Connections from WithDialTLSContext are not wrapped:
// net/http must see their *tls.Conn; an h2 origin reached through one stays
// cold for the gate, whose leaders then find its pooled connection at once.
func trackDials(dial DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil || conn == nil {
			return conn, err
		}
		return &trackedConn{Conn: conn}, nil
	}
}

// trackedConn is a connection the session dialed; it reports its close to
// the gate.
type trackedConn struct {
	net.Conn

	mu      sync.Mutex // guards the fields below
	closed  bool
	onClose func()
}

// watch arranges for f to run when c closes, unless c is closed already.
func (c *trackedConn) watch(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.onClose = f
	return true
}

func (c *trackedConn) Close() error {
	c.mu.Lock()
	f := c.onClose
	c.onClose = nil
	c.closed = true
	c.mu.Unlock()
	if f != nil {
		f()
	}
	return c.Conn.Close()
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) for
// request bodies net/http copies to it.
func (c *trackedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite shuts down the writing side, where the connection can.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// NetConn returns the connection it wraps, as tls.Conn's NetConn does.
func (c *trackedConn) NetConn() net.Conn { return c.Conn }
