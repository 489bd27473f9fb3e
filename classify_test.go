// Pins on the stdlib messages classify.go matches: where net/http leaves
// an error's type unexported, classify matches its text. Each case here
// provokes that error from the real net/http or crypto/tls (a raw
// misbehaving server, a plain http.Transport, no session), checks the
// text still holds the substring classify.go looks for, and that classify
// gives it the kind it should. A Go release that rewords one fails here
// instead of silently changing a kind.

package reqivo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const chunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

// roundTrip is one GET of u through tr, as the session makes it: straight
// to RoundTrip, so the error is the transport's own (http.Client would
// wrap it in a *url.Error).
func roundTrip(tr *http.Transport, u string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return tr.RoundTrip(req)
}

func TestClassifyPinsNetHTTPMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		reply  string // written after the request's head; "" writes nothing and keeps the connection
		tr     func(*http.Transport)
		body   bool   // the error comes from reading the body, not from the round trip
		substr string // what classify.go matches
		kind   error
	}{
		{name: "status line", reply: "garbage\r\n\r\n", substr: "malformed HTTP", kind: ErrInvalidResponse},
		{name: "status code", reply: "HTTP/1.1 abc OK\r\n\r\n", substr: "malformed HTTP", kind: ErrInvalidResponse},
		{name: "version", reply: "HTTP/1.x 200 OK\r\n\r\n", substr: "malformed HTTP", kind: ErrInvalidResponse},
		{
			name: "headers too large", reply: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 4<<10) + "\r\n\r\n",
			tr:     func(tr *http.Transport) { tr.MaxResponseHeaderBytes = 1 << 10 },
			substr: "server response headers exceeded", kind: ErrInvalidResponse,
		},
		{
			name: "bad Content-Length", reply: "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
			substr: "transport connection broken", kind: ErrInvalidResponse,
		},
		{name: "bad chunk size", reply: chunkedHead + "zz\r\nabc\r\n", body: true, substr: "chunk", kind: ErrInvalidResponse},
		{name: "bad chunk end", reply: chunkedHead + "3\r\nabcXY", body: true, substr: "chunk", kind: ErrInvalidResponse},
		{
			name: "chunk size line too long", reply: chunkedHead + strings.Repeat("1", 5000) + "\r\n", body: true,
			substr: "header line too long", kind: ErrInvalidResponse,
		},
		// Cut bodies are the wire failing: "unexpected EOF" keeps them
		// ErrNetwork, even where the message also says "chunk" or
		// "trailer".
		{name: "chunked body cut", reply: chunkedHead + "5\r\nab", body: true, substr: "unexpected EOF", kind: ErrNetwork},
		{name: "cut before the trailer", reply: chunkedHead + "0\r\n", body: true, substr: "unexpected EOF", kind: ErrNetwork},
		{
			name:   "response header timeout",
			tr:     func(tr *http.Transport) { tr.ResponseHeaderTimeout = 100 * time.Millisecond },
			substr: "awaiting response headers", kind: ErrReadTimeout,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs := setupRawServer(t, afterRequest(func(c net.Conn, _ *http.Request) bool {
				if tt.reply == "" {
					return true
				}
				_, _ = io.WriteString(c, tt.reply)
				return false
			}))
			tr := &http.Transport{}
			if tt.tr != nil {
				tt.tr(tr)
			}
			defer tr.CloseIdleConnections()
			resp, err := roundTrip(tr, rs.URL())
			if tt.body {
				require.NoError(t, err)
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.substr, "net/http reworded the error classify.go matches")
			assert.ErrorIs(t, classify(context.Background(), err), tt.kind)
		})
	}
}

// net/http's TLS handshake timeout is an unexported type; classify.go
// matches its text.
func TestClassifyPinsTLSHandshakeTimeout(t *testing.T) {
	t.Parallel()
	// Reads the ClientHello and never answers.
	rs := setupRawServer(t, func(c net.Conn, _ <-chan struct{}) { _, _ = io.Copy(io.Discard, c) })
	tr := &http.Transport{TLSHandshakeTimeout: 100 * time.Millisecond}
	defer tr.CloseIdleConnections()
	_, err := roundTrip(tr, "https://"+rs.addr+"/")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TLS handshake timeout", "net/http reworded the error classify.go matches")
	assert.True(t, isTLSHandshakeTimeout(err))
	assert.ErrorIs(t, classify(context.Background(), err), ErrConnectTimeout)
}

// crypto/tls reports a TLS alert from the server over TCP as a
// *net.OpError whose Op is "remote error"; classify.go matches the Op.
func TestClassifyPinsTLSAlertOp(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.Config.ErrorLog = discardLogger()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	// The client offers at most TLS 1.2: the server refuses with an alert.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	_, err := roundTrip(tr, srv.URL)
	require.Error(t, err)
	var opErr *net.OpError
	require.True(t, errors.As(err, &opErr), "crypto/tls no longer reports the alert as a *net.OpError: %v", err)
	assert.Equal(t, "remote error", opErr.Op, "crypto/tls renamed the Op classify.go matches")
	assert.ErrorIs(t, classify(context.Background(), err), ErrTLS)
}
