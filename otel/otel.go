// Package reqivootel reports the requests of a Reqivo session to
// OpenTelemetry, as traces and metrics that follow the HTTP semantic
// conventions (v1.40, stable HTTP part), through the session's observer
// seam (reqivo.WithObserver):
//
//   - one CLIENT span per physical request (each attempt of each redirect
//     hop), named by its method, with http.request.method, server.address,
//     server.port, url.full (userinfo and secret query values REDACTED),
//     http.response.status_code, http.request.resend_count (from the
//     second physical request on), error.type and
//     network.protocol.version, and reqivo.hedge (true) on a hedged copy
//     (reqivo.WithHedging); the trace context is injected into the
//     attempt's headers, a WebSocket handshake's included;
//   - unless WithoutRequestSpan, one INTERNAL span for the logical request,
//     parent of its CLIENT spans, with its retries, redirects and notices
//     (cache, rate limit, breaker) as events; a notice of a store's
//     failure carries error.type, exception.type and exception.message
//     (URLs in it redacted as in url.full);
//   - the metrics http.client.request.duration (a histogram in seconds
//     with the semconv buckets, per physical request) and
//     http.client.active_requests.
//
// It lives in its own module so that OpenTelemetry never enters the
// dependencies of github.com/reqivo/reqivo.
package reqivootel

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/reqivo/reqivo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the spans and metrics.
const ScopeName = "github.com/reqivo/reqivo/otel"

// A Setting configures Option.
type Setting func(*settings)

type settings struct {
	tp          trace.TracerProvider
	mp          metric.MeterProvider
	prop        propagation.TextMapPropagator
	requestSpan bool
}

// WithTracerProvider sets where the spans go. If not set (or nil), the
// global TracerProvider (otel.GetTracerProvider) is used.
func WithTracerProvider(tp trace.TracerProvider) Setting {
	return func(s *settings) { s.tp = tp }
}

// WithMeterProvider sets where the metrics go. If not set (or nil), the
// global MeterProvider (otel.GetMeterProvider) is used.
func WithMeterProvider(mp metric.MeterProvider) Setting {
	return func(s *settings) { s.mp = mp }
}

// WithPropagators sets how the trace context is written into each
// attempt's headers. If not set (or nil), the global propagator
// (otel.GetTextMapPropagator) is used, which is a no-op until the program
// sets one.
func WithPropagators(p propagation.TextMapPropagator) Setting {
	return func(s *settings) { s.prop = p }
}

// WithoutRequestSpan leaves out the INTERNAL span of the logical request:
// each CLIENT span is then a child of the caller's context, as with
// otelhttp, and retries and redirects are seen only in
// http.request.resend_count.
func WithoutRequestSpan() Setting {
	return func(s *settings) { s.requestSpan = false }
}

// Option returns the session option that reports the session's requests
// to OpenTelemetry, as the package documentation says.
func Option(opts ...Setting) reqivo.Option {
	s := settings{requestSpan: true}
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	if s.tp == nil {
		s.tp = otel.GetTracerProvider()
	}
	if s.mp == nil {
		s.mp = otel.GetMeterProvider()
	}
	if s.prop == nil {
		s.prop = otel.GetTextMapPropagator()
	}
	return reqivo.WithObserver(newObserver(s).reqivo())
}

// observer turns the session's events into spans and metrics.
type observer struct {
	tracer      trace.Tracer
	prop        propagation.TextMapPropagator
	requestSpan bool
	duration    metric.Float64Histogram
	active      metric.Int64UpDownCounter
	sets        setCache
}

// durationBuckets are the semconv's advice for http.client.request.duration.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

func newObserver(s settings) *observer {
	o := &observer{
		tracer: s.tp.Tracer(ScopeName,
			trace.WithInstrumentationVersion(reqivo.Version),
			trace.WithSchemaURL(semconv.SchemaURL)),
		prop:        s.prop,
		requestSpan: s.requestSpan,
	}
	meter := s.mp.Meter(ScopeName,
		metric.WithInstrumentationVersion(reqivo.Version),
		metric.WithSchemaURL(semconv.SchemaURL))
	var err error
	o.duration, err = meter.Float64Histogram("http.client.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP client requests."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		otel.Handle(err)
	}
	o.active, err = meter.Int64UpDownCounter("http.client.active_requests",
		metric.WithUnit("{request}"),
		metric.WithDescription("Number of active HTTP requests."))
	if err != nil {
		otel.Handle(err)
	}
	return o
}

