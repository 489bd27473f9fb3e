package reqivo

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A body option's Content-Type is a per-request header: it replaces the
// session's and yields to the caller's own Header option.
func TestBodyContentTypeMerge(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Header.Get("Content-Type")))
	})
	tests := []struct {
		name    string
		session string // session Content-Type, "" for none
		opts    []RequestOption
		want    string
	}{
		{"json", "", []RequestOption{JSON(map[string]int{"a": 1})}, "application/json"},
		{"form", "", []RequestOption{Form(map[string][]string{"a": {"1"}})}, "application/x-www-form-urlencoded"},
		{"json over session", "text/plain", []RequestOption{JSON(1)}, "application/json"},
		{"caller over json", "", []RequestOption{Header("Content-Type", "application/vnd.x+json"), JSON(1)}, "application/vnd.x+json"},
		{"caller after json", "text/plain", []RequestOption{JSON(1), Header("content-type", "application/merge-patch+json")}, "application/merge-patch+json"},
		{"raw body keeps session", "text/plain", []RequestOption{BodyString("x")}, "text/plain"},
		{"raw body none", "", []RequestOption{BodyString("x")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := []Option{WithBaseURL(srv.URL)}
			if tt.session != "" {
				opts = append(opts, WithHeader("Content-Type", tt.session))
			}
			s := newTestSession(t, opts...)
			resp, err := s.Post(context.Background(), "/", tt.opts...)
			require.NoError(t, err)
			assert.Equal(t, tt.want, resp.Text())
			assert.Equal(t, tt.want, resp.Request.Header.Get("Content-Type"))
		})
	}
}
