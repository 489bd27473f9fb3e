package reqivo

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/reqivo/reqivo/internal/authscheme"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// digestServer is an RFC 7616 server written apart from digest.go: it
// checks every answer with its own hashing, refuses a nonce count seen
// before, and can call its nonces stale.
type digestServer struct {
	alg      string // as challenged; "" sends no algorithm
	qop      string // as challenged; "" is RFC 2069
	userhash bool
	user     string
	pass     string
	// staleAfter, when > 0, answers stale=true to a nonce used that many
	// times; alwaysStale answers stale=true to every answer.
	staleAfter  int
	alwaysStale bool
	extra       []string // more WWW-Authenticate values sent with each challenge

	mu     sync.Mutex
	nonces map[string]map[string]bool // nonce -> nc values seen
	seq    int

	requests   atomic.Int32
	challenges atomic.Int32
	ok         atomic.Int32
	lastQop    atomic.Value // string
}

func (d *digestServer) hashFor(alg string) func() hash.Hash {
	switch strings.TrimSuffix(strings.ToUpper(alg), "-SESS") {
	case "SHA-256":
		return sha256.New
	case "SHA-512-256":
		return sha512.New512_256
	}
	return md5.New
}

func (d *digestServer) h(s string) string {
	h := d.hashFor(d.alg)()
	io.WriteString(h, s)
	return hex.EncodeToString(h.Sum(nil))
}

func (d *digestServer) challenge(w http.ResponseWriter, stale bool) {
	d.mu.Lock()
	if d.nonces == nil {
		d.nonces = map[string]map[string]bool{}
	}
	d.seq++
	nonce := fmt.Sprintf("n%03d-%s", d.seq, strings.Repeat("x", 8))
	d.nonces[nonce] = map[string]bool{}
	d.mu.Unlock()
	for _, e := range d.extra {
		w.Header().Add("WWW-Authenticate", e)
	}
	c := `Digest realm="test \"realm\"", nonce="` + nonce + `", opaque="op-aque"`
	if d.alg != "" {
		c += ", algorithm=" + d.alg
	}
	if d.qop != "" {
		c += `, qop="` + d.qop + `"`
	}
	if d.userhash {
		c += ", userhash=true"
	}
	if stale {
		c += ", stale=true"
	}
	w.Header().Add("WWW-Authenticate", c)
	d.challenges.Add(1)
	w.WriteHeader(http.StatusUnauthorized)
}

func (d *digestServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	cs := authscheme.Parse(r.Header.Values("Authorization"))
	if len(cs) != 1 || cs[0].Scheme != "Digest" {
		d.challenge(w, false)
		return
	}
	p := cs[0].Params
	realm := `test "realm"`
	d.mu.Lock()
	seen, known := d.nonces[p["nonce"]]
	replay := known && d.qop != "" && seen[p["nc"]] // RFC 2069 has no nonce count
	uses := len(seen)
	if known && !replay {
		seen[p["nc"]] = true
	}
	d.mu.Unlock()
	user := d.user
	if d.userhash {
		user = d.h(d.user + ":" + realm)
	}
	ha1 := d.h(d.user + ":" + realm + ":" + d.pass)
	if strings.HasSuffix(strings.ToUpper(d.alg), "-SESS") {
		ha1 = d.h(ha1 + ":" + p["nonce"] + ":" + p["cnonce"])
	}
	ha2 := d.h(r.Method + ":" + r.RequestURI)
	if p["qop"] == "auth-int" {
		ha2 = d.h(r.Method + ":" + r.RequestURI + ":" + d.h(string(body)))
	}
	want := d.h(ha1 + ":" + p["nonce"] + ":" + ha2)
	if d.qop != "" {
		want = d.h(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":" + p["qop"] + ":" + ha2)
	}
	valid := known && !replay && p["username"] == user && p["realm"] == realm && p["uri"] == r.RequestURI &&
		p["response"] == want && p["opaque"] == "op-aque" && p["algorithm"] == d.alg && (d.qop == "" || strings.Contains(d.qop, p["qop"]))
	switch {
	case !valid:
		d.challenge(w, false)
	case d.alwaysStale || d.staleAfter > 0 && uses >= d.staleAfter:
		d.challenge(w, true)
	default:
		d.lastQop.Store(p["qop"])
		d.ok.Add(1)
		fmt.Fprintf(w, "hello %s nc=%s", d.user, p["nc"])
	}
}

