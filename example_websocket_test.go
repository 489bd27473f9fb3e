package reqivo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
	"github.com/reqivo/reqivo"
)

// A WebSocket dialled through a client: a relative URL resolves against the
// base URL, and the handshake carries the client's headers and auth.
func ExampleSession_WebSocket() {
	srv := httptest.NewServer(httpbin.New()) // a local echo server
	defer srv.Close()

	c := reqivo.New(srv.URL).BearerToken("secret")
	defer c.Close()
	ctx := context.Background()

	ws, err := c.WebSocket(ctx, "/websocket/echo")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ws.Close()

	if err := ws.SendText(ctx, "hello"); err != nil {
		fmt.Println(err)
		return
	}
	typ, msg, err := ws.Receive(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(typ, string(msg))

	if err := ws.Send(ctx, []byte{1, 2, 3}); err != nil {
		fmt.Println(err)
		return
	}
	typ, msg, err = ws.Receive(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(typ, msg)

	// A refused handshake reports the status.
	_, err = c.WebSocket(ctx, "/status/403")
	var he *reqivo.HTTPError
	fmt.Println(errors.Is(err, reqivo.ErrWebSocket), errors.As(err, &he) && he.StatusCode == 403)
	// Output:
	// text hello
	// binary [1 2 3]
	// true true
}
