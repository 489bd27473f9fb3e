package reqivo

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dialRecorder dials target whatever address it is asked for, and records
// the addresses.
type dialRecorder struct {
	target string
	mu     sync.Mutex
	addrs  []string
}

func (d *dialRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, network, d.target)
}

func (d *dialRecorder) seen() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

func TestWithDialContextOpensEveryConnection(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Host + " " + r.URL.String()))
	})
	d := &dialRecorder{target: srv.Listener.Addr().String()}
	// The pool options stay valid with a dialer.
	s := newTestSession(t, WithDialContext(d.dial), WithLimits(Limits{MaxConnsPerHost: 1}), WithProxy(""))
	resp, err := s.Get(context.Background(), "http://api.example.invalid/users?id=1")
	require.NoError(t, err)
	assert.Equal(t, "api.example.invalid /users?id=1", resp.Text())
	assert.Equal(t, []string{"api.example.invalid:80"}, d.seen())
	assert.EqualValues(t, 1, s.Stats().ConnsOpened)
}

func TestWithDialContextDialsTheProxy(t *testing.T) {
	t.Parallel()
	proxy := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("proxied " + r.URL.String()))
	})
	d := &dialRecorder{target: proxy.Listener.Addr().String()}
	s := newTestSession(t, WithDialContext(d.dial), WithProxy("http://proxy.example.invalid:3128"))
	resp, err := s.Get(context.Background(), "http://api.example.invalid/x")
	require.NoError(t, err)
	assert.Equal(t, "proxied http://api.example.invalid/x", resp.Text())
	assert.Equal(t, []string{"proxy.example.invalid:3128"}, d.seen())
}

func TestWithDialTLSContextOpensHTTPSConnections(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("tls"))
	}))
	t.Cleanup(srv.Close)
	plain := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("plain"))
	})
	var (
		mu       sync.Mutex
		tlsAddrs []string
	)
	dialTLS := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		tlsAddrs = append(tlsAddrs, addr)
		mu.Unlock()
		d := tls.Dialer{Config: srv.Client().Transport.(*http.Transport).TLSClientConfig}
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	d := &dialRecorder{target: plain.Listener.Addr().String()}
	s := newTestSession(t, WithDialContext(d.dial), WithDialTLSContext(dialTLS), WithProxy(""))

	resp, err := s.Get(context.Background(), "https://secure.example.invalid/")
	require.NoError(t, err)
	assert.Equal(t, "tls", resp.Text())
	assert.NotNil(t, resp.TLS, "a *tls.Conn gives the response its TLS state")
	resp, err = s.Get(context.Background(), "http://plain.example.invalid/")
	require.NoError(t, err)
	assert.Equal(t, "plain", resp.Text())

	assert.Equal(t, []string{"secure.example.invalid:443"}, tlsAddrs)
	assert.Equal(t, []string{"plain.example.invalid:80"}, d.seen())
	assert.EqualValues(t, 2, s.Stats().ConnsOpened)
}

func TestDialOptionsRefused(t *testing.T) {
	t.Parallel()
	dial := (&net.Dialer{}).DialContext
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"nil dial", []Option{WithDialContext(nil)}},
		{"nil TLS dial", []Option{WithDialTLSContext(nil)}},
		{"dial with transport", []Option{WithDialContext(dial), WithTransport(http.DefaultTransport)}},
		{"TLS dial with transport", []Option{WithTransport(http.DefaultTransport), WithDialTLSContext(dial)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewSession(tc.opts...)
			assert.ErrorIs(t, err, ErrInvalidOption)
		})
	}
}
