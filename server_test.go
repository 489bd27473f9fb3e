// Test servers: go-httpbin and small handlers on loopback, and the goleak
// check every test of the package runs under.

package reqivo

import (
	"net/http"
	"net/http/httptest"
	"testing"

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
