package reqivo

import (
	"testing"

	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/assert"
)

// TestStatusConstants pins the exported statuses to the values Breakers
// and CacheStatus produce.
func TestStatusConstants(t *testing.T) {
	t.Parallel()
	assert.Equal(t, gobreaker.StateClosed.String(), BreakerClosed)
	assert.Equal(t, gobreaker.StateOpen.String(), BreakerOpen)
	assert.Equal(t, gobreaker.StateHalfOpen.String(), BreakerHalfOpen)
	assert.Equal(t, []string{cacheHit, cacheStale, cacheRevalidated, cacheMiss},
		[]string{CacheHit, CacheStale, CacheRevalidated, CacheMiss})
}
