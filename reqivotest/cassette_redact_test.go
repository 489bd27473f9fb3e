package reqivotest_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/reqivotest"
)

// TestCassetteRedactsSecretsEverywhere records traffic whose secrets sit
// where a cassette once missed them, and checks that none is in the file.
func TestCassetteRedactsSecretsEverywhere(t *testing.T) {
	t.Parallel()
	const (
		formPassword  = "mp-password-SECRET-1"
		formAPIKey    = "mp-apikey-SECRET-2"
		keyFile       = "mp-keyfile-SECRET-3"
		queryRedirect = "loc-query-SECRET-4"
		fragRedirect  = "loc-frag-SECRET-5"
		userToken     = "userinfo-token-SECRET-6"
		brToken       = "br-token-SECRET-7"
		zstdToken     = "zstd-token-SECRET-8"
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "uploaded for %s", r.FormValue("user"))
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/callback?access_token="+queryRedirect+"&state=s1#access_token="+fragRedirect+"&state=s1")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "callback ok")
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		u, _, _ := r.BasicAuth()
		fmt.Fprintf(w, "hello %v", u == userToken)
	})
	coded := func(name string, wrap func(io.Writer) io.WriteCloser, token string) {
		mux.HandleFunc("GET /"+name, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", name)
			w.Header().Set("Content-Type", "application/json")
			zw := wrap(w)
			fmt.Fprintf(zw, `{"access_token":%q,"note":"coded"}`, token)
			_ = zw.Close()
		})
	}
	coded("br", func(w io.Writer) io.WriteCloser { return brotli.NewWriter(w) }, brToken)
	coded("zstd", func(w io.Writer) io.WriteCloser {
		zw, err := zstd.NewWriter(w)
		require.NoError(t, err)
		return zw
	}, zstdToken)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	scenario := func(s *reqivo.Session) string {
		ctx := context.Background()
		var out strings.Builder
		resp, err := s.Post(ctx, "upload", reqivo.Multipart(
			reqivo.FormField("user", "ada"),
			reqivo.FormField("password", formPassword),
			reqivo.FormField("api_key", formAPIKey),
			reqivo.FormFile("private_key", "id.pem", strings.NewReader(keyFile)),
		))
		require.NoError(t, err)
		fmt.Fprintf(&out, "upload %d %s\n", resp.StatusCode, resp.Text())
		resp, err = s.Get(ctx, "authorize")
		require.NoError(t, err)
		fmt.Fprintf(&out, "authorize %d %s\n", resp.StatusCode, resp.Text())
		resp, err = s.Get(ctx, strings.Replace(srv.URL, "http://", "http://"+userToken+"@", 1)+"/userinfo")
		require.NoError(t, err)
		fmt.Fprintf(&out, "userinfo %d %s\n", resp.StatusCode, resp.Text())
		for _, p := range []string{"br", "zstd"} {
			var v struct{ Note string }
			resp, err = s.Get(ctx, p)
			require.NoError(t, err)
			require.NoError(t, resp.JSON(&v))
			fmt.Fprintf(&out, "%s %d %s\n", p, resp.StatusCode, v.Note)
		}
		return out.String()
	}

	path := filepath.Join(t.TempDir(), "secrets.cassette")
	rec := &fakeTB{}
	opts := []reqivo.Option{reqivo.WithCompression(reqivo.EncodingBrotli, reqivo.EncodingZstd, reqivo.EncodingGzip)}
	recorded := scenario(newCassetteSession(t, srv.URL, append(opts, reqivotest.Cassette(rec, path))...))
	assert.Contains(t, recorded, "upload 200 uploaded for ada")
	assert.Contains(t, recorded, "userinfo 200 hello true")
	assert.Contains(t, recorded, "br 200 coded\nzstd 200 coded")
	rec.end()
	require.Empty(t, rec.errors())

	text := readCassette(t, path)
	for _, secret := range []string{formPassword, formAPIKey, keyFile, queryRedirect, fragRedirect, userToken, brToken, zstdToken} {
		assert.NotContains(t, text, secret)
	}
	for _, want := range []string{
		"Content-Disposition: form-data; name=\"password\"\r\n\r\nREDACTED\r\n",
		"Content-Disposition: form-data; name=\"private_key\"; filename=\"id.pem\"\r\nContent-Type: application/x-x509-ca-cert\r\n\r\nREDACTED\r\n",
		"Content-Disposition: form-data; name=\"user\"\r\n\r\nada\r\n",
		"Location: /callback?access_token=REDACTED-",
		"&state=s1#access_token=REDACTED-",
		"GET http://REDACTED:REDACTED@",
		`| {"access_token":"REDACTED-`, // decoded, then redacted
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, "Content-Encoding: br")
	assert.NotContains(t, text, "Content-Encoding: zstd")

	// The file replays, the multipart body matched whatever its boundary.
	srv.Close()
	play := &fakeTB{}
	s := newCassetteSession(t, srv.URL, append(opts, reqivotest.Cassette(play, path))...)
	assert.Equal(t, recorded, scenario(s))
	play.end()
	assert.Empty(t, play.errors())
	assert.Zero(t, s.Stats().ConnsOpened)
}

