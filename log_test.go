package reqivo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logBuffer is a concurrency-safe buffer for a slog handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records parses the JSON lines logged so far.
func (b *logBuffer) records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		out = append(out, m)
	}
	return out
}

func newTestLogger(level slog.Level) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: level})), b
}

func TestLogNeverHoldsSecrets(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"basic password":      "pw-basic-S3CRET1",
		"url password":        "pw-url-S3CRET2",
		"query token":         "tok-S3CRET3",
		"api key":             "key-S3CRET4",
		"custom sensitive":    "custom-S3CRET5",
		"manual cookie":       "cookie-S3CRET6",
		"set-cookie":          "setcookie-S3CRET7",
		"location signature":  "sig-S3CRET8",
		"bearer token":        "bearer-S3CRET9",
		"proxy authorization": "proxy-S3CRET10",
		"csrf token header":   "csrf-S3CRET11",
	}
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: secrets["set-cookie"]})
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/final?signature="+secrets["location signature"]+"&page=2", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	logger, logs := newTestLogger(slog.LevelDebug)
	s := newTestSession(t, WithLogger(logger), WithBaseURL(srv.URL),
		WithBasicAuth("user", secrets["basic password"]), WithSensitiveHeaders("X-Custom-Secret"))
	s.SetCookie("sid", secrets["manual cookie"])
	ctx := context.Background()
	_, err := s.Get(ctx, "/redirect?token="+secrets["query token"],
		Header("X-Api-Key", secrets["api key"]),
		Header("X-Custom-Secret", secrets["custom sensitive"]),
		Header("Proxy-Authorization", "Basic "+secrets["proxy authorization"]),
		Header("X-Csrf-Token", secrets["csrf token header"]))
	require.NoError(t, err)
	s.SetBearerToken(secrets["bearer token"])
	_, err = s.Get(ctx, "/bearer")
	require.NoError(t, err)

	s2 := newTestSession(t, WithLogger(logger))
	u := strings.Replace(srv.URL, "http://", "http://user:"+secrets["url password"]+"@", 1)
	_, err = s2.Get(ctx, u+"/userinfo")
	require.NoError(t, err)

	out := logs.String()
	for name, secret := range secrets {
		assert.NotContains(t, out, secret, name)
	}
	basic := base64.StdEncoding.EncodeToString([]byte("user:" + secrets["basic password"]))
	assert.NotContains(t, out, basic)
	assert.NotContains(t, out, strings.TrimRight(basic, "="))
	// The records are there, with the secrets' places marked.
	assert.Len(t, logs.records(t), 4)
	assert.Contains(t, out, "token=xxxxx")
	assert.Contains(t, out, "signature=xxxxx")
	assert.Contains(t, out, "REDACTED:REDACTED@")
	assert.Contains(t, out, `"Authorization":"xxxxx"`)
	assert.Contains(t, out, `"Set-Cookie":"xxxxx"`)
}

