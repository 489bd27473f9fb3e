package reqivo

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allKinds = map[string]error{
	"ErrClosed":           ErrClosed,
	"ErrInvalidURL":       ErrInvalidURL,
	"ErrInvalidOption":    ErrInvalidOption,
	"ErrInvalidHeader":    ErrInvalidHeader,
	"ErrTimeout":          ErrTimeout,
	"ErrConnectTimeout":   ErrConnectTimeout,
	"ErrReadTimeout":      ErrReadTimeout,
	"ErrNetwork":          ErrNetwork,
	"ErrCanceled":         ErrCanceled,
	"ErrTLS":              ErrTLS,
	"ErrTooManyRedirects": ErrTooManyRedirects,
	"ErrRedirectLoop":     ErrRedirectLoop,
	"ErrInvalidResponse":  ErrInvalidResponse,
	"ErrBodyTooLarge":     ErrBodyTooLarge,
	"ErrWebSocket":        ErrWebSocket,
	"ErrRateLimited":      ErrRateLimited,
	"ErrCircuitOpen":      ErrCircuitOpen,
	"ErrAuth":             ErrAuth,
}

// parents of a kind that an error of it also matches.
var kindParents = map[error][]error{
	ErrTLS:            {ErrNetwork},
	ErrConnectTimeout: {ErrTimeout},
	ErrReadTimeout:    {ErrTimeout},
	ErrRateLimited:    {ErrTimeout},
}

// assertRequestKind checks that err is a *RequestError matching want and
// its parents, and no other kind.
func assertRequestKind(t testing.TB, err error, want error) {
	t.Helper()
	require.Error(t, err)
	var re *RequestError
	assert.ErrorAs(t, err, &re, "a *RequestError")
	assert.ErrorIs(t, err, want)
	ok := map[error]bool{want: true}
	for _, p := range kindParents[want] {
		ok[p] = true
	}
	for name, k := range allKinds {
		if !ok[k] {
			assert.NotErrorIs(t, err, k, "unexpected kind %s in %v", name, err)
		}
	}
	assert.True(t, strings.HasPrefix(err.Error(), "reqivo: "), "prefix: %q", err.Error())
	assert.False(t, strings.HasSuffix(err.Error(), "."), "no final period: %q", err.Error())
}

func TestErrInvalidURL(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	withBase := newTestSession(t, WithBaseURL(srv.URL+"/v1/"))
	noBase := newTestSession(t)
	tests := []struct {
		name string
		s    *Session
		url  string
	}{
		{"empty without base", noBase, ""},
		{"relative without base", noBase, "/users"},
		{"unparsable", noBase, "http://[::1"},
		{"control byte", noBase, "http://127.0.0.1/\x00"},
		{"ftp scheme", noBase, "ftp://127.0.0.1/file"},
		{"file scheme", noBase, "file:///etc/passwd"},
		{"no host", noBase, "http:///path"},
		{"scheme-relative with base", withBase, "//127.0.0.1:1/steal"},
		{"scheme-relative with base and userinfo", withBase, "//user@127.0.0.1/steal"},
		{"javascript", withBase, "javascript:alert(1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.s.Get(context.Background(), tt.url)
			assertRequestKind(t, err, ErrInvalidURL)
		})
	}
	assert.Zero(t, srv.conns.Load(), "nothing sent")
}

func TestErrInvalidHeaderBeforeAnyByte(t *testing.T) {
	t.Parallel()
	bad := []struct{ name, key, value string }{
		{"CR in value", "X-A", "a\rb"},
		{"LF in value", "X-A", "a\nX-Injected: 1"},
		{"CRLF in value", "X-A", "a\r\nX-Injected: 1"},
		{"NUL in value", "X-A", "a\x00b"},
		{"CR in name", "X-\rA", "v"},
		{"LF in name", "X-\nA", "v"},
		{"NUL in name", "X-\x00A", "v"},
		{"space in name", "X A", "v"},
		{"empty name", "", "v"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := setupCountingServer(t, echoHandler)
			ctx := context.Background()

			s := newTestSession(t)
			_, err := s.Get(ctx, srv.URL, Header(tt.key, tt.value))
			assertRequestKind(t, err, ErrInvalidHeader)

			s.SetHeader(tt.key, tt.value)
			_, err = s.Get(ctx, srv.URL)
			assertRequestKind(t, err, ErrInvalidHeader)
			// Until it is deleted.
			s.DelHeader(tt.key)
			if tt.key != "" {
				_, err = s.Get(ctx, srv.URL)
				// A name with CR/LF canonicalises to itself, so the
				// delete clears the bad setting.
				assert.NoError(t, err)
			}

			hooked := newTestSession(t)
			hooked.OnRequest(func(r *http.Request) error {
				r.Header[tt.key] = []string{tt.value}
				return nil
			})
			_, err = hooked.Get(ctx, srv.URL)
			assertRequestKind(t, err, ErrInvalidHeader)

			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			require.NoError(t, err)
			req.Header[tt.key] = []string{tt.value}
			_, err = newTestSession(t).Do(req)
			assertRequestKind(t, err, ErrInvalidHeader)

			_, err = NewSession(WithHeader(tt.key, tt.value))
			assert.ErrorIs(t, err, ErrInvalidHeader)
			assert.NotErrorIs(t, err, ErrInvalidOption, "one kind per error")

			if tt.key != "" {
				assert.EqualValues(t, 1, srv.conns.Load(), "only the request after DelHeader reached the server")
				assert.EqualValues(t, 1, srv.requests.Load())
			} else {
				assert.Zero(t, srv.conns.Load(), "nothing reached the server")
			}
		})
	}
}

