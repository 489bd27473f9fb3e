package reqivotest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/reqivotest"
)

// The secrets the cassette test uses; none may be in the file.
const (
	loginPassword = "hunter2-pw-SECRET"
	sessionID     = "sess-SECRET-abc123"
	accessToken   = "tok-SECRET-xyz789"
	refreshToken  = "refresh-SECRET-456"
	queryKey      = "qkey-SECRET-777"
	apiKeyHeader  = "hdrkey-SECRET-888"
	urlPassword   = "urlpass-SECRET-999"
	clientSecret  = "client-SECRET-000"
)

// apiServer is a small API that checks credentials: a login that sets a
// cookie and returns tokens, and endpoints that need them.
func apiServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var flaky, hits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("password") != loginPassword {
			http.Error(w, "bad password", http.StatusUnauthorized)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: sessionID, Path: "/", HttpOnly: true})
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token": %q, "refresh_token": %q, "user": "ada"}`+"\n", accessToken, refreshToken)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("sid")
		if err != nil || c.Value != sessionID || r.Header.Get("Authorization") != "Bearer "+accessToken ||
			r.URL.Query().Get("api_key") != queryKey || r.Header.Get("X-Api-Key") != apiKeyHeader {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		// Echoes what it got, secrets included, as httpbin does.
		fmt.Fprintf(w, "hello ada\nauth: %s\ncookie: %s\nquery: %s\n", r.Header.Get("Authorization"), r.Header.Get("Cookie"), r.URL.RawQuery)
	})
	mux.HandleFunc("GET /basic", func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		fmt.Fprintf(w, "basic %s %v", u, ok && p == urlPassword)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "token for %v", strings.Contains(string(body), clientSecret))
	})
	mux.HandleFunc("GET /gzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "text/plain")
		zw := gzip.NewWriter(w)
		_, _ = io.WriteString(zw, "decoded text\n")
		_ = zw.Close()
	})
	mux.HandleFunc("GET /binary", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /flaky", func(w http.ResponseWriter, r *http.Request) {
		if flaky.Add(1)%2 == 1 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "recovered")
	})
	mux.HandleFunc("GET /go", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/gzip", http.StatusFound)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// scenario is the code under test: it logs in and uses what it got. It
// returns what it saw, with no secret in it. swap sends a query in
// another order.
func scenario(ctx context.Context, s *reqivo.Session, base string, swap bool) (string, error) {
	var out strings.Builder
	resp, err := s.Post(ctx, "login", reqivo.Form(url.Values{"user": {"ada"}, "password": {loginPassword}}))
	if err != nil {
		return "", err
	}
	var login struct {
		AccessToken string `json:"access_token"`
		User        string
	}
	if err := resp.JSON(&login); err != nil {
		return "", err
	}
	fmt.Fprintf(&out, "login %d user=%s token=%v cookie=%v\n", resp.StatusCode, login.User, login.AccessToken != "", len(s.Cookies(base)) == 1)

	query := "api_key=" + queryKey + "&b=2&a=1"
	if swap {
		query = "a=1&api_key=" + queryKey + "&b=2"
	}
	resp, err = s.Get(ctx, "me?"+query, reqivo.Header("Authorization", "Bearer "+login.AccessToken), reqivo.Header("X-Api-Key", apiKeyHeader))
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&out, "me %d %q\n", resp.StatusCode, strings.SplitN(resp.Text(), "\n", 2)[0])

	u, _ := url.Parse(base)
	u.User = url.UserPassword("ada", urlPassword)
	resp, err = s.Get(ctx, u.String()+"/basic")
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&out, "basic %d %q\n", resp.StatusCode, resp.Text())

	resp, err = s.Post(ctx, "token", reqivo.Form(url.Values{"grant_type": {"client_credentials"}, "client_secret": {clientSecret}}))
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&out, "token %d %q\n", resp.StatusCode, resp.Text())

	for _, p := range []string{"go", "binary", "flaky"} {
		resp, err = s.Get(ctx, p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&out, "%s %d %d bytes, %d hops, %q\n", p, resp.StatusCode, len(resp.Bytes()), len(resp.History()), resp.Header.Get("Content-Type"))
	}
	return out.String(), nil
}

