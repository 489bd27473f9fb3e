package reqivoh3_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/reqivotest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	reqivoh3 "github.com/reqivo/reqivo/h3"
)

func TestWithoutOptionStaysOnTCP(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	o.advertise(60)
	s := session(t, o)
	for range 3 {
		assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
	}
	assert.Zero(t, s.Stats().QUICConnsOpened)
}

func TestAltSvcMovesTheOriginToHTTP3(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	o.advertise(60)
	s := session(t, o, reqivoh3.Option())

	resp, err := s.Get(context.Background(), o.URL)
	require.NoError(t, err)
	assert.Equal(t, "HTTP/2.0", resp.Proto, "the first request finds no advertisement yet")
	assert.Equal(t, "HTTP/2.0", resp.Text())

	resp, err = s.Get(context.Background(), o.URL)
	require.NoError(t, err)
	assert.Equal(t, "HTTP/3.0", resp.Proto)
	assert.Equal(t, "HTTP/3.0", resp.Text(), "the server saw HTTP/3")
	assert.Equal(t, 3, resp.ProtoMajor)
	require.NotNil(t, resp.TLS)
	assert.Equal(t, "h3", resp.TLS.NegotiatedProtocol)

	assert.Equal(t, "HTTP/3.0", get(t, s, o.URL+"/again"))
	st := s.Stats()
	assert.EqualValues(t, 1, st.QUICConnsOpened, "one QUIC connection, reused")
	assert.EqualValues(t, 1, st.ConnsOpened, "one TCP connection, for the discovery")
	assert.EqualValues(t, 3, st.Requests)
}

func TestAltSvcMaxAgeEnds(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	o.advertise(60)
	clock := reqivotest.NewClock()
	s := session(t, o, reqivoh3.Option(), clock.Option())

	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
	assert.Equal(t, "HTTP/3.0", get(t, s, o.URL))
	clock.Advance(59 * time.Second)
	assert.Equal(t, "HTTP/3.0", get(t, s, o.URL), "within the max age")
	clock.Advance(2 * time.Second)
	o.AltSvc.Store(new(string)) // no longer advertised over TCP
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL), "past the max age")
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
}

func TestAltSvcClearMovesTheOriginBack(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	o.advertise(3600)
	s := session(t, o, reqivoh3.Option())
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
	assert.Equal(t, "HTTP/3.0", get(t, s, o.URL))

	clear := "clear"
	o.H3AltSvc.Store(&clear)
	assert.Equal(t, "HTTP/3.0", get(t, s, o.URL), "the response that clears still comes over HTTP/3")
	o.AltSvc.Store(&clear)
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
	assert.Equal(t, "HTTP/2.0", get(t, s, o.URL), "TCP's own clear keeps it there")
}

func TestAltSvcForAnotherHostIsIgnored(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	v := `h3="elsewhere.example:` + strconv.Itoa(o.Port) + `"`
	o.AltSvc.Store(&v)
	s := session(t, o, reqivoh3.Option())
	for range 3 {
		assert.Equal(t, "HTTP/2.0", get(t, s, o.URL))
	}
	assert.Zero(t, s.Stats().QUICConnsOpened)
}

func TestOnlySpeaksHTTP3FromTheFirstRequest(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	s := session(t, o, reqivoh3.Option(reqivoh3.Only()))
	o.TCP.CloseClientConnections()
	for range 3 {
		assert.Equal(t, "HTTP/3.0", get(t, s, o.URL))
	}
	st := s.Stats()
	assert.EqualValues(t, 1, st.QUICConnsOpened)
	assert.Zero(t, st.ConnsOpened, "no TCP connection")
}

func TestOnlySurfacesAQUICFailure(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	o.H3.Close() // nothing answers over UDP; TCP still would
	s := session(t, o, reqivoh3.Option(reqivoh3.Only()),
		reqivo.WithTimeouts(reqivo.Timeouts{Connect: 300 * time.Millisecond}))
	_, err := s.Get(context.Background(), o.URL)
	require.Error(t, err)
	assert.ErrorIs(t, err, reqivo.ErrConnectTimeout)
	assert.Zero(t, s.Stats().ConnsOpened, "no fallback to TCP")
}

func TestPlainHTTPStaysOnTCP(t *testing.T) {
	t.Parallel()
	srv := newPlain(t)
	s := session(t, newOrigin(t, nil), reqivoh3.Option(reqivoh3.Only()))
	resp, err := s.Get(context.Background(), srv)
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1", resp.Proto)
}

func TestOptionWithTransportIsAnError(t *testing.T) {
	t.Parallel()
	_, err := reqivo.NewSession(reqivoh3.Option(), reqivo.WithTransport(http.DefaultTransport))
	assert.ErrorIs(t, err, reqivo.ErrInvalidOption)
	_, err = reqivo.NewSession(reqivoh3.Option(nil))
	assert.ErrorIs(t, err, reqivo.ErrInvalidOption)
}

// newPlain starts a plain http server answering with the protocol.
func newPlain(t *testing.T) string {
	t.Helper()
	srv := httptestServer(t, protoHandler())
	return fmt.Sprint(srv.URL)
}
