package reqivo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type jsonValue struct {
	N int `json:"n"`
}

// TestJSONLines: values arrive as lines do; blank lines are skipped; a bad
// line yields an error with its number and the loop goes on.
func TestJSONLines(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != jsonLinesAccept {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		sseSend(w, "{\"n\":1}\n")
		<-next // the client has the first value before the rest is sent
		sseSend(w, "\n{\"n\":2}\r\n{bad\n"+strings.Repeat("7", 2<<10)+"\n  \n{\"n\":4}")
	})
	s := newTestSession(t, WithTimeout(50*time.Millisecond), WithLimits(Limits{MaxEventBytes: 1 << 10}))
	var got []int
	var errs []error
	for v, err := range JSONLines[jsonValue](context.Background(), s, http.MethodGet, srv.URL) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, v.N)
		if v.N == 1 {
			time.Sleep(100 * time.Millisecond) // past the session's total timeout: streams have none
			next <- struct{}{}
		}
	}
	assert.Equal(t, []int{1, 2, 4}, got)
	require.Len(t, errs, 2)
	var le *LineError
	assert.ErrorIs(t, errs[0], ErrInvalidResponse)
	require.ErrorAs(t, errs[0], &le)
	assert.Equal(t, 4, le.Line)
	assert.ErrorIs(t, errs[1], ErrBodyTooLarge)
	require.ErrorAs(t, errs[1], &le)
	assert.Equal(t, 5, le.Line)
	var re *RequestError
	assert.ErrorAs(t, errs[0], &re)
	assert.Contains(t, errs[0].Error(), "line 4")
}

func TestJSONLinesEnds(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/err":
			w.WriteHeader(500)
			_, _ = io.WriteString(w, `{"error":"boom"}`)
		case "/empty":
			w.WriteHeader(204)
		case "/drop":
			sseSend(w, "{\"n\":1}\n{\"n\":")
			abort()
		default:
			for i := range 100 {
				if !sseSend(w, fmt.Sprintf("{\"n\":%d}\n", i)) {
					return
				}
			}
		}
	})
	s := newTestSession(t)
	ctx := context.Background()

	_, errs := collect(JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/err"))
	require.Len(t, errs, 1)
	var he *HTTPError
	require.ErrorAs(t, errs[0], &he)
	assert.Equal(t, `{"error":"boom"}`, string(he.Body))

	vals, errs := collect(JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/empty"))
	assert.Empty(t, vals)
	assert.Empty(t, errs)

	vals, errs = collect(JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/drop"))
	assert.Len(t, vals, 1)
	require.Len(t, errs, 1)
	var re *RequestError
	assert.ErrorAs(t, errs[0], &re)

	n := 0
	for _, err := range JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/many") {
		require.NoError(t, err)
		if n++; n == 3 {
			break
		}
	}
	assert.Equal(t, 3, n)

	_, errs = collect(JSONLines[jsonValue](ctx, s, http.MethodGet, "::bad"))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidURL)
	_, errs = collect(JSONLines[jsonValue](ctx, &Session{}, http.MethodGet, srv.URL))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	_, errs = collect((&Session{}).Events(ctx, http.MethodGet, srv.URL))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	//lint:ignore SA1012 a nil context is what is tested
	_, errs = collect(s.Events(nil, http.MethodGet, srv.URL)) //nolint:staticcheck
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	//lint:ignore SA1012 a nil context is what is tested
	_, errs = collect(JSONLines[jsonValue](nil, s, http.MethodGet, srv.URL)) //nolint:staticcheck
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	assert.True(t, errors.Is(errs[0], ErrInvalidOption))
}
