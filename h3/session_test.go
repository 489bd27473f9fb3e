package reqivoh3_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/reqivotest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	reqivoh3 "github.com/reqivo/reqivo/h3"
)

// What the session does above the transport works the same over HTTP/3.

func TestCookiesAndAuthScopingAcrossHTTP3AndTCP(t *testing.T) {
	t.Parallel()
	other := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "from_other", Value: "2", Path: "/"})
		_, _ = io.WriteString(w, r.Proto+"|"+r.Header.Get("Authorization")+"|"+r.Header.Get("Cookie"))
	}))
	var o *origin
	o = newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/set":
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: "1", Path: "/", Secure: true})
		case "/away":
			http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, r.Proto+"|"+r.Header.Get("Authorization")+"|"+r.Header.Get("Cookie"))
	}))
	o.advertise(3600)
	s := session(t, o, reqivoh3.Option(), reqivo.WithBaseURL(o.URL), reqivo.WithBearerToken("secret"))

	resp, err := s.Get(context.Background(), "/set")
	require.NoError(t, err)
	assert.Equal(t, "HTTP/2.0|Bearer secret|", resp.Text(), "the cookie is set over TCP")

	resp, err = s.Get(context.Background(), "/echo")
	require.NoError(t, err)
	assert.Equal(t, "HTTP/3.0|Bearer secret|sid=1", resp.Text(), "and sent over HTTP/3, with the auth")

	resp, err = s.Get(context.Background(), "/away")
	require.NoError(t, err)
	assert.Equal(t, "HTTP/2.0||sid=1", resp.Text(), "the redirect from HTTP/3 to another origin carries no auth")
	require.Len(t, resp.History(), 1)
	assert.Equal(t, "HTTP/3.0", resp.History()[0].Proto)

	resp, err = s.Get(context.Background(), "/echo")
	require.NoError(t, err)
	assert.Equal(t, "HTTP/3.0|Bearer secret|sid=1; from_other=2", resp.Text(),
		"a cookie set over TCP by the other port of the host is sent over HTTP/3")
}

func TestRetryAfterAQUICConnectionReset(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			// The whole QUIC connection goes, mid-request.
			_ = serverConn(r).CloseWithError(0x102, "reset")
			return
		}
		_, _ = io.WriteString(w, r.Proto)
	}))
	s := session(t, o, reqivoh3.Option(reqivoh3.Only()),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 3}), reqivotest.InstantWaits())
	resp, err := s.Get(context.Background(), o.URL)
	require.NoError(t, err)
	assert.Equal(t, "HTTP/3.0", resp.Text())
	assert.Equal(t, 2, resp.Attempts())
	require.Len(t, resp.Retries(), 1)
	assert.ErrorIs(t, resp.Retries()[0].Err, reqivo.ErrNetwork)
	assert.EqualValues(t, 2, s.Stats().QUICConnsOpened, "the retry made a new connection")
}

func TestSixtyFourConcurrentRequestsShareOneQUICConnection(t *testing.T) {
	t.Parallel()
	const n = 64
	var arrived sync.WaitGroup
	arrived.Add(n)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		select { // every request is in flight at once before any answer
		case <-all:
		case <-time.After(60 * time.Second):
			http.Error(w, "not all requests arrived", http.StatusGatewayTimeout)
			return
		}
		_, _ = io.WriteString(w, r.Proto)
	}))
	s := session(t, o, reqivoh3.Option(reqivoh3.Only()))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			resp, err := s.Get(context.Background(), o.URL)
			if err == nil {
				err = resp.Err()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, s.Stats().QUICConnsOpened)
	assert.Len(t, o.quicConns(), 1)
	assert.EqualValues(t, n, s.Stats().Requests)
}

func TestCloseClosesTheQUICConnections(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first part;")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, "end")
	}))
	s := session(t, o, reqivoh3.Option(reqivoh3.Only()))
	get(t, s, o.URL)
	resp, err := s.Get(context.Background(), o.URL+"/slow", reqivo.Stream())
	require.NoError(t, err)
	require.Equal(t, "HTTP/3.0", resp.Proto)
	conns := o.quicConns()
	require.Len(t, conns, 1)

	require.NoError(t, s.Close())
	select {
	case <-conns[0].Context().Done():
		t.Fatal("a stream in flight lost its connection at Close")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "first part;end", string(b))
	require.NoError(t, resp.Body.Close())
	select {
	case <-conns[0].Context().Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the QUIC connection is still open after Close and the stream's end")
	}
	_, err = s.Get(context.Background(), o.URL)
	assert.ErrorIs(t, err, reqivo.ErrClosed)
}

func TestObserverSeesHTTP3(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	var mu sync.Mutex
	var protos []string
	obs := reqivo.Observer{AttemptEnd: func(_ context.Context, a reqivo.AttemptDone) {
		mu.Lock()
		protos = append(protos, a.Proto)
		mu.Unlock()
	}}
	s := session(t, o, reqivoh3.Option(reqivoh3.Only()), reqivo.WithObserver(obs))
	get(t, s, o.URL)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"HTTP/3.0"}, protos)
}

func TestWebSocketStaysOnTCP(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), typ, append([]byte(r.Proto+" "), msg...))
		_ = c.Close(websocket.StatusNormalClosure, "")
	}))
	s := session(t, o, reqivoh3.Option(reqivoh3.Only()))
	ws, err := s.WebSocket(context.Background(), "wss"+o.URL[len("https"):])
	require.NoError(t, err)
	defer ws.Close()
	require.NoError(t, ws.SendText(context.Background(), "hi"))
	_, msg, err := ws.Receive(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 hi", string(msg))
	assert.Zero(t, s.Stats().QUICConnsOpened)
}

func TestZeroRTTNeverCarriesAPost(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	early := map[string]bool{} // method -> arrived before the handshake ended
	o := newOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-serverConn(r).HandshakeComplete():
		default:
			mu.Lock()
			early[r.Method] = true
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, r.Proto)
	}))
	tickets := tls.NewLRUClientSessionCache(8) // shared: later sessions resume
	newSession := func() *reqivo.Session {
		s, err := reqivo.NewSession(reqivoh3.Option(reqivoh3.Only()),
			reqivo.WithTLSConfig(&tls.Config{RootCAs: o.Roots, ClientSessionCache: tickets}))
		require.NoError(t, err)
		return s
	}
	s := newSession()
	get(t, s, o.URL)
	require.NoError(t, s.Close())

	for range 3 {
		s = newSession()
		resp, err := s.Post(context.Background(), o.URL, reqivo.BodyString("order"))
		require.NoError(t, err)
		assert.Equal(t, "HTTP/3.0", resp.Text())
		require.NoError(t, s.Close())
	}
	mu.Lock()
	defer mu.Unlock()
	assert.False(t, early[http.MethodPost], "a POST rode 0-RTT")
}
