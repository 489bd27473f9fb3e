package reqivo

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cache of resolve must give what resolving afresh gives, and hand out
// URLs the caller may change.
func TestResolveCache(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, base, raw string
	}{
		{"relative", "https://api.example.com/v1/", "users"},
		{"relative without slash", "https://api.example.com/v1", "users"},
		{"absolute path", "https://api.example.com/v1/", "/users"},
		{"dot segments", "https://api.example.com/v1/a/", "../b/./c"},
		{"escaped", "https://api.example.com/v1/", "a%2Fb/c%20d"},
		{"empty", "https://api.example.com/v1/", ""},
		{"absolute URL", "https://api.example.com/", "http://127.0.0.1:8080/x"},
		{"query", "https://api.example.com/", "items?page=2"},
		{"user info", "https://api.example.com/", "https://u:p@127.0.0.1/x"},
		{"fragment", "https://api.example.com/", "doc#part"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t, WithBaseURL(tt.base))
			want, err := s.resolveURL(tt.raw)
			require.NoError(t, err)
			for i := range 3 {
				got, err := s.resolve(tt.raw)
				require.NoError(t, err)
				assert.Equal(t, want.String(), got.String(), "call %d", i)
				assert.Equal(t, *want, *got, "call %d", i)
				got.Path, got.RawQuery = "/changed", "x=1" // the caller's to change
			}
		})
	}
}

func TestResolveCacheKeepsNoSecretsAndIsBounded(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, WithBaseURL("https://api.example.com/"))
	for _, raw := range []string{"items?token=secret", "https://u:p@127.0.0.1/x"} {
		_, err := s.resolve(raw)
		require.NoError(t, err)
		if m := s.resolved.Load(); m != nil {
			assert.NotContains(t, *m, raw)
		}
	}
	for i := range maxResolved + 10 {
		_, err := s.resolve("p" + strconv.Itoa(i))
		require.NoError(t, err)
	}
	require.NotNil(t, s.resolved.Load())
	assert.Len(t, *s.resolved.Load(), maxResolved)
	u, err := s.resolve("p" + strconv.Itoa(maxResolved+5)) // not cached, still resolved
	require.NoError(t, err)
	assert.Equal(t, "https://api.example.com/p"+strconv.Itoa(maxResolved+5), u.String())
}

func TestResolveErrorsNotCached(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, WithBaseURL("https://api.example.com/"))
	for range 2 {
		_, err := s.resolve("//evil.example/x")
		assert.ErrorIs(t, err, ErrInvalidURL)
	}
	if m := s.resolved.Load(); m != nil {
		assert.Empty(t, *m)
	}
}
