// Dialing: options that replace how the session's pool opens connections,
// for unix sockets, custom dialers and in-process test servers.

package reqivo

import (
	"context"
	"net"

	"github.com/reqivo/reqivo/internal/inprocess"
)

// DialFunc opens a connection to addr ("host:port") on network ("tcp"), as
// net.Dialer.DialContext does. It must honour ctx's deadline and
// cancellation.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// WithDialContext sets the function the session's pool opens connections
// with, as http.Transport.DialContext: a unix socket, a custom resolver or
// an in-memory pipe. The pool's other settings (limits, TLS, proxy) stay
// as configured: an https request is run over TLS on the returned
// connection with the session's TLS config (unless WithDialTLSContext is
// set too), and with a proxy the function is asked for the proxy's
// address. Every connection it returns counts in Stats.ConnsOpened. It is
// an error with WithTransport (that transport dials for itself) and with
// nil. If not set, a net.Dialer with Timeouts.Connect and 30 s keep-alive.
func WithDialContext(dial DialFunc) Option {
	return func(c *config) error {
		if dial == nil {
			return errorf(ErrInvalidOption, "nil dial function")
		}
		c.dial = dial
		return nil
	}
}

// WithDialTLSContext sets the function the session's pool opens https
// connections with, as http.Transport.DialTLSContext: it returns a
// connection past the TLS handshake (a *tls.Conn, so that the response's
// TLS state is known), and the session's TLS config is not used for it.
// Plain http requests still use WithDialContext or the default dialer.
// Connections count in Stats.ConnsOpened. It is an error with
// WithTransport and with nil. If not set, https connections are dialed as
// http ones and the TLS handshake is made with the session's TLS config.
func WithDialTLSContext(dial DialFunc) Option {
	return func(c *config) error {
		if dial == nil {
			return errorf(ErrInvalidOption, "nil TLS dial function")
		}
		c.dialTLS = dial
		return nil
	}
}

// countDials wraps dial so that every connection it opens is counted.
func countDials(dial DialFunc, n *counters) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err == nil {
			n.conns.Add(1)
		}
		return conn, err
	}
}

// inProcessDialers are the dialers of an in-process server (reqivotest's
// Handler): they win over the dial options and the proxy, given before or
// after them, so that a test answers every request whatever options a
// production constructor adds.
type inProcessDialers struct {
	dial, dialTLS DialFunc
}

func init() {
	inprocess.Option = func(dial, dialTLS inprocess.DialFunc) any {
		return Option(func(c *config) error {
			if dial == nil || dialTLS == nil {
				return errorf(ErrInvalidOption, "nil in-process dial function")
			}
			c.inProcess = &inProcessDialers{dial: dial, dialTLS: dialTLS}
			return nil
		})
	}
}
