package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/reqivo/reqivo"
	reqivootel "github.com/reqivo/reqivo/otel"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/reqivo/reqivo/bench/internal/fixture"
)

// discardExporter is the no-op exporter of the OpenTelemetry benchmarks:
// spans are made, sampled, batched and then dropped.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// otelPipeline is the SDK set-up of the OpenTelemetry benchmarks, and the
// reqivootel settings that use it.
func otelPipeline(b *testing.B) (*sdktrace.TracerProvider, *sdkmetric.MeterProvider, propagation.TextMapPropagator, []reqivootel.Setting) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	prop := propagation.TraceContext{}
	return tp, mp, prop, []reqivootel.Setting{
		reqivootel.WithTracerProvider(tp), reqivootel.WithMeterProvider(mp), reqivootel.WithPropagators(prop),
	}
}

// BenchmarkOTelOverhead: BenchmarkOverhead's GET (a canned transport, no
// server, no pool) with the instrumentation of BenchmarkOTelGET: what each
// adds per request, with no network noise.
func BenchmarkOTelOverhead(b *testing.B) {
	ctx := context.Background()
	rt := cannedRT{body: fixture.SampleJSON()}
	tp, mp, prop, otelSettings := otelPipeline(b)
	netHTTP := func(rt http.RoundTripper) func(b *testing.B) {
		return func(b *testing.B) {
			c := &http.Client{Transport: rt}
			runInProcess(b, func() error {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/json", nil)
				if err != nil {
					return err
				}
				resp, err := c.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				var v fixture.Object
				return json.NewDecoder(resp.Body).Decode(&v)
			})
		}
	}
	reqivoRun := func(opts ...reqivo.Option) func(b *testing.B) {
		return func(b *testing.B) {
			s, err := reqivo.NewSession(append([]reqivo.Option{reqivo.WithBaseURL("http://127.0.0.1:1"), reqivo.WithTransport(rt)}, opts...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			runInProcess(b, func() error {
				resp, err := s.Get(ctx, "json")
				if err != nil {
					return err
				}
				var v fixture.Object
				return resp.JSON(&v)
			})
		}
	}
	b.Run("nethttp", netHTTP(rt))
	b.Run("nethttp+otelhttp", netHTTP(otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp), otelhttp.WithPropagators(prop))))
	b.Run("reqivo", reqivoRun())
	b.Run("reqivo+otel", reqivoRun(reqivootel.Option(otelSettings...)))
	b.Run("reqivo+otel-nospan", reqivoRun(reqivootel.Option(append(otelSettings, reqivootel.WithoutRequestSpan())...)))
}

// BenchmarkOTelGET: the GET scenario traced and metered with the
// OpenTelemetry SDK (every span sampled, a no-op exporter, a manual metric
// reader, W3C trace context on the wire): otelhttp on tuned net/http
// against reqivootel on Reqivo, each beside its untraced self.
func BenchmarkOTelGET(b *testing.B) {
	tp, mp, prop, otelSettings := otelPipeline(b)
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
