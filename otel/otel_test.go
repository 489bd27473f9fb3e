package reqivootel_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/reqivo/reqivo"
	reqivootel "github.com/reqivo/reqivo/otel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// telemetry is an in-memory trace and metric pipeline.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func setupTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = tel.mp.Shutdown(context.Background())
	})
	return tel
}

func (tel *telemetry) option(extra ...reqivootel.Setting) reqivo.Option {
	return reqivootel.Option(append([]reqivootel.Setting{
		reqivootel.WithTracerProvider(tel.tp),
		reqivootel.WithMeterProvider(tel.mp),
		reqivootel.WithPropagators(propagation.TraceContext{}),
	}, extra...)...)
}

func (tel *telemetry) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, reqivootel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func setupServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func newSession(t *testing.T, opts ...reqivo.Option) *reqivo.Session {
	t.Helper()
	s, err := reqivo.NewSession(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func attrs(kvs []attribute.KeyValue) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

func hostPort(t *testing.T, rawURL string) (string, int64) {
	t.Helper()
	host, port, err := net.SplitHostPort(strings.TrimPrefix(rawURL, "http://"))
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return host, int64(p)
}

const secret = "S3CRET"

// A redirect to another origin, then two retries: one INTERNAL span with
// four CLIENT children, each with its attributes and the trace context the
// server saw; metrics per physical request; no secret anywhere.
func TestRedirectAndRetries(t *testing.T) {
	t.Parallel()
	tel := setupTelemetry(t)
	var mu sync.Mutex
	var seen []string // traceparent of each request, in order
	record := func(r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Traceparent"))
		mu.Unlock()
	}
	var n atomic.Int32
	other := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if n.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "done")
	})
	first := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		record(r)
		http.Redirect(w, r, other.URL+"/final?api_key="+secret+"-key&page=2", http.StatusFound)
	})
	s := newSession(t, tel.option(), reqivo.WithBaseURL(first.URL),
		reqivo.WithBasicAuth("user", secret+"-password"),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}))
	resp, err := s.Get(context.Background(), "/start?token="+secret+"-token", reqivo.Header("X-Api-Key", secret+"-header"))
	require.NoError(t, err)
	assert.Equal(t, "done", resp.Text())

	spans := tel.spans.Ended()
	require.Len(t, spans, 5)
	parent := spans[len(spans)-1]
	assert.Equal(t, "reqivo GET", parent.Name())
	assert.Equal(t, trace.SpanKindInternal, parent.SpanKind())
	assert.False(t, parent.Parent().IsValid(), "the logical request's span is a root here")
	pa := attrs(parent.Attributes())
	assert.Equal(t, int64(200), pa["http.response.status_code"].AsInt64())
	assert.Equal(t, int64(3), pa["http.request.resend_count"].AsInt64())
	var events []string
	for _, e := range parent.Events() {
		events = append(events, e.Name)
	}
	assert.Equal(t, []string{"redirect", "retry", "retry"}, events)
	assert.Equal(t, []string{"Authorization", "X-Api-Key"},
		attrs(parent.Events()[0].Attributes)["reqivo.redirect.dropped_headers"].AsStringSlice())

	firstHost, firstPort := hostPort(t, first.URL)
	otherHost, otherPort := hostPort(t, other.URL)
	want := []struct {
		status  int64
		host    string
		port    int64
		path    string
		resends int64 // 0: absent
	}{
		{302, firstHost, firstPort, first.URL + "/start?token=REDACTED", 0},
		{503, otherHost, otherPort, other.URL + "/final?api_key=REDACTED&page=2", 1},
		{503, otherHost, otherPort, other.URL + "/final?api_key=REDACTED&page=2", 2},
		{200, otherHost, otherPort, other.URL + "/final?api_key=REDACTED&page=2", 3},
	}
	mu.Lock()
	require.Len(t, seen, 4)
	mu.Unlock()
	for i, w := range want {
		sp := spans[i]
		a := attrs(sp.Attributes())
		assert.Equal(t, "GET", sp.Name(), i)
		assert.Equal(t, trace.SpanKindClient, sp.SpanKind(), i)
		assert.Equal(t, parent.SpanContext().SpanID(), sp.Parent().SpanID(), i)
		assert.Equal(t, parent.SpanContext().TraceID(), sp.SpanContext().TraceID(), i)
		assert.Equal(t, "GET", a["http.request.method"].AsString(), i)
		assert.Equal(t, w.host, a["server.address"].AsString(), i)
		assert.Equal(t, w.port, a["server.port"].AsInt64(), i)
		assert.Equal(t, w.path, a["url.full"].AsString(), i)
		assert.Equal(t, w.status, a["http.response.status_code"].AsInt64(), i)
		assert.Equal(t, "1.1", a["network.protocol.version"].AsString(), i)
		if w.resends == 0 {
			assert.NotContains(t, a, "http.request.resend_count", i)
		} else {
			assert.Equal(t, w.resends, a["http.request.resend_count"].AsInt64(), i)
		}
		if w.status >= 400 {
			assert.Equal(t, "503", a["error.type"].AsString(), i)
			assert.Equal(t, codes.Error, sp.Status().Code, i)
		} else {
			assert.NotContains(t, a, "error.type", i)
			assert.Equal(t, codes.Unset, sp.Status().Code, i)
		}
		// The server saw this span's context.
		sc := sp.SpanContext()
		assert.Equal(t, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01", seen[i], i)
	}

	for _, sp := range spans {
		all := sp.Attributes()
		for _, e := range sp.Events() {
			all = append(all, e.Attributes...)
		}
		for _, kv := range all {
			assert.NotContains(t, kv.Value.Emit(), secret, "%s on %s", kv.Key, sp.Name())
		}
		assert.NotContains(t, sp.Status().Description, secret)
	}

	m := tel.metrics(t)
	dur, ok := m["http.client.request.duration"]
	require.True(t, ok)
	assert.Equal(t, "s", dur.Unit)
	hist := dur.Data.(metricdata.Histogram[float64])
	counts := map[string]uint64{}
	for _, dp := range hist.DataPoints {
		assert.Equal(t, []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}, dp.Bounds)
		get := func(k string) string { v, _ := dp.Attributes.Value(attribute.Key(k)); return v.Emit() }
		assert.Equal(t, "GET", get("http.request.method"))
		assert.Equal(t, "http", get("url.scheme"))
		assert.Equal(t, "1.1", get("network.protocol.version"))
		for _, kv := range dp.Attributes.ToSlice() {
			assert.NotContains(t, kv.Value.Emit(), secret)
		}
		key := get("server.port") + " " + get("http.response.status_code") + " " + get("error.type")
		counts[key] += dp.Count
	}
	assert.Equal(t, map[string]uint64{
		strconv.FormatInt(firstPort, 10) + " 302 ":    1,
		strconv.FormatInt(otherPort, 10) + " 503 503": 2,
		strconv.FormatInt(otherPort, 10) + " 200 ":    1,
	}, counts)

	active := m["http.client.active_requests"].Data.(metricdata.Sum[int64])
	assert.False(t, active.IsMonotonic)
	require.Len(t, active.DataPoints, 2, "one series per server")
	for _, dp := range active.DataPoints {
		assert.Zero(t, dp.Value, "nothing in flight any more")
		assert.Equal(t, 4, dp.Attributes.Len(), dp.Attributes.ToSlice())
	}
}

