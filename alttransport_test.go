package reqivo

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeAlt is a second transport that answers itself the requests to the
// hosts it takes: no QUIC in this module, so a recording fake stands for it.
type fakeAlt struct {
	env   AltTransportEnv
	mu    sync.Mutex
	takes bool
	seen  []*http.Request // the requests offered
	saw   []string        // the Alt-Svc of the TCP responses shown
	idle  int             // CloseIdleConnections calls
}

func (f *fakeAlt) RoundTrip(req *http.Request) (*http.Response, bool, error) {
	f.mu.Lock()
	f.seen = append(f.seen, req)
	takes := f.takes
	f.mu.Unlock()
	if !takes {
		return nil, false, nil
	}
	f.env.ConnOpened()
	rec := httptest.NewRecorder()
	b := ""
	if req.Body != nil {
		raw, _ := io.ReadAll(req.Body)
		req.Body.Close()
		b = string(raw)
	}
	_, _ = io.WriteString(rec, "alt "+req.Header.Get("Authorization")+" "+b)
	resp := rec.Result()
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/3.0", 3, 0
	resp.Request = req
	return resp, true, nil
}

func (f *fakeAlt) SawTCP(resp *http.Response) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saw = append(f.saw, resp.Header.Get("Alt-Svc"))
}

func (f *fakeAlt) CloseIdleConnections() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idle++
}

func (f *fakeAlt) offered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}

// withFakeAlt installs f.
func withFakeAlt(f *fakeAlt) Option {
	return WithAltTransport(func(env AltTransportEnv) (AltTransport, error) {
		f.env = env
		return f, nil
	})
}

func TestAltTransportDeclinedGoesOverTCPAndLearns(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Alt-Svc", `h3=":443"`)
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "tcp "+string(b))
	}))
	t.Cleanup(srv.Close)
	f := &fakeAlt{}
	s := newTestSession(t, withFakeAlt(f), WithTLSConfig(&tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}))
	resp, err := s.Post(context.Background(), srv.URL, BodyString("body"))
	require.NoError(t, err)
	assert.Equal(t, "tcp body", resp.Text(), "the declined request's body went whole over TCP")
	assert.Equal(t, 1, f.offered())
	assert.Equal(t, []string{`h3=":443"`}, f.saw)
	assert.NotNil(t, f.env.TLSConfig.RootCAs, "the session's roots reach the transport")
	assert.Equal(t, DefaultConnectTimeout, f.env.Timeouts.Connect)
	st := s.Stats()
	assert.EqualValues(t, 1, st.Requests)
	assert.EqualValues(t, 1, st.ConnsOpened)
	assert.Zero(t, st.QUICConnsOpened)
}

func TestAltTransportTakenRunsUnderTheSession(t *testing.T) {
	t.Parallel()
	f := &fakeAlt{takes: true}
	s := newTestSession(t, withFakeAlt(f), WithBearerToken("tok"))
	resp, err := s.Post(context.Background(), "https://alt.invalid/x", BodyString("b"))
	require.NoError(t, err)
	assert.Equal(t, "alt Bearer tok b", resp.Text())
	assert.Equal(t, "HTTP/3.0", resp.Proto)
	st := s.Stats()
	assert.EqualValues(t, 1, st.Requests)
	assert.EqualValues(t, 1, st.QUICConnsOpened)
	assert.Zero(t, st.ConnsOpened)

	require.NoError(t, s.Close())
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Positive(t, f.idle, "Close closes the transport's idle connections")
}

func TestAltTransportIsNotOffered(t *testing.T) {
	t.Parallel()
	plain := setupServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "plain") })
	f := &fakeAlt{takes: true}
	s := newTestSession(t, withFakeAlt(f))
	resp, err := s.Get(context.Background(), plain.URL)
	require.NoError(t, err)
	assert.Equal(t, "plain", resp.Text(), "plain http")

	// A WebSocket handshake stays on TCP.
	router := &altRouter{alt: f, tcp: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("tcp")
	})}
	up, err := http.NewRequest(http.MethodGet, "https://alt.invalid/", nil)
	require.NoError(t, err)
	up.Header.Set("Connection", "Upgrade")
	up.Header.Set("Upgrade", "websocket")
	_, err = router.RoundTrip(up)
	assert.EqualError(t, err, "tcp")
	assert.Zero(t, f.offered())

	proxied := &fakeAlt{takes: true}
	s = newTestSession(t, withFakeAlt(proxied), WithProxy("http://"+closedAddr(t)))
	_, err = s.Get(context.Background(), "https://alt.invalid/")
	assert.ErrorIs(t, err, ErrNetwork, "through the proxy, which is down")
	assert.Zero(t, proxied.offered(), "an HTTP proxy cannot carry the second transport")
}

func TestWithAltTransportErrors(t *testing.T) {
	t.Parallel()
	_, err := NewSession(WithAltTransport(nil))
	assert.ErrorIs(t, err, ErrInvalidOption)
	_, err = NewSession(withFakeAlt(&fakeAlt{}), WithTransport(http.DefaultTransport))
	assert.ErrorIs(t, err, ErrInvalidOption)
	_, err = NewSession(WithAltTransport(func(AltTransportEnv) (AltTransport, error) { return nil, errors.New("bad setting") }))
	assert.ErrorIs(t, err, ErrInvalidOption)
	assert.ErrorContains(t, err, "bad setting")
	_, err = NewSession(WithAltTransport(func(AltTransportEnv) (AltTransport, error) { return nil, nil }))
	assert.ErrorIs(t, err, ErrInvalidOption)
}
