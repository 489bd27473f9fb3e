package reqivo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEventsReconnect: a GET stream reconnects after a clean end and after
// a drop, sending Last-Event-ID and waiting the server's retry.
func TestEventsReconnect(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var lastIDs []string
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		switch n {
		case 1:
			sseStart(w)
			sseSend(w, "retry: 40\nid: 1\ndata: a\n\n")
		case 2:
			sseStart(w)
			sseSend(w, "id: 2\ndata: b\n\ndata: half")
			abort()
		case 3:
			sseStart(w)
			sseSend(w, "data: c\n\n")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	s := newTestSession(t)
	clk := useFakeClock(s)
	evs, errs := collect(s.Events(context.Background(), http.MethodGet, srv.URL))
	assert.Empty(t, errs)
	assert.Equal(t, []Event{
		{ID: "1", Type: "message", Data: "a", Retry: 40 * time.Millisecond},
		{ID: "2", Type: "message", Data: "b"},
		{ID: "2", Type: "message", Data: "c"},
	}, evs)
	assert.Equal(t, []string{"", "1", "2", "2"}, lastIDs)
	assert.Equal(t, []time.Duration{40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}, clk.get(),
		"the server's retry, not doubled after a connection that brought events")
}

// TestEventsReconnectLimit: reconnections in a row without an event back
// off and stop at the limit.
func TestEventsReconnectLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		opts      []RequestOption
		h         func(n int32, w http.ResponseWriter)
		wantConns int32
		wantWaits []time.Duration
		wantErr   error
	}{
		{"GET default, clean ends", http.MethodGet, nil, func(_ int32, w http.ResponseWriter) { sseStart(w) }, 6,
			[]time.Duration{3 * time.Second, 6 * time.Second, 12 * time.Second, 24 * time.Second, 30 * time.Second}, nil},
		{"GET, server retry doubled", http.MethodGet, []RequestOption{Reconnect(3)}, func(n int32, w http.ResponseWriter) {
			sseStart(w)
			if n == 1 {
				sseSend(w, "retry: 100\n\n")
			}
		}, 4, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}, nil},
		{"GET, drops give the last error", http.MethodGet, []RequestOption{Reconnect(2)}, func(_ int32, w http.ResponseWriter) {
			sseStart(w)
			sseSend(w, "data: unfinished")
			abort()
		}, 3, []time.Duration{3 * time.Second, 6 * time.Second}, ErrNetwork},
		{"GET, Reconnect(0)", http.MethodGet, []RequestOption{Reconnect(0)}, func(_ int32, w http.ResponseWriter) { sseStart(w) }, 1, nil, nil},
		{"POST default: no reconnection", http.MethodPost, []RequestOption{BodyString("p")}, func(_ int32, w http.ResponseWriter) {
			sseStart(w)
			sseSend(w, "data: unfinished")
			abort()
		}, 1, nil, ErrNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var conns atomic.Int32
			srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) { tt.h(conns.Add(1), w) })
			s := newTestSession(t)
			clk := useFakeClock(s)
			evs, errs := collect(s.Events(context.Background(), tt.method, srv.URL, tt.opts...))
			assert.Empty(t, evs)
			assert.Equal(t, tt.wantConns, conns.Load())
			assert.Equal(t, tt.wantWaits, clk.get())
			if tt.wantErr == nil {
				assert.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], tt.wantErr)
		})
	}
}

// TestEventsReplayBody: a POST that opts in reconnects with its body
// replayed byte for byte.
func TestEventsReplayBody(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if n == 3 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		sseStart(w)
		sseSend(w, fmt.Sprintf("data: %d\n\n", n))
		abort()
	})
	s := newTestSession(t)
	useFakeClock(s)
	prompt := `{"prompt":"tell me a story","stream":true}`
	evs, errs := collect(s.Events(context.Background(), http.MethodPost, srv.URL, Body(strings.NewReader(prompt)), Reconnect(1)))
	assert.Empty(t, errs)
	assert.Equal(t, []string{"1", "2"}, datas(evs))
	assert.Equal(t, []string{prompt, prompt, prompt}, bodies)
}

func TestEventsReconnectNeedsReplayableBody(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := setupServer(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	s := newTestSession(t)
	closed := &closeRecorder{Reader: strings.NewReader("once")}
	_, errs := collect(s.Events(context.Background(), http.MethodPost, srv.URL, Body(closed), Reconnect(1)))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	assert.Zero(t, hits.Load(), "nothing sent")
	assert.True(t, closed.closed.Load(), "the refused body is closed")

	for _, opt := range []RequestOption{Reconnect(-1), IdleTimeout(-time.Second)} {
		_, errs := collect(s.Events(context.Background(), http.MethodGet, srv.URL, opt))
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], ErrInvalidOption)
	}
	assert.Zero(t, hits.Load())
}

// TestEventsSilenceReconnects: a GET stream whose server goes silent is
// cut by the idle timeout and reconnected; when no reconnection is left,
// the loop ends with ErrReadTimeout.
func TestEventsSilenceReconnects(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		sseStart(w)
		if conns.Add(1) == 1 {
			sseSend(w, "id: 1\ndata: a\n\n")
		}
		<-r.Context().Done()
	})
	s := newTestSession(t)
	clk := useFakeClock(s)
	evs, errs := collect(s.Events(context.Background(), http.MethodGet, srv.URL, IdleTimeout(shortTimeout), Reconnect(2)))
	assert.Equal(t, []string{"a"}, datas(evs))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrReadTimeout)
	assert.EqualValues(t, 3, conns.Load(), "the first connection, then the 2 reconnections allowed in a row")
	assert.Equal(t, []time.Duration{3 * time.Second, 6 * time.Second}, clk.get())
}

// A stream that never opened fails at once: a refused first connection is
// not reconnected (there is nothing to resume), while one that opened and
// then dropped is.
func TestEventsFirstConnectFailsFast(t *testing.T) {
	t.Parallel()
	s := newTestSession(t)
	clk := useFakeClock(s)
	evs, errs := collect(s.Events(context.Background(), http.MethodGet, "http://"+closedAddr(t)+"/events"))
	assert.Empty(t, evs)
	require.Len(t, errs, 1)
	assertRequestKind(t, errs[0], ErrNetwork)
	assert.Empty(t, clk.get(), "no reconnection wait")
}
