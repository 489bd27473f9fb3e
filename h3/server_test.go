package reqivoh3_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/reqivo/reqivo"
	"github.com/stretchr/testify/require"
)

// origin is one https origin served over TCP (HTTP/2 and HTTP/1.1) by
// httptest and over QUIC (HTTP/3) by quic-go's server, on the same port
// number, with one certificate.
type origin struct {
	URL   string         // https://127.0.0.1:port
	Port  int            // the TCP and UDP port
	Roots *x509.CertPool // trusts the certificate
	TCP   *httptest.Server
	H3    *http3.Server

	// AltSvc is what the TCP server advertises; "" is no header.
	AltSvc atomic.Pointer[string]
	// H3AltSvc is what the HTTP/3 server advertises; "" is no header.
	H3AltSvc atomic.Pointer[string]

	mu    sync.Mutex
	conns []*quic.Conn // the QUIC connections the server accepted
}

// newOrigin starts an origin whose handler is h (nil: protoHandler).
func newOrigin(t *testing.T, h http.Handler) *origin {
	t.Helper()
	if h == nil {
		h = protoHandler()
	}
	o := &origin{}
	o.AltSvc.Store(new(string))
	o.H3AltSvc.Store(new(string))
	header := func(p *atomic.Pointer[string], next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v := *p.Load(); v != "" {
				w.Header().Set("Alt-Svc", v)
			}
			next.ServeHTTP(w, r)
		})
	}
	// Try a few ports: the UDP one must match the TCP one.
	var udp net.PacketConn
	for i := 0; ; i++ {
		o.TCP = httptest.NewUnstartedServer(header(&o.AltSvc, h))
		o.TCP.EnableHTTP2 = true
		o.TCP.StartTLS()
		port := o.TCP.Listener.Addr().(*net.TCPAddr).Port
		var err error
		udp, err = net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			o.Port = port
			break
		}
		o.TCP.Close()
		require.Less(t, i, 20, "no port free for both TCP and UDP: %v", err)
	}
	o.URL = o.TCP.URL
	o.Roots = x509.NewCertPool()
	o.Roots.AddCert(o.TCP.Certificate())
	o.H3 = &http3.Server{
		Handler:   header(&o.H3AltSvc, h),
		TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: o.TCP.TLS.Certificates}),
		QUICConfig: &quic.Config{
			Allow0RTT:          true,
			MaxIncomingStreams: 256,
		},
		ConnContext: func(ctx context.Context, c *quic.Conn) context.Context {
			o.mu.Lock()
			o.conns = append(o.conns, c)
			o.mu.Unlock()
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = o.H3.Serve(udp)
	}()
	t.Cleanup(func() {
		o.H3.Close()
		udp.Close()
		<-done
		o.TCP.Close()
	})
	return o
}

// advertise makes the TCP server send Alt-Svc for its own HTTP/3 port.
func (o *origin) advertise(maxAge int) {
	v := `h3=":` + strconv.Itoa(o.Port) + `"; ma=` + strconv.Itoa(maxAge)
	o.AltSvc.Store(&v)
}

// quicConns returns the QUIC connections the server accepted.
func (o *origin) quicConns() []*quic.Conn {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*quic.Conn(nil), o.conns...)
}

type connKey struct{}

// serverConn is the QUIC connection a request came on (nil over TCP).
func serverConn(r *http.Request) *quic.Conn {
	c, _ := r.Context().Value(connKey{}).(*quic.Conn)
	return c
}

// protoHandler answers with the protocol the request came over.
func protoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Proto))
	})
}

// session returns a session trusting o's certificate, closed at cleanup.
func session(t *testing.T, o *origin, opts ...reqivo.Option) *reqivo.Session {
	t.Helper()
	all := append([]reqivo.Option{
		reqivo.WithTLSConfig(&tls.Config{RootCAs: o.Roots}),
		reqivo.WithTimeouts(reqivo.Timeouts{Connect: 5 * time.Second, Read: 60 * time.Second, Total: 120 * time.Second}),
	}, opts...)
	s, err := reqivo.NewSession(all...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// get sends a GET and returns the protocol the response came over.
func get(t *testing.T, s *reqivo.Session, url string) string {
	t.Helper()
	resp, err := s.Get(context.Background(), url)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.Text())
	return resp.Proto
}

// blackHole is a UDP socket that reads every datagram and never answers.
type blackHole struct {
	Port    int
	mu      sync.Mutex
	sources map[string]bool // the client sockets seen: one per QUIC dial
}

func newBlackHole(t *testing.T) *blackHole {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &blackHole{Port: pc.LocalAddr().(*net.UDPAddr).Port, sources: make(map[string]bool)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			b.mu.Lock()
			b.sources[from.String()] = true
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return b
}

// dials reports how many QUIC dials reached the hole.
func (b *blackHole) dials() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sources)
}

// closedUDPPort returns a UDP port nothing listens on.
func closedUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	port := pc.LocalAddr().(*net.UDPAddr).Port
	require.NoError(t, pc.Close())
	return port
}

// httptestServer starts a plain http server closed at cleanup.
func httptestServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
