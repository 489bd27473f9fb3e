// Test servers: go-httpbin and small handlers on loopback, an echo, a
// counting server, the one redirector, the one raw misbehaving server, and
// the goleak check every test of the package runs under.

package reqivo

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setupHTTPBin starts go-httpbin on 127.0.0.1 for the test.
func setupHTTPBin(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(httpbin.New())
	t.Cleanup(srv.Close)
	return srv
}

// setupServer starts h on 127.0.0.1 for the test.
func setupServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newTestSession returns a session closed when the test ends.
func newTestSession(t testing.TB, opts ...Option) *Session {
	t.Helper()
	s, err := NewSession(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// closedAddr returns the address of a loopback port that was just
// listening and is closed: a dial to it is refused.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// hammer runs do perWorker times in each of workers goroutines and reports
// every error it returns.
func hammer(t testing.TB, workers, perWorker int, do func() error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				if err := do(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// discardLogger silences a test server's error log (TLS handshake
// failures the test provokes).
func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// tlsConfigWithRoots trusts pool's certificates (an httptest TLS server's).
func tlsConfigWithRoots(pool *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// echoed is what echoHandler answers: the request it received, as JSON.
type echoed struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
	Host   string      `json:"host"`
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Method", r.Method)
	_ = json.NewEncoder(w).Encode(echoed{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header, Body: string(b), Host: r.Host,
	})
}

func decodeEcho(t testing.TB, resp *Response) echoed {
	t.Helper()
	var e echoed
	require.NoError(t, resp.JSON(&e))
	return e
}

// countingServer is an httptest server that counts the connections it
// accepted, the connections it saw closed, and the requests it served.
type countingServer struct {
	*httptest.Server
	conns    atomic.Int64
	closed   atomic.Int64
	requests atomic.Int64
}

// setupCountingServer starts h on 127.0.0.1, counting, for the test.
func setupCountingServer(t testing.TB, h http.HandlerFunc) *countingServer {
	t.Helper()
	cs := &countingServer{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.requests.Add(1)
		h(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			cs.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			cs.closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	cs.Server = srv
	return cs
}

// seenRequests is what a recording server got: the headers of each request, by
// path, in order.
type seenRequests struct {
	mu   sync.Mutex
	reqs []*http.Request // bodies drained, headers kept
}

func (s *seenRequests) add(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
}

// at returns the headers the request to path got (fails the test if none).
func (s *seenRequests) at(t testing.TB, path string) http.Header {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.reqs {
		if r.URL.Path == path {
			return r.Header
		}
	}
	t.Fatalf("no request to %s", path)
	return nil
}

func (s *seenRequests) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// redirectServer is the tests' one redirector: a loopback server that
// records every request, redirects /go?to=URL&code=N to URL with status N
// (302 by default; an empty to gives an empty Location), and echoes every
// other request (echoHandler).
type redirectServer struct {
	*httptest.Server
	seen *seenRequests
}

func (rs *redirectServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/go" {
		rs.seen.add(r)
		echoHandler(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	rs.seen.add(r)
	code := http.StatusFound
	if c := r.URL.Query().Get("code"); c != "" {
		code, _ = strconv.Atoi(c)
	}
	w.Header().Set("Location", r.URL.Query().Get("to"))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, "redirecting")
}

// setupRedirector starts a redirectServer on 127.0.0.1 for the test.
func setupRedirector(t testing.TB) *redirectServer {
	t.Helper()
	rs := &redirectServer{seen: &seenRequests{}}
	rs.Server = setupServer(t, rs.handle)
	return rs
}

// setupTLSRedirector is setupRedirector over TLS, with the TLS config that
// trusts it.
func setupTLSRedirector(t testing.TB) (*redirectServer, *tls.Config) {
	t.Helper()
	rs := &redirectServer{seen: &seenRequests{}}
	rs.Server = httptest.NewUnstartedServer(http.HandlerFunc(rs.handle))
	rs.Config.ErrorLog = discardLogger()
	rs.StartTLS()
	t.Cleanup(rs.Close)
	pool := x509.NewCertPool()
	pool.AddCert(rs.Certificate())
	return rs, tlsConfigWithRoots(pool)
}

// goURL returns base + "/go" redirecting to target with code; base may be
// empty for a URL relative to a session's base URL.
func goURL(base, target string, code int) string {
	return base + "/go?" + url.Values{"to": {target}, "code": {strconv.Itoa(code)}}.Encode()
}

// rawServer is the tests' one misbehaving server: a TCP listener on
// 127.0.0.1 whose connections are handled by a function, for servers that
// misbehave below HTTP. It counts the connections opened, and closed (the
// handler returned and the connection was closed), and waits for its
// goroutines at cleanup.
type rawServer struct {
	addr   string
	opened atomic.Int64
	closed atomic.Int64
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	open   []net.Conn
}

// setupRawServer starts a raw server; handle runs once per connection and
// should return when done is closed. The test's cleanup closes the
// listener and every connection and waits for the handlers. afterRequest
// adapts a handler that answers a parsed request.
func setupRawServer(t testing.TB, handle func(c net.Conn, done <-chan struct{})) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rs := &rawServer{addr: ln.Addr().String(), done: make(chan struct{})}
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rs.opened.Add(1)
			rs.mu.Lock()
			rs.open = append(rs.open, c)
			rs.mu.Unlock()
			rs.wg.Add(1)
			go func() {
				defer rs.wg.Done()
				defer rs.closed.Add(1)
				defer c.Close()
				handle(c, rs.done)
			}()
		}
	}()
	t.Cleanup(func() {
		close(rs.done)
		ln.Close()
		rs.mu.Lock()
		for _, c := range rs.open {
			c.Close()
		}
		rs.mu.Unlock()
		rs.wg.Wait()
	})
	return rs
}

// afterRequest is a rawServer handler that reads the connection's request
// (its body discarded), then calls serve, which writes whatever it likes.
// When serve returns true, the connection is kept open until the client
// closes it (or the test ends); otherwise it is closed.
func afterRequest(serve func(c net.Conn, req *http.Request) (keep bool)) func(net.Conn, <-chan struct{}) {
	return func(c net.Conn, _ <-chan struct{}) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		if !serve(c, req) {
			return
		}
		// Kept: wait for the client to close (or send another request,
		// which this server does not answer).
		_, _ = io.Copy(io.Discard, br)
	}
}

// URL returns the server's http URL (no path).
func (rs *rawServer) URL() string { return "http://" + rs.addr }

// waitClosed waits (generously) until the server has seen n connections
// closed.
func (rs *rawServer) waitClosed(t testing.TB, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return rs.closed.Load() >= n }, generous, 5*time.Millisecond,
		"connections closed: %d of %d", rs.closed.Load(), n)
}

// readRequestHead reads an HTTP request's head from c (up to the blank
// line, byte by byte so nothing after it is consumed), so a raw server can
// answer after it.
func readRequestHead(c net.Conn) error {
	var buf []byte
	one := make([]byte, 1)
	for !strings.HasSuffix(string(buf), "\r\n\r\n") {
		if _, err := c.Read(one); err != nil {
			return err
		}
		buf = append(buf, one[0])
	}
	return nil
}
