// Command example traces a Reqivo session with OpenTelemetry and prints
// the spans to stdout: one request that is redirected and then retried
// once, against a server started in this process on 127.0.0.1. The server
// prints the traceparent header each attempt carried. It exits non-zero
// on any failure.
package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"time"

	"github.com/reqivo/reqivo"
	reqivootel "github.com/reqivo/reqivo/otel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "otel example:", err)
		os.Exit(1)
	}
}

func run() error {
	// Spans go to stdout as they end; the W3C trace context goes on the
	// wire. A program would set these up once, with its own exporter.
	exp, err := stdouttrace.New(stdouttrace.WithPrettyPrint())
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("server: %s %s traceparent=%s\n", r.Method, r.URL.Path, r.Header.Get("Traceparent"))
		switch {
		case r.URL.Path == "/old":
			http.Redirect(w, r, "/new", http.StatusMovedPermanently)
		case tries.Add(1) == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			fmt.Fprint(w, "hello")
		}
	}))
	defer srv.Close()

	s, err := reqivo.NewSession(
		reqivootel.Option(), // the global providers and propagator
		reqivo.WithBaseURL(srv.URL),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 2, MinWait: time.Millisecond}),
	)
	if err != nil {
		return err
	}
	defer s.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.Get(ctx, "/old?api_key=not-in-any-span")
	if err != nil {
		return err
	}
	fmt.Printf("client: %d %q after %d attempt(s) of the final hop\n", resp.StatusCode, resp.Text(), resp.Attempts())
	return nil
}