func setupDigest(t *testing.T, d *digestServer) (*digestServer, *Session) {
	t.Helper()
	if d.user == "" {
		d.user, d.pass = "Mufasa", "Circle of Life"
	}
	srv := setupServer(t, d.ServeHTTP)
	s := newTestSession(t, WithBaseURL(srv.URL), WithDigestAuth(d.user, d.pass))
	return d, s
}

func TestDigestAlgorithmsAndQop(t *testing.T) {
	t.Parallel()
	algs := []string{"", "MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"}
	qops := []string{"auth", "auth-int", "auth,auth-int", ""}
	for _, alg := range algs {
		for _, qop := range qops {
			t.Run(alg+"/"+qop, func(t *testing.T) {
				t.Parallel()
				d, s := setupDigest(t, &digestServer{alg: alg, qop: qop})
				ctx := context.Background()
				resp, err := s.Post(ctx, "/p?q=1", BodyString("the body"))
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, int32(2), d.requests.Load(), "first request: challenge, then the answer")
				wantQop := qop
				if qop == "auth,auth-int" {
					wantQop = "auth" // auth is preferred when offered
				}
				assert.Equal(t, wantQop, d.lastQop.Load())

				resp, err = s.Get(ctx, "/other")
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, int32(3), d.requests.Load(), "second request: the known nonce, one round trip")
				if qop != "" {
					assert.Equal(t, "hello Mufasa nc=00000002", resp.Text(), "nonce count increases")
				}
				assert.Equal(t, int32(1), d.challenges.Load())
			})
		}
	}
}

func TestDigestHTTPBin(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	for _, alg := range []string{"", "/MD5", "/SHA-256"} {
		t.Run("alg"+alg, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t, WithBaseURL(bin.URL), WithDigestAuth("user", "passwd"))
			for i := 0; i < 2; i++ {
				resp, err := s.Get(context.Background(), "/digest-auth/auth/user/passwd"+alg)
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, resp.StatusCode, resp.Text())
				assert.Contains(t, resp.Text(), `"authenticated": true`)
			}
			s.SetDigestAuth("user", "wrong")
			resp, err := s.Get(context.Background(), "/digest-auth/auth/user/passwd"+alg)
			require.NoError(t, err)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		})
	}
}

func TestDigestStale(t *testing.T) {
	t.Parallel()
	t.Run("stale nonce renewed once", func(t *testing.T) {
		t.Parallel()
		d, s := setupDigest(t, &digestServer{alg: "SHA-256", qop: "auth", staleAfter: 1})
		ctx := context.Background()
		resp, err := s.Get(ctx, "/")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp, err = s.Get(ctx, "/")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, int32(4), d.requests.Load(), "challenge, answer; stale answer, new answer")
	})
	t.Run("always stale stops", func(t *testing.T) {
		t.Parallel()
		d, s := setupDigest(t, &digestServer{qop: "auth", alwaysStale: true})
		resp, err := s.Get(context.Background(), "/")
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, int32(3), d.requests.Load(), "challenge, answer, one stale retry")
	})
}

