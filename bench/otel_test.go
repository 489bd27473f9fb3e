package bench

import (
	"context"
	"net/http"
	"testing"

	"github.com/reqivo/reqivo"
	reqivootel "github.com/reqivo/reqivo/otel"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// discardExporter is the no-op exporter of the OpenTelemetry benchmarks:
// spans are made, sampled, batched and then dropped.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkOTelGET: the GET scenario traced and metered with the
// OpenTelemetry SDK (every span sampled, a no-op exporter, a manual metric
// reader, W3C trace context on the wire): otelhttp on tuned net/http
// against reqivootel on Reqivo, each beside its untraced self.
func BenchmarkOTelGET(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer tp.Shutdown(context.Background())
	defer mp.Shutdown(context.Background())
	prop := propagation.TraceContext{}
	otelSettings := []reqivootel.Setting{
		reqivootel.WithTracerProvider(tp), reqivootel.WithMeterProvider(mp), reqivootel.WithPropagators(prop),
	}
	reqivoWith := func(opts ...reqivo.Option) newClientFunc {
		return func(base string, _ bool) (client, error) {
			s, err := reqivo.NewSession(append([]reqivo.Option{reqivo.WithBaseURL(base)}, opts...)...)
			if err != nil {
				return nil, err
			}
			return reqivoClient{s}, nil
		}
	}
	variants := []struct {
		name string
		new  newClientFunc
	}{
		{"nethttp", newNetHTTPTuned},
		{"nethttp+otelhttp", func(base string, _ bool) (client, error) {
			t := tunedTransport()
			rt := otelhttp.NewTransport(t, otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp), otelhttp.WithPropagators(prop))
			return &netHTTP{c: &http.Client{Transport: rt}, json: base + "/json", echo: base + "/echo", blob: base + "/blob", closeIdle: t.CloseIdleConnections}, nil
		}},
		{"reqivo", newReqivo},
		{"reqivo+otel", reqivoWith(reqivootel.Option(otelSettings...))},
		{"reqivo+otel-nospan", reqivoWith(reqivootel.Option(append(otelSettings, reqivootel.WithoutRequestSpan())...))},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			data, _ := serverAddrs(b)
			c, err := v.new("http://"+data, false)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			check, op := getOp(c)
			measure(b, 1, 1, check, op)
		})
	}
}
