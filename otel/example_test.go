package reqivootel_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/reqivo/reqivo"
	reqivootel "github.com/reqivo/reqivo/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func ExampleOption() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		fmt.Println("server got a traceparent:", r.Header.Get("Traceparent") != "")
	}))
	defer srv.Close()

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	s, err := reqivo.NewSession(reqivootel.Option(
		reqivootel.WithTracerProvider(tp),
		reqivootel.WithPropagators(propagation.TraceContext{}),
	))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	if _, err := s.Get(context.Background(), srv.URL+"/old"); err != nil {
		fmt.Println(err)
		return
	}
	for _, sp := range spans.Ended() {
		fmt.Println(sp.SpanKind(), sp.Name(), len(sp.Events()), "event(s)")
	}
	// Output:
	// server got a traceparent: true
	// client GET 0 event(s)
	// client GET 0 event(s)
	// internal reqivo GET 1 event(s)
}
