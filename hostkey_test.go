package reqivo

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The per-host key names a host the way the transport dials it: case,
// a trailing dot, an empty or default port and a Unicode spelling do not
// make another host.
func TestHostKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		urls []string
		want string
	}{
		{[]string{"http://api.example.com/", "http://API.Example.COM/", "http://api.example.com./",
			"http://api.example.com:/", "http://api.example.com:80/", "http://api.example.com.:80/x",
			"ws://api.example.com/", "http://user:pw@api.example.com/"}, "api.example.com:80"},
		{[]string{"https://api.example.com/", "https://api.example.com.:/", "https://api.example.com:443/",
			"wss://API.example.com./", "http://api.example.com:443/"}, "api.example.com:443"},
		{[]string{"http://api.example.com:8080/", "http://api.example.com.:8080/"}, "api.example.com:8080"},
		{[]string{"https://bücher.example/", "https://BÜCHER.example./", "https://xn--bcher-kva.example/"},
			"xn--bcher-kva.example:443"},
		{[]string{"http://[::1]:8080/", "http://[::1]:8080/x"}, "[::1]:8080"},
		{[]string{"http://127.0.0.1/", "http://127.0.0.1:80/"}, "127.0.0.1:80"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			for _, raw := range tt.urls {
				assert.Equal(t, tt.want, hostKey(mustParse(t, raw)), raw)
			}
		})
	}
	assert.NotEqual(t, hostKey(mustParse(t, "http://a.example/")), hostKey(mustParse(t, "http://b.example/")))
	assert.NotEqual(t, hostKey(mustParse(t, "http://a.example/")), hostKey(mustParse(t, "https://a.example/")))
}

// A breaker opened for a host refuses its other spellings: a redirect to
// "HOST.:" does not slip past it.
func TestHostKeyBreakerSpellings(t *testing.T) {
	t.Parallel()
	sent := 0
	s := newTestSession(t, WithCircuitBreaker(CircuitBreaker{Failures: 1, Cooldown: time.Hour}),
		WithTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent++
			return &http.Response{StatusCode: 500, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
		})))
	_, err := s.Get(context.Background(), "http://api.example.com/")
	require.NoError(t, err)
	require.Equal(t, 1, sent)
	for _, raw := range []string{"http://API.example.com./", "http://api.example.com:/", "http://api.example.com.:80/"} {
		_, err := s.Get(context.Background(), raw)
		assert.ErrorIs(t, err, ErrCircuitOpen, raw)
	}
	assert.Equal(t, 1, sent, "a spelling of the open host reached the wire")
	assert.Equal(t, map[string]string{"api.example.com:80": "open"}, s.Breakers())
}

func FuzzHostKey(f *testing.F) {
	for _, s := range []string{"http://a.example/", "https://A.example.:/", "http://[::1]:80/",
		"https://bücher.example./", "ws://x:1/", "http://%41/", "http://a..", "http://.:/", "http://\u0130.example/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		k := hostKey(u)
		// Case, a trailing dot and an explicit default port never change it.
		v := *u
		v.Host = strings.ToUpper(u.Host)
		if hostKey(&v) != k && !strings.Contains(k, "\x00") && isASCII(u.Host) {
			t.Fatalf("case: %q vs %q", hostKey(&v), k)
		}
		if h := u.Hostname(); h != "" && !strings.HasSuffix(h, ".") && u.Port() == "" && !strings.Contains(h, ":") {
			v := *u
			v.Host = h + "."
			if hostKey(&v) != k {
				t.Fatalf("trailing dot: %q vs %q", hostKey(&v), k)
			}
			if p := originOf(u).port; p != "" {
				v.Host = h + ":" + p
				if hostKey(&v) != k {
					t.Fatalf("explicit port: %q vs %q", hostKey(&v), k)
				}
			}
		}
		// Two URLs of one origin share a key (up to the trailing dot).
		if originOf(u).host != "" {
			w := *u
			w.Path, w.RawQuery, w.User = "/other", "q=1", url.User("x")
			if hostKey(&w) != k {
				t.Fatalf("same origin, other key: %q vs %q", hostKey(&w), k)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