// TestCassetteMatchesRelativeToTheOrigin records against one httptest
// server and replays with the base URL of another (another random port).
func TestCassetteMatchesRelativeToTheOrigin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	newServer := func() *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "answer for %s?%s", r.URL.Path, r.URL.RawQuery)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	first, second := newServer(), newServer()
	path := filepath.Join(t.TempDir(), "origin.cassette")
	rec := &fakeTB{}
	s := newCassetteSession(t, first.URL, reqivotest.Cassette(rec, path))
	resp, err := s.Get(ctx, "users", reqivo.Query("page", "2"))
	require.NoError(t, err)
	assert.Equal(t, "answer for /users?page=2", resp.Text())
	rec.end()
	require.Empty(t, rec.errors())
	first.Close()
	second.Close() // nothing is listening: the answer comes from the file

	play := &fakeTB{}
	s = newCassetteSession(t, second.URL, reqivotest.Cassette(play, path))
	resp, err = s.Get(ctx, "users", reqivo.Query("page", "2"))
	require.NoError(t, err)
	assert.Equal(t, "answer for /users?page=2", resp.Text())
	play.end()
	assert.Empty(t, play.errors())

	// MatchOrigin: the other port is another request.
	strict := &fakeTB{}
	s = newCassetteSession(t, second.URL, reqivotest.CassetteWith(strict, path, reqivotest.CassetteOptions{MatchOrigin: true}))
	_, err = s.Get(ctx, "users", reqivo.Query("page", "2"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "none with this method and URL")
	s = newCassetteSession(t, first.URL, reqivotest.CassetteWith(strict, path, reqivotest.CassetteOptions{MatchOrigin: true}))
	resp, err = s.Get(ctx, "users", reqivo.Query("page", "2"))
	require.NoError(t, err, "the recorded origin matches")
	assert.Equal(t, "answer for /users?page=2", resp.Text())
}

// readCassette returns the text of the cassette at path with each base64
// body decoded after it, so that a check for a secret sees them too.
func readCassette(t *testing.T, path string) string {
	t.Helper()
	file, err := os.ReadFile(path)
	require.NoError(t, err)
	t.Logf("cassette:\n%s", file)
	var out, b64 strings.Builder
	flush := func() {
		if b64.Len() > 0 {
			dec, err := base64.StdEncoding.DecodeString(b64.String())
			require.NoError(t, err)
			out.Write(dec)
			out.WriteByte('\n')
			b64.Reset()
		}
	}
	for line := range strings.SplitSeq(string(file), "\n") {
		if rest, ok := strings.CutPrefix(line, "% "); ok {
			b64.WriteString(rest)
			continue
		}
		flush()
		out.WriteString(line + "\n")
	}
	flush()
	return out.String()
}
