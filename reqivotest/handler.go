// Handler: a session's requests answered by an http.Handler in process,
// over in-memory connections, through the session's whole pipeline.

package reqivotest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/internal/inprocess"
)

// Handler returns an option that answers every request of the session
// with h, in process: no socket is opened and nothing leaves the process.
//
// h is served by a real net/http server over in-memory connections
// (buffered like sockets) that the session's pool dials instead of the
// network, so the whole pipeline runs as against a server on the network:
// headers, auth and cookie scoping, redirects, retries, decompression,
// size limits, streams, Download and WebSockets, with bodies streamed, not
// buffered whole. An https
// URL gets a real TLS connection, with a certificate made in process for
// the URL's host that only this option's connections trust (the session's
// own TLS config is not used for it); h then sees r.TLS set, as behind
// httptest.NewTLSServer. Every host and port reach the same h; a nil h
// answers 404.
//
// The session's other options stay valid, so a production constructor
// that takes extra options can take this one. Handler wins over the
// options that would send requests elsewhere, wherever they stand, before
// it or after it: WithProxy (and the proxy environment variables),
// WithDialContext and WithDialTLSContext are accepted and left unused, so
// a constructor that appends its own proxy or dialer after the caller's
// options still has every request answered by h. It is an error with
// WithTransport, which replaces the pool h is served through.
//
// Close the session when done: its connections, and the goroutines that
// serve them, end then (or after Limits.IdleConnTimeout).
func Handler(h http.Handler) reqivo.Option {
	if h == nil {
		h = http.NotFoundHandler()
	}
	s := &memServer{srv: &http.Server{Handler: h}}
	return inprocess.Option(s.dial, s.dialTLS).(reqivo.Option)
}

// memServer serves one handler over in-memory connections.
type memServer struct {
	srv   *http.Server
	ports atomic.Int32 // the last client port handed out
}

// dial opens an in-memory connection to the server.
func (m *memServer) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	client, server := m.pipe(addr)
	m.serve(server, server)
	return client, nil
}

// dialTLS opens an in-memory connection and makes a TLS handshake on it
// with a certificate for addr's host.
func (m *memServer) dialTLS(ctx context.Context, _, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cert, roots, err := certFor(host)
	if err != nil {
		return nil, err
	}
	client, server := m.pipe(addr)
	m.serve(tls.Server(server, &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
	}), server)
	tc := tls.Client(client, &tls.Config{
		ServerName: host,
		RootCAs:    roots,
		NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS12,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = tc.Close()
		return nil, err
	}
	return tc, nil
}

// pipe returns the two ends of an in-memory connection with loopback
// addresses: the server's has addr's port, the client's a port of its own.
func (m *memServer) pipe(addr string) (client, server *memConn) {
	port := 443
	if _, p, err := net.SplitHostPort(addr); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	srvAddr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	cliAddr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000 + int(m.ports.Add(1)%20000)}
	return memPipe(cliAddr, srvAddr)
}

// serve runs the server on one connection, whose raw end is raw. Serve
// returns once the connection is closed, so no goroutine outlives it.
func (m *memServer) serve(c net.Conn, raw *memConn) {
	go func() { _ = m.srv.Serve(&oneConnListener{conn: c, raw: raw}) }()
}

// oneConnListener accepts one connection, then waits for it to be closed
// and reports the listener closed, which ends http.Server.Serve.
type oneConnListener struct {
	conn     net.Conn // raw, or a *tls.Conn over it
	raw      *memConn
	accepted bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.accepted {
		l.accepted = true
		return l.conn, nil
	}
	<-l.raw.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.raw.local }

// The in-process certificate authority: one key pair made on first use,
// and a certificate per host signed by it.
var (
	caOnce  sync.Once
	caErr   error
	caKey   *ecdsa.PrivateKey
	caCert  *x509.Certificate
	caRoots *x509.CertPool
	certsMu sync.Mutex
	certs   = map[string]tls.Certificate{} // by host
)

// certFor returns a certificate for host and the roots that trust it.
func certFor(host string) (tls.Certificate, *x509.CertPool, error) {
	caOnce.Do(func() { caErr = makeCA() })
	if caErr != nil {
		return tls.Certificate{}, nil, caErr
	}
	certsMu.Lock()
	defer certsMu.Unlock()
	if c, ok := certs[host]; ok {
		return c, caRoots, nil
	}
	tmpl := certTemplate("reqivotest " + host)
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	c := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: caKey}
	certs[host] = c
	return c, caRoots, nil
}

func makeCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := certTemplate("reqivotest in-process CA")
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	caKey, caCert = key, cert
	caRoots = x509.NewCertPool()
	caRoots.AddCert(cert)
	return nil
}

func certTemplate(name string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}
}