func TestErrInvalidHeaderCookie(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL))
	for _, v := range []string{"a\r\nb", "a;b=c", "a\x00"} {
		s.SetCookie("c", v)
		_, err := s.Get(context.Background(), "/")
		assertRequestKind(t, err, ErrInvalidHeader)
	}
	s.SetCookie("bad name", "v")
	s.SetCookie("c", "ok")
	_, err := s.Get(context.Background(), "/")
	assertRequestKind(t, err, ErrInvalidHeader)
	assert.Zero(t, srv.conns.Load())
	s.SetCookie("bad name", "")
	_, err = s.Get(context.Background(), "/")
	assert.NoError(t, err, "a bad cookie deleted stops failing requests")
}

func TestErrNetworkRefused(t *testing.T) {
	t.Parallel()
	s := newTestSession(t)
	_, err := s.Get(context.Background(), "http://"+closedAddr(t)+"/")
	assertRequestKind(t, err, ErrNetwork)
	var opErr *net.OpError
	assert.ErrorAs(t, err, &opErr, "the cause chain is kept")
	assert.NotErrorIs(t, err, context.Canceled, "nobody cancelled")
}

func TestErrNetworkClosedBeforeResponse(t *testing.T) {
	t.Parallel()
	rs := setupRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		_ = readRequestHead(c)
	})
	s := newTestSession(t)
	_, err := s.Get(context.Background(), rs.URL())
	assertRequestKind(t, err, ErrNetwork)
	assert.NotErrorIs(t, err, context.Canceled)
}

func TestErrTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
	srv.Config.ErrorLog = discardLogger()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s := newTestSession(t)
	_, err := s.Get(context.Background(), srv.URL)
	assertRequestKind(t, err, ErrTLS)
	var certErr *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &certErr)
	assert.NotErrorIs(t, err, context.Canceled)
}

func TestErrInvalidResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply string
	}{
		{"garbage status line", "garbage\r\n\r\n"},
		{"bad status code", "HTTP/1.1 abc OK\r\n\r\n"},
		{"bad header line", "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"},
		{"bad chunked encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs := setupRawServer(t, func(c net.Conn, _ <-chan struct{}) {
				if readRequestHead(c) == nil {
					_, _ = io.WriteString(c, tt.reply)
				}
			})
			s := newTestSession(t)
			_, err := s.Get(context.Background(), rs.URL())
			assertRequestKind(t, err, ErrInvalidResponse)
			assert.NotErrorIs(t, err, context.Canceled)
		})
	}
}

func TestErrInvalidResponseJSON(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "{not json")
	})
	s := newTestSession(t)
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	var v any
	err = resp.JSON(&v)
	assert.ErrorIs(t, err, ErrInvalidResponse)
	var se *json.SyntaxError
	assert.ErrorAs(t, err, &se)
}

func TestRequestErrorRedactsURL(t *testing.T) {
	t.Parallel()
	s := newTestSession(t)
	addr := closedAddr(t)
	raw := "http://alice:hunter2@" + addr + "/p?token=T0K&api_key=K3Y&secret=S3C&password=PW0&signature=S1G&page=2&X-Amz-Signature=AMZ"
	_, err := s.Post(context.Background(), raw)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.MethodPost, re.Method)
	for _, secret := range []string{"alice", "hunter2", "T0K", "K3Y", "S3C", "PW0", "S1G", "AMZ"} {
		assert.NotContains(t, re.URL, secret)
		assert.NotContains(t, err.Error(), secret)
	}
	assert.Contains(t, re.URL, "REDACTED:REDACTED@", "the user name is redacted too")
	assert.Contains(t, re.URL, "page=2", "other query values are kept")
	assert.Contains(t, re.URL, addr)
	assert.Contains(t, err.Error(), "POST")

	// Errors raised before sending redact too.
	_, err = s.Get(context.Background(), "ftp://bob:pa55@127.0.0.1/?token=T0K")
	require.ErrorAs(t, err, &re)
	assert.NotContains(t, err.Error(), "pa55")
	assert.NotContains(t, err.Error(), "T0K")
	_, err = s.Get(context.Background(), "http://bob:pa55@[::1/?token=T0K")
	assert.NotContains(t, err.Error(), "pa55")
	assert.NotContains(t, err.Error(), "T0K")
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://u:p@h/x?a=1", "https://REDACTED:REDACTED@h/x?a=1"},
		{"https://h/x?token=abc&a=1", "https://h/x?token=xxxxx&a=1"},
		{"https://h/x?Access_Token=abc", "https://h/x?Access_Token=xxxxx"},
		{"https://h/x?sig=abc", "https://h/x?sig=xxxxx"},
		{"https://u@h/", "https://REDACTED:REDACTED@h/"}, // a user name alone is often a token
		{"https://t0k3n@h/x#access_token=t", "https://REDACTED:REDACTED@h/x"},
		{"https://h/x?flag", "https://h/x?flag"},
		{"http://[::1", "<unparsable URL>"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, RedactURL(tt.in))
		})
	}
}