func newCassetteSession(t *testing.T, base string, opts ...reqivo.Option) *reqivo.Session {
	t.Helper()
	opts = append([]reqivo.Option{
		reqivo.WithBaseURL(base + "/"),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 3, MaxWait: time.Minute}),
		reqivotest.InstantWaits(),
	}, opts...)
	s, err := reqivo.NewSession(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestCassetteRecordsThenReplaysWithTheServerStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "testdata", "api.cassette")
	srv, hits := apiServer(t)
	base := srv.URL

	// Record: the file is missing.
	rec := &fakeTB{}
	s := newCassetteSession(t, base, reqivotest.Cassette(rec, path))
	recorded, err := scenario(ctx, s, base, false)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Contains(t, recorded, `me 200 "hello ada"`, "the server accepted the credentials")
	assert.Contains(t, recorded, `basic 200 "basic ada true"`)
	assert.Contains(t, recorded, `token 200 "token for true"`)
	assert.Contains(t, recorded, "flaky 200 9 bytes")
	rec.end() // writes the file
	assert.Empty(t, rec.errors())
	sent := hits.Load()
	srv.Close()

	file, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(file)
	t.Logf("cassette:\n%s", text)
	basic := base64.StdEncoding.EncodeToString([]byte("ada:" + urlPassword))
	for _, secret := range []string{loginPassword, sessionID, accessToken, refreshToken, queryKey, apiKeyHeader, urlPassword, clientSecret, basic} {
		assert.NotContains(t, text, secret)
	}
	for _, want := range []string{
		"=== 1\nPOST " + base + "/login\n",
		"Set-Cookie: sid=REDACTED-",
		"Authorization: Bearer REDACTED-",
		"password=REDACTED&user=ada",
		"api_key=REDACTED&b=2&a=1",
		"| decoded text\n",  // gzip written decoded
		"\n--- 302 Found\n", // each hop is an entry
		"\n--- 503 Service Unavailable\nContent-Length: 0\nDate: ",
		"\nRetry-After: 7\n",
		"\n% AAECAwQF", // binary in base64
	} {
		assert.Contains(t, text, want)
	}
	assert.Equal(t, int(sent), strings.Count(text, "\n=== "), "one entry per round trip")

	// Replay: the server is gone, the query comes in another order.
	play := &fakeTB{}
	s = newCassetteSession(t, base, reqivotest.Cassette(play, path))
	replayed, err := scenario(ctx, s, base, true)
	require.NoError(t, err)
	assert.Equal(t, recorded, replayed)
	play.end()
	assert.Empty(t, play.errors())
	assert.Zero(t, s.Stats().ConnsOpened, "nothing touched the network")
}

func TestCassetteReplayRefusesWhatItHasNot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.cassette")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.URL.Path, body)
	}))
	base := srv.URL
	rec := &fakeTB{}
	s := newCassetteSession(t, base, reqivotest.Cassette(rec, path))
	_, err := s.Get(ctx, "a")
	require.NoError(t, err)
	_, err = s.Post(ctx, "b", reqivo.BodyString("one"))
	require.NoError(t, err)
	rec.end()
	srv.Close()

	for _, tc := range []struct {
		name string
		do   func(*reqivo.Session) error
		want string
	}{
		{"unknown URL", func(s *reqivo.Session) error {
			_, err := s.Get(ctx, "c?token=zzz-SECRET")
			return err
		}, "no interaction left for GET " + base + "/c?token=xxxxx (none with this method and URL; record again with REQIVO_RECORD=1)"},
		{"another method", func(s *reqivo.Session) error {
			_, err := s.Delete(ctx, "a")
			return err
		}, "no interaction left for DELETE " + base + "/a (none with this method and URL"},
		{"all used", func(s *reqivo.Session) error {
			if _, err := s.Get(ctx, "a"); err != nil {
				return fmt.Errorf("first: %w", err)
			}
			_, err := s.Get(ctx, "a")
			return err
		}, "no interaction left for GET " + base + "/a (its 1 were all used)"},
		{"another body", func(s *reqivo.Session) error {
			_, err := s.Post(ctx, "b", reqivo.BodyString("two"))
			return err
		}, "no interaction left for POST " + base + "/b (none with this body, sha256:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ft := &fakeTB{}
			s := newCassetteSession(t, base, reqivotest.Cassette(ft, path))
			err := tc.do(s)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "zzz-SECRET")
			require.Len(t, ft.errors(), 1)
			assert.Contains(t, ft.errors()[0], tc.want)
			assert.Zero(t, s.Stats().ConnsOpened)
		})
	}
}