func TestDigestRefusals(t *testing.T) {
	t.Parallel()
	t.Run("wrong password answered once", func(t *testing.T) {
		t.Parallel()
		d := &digestServer{qop: "auth", user: "u", pass: "right"}
		srv := setupServer(t, d.ServeHTTP)
		s := newTestSession(t, WithBaseURL(srv.URL), WithDigestAuth("u", "wrong"))
		resp, err := s.Get(context.Background(), "/")
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, int32(2), d.requests.Load())
		assert.NotContains(t, resp.Err().Error(), "wrong")
	})
	t.Run("body not replayable", func(t *testing.T) {
		t.Parallel()
		d, s := setupDigest(t, &digestServer{qop: "auth"})
		resp, err := s.Post(context.Background(), "/", Body(io.MultiReader(strings.NewReader("once"))))
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the challenge is the answer")
		assert.Equal(t, int32(1), d.requests.Load())
	})
	t.Run("auth-int only, body not replayable", func(t *testing.T) {
		t.Parallel()
		d, s := setupDigest(t, &digestServer{qop: "auth-int"})
		_, err := s.Get(context.Background(), "/") // learns the nonce
		require.NoError(t, err)
		resp, err := s.Post(context.Background(), "/", Body(io.MultiReader(strings.NewReader("once"))))
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, int32(3), d.requests.Load(), "sent without credentials, not again")
	})
	t.Run("unknown algorithm", func(t *testing.T) {
		t.Parallel()
		d, s := setupDigest(t, &digestServer{alg: "SHA-1", qop: "auth"})
		resp, err := s.Get(context.Background(), "/")
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, int32(1), d.requests.Load())
	})
}

func TestDigestStrongestChallenge(t *testing.T) {
	t.Parallel()
	d, s := setupDigest(t, &digestServer{alg: "SHA-512-256", qop: "auth", userhash: true,
		extra: []string{`Digest realm="x", nonce="weak", algorithm=MD5, qop="auth"`, `Basic realm="x"`}})
	resp, err := s.Get(context.Background(), "/")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "SHA-512-256 with userhash chosen over MD5")
	assert.Equal(t, int32(2), d.requests.Load())
}

func TestDigestScope(t *testing.T) {
	t.Parallel()
	other := &digestServer{qop: "auth"}
	otherSrv := setupServer(t, other.ServeHTTP)
	d := &digestServer{qop: "auth", user: "u", pass: "p"}
	var mainURL string
	mainSrv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, otherSrv.URL+"/x", http.StatusFound)
		case "/here":
			http.Redirect(w, r, mainURL+"/x", http.StatusFound)
		default:
			d.ServeHTTP(w, r)
		}
	})
	mainURL = mainSrv.URL
	s := newTestSession(t, WithBaseURL(mainSrv.URL), WithDigestAuth("u", "p"))
	ctx := context.Background()

	resp, err := s.Get(ctx, otherSrv.URL+"/direct")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "another origin's challenge is not answered")
	resp, err = s.Get(ctx, "/away")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "nor after a redirect there")
	assert.Equal(t, int32(2), other.requests.Load())
	assert.Equal(t, int32(0), other.ok.Load())

	resp, err = s.Get(ctx, "/here")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a same-origin redirect is answered")
}

func TestDigestReplacesAndIsReplaced(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	s := newTestSession(t, WithBaseURL(srv.URL), WithBasicAuth("a", "b"), WithDigestAuth("u", "p"))
	assert.Empty(t, getEcho(t, s, "/").Header.Get("Authorization"), "digest sends nothing until challenged")
	s.SetBasicAuth("a", "b")
	assert.Equal(t, basicAuthHeader("a", "b"), getEcho(t, s, "/").Header.Get("Authorization"))
	s.SetDigestAuth("u", "p")
	assert.Empty(t, getEcho(t, s, "/").Header.Get("Authorization"), "digest replaces basic")
	s.ClearAuth()
	s.SetDigestAuth("u", "p\n")
	_, err := s.Get(context.Background(), "/")
	assertRequestKind(t, err, ErrInvalidHeader)
	assert.Contains(t, err.Error(), "SetDigestAuth")
	_, err = NewSession(WithDigestAuth("u\r", "p"))
	assert.ErrorIs(t, err, ErrInvalidHeader)

	d, s2 := setupDigest(t, &digestServer{qop: "auth"})
	resp, err := s2.Get(context.Background(), "/", Header("Authorization", "Bearer mine"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a request's own Authorization wins: no answer")
	assert.Equal(t, int32(1), d.requests.Load())
}

func TestDigestConcurrent(t *testing.T) {
	t.Parallel()
	d, s := setupDigest(t, &digestServer{alg: "SHA-256", qop: "auth"})
	hammer(t, 64, 2, func() error {
		resp, err := s.Get(context.Background(), "/")
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	assert.Equal(t, int32(128), d.ok.Load())
}
