package reqivotest

import (
	"net"
	"testing"

	"golang.org/x/net/nettest"
)

// TestMemConnConforms runs x/net's net.Conn conformance suite (reads,
// writes, deadlines, close, concurrency) over an in-memory pair.
func TestMemConnConforms(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		a, b := memPipe(&net.TCPAddr{Port: 1}, &net.TCPAddr{Port: 2})
		return a, b, func() { a.Close(); b.Close() }, nil
	})
}

// TestMemConnBuffers checks that both ends may write at once, as over a
// socket, where net.Pipe would block both.
func TestMemConnBuffers(t *testing.T) {
	t.Parallel()
	a, b := memPipe(&net.TCPAddr{Port: 1}, &net.TCPAddr{Port: 2})
	defer a.Close()
	defer b.Close()
	msg := make([]byte, 64<<10)
	if _, err := a.Write(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(msg); err != nil {
		t.Fatal(err)
	}
}
