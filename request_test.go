// Request options: bodies, headers and the body of a refused request.

package reqivo

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closeCounter is a body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

func TestFailedOptionsCloseEveryBody(t *testing.T) {
	t.Parallel()
	s := newTestSession(t)
	tests := []struct {
		name string
		opts func(a, b *closeCounter) []RequestOption
	}{
		{"bad option before the body", func(a, _ *closeCounter) []RequestOption {
			return []RequestOption{Header("Bad\n", "x"), Body(a)}
		}},
		{"bad option after the body", func(a, _ *closeCounter) []RequestOption {
			return []RequestOption{Body(a), Header("Bad\n", "x")}
		}},
		{"a second body", func(a, b *closeCounter) []RequestOption {
			return []RequestOption{Body(a), Body(b)}
		}},
		{"nil option first", func(a, _ *closeCounter) []RequestOption {
			return []RequestOption{nil, Body(a)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &closeCounter{Reader: strings.NewReader("a")}
			b := &closeCounter{Reader: strings.NewReader("b")}
			_, err := s.Post(context.Background(), "http://127.0.0.1:1/", tt.opts(a, b)...)
			require.Error(t, err)
			assert.Equal(t, int32(1), a.closed.Load(), "the first body is closed once")
			if tt.name == "a second body" {
				assert.Equal(t, int32(1), b.closed.Load(), "the refused body is closed too")
				assert.ErrorIs(t, err, ErrInvalidOption)
			}
		})
	}
}

func TestHostHeaderOptionSetsHost(t *testing.T) {
	t.Parallel()
	var seen atomic.Value
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { seen.Store(r.Host) })
	s := newTestSession(t)
	_, err := s.Get(context.Background(), srv.URL, Header("Host", "api.internal"))
	require.NoError(t, err)
	assert.Equal(t, "api.internal", seen.Load())

	_, err = s.Get(context.Background(), srv.URL, Header("Host", "a b"))
	assert.ErrorIs(t, err, ErrInvalidHeader)
}
