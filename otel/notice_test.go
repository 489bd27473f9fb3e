package reqivootel_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/reqivotest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
