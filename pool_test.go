package reqivo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSequentialRequestsOneConnection(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("e"), 8<<10)
	srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(code)
		_, _ = w.Write(body)
	})
	s := newTestSession(t, WithBaseURL(srv.URL))
	codes := []int{200, 404, 500, 400, 503, 201, 401, 502}
	for i, code := range codes {
		q := "/?code=" + strconv.Itoa(code)
		if i%2 == 1 {
			q += "&chunked=1"
		}
		resp, err := s.Get(context.Background(), q)
		require.NoError(t, err)
		assert.Equal(t, code, resp.StatusCode)
		// The caller never reads the body.
	}
	for i := 0; i < 4; i++ {
		// A streamed body read to its end and closed also gives the
		// connection back. (One closed unread is dropped, as in net/http:
		// draining it could block Close on a stalled server.)
		resp, err := s.Get(context.Background(), "/?code=500", Stream())
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Close())
	}
	assert.EqualValues(t, 1, s.Stats().ConnsOpened)
	assert.EqualValues(t, 1, srv.conns.Load())
	assert.EqualValues(t, len(codes)+4, s.Stats().Requests)
}

func TestConcurrentRequestsReuseConnections(t *testing.T) {
	// Not parallel: 1,024 requests from 64 goroutines load both cores, and
	// other tests' generous deadlines should not compete with them.
	srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("c"), 2048))
	})
	s := newTestSession(t, WithBaseURL(srv.URL))
	const workers, perWorker = 64, 16
	hammer(t, workers, perWorker, func() error {
		resp, err := s.Get(context.Background(), "/")
		if err != nil {
			return err
		}
		if n := len(resp.Bytes()); n != 2048 {
			return fmt.Errorf("got %d bytes, want 2048", n)
		}
		return nil
	})
	st := s.Stats()
	t.Logf("%d requests over %d connections", st.Requests, st.ConnsOpened)
	assert.EqualValues(t, workers*perWorker, st.Requests)
	// net/http dials when no idle connection is free at that instant and
	// keeps whichever comes first, so 64 busy goroutines on 2 cores open
	// 64 to about 130 connections; at net/http's default of 2 idle
	// connections per host the same load opens 300 to 450.
	assert.LessOrEqual(t, st.ConnsOpened, int64(workers+workers*3/2), "connections are reused, not churned")
	assert.Equal(t, st.ConnsOpened, srv.conns.Load())
}

func TestMaxConnsPerHost(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond)
	})
	s := newTestSession(t, WithLimits(Limits{MaxConnsPerHost: 2}))
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Get(context.Background(), srv.URL)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, s.Stats().ConnsOpened, int64(2))
	assert.LessOrEqual(t, srv.conns.Load(), int64(2))
}

func TestMaxIdleConnsPerHost(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(4)
	srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
	})
	s := newTestSession(t, WithLimits(Limits{MaxIdleConnsPerHost: 1}))
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Get(context.Background(), srv.URL)
			assert.NoError(t, err)
		}()
	}
	arrived.Wait() // four connections at once
	close(release)
	wg.Wait()
	assert.EqualValues(t, 4, s.Stats().ConnsOpened)
	require.Eventually(t, func() bool { return srv.closed.Load() == 3 }, 5*time.Second, 5*time.Millisecond,
		"only one idle connection is kept")
}

func TestIdleConnTimeout(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	s := newTestSession(t, WithLimits(Limits{IdleConnTimeout: 50 * time.Millisecond}))
	_, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return srv.closed.Load() == 1 }, 5*time.Second, 5*time.Millisecond,
		"the idle connection is closed after IdleConnTimeout")
	_, err = s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.EqualValues(t, 2, s.Stats().ConnsOpened)
}

// transportSnapshot is the configuration of a *http.Transport that a
// careless library might change.
type transportSnapshot struct {
	Proxy, DialContext, DialTLSContext uintptr
	TLSClientConfig                    any
	TLSHandshakeTimeout                time.Duration
	DisableKeepAlives                  bool
	DisableCompression                 bool
	MaxIdleConns                       int
	MaxIdleConnsPerHost                int
	MaxConnsPerHost                    int
	IdleConnTimeout                    time.Duration
	ResponseHeaderTimeout              time.Duration
	ExpectContinueTimeout              time.Duration
	MaxResponseHeaderBytes             int64
	ForceAttemptHTTP2                  bool
	Protocols                          any
}

