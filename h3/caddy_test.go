//go:build linux

package reqivoh3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/reqivo/reqivo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	reqivoh3 "github.com/reqivo/reqivo/h3"
	"github.com/reqivo/reqivo/h3/internal/caddytest"
)

// bigSize is the size of the large file Caddy serves.
const bigSize = 50 << 20

// startCaddy starts Caddy for the test, serving "small.txt" and
// "big.bin" (50 MiB), or skips when Caddy is not installed.
func startCaddy(t *testing.T) (*caddytest.Server, [32]byte) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "small.txt"), []byte("hello from caddy"), 0o600))
	big := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"), bigSize/64)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o600))
	srv, err := caddytest.Start(dir, t.TempDir())
	if errors.Is(err, caddytest.ErrNotInstalled) {
		t.Skip("caddy is not installed (apt-get install caddy)")
	}
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv, sha256.Sum256(big)
}

// caddySession returns a session trusting srv's certificate.
func caddySession(t *testing.T, srv *caddytest.Server, opts ...reqivo.Option) *reqivo.Session {
	t.Helper()
	return session(t, &origin{Roots: srv.Roots}, opts...)
}

func TestCaddy(t *testing.T) {
	srv, bigSum := startCaddy(t)

	t.Run("discovery through Alt-Svc", func(t *testing.T) {
		s := caddySession(t, srv, reqivoh3.Option())
		resp, err := s.Get(context.Background(), srv.URL+"/small.txt")
		require.NoError(t, err)
		assert.Equal(t, "HTTP/2.0", resp.Proto)
		assert.Contains(t, resp.Header.Get("Alt-Svc"), "h3=")
		resp, err = s.Get(context.Background(), srv.URL+"/small.txt")
		require.NoError(t, err)
		assert.Equal(t, "HTTP/3.0", resp.Proto)
		assert.Equal(t, "hello from caddy", resp.Text())
		assert.EqualValues(t, 1, s.Stats().QUICConnsOpened)
	})

	t.Run("Only", func(t *testing.T) {
		s := caddySession(t, srv, reqivoh3.Option(reqivoh3.Only()))
		resp, err := s.Get(context.Background(), srv.URL+"/small.txt")
		require.NoError(t, err)
		assert.Equal(t, "HTTP/3.0", resp.Proto)
		assert.Zero(t, s.Stats().ConnsOpened)
	})

	t.Run("50 MiB download", func(t *testing.T) {
		s := caddySession(t, srv, reqivoh3.Option(reqivoh3.Only()))
		path := filepath.Join(t.TempDir(), "big.bin")
		resp, err := s.Download(context.Background(), srv.URL+"/big.bin", path)
		require.NoError(t, err)
		assert.Equal(t, "HTTP/3.0", resp.Proto)
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Len(t, got, bigSize)
		assert.Equal(t, bigSum, sha256.Sum256(got))
	})

	t.Run("64 concurrent requests on one connection", func(t *testing.T) {
		s := caddySession(t, srv, reqivoh3.Option(reqivoh3.Only()))
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for range 64 {
			wg.Go(func() {
				resp, err := s.Get(context.Background(), srv.URL+"/small.txt")
				if err == nil && resp.Proto != "HTTP/3.0" {
					err = errors.New(resp.Proto)
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
	})

	t.Run("Close", func(t *testing.T) {
		s := caddySession(t, srv, reqivoh3.Option())
		for _, want := range []string{"HTTP/2.0", "HTTP/3.0"} {
			resp, err := s.Get(context.Background(), srv.URL+"/small.txt")
			require.NoError(t, err)
			assert.Equal(t, want, resp.Proto)
		}
		// goleak (TestMain) finds the QUIC connection's goroutines if
		// Close left it open.
		require.NoError(t, s.Close())
		_, err := s.Get(context.Background(), srv.URL+"/small.txt")
		assert.ErrorIs(t, err, reqivo.ErrClosed)
	})
}
