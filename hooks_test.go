// Session hooks (OnRequest, OnResponse): what they may change, and what
// comes of what they leave or return.

package reqivo

import (
	"context"
	"errors"
	"fmt"
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

// What a hook leaves is checked as the caller's own input is, before
// anything is sent: a Host with CR or LF is ErrInvalidHeader, a URL the
// session cannot send is ErrInvalidURL.
func TestOnRequestHookOutputChecked(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	tests := []struct {
		name string
		hook func(*http.Request) error
		want error
	}{
		{"Host with CRLF", func(r *http.Request) error { r.Host = "a\r\nX-Evil: 1"; return nil }, ErrInvalidHeader},
		{"Host with NUL", func(r *http.Request) error { r.Host = "a\x00b"; return nil }, ErrInvalidHeader},
		{"scheme not http", func(r *http.Request) error { r.URL.Scheme = "ftp"; return nil }, ErrInvalidURL},
		{"no host", func(r *http.Request) error { r.URL.Host = ""; return nil }, ErrInvalidURL},
		{"nil URL", func(r *http.Request) error { r.URL = nil; return nil }, ErrInvalidURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t)
			s.OnRequest(tt.hook)
			_, err := s.Get(context.Background(), srv.URL)
			assertRequestKind(t, err, tt.want)
		})
	}
	assert.Zero(t, srv.requests.Load(), "nothing sent")
}

// A hook's error is the caller's own: it comes back in a *RequestError as
// the hook made it, matching a kind of ours only if it already did.
func TestHookErrorsPassThroughUnchanged(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	plain := errors.New("hook says no")
	kinded := fmt.Errorf("hook refuses: %w", ErrInvalidOption)
	tests := []struct {
		name string
		opt  Option
		err  error
		kind error // nil: none of ours
	}{
		{"OnRequest", WithOnRequest(func(*http.Request) error { return plain }), plain, nil},
		{"OnResponse", WithOnResponse(func(*Response) error { return plain }), plain, nil},
		{"OnRequest with a kind", WithOnRequest(func(*http.Request) error { return kinded }), kinded, ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t, tt.opt)
			_, err := s.Get(context.Background(), srv.URL+"/?token=secret")
			var re *RequestError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.err, re.Err)
			assert.Equal(t, srv.URL+"/?token=xxxxx", re.URL)
			for name, k := range allKinds {
				if k != tt.kind {
					assert.NotErrorIs(t, err, k, name)
				}
			}
			if tt.kind != nil {
				assert.ErrorIs(t, err, tt.kind)
			}
		})
	}
}