func TestHTTPError(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("e", 10<<10)
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, big)
		case "/small":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "nope")
		default:
			w.WriteHeader(http.StatusFound) // 3xx without Location is not an error
		}
	})
	s := newTestSession(t, WithBaseURL(srv.URL))
	resp, err := s.Get(context.Background(), "/big?token=T0K")
	require.NoError(t, err, "a 5xx is a response, not a request error")
	var he *HTTPError
	require.ErrorAs(t, resp.Err(), &he)
	assert.Equal(t, 500, he.StatusCode)
	assert.Equal(t, "500 Internal Server Error", he.Status)
	assert.Equal(t, http.MethodGet, he.Method)
	assert.Equal(t, srv.URL+"/big?token=xxxxx", he.URL)
	assert.Len(t, he.Body, 4<<10)
	assert.Equal(t, big[:4<<10], string(he.Body))
	assert.Equal(t, "reqivo: GET "+srv.URL+"/big?token=xxxxx: 500 Internal Server Error", he.Error())
	assert.Len(t, resp.Bytes(), 10<<10, "the response itself keeps the whole body")

	resp, err = s.Get(context.Background(), "/small")
	require.NoError(t, err)
	require.ErrorAs(t, resp.Err(), &he)
	assert.Equal(t, "nope", string(he.Body))
	assert.False(t, resp.OK())

	resp, err = s.Get(context.Background(), "/3xx")
	require.NoError(t, err)
	assert.NoError(t, resp.Err())
	assert.False(t, resp.OK())
}

func TestKindsAreDistinct(t *testing.T) {
	t.Parallel()
	for name, k := range allKinds {
		assert.True(t, strings.HasPrefix(k.Error(), "reqivo: "), name)
		for name2, k2 := range allKinds {
			if name == name2 {
				continue
			}
			isParent := false
			for _, p := range kindParents[k] {
				isParent = isParent || p == k2
			}
			assert.Equal(t, isParent, errors.Is(k, k2), "%s is %s", name, name2)
		}
	}
	// A kind wrapped with fmt.Errorf still matches.
	assert.ErrorIs(t, fmt.Errorf("x: %w", ErrReadTimeout), ErrTimeout)
}

func TestRequestErrorUnwrap(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	re := &RequestError{Method: "GET", URL: "http://h/", Err: wrapKind(ErrNetwork, "", cause)}
	assert.ErrorIs(t, re, cause)
	assert.ErrorIs(t, re, ErrNetwork)
	assert.Equal(t, "reqivo: GET http://h/: network error: boom", re.Error())
	u, _ := url.Parse("http://h/")
	assert.Equal(t, "http://h/", redactURL(u))
}

// An error names the bad input it refuses, escaped: a header name or
// method with CR or LF must not write a line of its own into the caller's
// logs.
func TestErrorStringsEscapeControlBytes(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	ctx := context.Background()
	const evil = "X\r\nInjected: 1\x00"
	tests := []struct {
		name string
		do   func(s *Session) error
	}{
		{"session header name", func(s *Session) error {
			s.SetHeader(evil, "v")
			_, err := s.Get(ctx, srv.URL)
			return err
		}},
		{"request header name", func(s *Session) error {
			_, err := s.Get(ctx, srv.URL, Header(evil, "v"))
			return err
		}},
		{"method", func(s *Session) error {
			_, err := s.Request(ctx, evil, srv.URL)
			return err
		}},
		{"cookie name", func(s *Session) error {
			s.SetCookie(evil, "v")
			_, err := s.Get(ctx, srv.URL)
			return err
		}},
		{"Host of Do", func(s *Session) error {
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			require.NoError(t, err)
			req.Host = evil
			_, err = s.Do(req)
			return err
		}},
		{"option", func(*Session) error {
			_, err := NewSession(WithHeader(evil, "v"))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.do(newTestSession(t))
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "\r")
			assert.NotContains(t, err.Error(), "\n")
			assert.NotContains(t, err.Error(), "\x00")
			assert.Contains(t, err.Error(), `X\r\nInjected: 1\x00`)
		})
	}
	assert.Zero(t, srv.requests.Load())
}

// A request cancelled by its caller is ErrNetwork, as ErrNetwork's doc
// says, with context.Canceled in the chain.
func TestCanceledRequestIsErrCanceled(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, echoHandler)
	s := newTestSession(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Get(ctx, srv.URL)
	assertRequestKind(t, err, ErrCanceled)
	assert.NotErrorIs(t, err, ErrNetwork)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, srv.requests.Load())
}