func (o *observer) reqivo() reqivo.Observer {
	ob := reqivo.Observer{
		AttemptStart: o.attemptStart,
		AttemptEnd:   o.attemptEnd,
	}
	if o.requestSpan {
		ob.RequestStart = o.requestStart
		ob.RequestEnd = o.requestEnd
		ob.Retry = o.retry
		ob.Redirect = o.redirect
		ob.Notice = o.notice
	}
	return ob
}

// The span kinds, as options made once.
var (
	clientKind   = trace.WithSpanKind(trace.SpanKindClient)
	internalKind = trace.WithSpanKind(trace.SpanKindInternal)
)

// requestSpanKey marks the context of a logical request's span, so its
// events never land on a span of the caller's.
type requestSpanKey struct{}

func (o *observer) requestStart(ctx context.Context, r reqivo.RequestInfo) context.Context {
	method, original := methodAttrs(r.Method)
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, method, semconv.ServerAddress(r.Host), semconv.ServerPort(r.Port), urlFull(r.URL))
	if original.Valid() {
		attrs = append(attrs, original)
	}
	ctx, span := o.tracer.Start(ctx, "reqivo "+spanName(r.Method),
		internalKind, trace.WithAttributes(attrs...))
	return context.WithValue(ctx, requestSpanKey{}, span)
}

func requestSpan(ctx context.Context) trace.Span {
	span, _ := ctx.Value(requestSpanKey{}).(trace.Span)
	return span
}

func (o *observer) requestEnd(ctx context.Context, d reqivo.RequestDone) {
	span := requestSpan(ctx)
	if span == nil {
		return
	}
	if span.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 4)
		attrs = append(attrs, urlFull(d.URL))
		if d.StatusCode != 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(d.StatusCode))
		}
		if d.Resends > 0 {
			attrs = append(attrs, semconv.HTTPRequestResendCount(d.Resends))
		}
		if et := errorType(d.StatusCode, d.Err); et != "" {
			attrs = append(attrs, semconv.ErrorTypeKey.String(et))
			span.SetStatus(codes.Error, statusDescription(d.StatusCode, d.Err))
		}
		span.SetAttributes(attrs...)
	}
	span.End()
}

// hedgeAttr marks the CLIENT span of a hedged copy of a try: no semantic
// convention names hedging yet.
var hedgeAttr = attribute.Bool("reqivo.hedge", true)

func (o *observer) attemptStart(ctx context.Context, a reqivo.AttemptInfo, add http.Header) context.Context {
	method, original := methodAttrs(a.Method)
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs, method, semconv.ServerAddress(a.Host), semconv.ServerPort(a.Port), urlFull(a.URL))
	if a.Resends > 0 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(a.Resends))
	}
	if a.Hedge {
		attrs = append(attrs, hedgeAttr)
	}
	if original.Valid() {
		attrs = append(attrs, original)
	}
	ctx, _ = o.tracer.Start(ctx, spanName(a.Method), clientKind, trace.WithAttributes(attrs...))
	o.prop.Inject(ctx, propagation.HeaderCarrier(add))
	o.active.Add(ctx, 1, o.sets.get(setKey{method: method.Value.AsString(), host: a.Host, port: a.Port, scheme: a.Scheme}))
	return ctx
}

func (o *observer) attemptEnd(ctx context.Context, a reqivo.AttemptDone) {
	method, _ := methodAttrs(a.Method)
	k := setKey{method: method.Value.AsString(), host: a.Host, port: a.Port, scheme: a.Scheme}
	o.active.Add(ctx, -1, o.sets.get(k))

	k.status, k.proto, k.errorType = a.StatusCode, protocolVersion(a.Proto), errorType(a.StatusCode, a.Err)
	o.duration.Record(ctx, a.Timings.Total.Seconds(), o.sets.get(k))

	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 3)
		if k.status != 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(k.status))
		}
		if k.proto != "" {
			attrs = append(attrs, semconv.NetworkProtocolVersion(k.proto))
		}
		if k.errorType != "" {
			attrs = append(attrs, semconv.ErrorTypeKey.String(k.errorType))
			span.SetStatus(codes.Error, statusDescription(a.StatusCode, a.Err))
		}
		span.SetAttributes(attrs...)
	}
	span.End()
}

func (o *observer) retry(ctx context.Context, r reqivo.RetryInfo) {
	span := requestSpan(ctx)
	if span == nil || !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.Int("reqivo.attempt", r.Attempt),
		attribute.Float64("reqivo.retry.wait", r.Wait.Seconds()),
	}
	if r.StatusCode != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(r.StatusCode))
	}
	if et := errorType(r.StatusCode, r.Err); et != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(et))
	}
	name := "retry"
	if r.GivenUp {
		name = "retry_given_up"
		attrs = append(attrs, attribute.String("reqivo.retry.reason", r.Reason))
	}
	span.AddEvent(name, trace.WithAttributes(attrs...))
}