// Without the request span, each CLIENT span is a child of the caller's
// span, as with otelhttp.
func TestWithoutRequestSpan(t *testing.T) {
	t.Parallel()
	tel := setupTelemetry(t)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {})
	s := newSession(t, tel.option(reqivootel.WithoutRequestSpan()))
	ctx, caller := tel.tp.Tracer("test").Start(context.Background(), "caller")
	_, err := s.Get(ctx, srv.URL)
	require.NoError(t, err)
	caller.End()
	spans := tel.spans.Ended()
	require.Len(t, spans, 2)
	assert.Equal(t, trace.SpanKindClient, spans[0].SpanKind())
	assert.Equal(t, caller.SpanContext().SpanID(), spans[0].Parent().SpanID())
}

// A failed attempt: error.type is the error's kind, there is no status,
// and the error's text (redacted) is the span's status.
func TestFailedAttempt(t *testing.T) {
	t.Parallel()
	tel := setupTelemetry(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	s := newSession(t, tel.option())
	_, err = s.Get(context.Background(), "http://"+addr+"/?token="+secret)
	require.ErrorIs(t, err, reqivo.ErrNetwork)
	spans := tel.spans.Ended()
	require.Len(t, spans, 2)
	for _, sp := range spans {
		a := attrs(sp.Attributes())
		assert.Equal(t, "network", a["error.type"].AsString(), sp.Name())
		assert.NotContains(t, a, "http.response.status_code")
		assert.Equal(t, codes.Error, sp.Status().Code)
		assert.NotContains(t, sp.Status().Description, secret)
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	m := tel.metrics(t)
	dp := m["http.client.request.duration"].Data.(metricdata.Histogram[float64]).DataPoints
	require.Len(t, dp, 1)
	v, _ := dp[0].Attributes.Value("error.type")
	assert.Equal(t, "network", v.AsString())
}

// The WebSocket handshake is a CLIENT span, and carries the trace context.
func TestWebSocketHandshake(t *testing.T) {
	t.Parallel()
	tel := setupTelemetry(t)
	var got atomic.Value
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Traceparent"))
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), typ, msg)
		_, _, _ = c.Read(r.Context()) // until the client closes
	})
	s := newSession(t, tel.option())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := s.WebSocket(ctx, strings.Replace(srv.URL, "http", "ws", 1))
	require.NoError(t, err)
	require.NoError(t, ws.SendText(ctx, "hi"))
	_, msg, err := ws.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(msg))
	require.NoError(t, ws.Close())

	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	sp := spans[0]
	assert.Equal(t, trace.SpanKindClient, sp.SpanKind())
	assert.Equal(t, int64(101), attrs(sp.Attributes())["http.response.status_code"].AsInt64())
	sc := sp.SpanContext()
	assert.Equal(t, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01", got.Load())
}

