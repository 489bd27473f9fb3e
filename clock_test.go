package reqivo

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingClock is a Clock of the caller's: its Sleep returns at once and
// records the wait.
type recordingClock struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (c *recordingClock) Now() time.Time { return time.Now() }

func (c *recordingClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	return ctx.Err()
}

func TestWithClockRunsRetryWaits(t *testing.T) {
	t.Parallel()
	srv, hits := flakyServer(t, http.Header{"Retry-After": {"20"}}, 503, 503, 200)
	clk := &recordingClock{}
	s := newTestSession(t, WithClock(clk), WithRetry(RetryPolicy{MaxAttempts: 3, MaxWait: time.Minute}))
	start := time.Now()
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.EqualValues(t, 3, hits.Load())
	assert.Equal(t, []time.Duration{20 * time.Second, 20 * time.Second}, clk.waits)
	assert.Less(t, time.Since(start), 10*time.Second, "the clock's Sleep is the only wait")
}

func TestWithClockRefusesNil(t *testing.T) {
	t.Parallel()
	_, err := NewSession(WithClock(nil))
	assert.ErrorIs(t, err, ErrInvalidOption)
}