func (o *observer) redirect(ctx context.Context, r reqivo.RedirectInfo) {
	span := requestSpan(ctx)
	if span == nil || !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{
		semconv.HTTPResponseStatusCode(r.StatusCode),
		urlFull(r.To.URL),
		attribute.Int("reqivo.redirect.hop", r.Hop),
	}
	if len(r.Dropped) > 0 {
		attrs = append(attrs, attribute.StringSlice("reqivo.redirect.dropped_headers", r.Dropped))
	}
	span.AddEvent("redirect", trace.WithAttributes(attrs...))
}

func (o *observer) notice(ctx context.Context, n reqivo.Notice) {
	span := requestSpan(ctx)
	if span == nil || !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{urlFull(n.URL)}
	if n.Wait > 0 {
		attrs = append(attrs, attribute.Float64("reqivo.wait", n.Wait.Seconds()))
	}
	if n.Detail != "" {
		attrs = append(attrs, attribute.String("reqivo.detail", n.Detail))
	}
	if n.Err != nil {
		attrs = append(attrs, errorAttrs(n.Err)...)
	}
	span.AddEvent(n.Kind.String(), trace.WithAttributes(attrs...))
}

// knownMethods are the methods semconv names; others are "_OTHER".
var knownMethods = map[string]attribute.KeyValue{}

func init() {
	for _, m := range []string{"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY"} {
		knownMethods[m] = semconv.HTTPRequestMethodKey.String(m)
	}
}

// methodAttrs are http.request.method and, for a method semconv does not
// know, http.request.method_original (else an invalid KeyValue).
func methodAttrs(m string) (method, original attribute.KeyValue) {
	if kv, ok := knownMethods[m]; ok {
		return kv, attribute.KeyValue{}
	}
	return semconv.HTTPRequestMethodKey.String("_OTHER"), semconv.HTTPRequestMethodOriginal(m)
}

// spanName is the method, or "HTTP" for one semconv does not know.
func spanName(m string) string {
	if _, ok := knownMethods[m]; ok {
		return m
	}
	return "HTTP"
}

// protocolVersion is "1.1" or "2" for "HTTP/1.1" or "HTTP/2.0".
func protocolVersion(proto string) string {
	switch proto {
	case "":
		return ""
	case "HTTP/1.1":
		return "1.1"
	case "HTTP/2.0":
		return "2"
	case "HTTP/1.0":
		return "1.0"
	}
	v := strings.TrimPrefix(proto, "HTTP/")
	return strings.TrimSuffix(v, ".0")
}

// kinds name the error kinds of reqivo for error.type, the most precise
// first (ErrConnectTimeout also matches ErrTimeout).
var kinds = []struct {
	err  error
	name string
}{
	{reqivo.ErrConnectTimeout, "connect_timeout"},
	{reqivo.ErrReadTimeout, "read_timeout"},
	{reqivo.ErrTimeout, "timeout"},
	{reqivo.ErrCanceled, "canceled"},
	{reqivo.ErrTLS, "tls"},
	{reqivo.ErrNetwork, "network"},
	{reqivo.ErrInvalidHeader, "invalid_header"},
	{reqivo.ErrInvalidResponse, "invalid_response"},
	{reqivo.ErrBodyTooLarge, "body_too_large"},
	{reqivo.ErrTooManyRedirects, "too_many_redirects"},
	{reqivo.ErrRedirectLoop, "redirect_loop"},
	{reqivo.ErrWebSocket, "websocket"},
	{reqivo.ErrInvalidURL, "invalid_url"},
	{reqivo.ErrInvalidOption, "invalid_option"},
	{reqivo.ErrClosed, "closed"},
	{reqivo.ErrCircuitOpen, "circuit_open"},
}

// errorType is error.type: the kind of err, else the status when it is 400
// or more (as semconv says for clients), else "".
func errorType(status int, err error) string {
	if err != nil {
		for _, k := range kinds {
			if errors.Is(err, k.err) {
				return k.name
			}
		}
		return "_OTHER"
	}
	if status >= 400 {
		return strconv.Itoa(status)
	}
	return ""
}

// statusDescription is the span status's description: the error's text,
// which reqivo keeps free of secrets, or nothing for a status (semconv:
// the status code says it).
func statusDescription(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}
