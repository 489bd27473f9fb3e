// Command websocket shows reqivo's WebSocket client against a go-httpbin
// started in this process on 127.0.0.1: text and binary echo, a ping, a
// refused handshake and the closing handshake. It exits non-zero on any
// failure.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/examples/internal/embedbin"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "websocket example:", err)
		os.Exit(1)
	}
}

func run() error {
	bin, err := embedbin.Start()
	if err != nil {
		return err
	}
	defer bin.Close()
	base := bin.URL

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c := reqivo.New(base).Header("X-Example", "websocket")
	defer c.Close()
	if err := c.Err(); err != nil {
		return err
	}

	// ws://, wss://, http:// and https:// URLs work, and so does a path
	// relative to the base URL.
	ws, err := c.WebSocket(ctx, "/websocket/echo", reqivo.MaxMessageBytes(1<<20))
	if err != nil {
		return err
	}
	defer ws.Close()

	if err := ws.SendText(ctx, "hello, websocket"); err != nil {
		return err
	}
	typ, msg, err := ws.Receive(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("received %s message: %q\n", typ, msg)

	if err := ws.Send(ctx, []byte{0xca, 0xfe}); err != nil {
		return err
	}
	typ, msg, err = ws.Receive(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("received %s message: % x\n", typ, msg)

	// Ping needs a Receive running in another goroutine: it reads the pong.
	got := make(chan error, 1)
	go func() {
		_, m, err := ws.Receive(ctx)
		if err == nil {
			fmt.Printf("received after ping: %q\n", m)
		}
		got <- err
	}()
	if err := ws.Ping(ctx); err != nil {
		return err
	}
	fmt.Println("ping answered")
	if err := ws.SendText(ctx, "bye"); err != nil {
		return err
	}
	if err := <-got; err != nil {
		return err
	}
	if err := ws.Close(); err != nil {
		return err
	}
	fmt.Println("closed")

	// A server refusing the handshake: ErrWebSocket with the status.
	_, err = c.WebSocket(ctx, "/status/401")
	var he *reqivo.HTTPError
	if !errors.Is(err, reqivo.ErrWebSocket) || !errors.As(err, &he) {
		return fmt.Errorf("want a refused handshake, got %v", err)
	}
	fmt.Printf("refused with status %d: %v\n", he.StatusCode, err)
	return nil
}
