// Package inprocess is the seam through which reqivotest's in-process
// server takes over a session's connections: its dialers win over every
// network option (WithProxy, WithDialContext, WithDialTLSContext), given
// before or after it, so that a test's answer does not depend on the
// order in which a production constructor appends its options.
package inprocess

import (
	"context"
	"net"
)

// DialFunc has the shape of reqivo.DialFunc.
type DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// Option returns a reqivo.Option (typed any, as package reqivo imports
// this one) with which the session's pool opens plain connections with
// dial and https ones with dialTLS, with no proxy, whatever other options
// say; it is an error with WithTransport. Package reqivo sets it when it
// is initialised.
var Option func(dial, dialTLS DialFunc) any
