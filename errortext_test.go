package reqivo

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hangUpServer reads each request's head and closes the connection
// without an answer: every attempt fails with ErrNetwork.
func hangUpServer(t *testing.T) *rawServer {
	t.Helper()
	return setupRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		_, _ = http.ReadRequest(bufio.NewReader(c))
	})
}

// TestGivingUpText: a request whose retries ran out says "reqivo:" once
// and counts the attempts that reached the wire, not those a breaker
// refused before it; a request refused before anything was sent does not
// say it gave up after attempts.
func TestGivingUpText(t *testing.T) {
	t.Parallel()
	policy := RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: time.Minute}

	t.Run("every attempt sent", func(t *testing.T) {
		t.Parallel()
		rs := hangUpServer(t)
		s, _ := newRetrySession(t, policy)
		_, err := s.Get(context.Background(), rs.URL())
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrNetwork)
		assert.Contains(t, err.Error(), "giving up after 3 attempts: ")
		assert.Equal(t, 1, strings.Count(err.Error(), "reqivo:"), err.Error())
		assert.EqualValues(t, 3, rs.opened.Load())
	})

	t.Run("attempts a breaker refused are not counted", func(t *testing.T) {
		t.Parallel()
		rs := hangUpServer(t)
		s, clk := newRetrySession(t, policy, WithCircuitBreaker(CircuitBreaker{Failures: 1, Cooldown: time.Second}))
		_, err := s.Post(context.Background(), rs.URL()) // not retried: opens the breaker
		require.ErrorIs(t, err, ErrNetwork)
		require.EqualValues(t, 1, rs.opened.Load())
		// Attempt 1 is refused (open), 2 is the probe after the cooldown
		// (sent, fails, opens the breaker again), 3 is refused.
		_, err = s.Get(context.Background(), rs.URL())
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrCircuitOpen)
		assert.EqualValues(t, 2, rs.opened.Load(), "one attempt of the GET reached the wire")
		assert.Contains(t, err.Error(), "giving up after 1 attempt: ")
		assert.Equal(t, 1, strings.Count(err.Error(), "reqivo:"), err.Error())
		assert.Len(t, clk.Waits(), 2)
	})

	t.Run("nothing sent", func(t *testing.T) {
		t.Parallel()
		rs := hangUpServer(t)
		s, _ := newRetrySession(t, policy, WithCircuitBreaker(CircuitBreaker{Failures: 1, Cooldown: time.Hour}))
		_, err := s.Post(context.Background(), rs.URL())
		require.ErrorIs(t, err, ErrNetwork)
		// The cooldown is over MaxWait: the GET is refused once, not retried.
		_, err = s.Get(context.Background(), rs.URL())
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrCircuitOpen)
		assert.NotContains(t, err.Error(), "giving up")
		assert.Equal(t, 1, strings.Count(err.Error(), "reqivo:"), err.Error())
		assert.EqualValues(t, 1, rs.opened.Load())
	})
}
