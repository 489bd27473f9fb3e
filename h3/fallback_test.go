package reqivoh3_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/reqivotest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	reqivoh3 "github.com/reqivo/reqivo/h3"
)

// echoHandler answers with the protocol and the request body.
func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write([]byte(r.Proto + " " + string(b)))
	})
}

// quickConnect bounds a handshake more tightly than the default: the black
// hole never answers, and each fallback waits this long. It bounds the TCP
// handshakes too, so it stays generous for a loaded machine.
var quickConnect = reqivo.WithTimeouts(reqivo.Timeouts{Connect: 2 * time.Second, Read: 60 * time.Second, Total: 120 * time.Second})

func TestFallbackToTCPWhenQUICFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		port func(t *testing.T) int
	}{
		{"udp port closed", closedUDPPort},
		{"udp black hole", func(t *testing.T) int { return newBlackHole(t).Port }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := newOrigin(t, echoHandler())
			v := `h3=":` + strconv.Itoa(tc.port(t)) + `"; ma=3600`
			o.AltSvc.Store(&v)
			s := session(t, o, reqivoh3.Option(), quickConnect)

			resp, err := s.Get(context.Background(), o.URL)
			require.NoError(t, err)
			assert.Equal(t, "HTTP/2.0", resp.Proto)
			// This one tries QUIC, fails, and goes over TCP with its body
			// whole; the caller sees a plain success.
			resp, err = s.Post(context.Background(), o.URL, reqivo.Body(strings.NewReader("payload")))
			require.NoError(t, err)
			assert.Equal(t, "HTTP/2.0 payload", resp.Text())
			resp, err = s.Get(context.Background(), o.URL)
			require.NoError(t, err)
			assert.Equal(t, "HTTP/2.0", resp.Proto, "the origin is marked broken")
			assert.Zero(t, s.Stats().QUICConnsOpened)
			assert.EqualValues(t, 3, s.Stats().Requests, "a fallback is one request on the wire")
		})
	}
}

func TestBrokenOriginBacksOff(t *testing.T) {
	t.Parallel()
	o, hole, clock, s := blackHoled(t)

	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL)) // learns
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL)) // tries QUIC, falls back
	require.Equal(t, 1, hole.dials())
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
	assert.Equal(t, 1, hole.dials(), "broken: QUIC is not tried")

	clock.Advance(5*time.Minute + time.Second)
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
	assert.Equal(t, 2, hole.dials(), "tried again after 5 minutes")

	clock.Advance(5*time.Minute + time.Second)
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
	assert.Equal(t, 2, hole.dials(), "the second failure doubled the wait")
	clock.Advance(5 * time.Minute)
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
	assert.Equal(t, 3, hole.dials())
}

func TestBrokenOriginRecovers(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	hole := newBlackHole(t)
	bad := `h3=":` + strconv.Itoa(hole.Port) + `"; ma=86400`
	o.AltSvc.Store(&bad)
	clock := reqivotest.NewClock()
	s := session(t, o, reqivoh3.Option(), quickConnect, clock.Option())
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL)) // broken now

	o.advertise(86400) // the origin fixes its advertisement
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL), "still marked broken")
	clock.Advance(5*time.Minute + time.Second)
	assert.Equal(t, "HTTP/3.0", get(t, s, o.URL))
	assert.EqualValues(t, 1, s.Stats().QUICConnsOpened)
}

func TestConcurrentFallbackIsOneFailure(t *testing.T) {
	t.Parallel()
	o, hole, clock, s := blackHoled(t)
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp, err := s.Get(context.Background(), o.URL)
			assert.NoError(t, err)
			if err == nil {
				assert.Equal(t, "HTTP/2.0", resp.Proto)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, hole.dials(), "the burst shared one QUIC attempt")
	clock.Advance(5*time.Minute + time.Second)
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
	assert.Equal(t, 2, hole.dials(), "one failure: the first backoff, not one per request")
}

func TestTraceSeesTheQUICHandshake(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	var mu sync.Mutex
	var got []string
	s := session(t, o, reqivoh3.Option(reqivoh3.Only()))
	trace := &httptrace.ClientTrace{
		ConnectStart: func(network, _ string) { mu.Lock(); got = append(got, "connect "+network); mu.Unlock() },
		TLSHandshakeDone: func(cs tls.ConnectionState, err error) {
			mu.Lock()
			got = append(got, "tls "+cs.NegotiatedProtocol)
			mu.Unlock()
		},
		GotConn: func(httptrace.GotConnInfo) { mu.Lock(); got = append(got, "conn"); mu.Unlock() },
	}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	_, err := s.Get(ctx, o.URL)
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"connect udp", "tls h3", "conn"}, got)
}

// blackHoled returns an origin that advertises a black hole as its HTTP/3
// endpoint for a day, and a session on a virtual clock with HTTP/3 on.
func blackHoled(t *testing.T) (*origin, *blackHole, *reqivotest.Clock, *reqivo.Session) {
	t.Helper()
	hole := newBlackHole(t)
	o := newOrigin(t, nil)
	v := `h3=":` + strconv.Itoa(hole.Port) + `"; ma=86400`
	o.AltSvc.Store(&v)
	clock := reqivotest.NewClock()
	return o, hole, clock, session(t, o, reqivoh3.Option(), quickConnect, clock.Option())
}
