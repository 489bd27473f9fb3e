// Tests from the review of the core request path: each one failed before
// the fix committed with it.

package reqivo

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A hook owns req.Header: changing a value in place must not reach the
// session's later requests, nor another session's (the default
// Accept-Encoding slice was one shared by the whole process).
func TestHookHeaderChangeInPlaceStaysInItsRequest(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Accept-Encoding")+" | "+r.Header.Get("Authorization"))
		mu.Unlock()
	})
	s := newTestSession(t, WithBearerToken("tok"))
	other := newTestSession(t)
	var first atomic.Bool
	s.OnRequest(func(r *http.Request) error {
		if first.CompareAndSwap(false, true) {
			for _, vs := range r.Header {
				for i := range vs {
					vs[i] = "changed"
				}
			}
		}
		return nil
	})
	ctx := context.Background()
	for _, s := range []*Session{s, s, other} {
		_, err := s.Get(ctx, srv.URL)
		require.NoError(t, err)
	}
	assert.Equal(t, []string{
		"changed | changed",
		"gzip, deflate | Bearer tok",
		"gzip, deflate | ",
	}, got)
}