func TestLogAttemptRecords(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/flaky":
			if n.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		case "/redirect":
			http.Redirect(w, r, "/body", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("hello"))
	})
	logger, logs := newTestLogger(slog.LevelDebug)
	s := newTestSession(t, WithLogger(logger), WithBaseURL(srv.URL), WithRetry(RetryPolicy{MaxAttempts: 3}))
	s.clock.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	ctx := context.Background()

	_, err := s.Get(ctx, "/body")
	require.NoError(t, err)
	_, err = s.Get(ctx, "/body")
	require.NoError(t, err)
	_, err = s.Get(ctx, "/flaky")
	require.NoError(t, err)
	_, err = s.Get(ctx, "/redirect")
	require.NoError(t, err)
	resp, err := s.Get(ctx, "/body", Stream())
	require.NoError(t, err)
	before := len(logs.records(t))
	require.NoError(t, resp.Close())
	assert.Equal(t, before+1, len(logs.records(t)), "a streamed attempt is logged when its body is closed")

	recs := logs.records(t)
	type rec struct {
		level, msg, path string
		attempt, status  int
		bytes            int
		reused           any
	}
	var got []rec
	for _, r := range recs {
		u, _ := r["url"].(string)
		got = append(got, rec{
			level:   r["level"].(string),
			msg:     r["msg"].(string),
			path:    strings.TrimPrefix(u, srv.URL),
			attempt: int(r["attempt"].(float64)),
			status:  int(r["status"].(float64)),
			bytes:   int(num(r["bytes"])),
			reused:  r["reused"],
		})
		assert.Equal(t, "GET", r["method"])
		if r["level"] == "DEBUG" {
			assert.Contains(t, r, "duration")
			assert.Contains(t, r, "request_headers")
			assert.Contains(t, r, "response_headers")
		} else {
			assert.Contains(t, r, "wait")
		}
	}
	assert.Equal(t, []rec{
		{"DEBUG", "reqivo: attempt", "/body", 1, 200, 5, false},
		{"DEBUG", "reqivo: attempt", "/body", 1, 200, 5, true},
		{"DEBUG", "reqivo: attempt", "/flaky", 1, 503, 0, true},
		{"WARN", "reqivo: retry", "/flaky", 1, 503, 0, nil},
		{"DEBUG", "reqivo: attempt", "/flaky", 2, 200, 5, true},
		{"DEBUG", "reqivo: attempt", "/redirect", 1, 302, int(num(recs[5]["bytes"])), true},
		{"DEBUG", "reqivo: attempt", "/body", 1, 200, 5, true},
		{"DEBUG", "reqivo: attempt", "/body", 1, 200, 0, true},
	}, got)
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func TestLogFailedAttempt(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	logger, logs := newTestLogger(slog.LevelDebug)
	s := newTestSession(t, WithLogger(logger))
	_, err := s.Get(context.Background(), "http://"+addr+"/?api_key=k3y")
	require.ErrorIs(t, err, ErrNetwork)
	recs := logs.records(t)
	require.Len(t, recs, 1)
	assert.Equal(t, "DEBUG", recs[0]["level"])
	assert.Contains(t, recs[0]["error"], "reqivo: network error")
	assert.NotContains(t, recs[0], "status")
	assert.NotContains(t, logs.String(), "k3y")
}

// Below Debug nothing is recorded per attempt, and no trace is attached;
// retries still show at Warn.
func TestLogLevels(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	logger, logs := newTestLogger(slog.LevelWarn)
	s := newTestSession(t, WithLogger(logger), WithRetry(RetryPolicy{MaxAttempts: 2}))
	s.clock.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	_, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	recs := logs.records(t)
	require.Len(t, recs, 1)
	assert.Equal(t, "WARN", recs[0]["level"])
	assert.Equal(t, float64(502), recs[0]["status"])

	logger, logs = newTestLogger(slog.LevelError)
	s = newTestSession(t, WithLogger(logger))
	_, err = s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Empty(t, logs.String())
}

func TestWithLoggerNil(t *testing.T) {
	t.Parallel()
	_, err := NewSession(WithLogger(nil))
	assert.ErrorIs(t, err, ErrInvalidOption)
}

func TestRedactedHeader(t *testing.T) {
	t.Parallel()
	sensitive := map[string]bool{"X-Mine": true}
	h := http.Header{
		"Accept":          {"a", "b"},
		"X-Mine":          {"secret"},
		"X-Session-Id":    {"secret"},
		"Referer":         {"http://u:secret@h/?key=secret&x=1"},
		"Cookie":          {"a=secret"},
		"Content-Type":    {"text/plain"},
		"X-Amz-Signature": {"secret"},
	}
	v := Headers{h, sensitive}.LogValue()
	var b strings.Builder
	for _, a := range v.Group() {
		b.WriteString(a.Key + "=" + a.Value.String() + "\n")
	}
	assert.Equal(t, "Accept=a, b\nContent-Type=text/plain\nCookie=xxxxx\nReferer=http://REDACTED:REDACTED@h/?key=xxxxx&x=1\n"+
		"X-Amz-Signature=xxxxx\nX-Mine=xxxxx\nX-Session-Id=xxxxx\n", b.String())
}
