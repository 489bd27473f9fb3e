package reqivo

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// endless serves events every 5 ms until the client goes, then closes
// done.
func endless(done chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		sseStart(w)
		for i := 0; ; i++ {
			if !sseSend(w, fmt.Sprintf("id: %d\ndata: %d\n\n", i, i)) {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// TestEventsBreakClosesConnection: breaking out of the loop closes the
// connection at once and leaves no goroutine. Not parallel: goleak
// compares the whole process.
func TestEventsBreakClosesConnection(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	done := make(chan struct{})
	srv := httptest.NewServer(endless(done))
	defer srv.Close()
	s, err := NewSession()
	require.NoError(t, err)
	defer s.Close()

	n := 0
	for _, err := range s.Events(context.Background(), http.MethodGet, srv.URL) {
		require.NoError(t, err)
		if n++; n == 3 {
			break
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the server still streams after the loop ended")
	}
}

// TestEventsCancel: cancelling ctx ends the loop promptly with an error
// carrying context.Canceled.
func TestEventsCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	done := make(chan struct{})
	srv := httptest.NewServer(endless(done))
	defer srv.Close()
	s, err := NewSession()
	require.NoError(t, err)
	defer s.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errs []error
	n := 0
	for _, err := range s.Events(ctx, http.MethodGet, srv.URL) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n++; n == 2 {
			go func() { time.Sleep(20 * time.Millisecond); cancel() }()
		}
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrCanceled)
	assert.ErrorIs(t, errs[0], context.Canceled)
	var re *RequestError
	assert.ErrorAs(t, errs[0], &re)
	<-done
}

// TestEventsSessionClose: Close does not cut a running stream; a
// reconnection after it fails with ErrClosed.
func TestEventsSessionClose(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) {
		sseStart(w)
		for i := range 5 {
			sseSend(w, fmt.Sprintf("data: %d\n\n", i))
			time.Sleep(5 * time.Millisecond)
		}
	})
	s := newTestSession(t)
	useFakeClock(s)
	var got []string
	var errs []error
	for ev, err := range s.Events(context.Background(), http.MethodGet, srv.URL) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, ev.Data)
		_ = s.Close()
	}
	assert.Equal(t, []string{"0", "1", "2", "3", "4"}, got)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrClosed)
}

// TestEventsConcurrent: 64 streams at once on one session (run it under
// -race).
func TestEventsConcurrent(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		sseStart(w)
		for i := range 20 {
			sseSend(w, fmt.Sprintf("id: %s-%d\nevent: n\ndata: %d\n\n", r.URL.Query().Get("w"), i, i))
		}
	})
	s := newTestSession(t)
	useFakeClock(s)
	var worker atomic.Int32
	hammer(t, 64, 1, func() error {
		w := worker.Add(1)
		n := 0
		for ev, err := range s.Events(context.Background(), http.MethodPost, srv.URL, Query("w", fmt.Sprint(w))) {
			if err != nil {
				return err
			}
			if ev.ID != fmt.Sprintf("%d-%d", w, n) || ev.Data != fmt.Sprint(n) || ev.Type != "n" {
				return fmt.Errorf("worker %d got %+v", w, ev)
			}
			n++
		}
		if n != 20 {
			return fmt.Errorf("worker %d got %d events", w, n)
		}
		return nil
	})
}
