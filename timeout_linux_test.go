//go:build linux

package reqivo

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fullBacklogAddr returns a loopback address whose listener never accepts
// and whose accept queue is full, so that a new TCP connect hangs (Linux
// drops the SYN) until the dialer gives up.
func fullBacklogAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	for i := 0; i < 16; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return addr // the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill the accept queue")
	return ""
}

func TestConnectTimeoutTCP(t *testing.T) {
	t.Parallel()
	addr := fullBacklogAddr(t)
	s := newTestSession(t, WithTimeouts(Timeouts{Connect: 150 * time.Millisecond, Total: time.Minute}))
	_, err := s.Get(context.Background(), "http://"+addr+"/")
	assertRequestKind(t, err, ErrConnectTimeout)
	require.ErrorIs(t, err, ErrTimeout)
	require.Zero(t, s.Stats().ConnsOpened)
}
