package reqivootel_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reqivo/reqivo"
	reqivootel "github.com/reqivo/reqivo/otel"
	"github.com/reqivo/reqivo/reqivotest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The notices of the rate limit and the circuit breaker are events of
// the request span that met them.
func TestNoticesAreSpanEvents(t *testing.T) {
	t.Parallel()
	tel := setupTelemetry(t)
	var code atomic.Int64
	code.Store(http.StatusOK)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(code.Load())) })
	s := newSession(t, tel.option(), reqivotest.InstantWaits(),
		reqivo.WithRateLimit(reqivo.RateLimit{Rate: 1}), reqivo.WithCircuitBreaker(reqivo.CircuitBreaker{Failures: 1}))
	get := func() []string {
		t.Helper()
		before := len(tel.spans.Ended())
		_, _ = s.Get(context.Background(), srv.URL)
		var names []string
		for _, sp := range tel.spans.Ended()[before:] {
			if sp.SpanKind() != trace.SpanKindInternal {
				continue
			}
			for _, ev := range sp.Events() {
				names = append(names, ev.Name)
			}
		}
		return names
	}
	assert.Empty(t, get())
	assert.Equal(t, []string{"rate_limit_wait"}, get())
	code.Store(http.StatusInternalServerError)
	assert.Equal(t, []string{"rate_limit_wait", "breaker_open"}, get())
	require.Equal(t, []string{"breaker_rejected"}, get())
}

// storeErr is what the failing stores below return: it quotes a URL with
// credentials, as a store speaking HTTP would.
var storeErr = &url.Error{Op: "Get", URL: "https://alice:s3cret@store.internal/k?token=t0k&n=1", Err: errors.New("connection reset")}

type failingCache struct{}

func (failingCache) Get(context.Context, string) ([]byte, bool, error) { return nil, false, storeErr }
func (failingCache) Set(context.Context, string, []byte, time.Duration) error {
	return storeErr
}
func (failingCache) Delete(context.Context, string) error { return storeErr }

type failingRateStore struct{}

func (failingRateStore) Reserve(context.Context, string, float64, int) (time.Duration, error) {
	return 0, storeErr
}

// TestNoticeErrorOnEvent: the failure a notice reports is recorded on its
// event as the semantic conventions record an exception (exception.type,
// exception.message, with error.type as on the spans), the URL in the
// store's message redacted as url.full is.
func TestNoticeErrorOnEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opt   reqivo.Option
		event string
	}{
		{"cache", reqivo.WithCache(failingCache{}), "cache_error"},
		{"rate store", reqivo.WithRateLimit(reqivo.RateLimit{Rate: 1000, Store: failingRateStore{}}), "rate_store_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {})
			s := newSession(t, reqivootel.Option(reqivootel.WithTracerProvider(tp)), tt.opt)
			_, err := s.Get(context.Background(), srv.URL)
			require.NoError(t, err, "a store's failure does not fail the request")

			var found []sdktrace.Event
			for _, sp := range exp.GetSpans() {
				for _, ev := range sp.Events {
					if ev.Name == tt.event {
						found = append(found, ev)
					}
				}
			}
			require.NotEmpty(t, found, "a %s event", tt.event)
			a := attrs(found[0].Attributes)
			assert.Equal(t, "_OTHER", a["error.type"].AsString())
			assert.Equal(t, "*url.Error", a["exception.type"].AsString())
			assert.Equal(t, `Get "https://REDACTED:REDACTED@store.internal/k?token=REDACTED&n=1": connection reset`,
				a["exception.message"].AsString())
		})
	}
}
