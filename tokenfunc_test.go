package reqivo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// oauthServer is a token endpoint (client_credentials and refresh_token
// grants, rotating refresh tokens) and an API at /me that accepts the
// tokens it issued and has not revoked.
type oauthServer struct {
	url    string
	issued atomic.Int32 // tokens granted
	mu     sync.Mutex
	live   map[string]bool // access token -> not revoked
	deny   bool            // refuse every token
	grants []string        // "client_credentials" or "refresh_token rt-N", in order
}

func setupOAuthServer(t *testing.T) *oauthServer {
	t.Helper()
	o := &oauthServer{live: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		grant := r.PostFormValue("grant_type")
		if grant == "refresh_token" {
			grant += " " + r.PostFormValue("refresh_token")
		}
		n := o.issued.Add(1)
		tok := fmt.Sprintf("at-%d", n)
		o.mu.Lock()
		o.live[tok] = true
		o.grants = append(o.grants, grant)
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer",
			"expires_in": 3600, "refresh_token": fmt.Sprintf("rt-%d", n+1)})
	})
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		o.mu.Lock()
		ok := o.live[tok] && !o.deny
		o.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="The access token was revoked"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, tok)
	})
	o.url = setupServer(t, mux.ServeHTTP).URL
	return o
}

func (o *oauthServer) revoke(tok string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.live[tok] = false
}

func (o *oauthServer) denyAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.deny = true
}

func (o *oauthServer) grantLog() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.grants...)
}

func (o *oauthServer) me(t *testing.T, s *Session) *Response {
	t.Helper()
	resp, err := s.Get(context.Background(), "/me")
	require.NoError(t, err)
	return resp
}

// TestTokenFuncRefetchesRevokedToken: with WithTokenFunc(cc.Token), a token
// the server revoked is replaced by exactly one call to the token endpoint,
// and the request succeeds with the new token.
func TestTokenFuncRefetchesRevokedToken(t *testing.T) {
	t.Parallel()
	o := setupOAuthServer(t)
	cc := clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: o.url + "/token"}
	s := newTestSession(t, WithBaseURL(o.url), WithTokenFunc(cc.Token))

	assert.Equal(t, "at-1", o.me(t, s).Text())
	assert.Equal(t, "at-1", o.me(t, s).Text(), "the token is kept")
	assert.Equal(t, int32(1), o.issued.Load())

	o.revoke("at-1")
	resp := o.me(t, s)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "at-2", resp.Text())
	assert.Equal(t, []string{"client_credentials", "client_credentials"}, o.grantLog(), "exactly one refetch")

	// A token refused again after the refetch is the answer, with the
	// server's error_description in the error; still one fetch per refusal.
	o.denyAll()
	resp = o.me(t, s)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, int32(3), o.issued.Load(), "one refetch for the refusal")
	assert.Contains(t, resp.Err().Error(), "401 Unauthorized: invalid_token: The access token was revoked")
}

// TestTokenSourceReuseDoesNotRefetch shows why WithTokenFunc exists: a
// ReuseTokenSource gives the revoked token again, so the 401 is the answer
// and the token endpoint is not asked.
func TestTokenSourceReuseDoesNotRefetch(t *testing.T) {
	t.Parallel()
	o := setupOAuthServer(t)
	cc := clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: o.url + "/token"}
	s := newTestSession(t, WithBaseURL(o.url), WithTokenSource(cc.TokenSource(context.Background())))
	assert.Equal(t, "at-1", o.me(t, s).Text())
	o.revoke("at-1")
	resp := o.me(t, s)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, int32(1), o.issued.Load())
	assert.Contains(t, resp.Err().Error(), "invalid_token: The access token was revoked")
}

// TestRefreshTokenFunc: the refresh-token flow starts with the token the
// caller has, refreshes once per revocation, and uses the rotated refresh
// token the next time.
func TestRefreshTokenFunc(t *testing.T) {
	t.Parallel()
	o := setupOAuthServer(t)
	cfg := &oauth2.Config{ClientID: "id", ClientSecret: "secret", Endpoint: oauth2.Endpoint{TokenURL: o.url + "/token"}}
	o.mu.Lock()
	o.live["at-0"] = true
	o.mu.Unlock()
	start := &oauth2.Token{AccessToken: "at-0", TokenType: "Bearer", RefreshToken: "rt-1", Expiry: time.Now().Add(time.Hour)}
	s := newTestSession(t, WithBaseURL(o.url), WithTokenFunc(RefreshTokenFunc(cfg, start)))

	assert.Equal(t, "at-0", o.me(t, s).Text(), "the caller's token first")
	assert.Zero(t, o.issued.Load())
	o.revoke("at-0")
	assert.Equal(t, "at-1", o.me(t, s).Text())
	o.revoke("at-1")
	assert.Equal(t, "at-2", o.me(t, s).Text())
	assert.Equal(t, []string{"refresh_token rt-1", "refresh_token rt-2"}, o.grantLog(), "one refresh per revocation, rotated")
}

// TestTokenFuncConcurrentOneFetch: concurrent requests, and concurrent
// refusals of one token, share one fetch.
func TestTokenFuncConcurrentOneFetch(t *testing.T) {
	t.Parallel()
	o := setupOAuthServer(t)
	cc := clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: o.url + "/token"}
	s := newTestSession(t, WithBaseURL(o.url), WithTokenFunc(cc.Token))
	burst := func() {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				resp, err := s.Get(context.Background(), "/me")
				if assert.NoError(t, err) {
					assert.Equal(t, http.StatusOK, resp.StatusCode)
				}
			})
		}
		wg.Wait()
	}
	burst()
	assert.Equal(t, int32(1), o.issued.Load())
	o.revoke("at-1")
	burst()
	assert.Equal(t, int32(2), o.issued.Load(), "eight refusals of one token, one refetch")
}

func TestTokenFuncErrors(t *testing.T) {
	t.Parallel()
	_, err := NewSession(WithTokenFunc(nil))
	assert.ErrorIs(t, err, ErrInvalidOption)

	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {})
	for name, fetch := range map[string]func(context.Context) (*oauth2.Token, error){
		"error":    func(context.Context) (*oauth2.Token, error) { return nil, fmt.Errorf("endpoint down") },
		"no token": func(context.Context) (*oauth2.Token, error) { return nil, nil },
		"empty":    func(context.Context) (*oauth2.Token, error) { return &oauth2.Token{}, nil },
	} {
		t.Run(name, func(t *testing.T) {
			s := newTestSession(t, WithBaseURL(srv.URL), WithTokenFunc(fetch))
			_, err := s.Get(context.Background(), "/")
			assert.ErrorIs(t, err, ErrAuth)
		})
	}

	// The fetch gets the request's context.
	ctx, cancel := context.WithCancel(context.Background())
	s := newTestSession(t, WithBaseURL(srv.URL), WithTokenFunc(func(ctx context.Context) (*oauth2.Token, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	_, err = s.Get(ctx, "/")
	assert.ErrorIs(t, err, context.Canceled)
}