// TestCassetteRecordEnvRecordsAgain cannot run in parallel: it sets an
// environment variable.
func TestCassetteRecordEnvRecordsAgain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.cassette")
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "answer %d", n.Add(1))
	}))
	t.Cleanup(srv.Close)
	record := func() string {
		ft := &fakeTB{}
		s := newCassetteSession(t, srv.URL, reqivotest.Cassette(ft, path))
		resp, err := s.Get(ctx, "x")
		require.NoError(t, err)
		ft.end()
		require.Empty(t, ft.errors())
		return resp.Text()
	}
	assert.Equal(t, "answer 1", record(), "no file: recorded")
	assert.Equal(t, "answer 1", record(), "replayed")
	t.Setenv(reqivotest.RecordEnv, "1")
	assert.Equal(t, "answer 2", record(), "recorded again")
	t.Setenv(reqivotest.RecordEnv, "")
	assert.Equal(t, "answer 2", record(), "replayed")
	assert.EqualValues(t, 2, n.Load())
}

func TestCassetteBadFileFailsAtOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bad.cassette")
	require.NoError(t, os.WriteFile(path, []byte("=== 1\nGET http://x/\n--- not a status\n"), 0o644))
	ft := &fakeTB{}
	reqivotest.Cassette(ft, path)
	require.Len(t, ft.errors(), 1)
	assert.Contains(t, ft.errors()[0], "line 3: bad status")
}

func TestCassetteStreamsWhileRecording(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.cassette")
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "second\n")
	}))
	t.Cleanup(srv.Close)
	ft := &fakeTB{}
	s := newCassetteSession(t, srv.URL, reqivotest.Cassette(ft, path))
	resp, err := s.Get(context.Background(), "s", reqivo.Stream())
	require.NoError(t, err)
	line := make([]byte, 6)
	_, err = io.ReadFull(resp.Body, line)
	require.NoError(t, err, "the first line comes before the server ends")
	close(release)
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Close())
	assert.Equal(t, "first\nsecond\n", string(line)+string(rest))
	ft.end()
	file, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(file), "| first\n| second\n")
	assert.True(t, bytes.HasPrefix(file, []byte("# reqivo cassette")))
}

// TestCassetteIsStable records the same traffic twice: the files differ
// only in the Date headers, so a re-recording diffs cleanly.
func TestCassetteIsStable(t *testing.T) {
	t.Parallel()
	srv, _ := apiServer(t)
	dir := t.TempDir()
	var files []string
	for i := range 2 {
		path := filepath.Join(dir, fmt.Sprint(i))
		ft := &fakeTB{}
		s := newCassetteSession(t, srv.URL, reqivotest.Cassette(ft, path))
		_, err := scenario(context.Background(), s, srv.URL, false)
		require.NoError(t, err)
		ft.end()
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var kept []string
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "Date: ") {
				kept = append(kept, line)
			}
		}
		files = append(files, strings.Join(kept, "\n"))
	}
	assert.Equal(t, files[0], files[1])
}
