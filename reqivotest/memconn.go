// In-memory connections: a buffered, full-duplex net.Conn pair with
// deadlines, as a loopback TCP connection behaves (net.Pipe is unbuffered:
// two peers writing at once, as in a WebSocket closing handshake, would
// wait on each other).

package reqivotest

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// pipeBuffer is how many bytes one direction holds before Write waits, as
// a socket buffer does.
const pipeBuffer = 256 << 10

// memPipe returns the two ends of an in-memory connection.
func memPipe(aAddr, bAddr net.Addr) (*memConn, *memConn) {
	ab, ba := newHalf(), newHalf()
	a := &memConn{in: ba, out: ab, local: aAddr, remote: bAddr, rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{})}
	b := &memConn{in: ab, out: ba, local: bAddr, remote: aAddr, rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{})}
	return a, b
}

// half is one direction of a connection.
type half struct {
	mu      sync.Mutex    // guards the fields below
	buf     []byte        // written, not yet read
	wclosed bool          // the writer closed: the reader gets EOF once buf is drained
	rclosed bool          // the reader closed: writes fail
	changed chan struct{} // closed and replaced at each change
}

func newHalf() *half { return &half{changed: make(chan struct{})} }

// notify wakes whoever waits on h; h.mu is held.
func (h *half) notify() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// memConn is one end of an in-memory connection.
type memConn struct {
	in, out       *half
	local, remote net.Addr
	rd, wd        *deadline
	once          sync.Once
	closed        chan struct{} // closed by Close
}

func (c *memConn) Read(b []byte) (int, error) {
	h := c.in
	for {
		if isClosed(c.rd.wait()) {
			return 0, os.ErrDeadlineExceeded
		}
		h.mu.Lock()
		switch {
		case h.rclosed:
			h.mu.Unlock()
			return 0, net.ErrClosed
		case len(h.buf) > 0:
			n := copy(b, h.buf)
			h.buf = h.buf[n:]
			if len(h.buf) == 0 {
				h.buf = nil
			}
			h.notify()
			h.mu.Unlock()
			return n, nil
		case h.wclosed:
			h.mu.Unlock()
			return 0, io.EOF
		case len(b) == 0:
			h.mu.Unlock()
			return 0, nil
		}
		changed := h.changed
		h.mu.Unlock()
		select {
		case <-changed:
		case <-c.rd.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

func (c *memConn) Write(b []byte) (int, error) {
	h := c.out
	n := 0
	for {
		if n > 0 && len(b) == 0 {
			// All written: what the peer does next (read it and close, as
			// a ping-pong's last message) is no failure of this write.
			return n, nil
		}
		if isClosed(c.wd.wait()) {
			return n, os.ErrDeadlineExceeded
		}
		h.mu.Lock()
		switch {
		case h.wclosed:
			h.mu.Unlock()
			return n, net.ErrClosed
		case h.rclosed:
			h.mu.Unlock()
			return n, io.ErrClosedPipe
		case len(b) == 0:
			h.mu.Unlock()
			return n, nil
		case len(h.buf) < pipeBuffer:
			k := min(pipeBuffer-len(h.buf), len(b))
			h.buf = append(h.buf, b[:k]...)
			b, n = b[k:], n+k
			h.notify()
			h.mu.Unlock()
			continue
		}
		changed := h.changed
		h.mu.Unlock()
		select {
		case <-changed:
		case <-c.wd.wait():
			return n, os.ErrDeadlineExceeded
		}
	}
}

// Close ends both directions: the peer reads what was written, then EOF;
// its writes fail.
func (c *memConn) Close() error {
	c.once.Do(func() {
		for _, h := range []*half{c.in, c.out} {
			h.mu.Lock()
			if h == c.in {
				h.rclosed, h.buf = true, nil
			} else {
				h.wclosed = true
			}
			h.notify()
			h.mu.Unlock()
		}
		close(c.closed)
	})
	return nil
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

func (c *memConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

func (c *memConn) SetReadDeadline(t time.Time) error  { c.rd.set(t); return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline is a channel closed when a deadline passes (the shape of
// net.Pipe's).
type deadline struct {
	mu     sync.Mutex // guards timer and cancel
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline passes
}

func newDeadline() *deadline { return &deadline{cancel: make(chan struct{})} }

// set sets the deadline; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// wait returns a channel closed when the deadline passes.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