// A method semconv does not know is "_OTHER", the original kept beside.
func TestOtherMethod(t *testing.T) {
	t.Parallel()
	tel := setupTelemetry(t)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {})
	s := newSession(t, tel.option(reqivootel.WithoutRequestSpan()))
	_, err := s.Request(context.Background(), "PROPFIND", srv.URL)
	require.NoError(t, err)
	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	assert.Equal(t, "HTTP", spans[0].Name())
	a := attrs(spans[0].Attributes())
	assert.Equal(t, "_OTHER", a["http.request.method"].AsString())
	assert.Equal(t, "PROPFIND", a["http.request.method_original"].AsString())
}

// Each SSE (re)connection is a request of its own: its own spans, and the
// trace context on the wire.
func TestEventsReconnectPropagates(t *testing.T) {
	t.Parallel()
	tel := setupTelemetry(t)
	var mu sync.Mutex
	var seen []string
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Traceparent"))
		n := len(seen)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if n == 1 {
			_, _ = io.WriteString(w, "retry: 1\nid: 1\ndata: a\n\n")
			return // the connection ends: the client reconnects
		}
		_, _ = io.WriteString(w, "data: b\n\n")
	})
	s := newSession(t, tel.option())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var data []string
	for ev, err := range s.Events(ctx, http.MethodGet, srv.URL, reqivo.Reconnect(2)) {
		require.NoError(t, err)
		data = append(data, ev.Data)
		if len(data) == 2 {
			break
		}
	}
	assert.Equal(t, []string{"a", "b"}, data)

	var clients []sdktrace.ReadOnlySpan
	for _, sp := range tel.spans.Ended() {
		if sp.SpanKind() == trace.SpanKindClient {
			clients = append(clients, sp)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	require.Len(t, clients, 2)
	for i, sp := range clients {
		sc := sp.SpanContext()
		assert.Equal(t, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01", seen[i], i)
	}
}

// While a request is in flight, http.client.active_requests counts it.
func TestActiveRequestsInFlight(t *testing.T) {
	t.Parallel()
	tel := setupTelemetry(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	})
	s := newSession(t, tel.option())
	done := make(chan error, 1)
	go func() {
		_, err := s.Post(context.Background(), srv.URL, reqivo.BodyString("x"))
		done <- err
	}()
	<-arrived
	active := tel.metrics(t)["http.client.active_requests"].Data.(metricdata.Sum[int64])
	require.Len(t, active.DataPoints, 1)
	dp := active.DataPoints[0]
	assert.Equal(t, int64(1), dp.Value)
	host, port := hostPort(t, srv.URL)
	for k, want := range map[string]string{"http.request.method": "POST", "server.address": host,
		"server.port": strconv.FormatInt(port, 10), "url.scheme": "http"} {
		v, ok := dp.Attributes.Value(attribute.Key(k))
		assert.True(t, ok, k)
		assert.Equal(t, want, v.Emit(), k)
	}
	close(release)
	require.NoError(t, <-done)
	active = tel.metrics(t)["http.client.active_requests"].Data.(metricdata.Sum[int64])
	assert.Zero(t, active.DataPoints[0].Value)
}

// url.full is written as the semantic conventions say, for a token in
// userinfo and the query keys they list.
func TestURLFullRedacted(t *testing.T) {
	t.Parallel()
	tel := setupTelemetry(t)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {})
	s := newSession(t, tel.option(reqivootel.WithoutRequestSpan()))
	u := strings.Replace(srv.URL, "http://", "http://"+secret+"@", 1) +
		"/o?AWSAccessKeyId=" + secret + "&Signature=" + secret + "&X-Goog-Signature=" + secret + "&sig=" + secret + "&access_token=" + secret + "&page=2"
	_, err := s.Get(context.Background(), u)
	require.NoError(t, err)
	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	assert.Equal(t, strings.Replace(srv.URL, "http://", "http://REDACTED:REDACTED@", 1)+
		"/o?AWSAccessKeyId=REDACTED&Signature=REDACTED&X-Goog-Signature=REDACTED&sig=REDACTED&access_token=REDACTED&page=2",
		attrs(spans[0].Attributes())["url.full"].AsString())
}

// A hedged copy's CLIENT span says so.
func TestHedgedAttempt(t *testing.T) {
	t.Parallel()
	tel := setupTelemetry(t)
	var both sync.WaitGroup
	both.Add(2)
	srv := setupServer(t, func(http.ResponseWriter, *http.Request) {
		both.Done()
		both.Wait()
	})
	s := newSession(t, tel.option(), reqivo.WithHedging(reqivo.Hedge{Max: 2}))
	_, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(tel.spans.Ended()) == 3 }, 10*time.Second, 5*time.Millisecond)
	hedges := 0
	for _, sp := range tel.spans.Ended() {
		if sp.SpanKind() != trace.SpanKindClient {
			continue
		}
		if v, ok := attrs(sp.Attributes())["reqivo.hedge"]; ok {
			assert.True(t, v.AsBool())
			hedges++
		}
	}
	assert.Equal(t, 1, hedges)
}