func funcPtr(f any) uintptr {
	v := reflect.ValueOf(f)
	if !v.IsValid() || v.IsNil() {
		return 0
	}
	return v.Pointer()
}

func snapshotTransport(tr *http.Transport) transportSnapshot {
	var tlsConf any
	if tr.TLSClientConfig != nil {
		tlsConf = *tr.TLSClientConfig.Clone()
	}
	var protocols any
	if tr.Protocols != nil {
		protocols = tr.Protocols.String()
	}
	return transportSnapshot{
		Proxy: funcPtr(tr.Proxy), DialContext: funcPtr(tr.DialContext), DialTLSContext: funcPtr(tr.DialTLSContext),
		TLSClientConfig: tlsConf, TLSHandshakeTimeout: tr.TLSHandshakeTimeout,
		DisableKeepAlives: tr.DisableKeepAlives, DisableCompression: tr.DisableCompression,
		MaxIdleConns: tr.MaxIdleConns, MaxIdleConnsPerHost: tr.MaxIdleConnsPerHost, MaxConnsPerHost: tr.MaxConnsPerHost,
		IdleConnTimeout: tr.IdleConnTimeout, ResponseHeaderTimeout: tr.ResponseHeaderTimeout,
		ExpectContinueTimeout: tr.ExpectContinueTimeout, MaxResponseHeaderBytes: tr.MaxResponseHeaderBytes,
		ForceAttemptHTTP2: tr.ForceAttemptHTTP2, Protocols: protocols,
	}
}

// TestDefaultTransportAndClientUntouched does not run in parallel: it
// reads http.DefaultTransport's fields, which net/http itself sets up
// lazily (HTTP/2) on first use.
func TestDefaultTransportAndClientUntouched(t *testing.T) {
	defTransport := http.DefaultTransport
	tr, ok := defTransport.(*http.Transport)
	require.True(t, ok)
	_ = tr.Clone() // net/http's own one-time HTTP/2 setup of tr, done now
	before := snapshotTransport(tr)
	defClient := http.DefaultClient
	clientBefore := *http.DefaultClient

	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL), WithLimits(Limits{MaxIdleConnsPerHost: 7, MaxConnsPerHost: 9, IdleConnTimeout: time.Minute}),
		WithTimeouts(Timeouts{Connect: time.Second, Read: 2 * time.Second}), WithProxy(""))
	_, err := s.Get(context.Background(), "/redirect/2")
	require.NoError(t, err)
	c := New(bin.URL, WithTLSConfig(tlsConfigWithRoots(nil)))
	defer c.Close()
	_, err = c.Get(context.Background(), "/get")
	require.NoError(t, err)
	hresp, err := s.HTTPClient().Get(bin.URL + "/get")
	require.NoError(t, err)
	require.NoError(t, hresp.Body.Close())

	assert.Same(t, defTransport, http.DefaultTransport)
	assert.Equal(t, before, snapshotTransport(tr))
	assert.Same(t, defClient, http.DefaultClient)
	assert.Equal(t, clientBefore.Timeout, http.DefaultClient.Timeout)
	assert.Nil(t, http.DefaultClient.Transport)
	assert.Nil(t, http.DefaultClient.Jar)
	assert.Nil(t, http.DefaultClient.CheckRedirect)
	assert.NotZero(t, s.Stats().ConnsOpened, "the session dialed on a pool of its own (dials on another transport are not seen)")
	assert.NotSame(t, http.DefaultClient, s.HTTPClient())
}

func TestStatsWithTransport(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	s := newTestSession(t, WithTransport(tr))
	for i := 0; i < 3; i++ {
		_, err := s.Get(context.Background(), srv.URL)
		require.NoError(t, err)
	}
	assert.Equal(t, Stats{Requests: 3, ConnsOpened: 0}, s.Stats(), "dials on a caller's transport are not seen")
}
